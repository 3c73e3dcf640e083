"""pytest fixtures to test the toolkit, or your own playbooks and tenant files, without a tenant.

Enable them in a ``conftest.py``::

    pytest_plugins = ["remediations.testing.fixtures"]

and use them by name::

    def test_our_runbook(invoke_cli, tenant_path):
        result = invoke_cli("playbook.run", "our-leavers", "--param", "user=a@contoso.com")
        assert result.returncode == 0, result.stderr

``tenant_path``
    A fresh copy of the demo sandbox tenant (contoso.com) under the test's ``tmp_path``.
    The demo is written once per session and copied for each test (a copy costs
    microseconds; writing the tenant, a good part of a second).
``demo_tenant``
    Writes a fresh copy of the demo tenant at any path: ``demo_tenant(tmp_path / "b.db")``,
    for a test that needs more than one (the same copy as ``tenant_path``).
``audit_dir``
    An empty audit-log folder under ``tmp_path``.
``invoke_cli``
    A :class:`~remediations.testing.cli.CliRunner`: ``invoke_cli("scan", "--json")`` runs
    the command line in-process from the project's root (pytest's ``rootpath``, where
    ``tasks.py`` is), against ``tenant_path`` and ``audit_dir`` (``INVOKE_SANDBOX_PATH``,
    ``INVOKE_AUDIT_DIR``), with verification's replication wait cut to a second
    (``INVOKE_VERIFY_WAIT_SECONDS``); ``env=`` adds or overrides settings per call.

Requires pytest (the ``test`` extra); nothing in the toolkit imports this module.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from remediations.testing.cli import CliRunner

__all__ = ["audit_dir", "demo_tenant", "invoke_cli", "tenant_path"]

#: How long verification waits for replication in tests (the default is 60 s).
VERIFY_WAIT_SECONDS = "1"


@pytest.fixture(scope="session")
def _pristine_tenant(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo tenant, written once per session; never handed out, only copied."""
    from remediations.sandbox import reset_sandbox

    path = tmp_path_factory.mktemp("pristine") / "tenant.db"
    reset_sandbox(path)
    return path


@pytest.fixture
def demo_tenant(_pristine_tenant: Path) -> Callable[[Path], Path]:
    """Write a fresh copy of the demo tenant at a path of the test's choosing; returns it."""

    def write(path: Path) -> Path:
        shutil.copyfile(_pristine_tenant, path)
        return path

    return write


@pytest.fixture
def tenant_path(tmp_path: Path, demo_tenant: Callable[[Path], Path]) -> Path:
    """A fresh copy of the demo tenant on disk."""
    return demo_tenant(tmp_path / "tenant.db")


@pytest.fixture
def audit_dir(tmp_path: Path) -> Path:
    """An empty audit-log folder."""
    return tmp_path / "audit-logs"


@pytest.fixture
def invoke_cli(request: pytest.FixtureRequest, tenant_path: Path, audit_dir: Path) -> CliRunner:
    """The command line, in-process, against the test's tenant and audit folder."""
    return CliRunner(
        cwd=request.config.rootpath,
        env={
            "INVOKE_SANDBOX_PATH": str(tenant_path),
            "INVOKE_AUDIT_DIR": str(audit_dir),
            "INVOKE_VERIFY_WAIT_SECONDS": VERIFY_WAIT_SECONDS,
        },
    )
