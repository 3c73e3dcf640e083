"""The embedded sandbox tenant: the default target and the fake every test uses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from remediations.sandbox.state import SandboxState
from remediations.sandbox.store import load_state, save_state
from remediations.sandbox.transport import Faults, SandboxTransport

__all__ = [
    "Faults",
    "Replaced",
    "SandboxState",
    "SandboxTransport",
    "load_state",
    "load_tenant",
    "replace_tenant",
    "reset_sandbox",
    "save_state",
]


@dataclass(frozen=True, slots=True)
class Replaced:
    """What ``sandbox.reset``/``sandbox.load`` did: the new tenant, and the one it replaced."""

    state: SandboxState
    #: SHA-256 of the tenant loaded (as stored: equal tenants, equal hashes)
    tenant_hash: str
    #: SHA-256 of the tenant file read
    source_hash: str
    #: the replaced tenant's hash; None when there was none, or it could not be read
    replaced_hash: str | None
    #: why there is no replaced hash ("none", or the sentence saying why it was unreadable)
    replaced_note: str


def replace_tenant(source: Path, path: Path) -> Replaced:
    """Fill the store at ``path`` from the tenant file ``source``, saying what it replaced."""
    import hashlib

    from remediations.errors import InputError
    from remediations.sandbox.store import check_location, open_store, tenant_hash
    from remediations.sandbox.tenant_file import load_tenant_file

    check_location(path)
    state = load_tenant_file(source)
    source_hash = hashlib.sha256(source.read_bytes()).hexdigest()
    replaced_hash: str | None = None
    note = "none"
    if path.exists():
        try:
            old = open_store(path)
            try:
                replaced_hash = tenant_hash(old.snapshot())
            finally:
                old.close()
            note = ""
        except InputError as exc:
            note = str(exc)
    save_state(state, path)
    return Replaced(state, tenant_hash(state), source_hash, replaced_hash, note)


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
