"""The embedded sandbox tenant: the default target and the fake every test uses."""

from __future__ import annotations

from pathlib import Path

from remediations.sandbox.state import SandboxState, load_state, save_state
from remediations.sandbox.transport import Faults, SandboxTransport

__all__ = [
    "Faults",
    "SandboxState",
    "SandboxTransport",
    "load_state",
    "load_tenant",
    "reset_sandbox",
    "save_state",
]


def reset_sandbox(path: Path) -> SandboxState:
    """Write the shipped demo tenant (contoso.com) to ``path``."""
    from remediations.sandbox.tenant_file import DEMO_TENANT

    return load_tenant(DEMO_TENANT, path)


def load_tenant(source: Path, path: Path) -> SandboxState:
    """Write the tenant described by the YAML file ``source`` to ``path``."""
    from remediations.sandbox.tenant_file import load_tenant_file

    state = load_tenant_file(source)
    save_state(state, path)
    return state
