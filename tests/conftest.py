"""Shared fixtures: a fresh demo tenant, an audit log, and the CLI run as a user runs it.

The sandbox is the fake: nothing of our own is mocked.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from remediations.audit import AuditLog, read_events
from remediations.sandbox import SandboxTransport, reset_sandbox

ROOT = Path(__file__).resolve().parent.parent
FIXED_TIME = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _tenants_round_trip(tmp_path: Path) -> Iterator[None]:
    """After each test, every sandbox store it left passes ``load(export(t)) == t``."""
    yield
    from remediations.errors import InputError
    from remediations.sandbox.store import open_store
    from tests.sandbox.roundtrip import assert_round_trip

    for path in sorted(tmp_path.glob("**/*")):
        try:
            with path.open("rb") as handle:
                if handle.read(16) != b"SQLite format 3\x00":
                    continue
            store = open_store(path)
        except (OSError, InputError):
            continue
        try:
            with store.transaction(write=False) as state:
                assert_round_trip(state)
        finally:
            store.close()


@pytest.fixture
def tenant_path(tmp_path: Path) -> Path:
    """A fresh copy of the demo tenant on disk."""
    path = tmp_path / "tenant.db"
    reset_sandbox(path)
    return path


@pytest.fixture
def sandbox(tenant_path: Path) -> SandboxTransport:
    """The sandbox transport over a fresh demo tenant."""
    return SandboxTransport(tenant_path)


@pytest.fixture
def audit_dir(tmp_path: Path) -> Path:
    """An empty audit-log folder."""
    return tmp_path / "audit-logs"


@pytest.fixture
def audit(audit_dir: Path) -> AuditLog:
    """An audit log with a fixed clock."""
    return AuditLog(
        audit_dir,
        clock=lambda: FIXED_TIME,
        context={"actor": "tester", "tenant": "contoso.com", "transport": "sandbox"},
    )


def tenant_doc(path: Path) -> dict[str, Any]:
    """The whole sandbox tenant at ``path`` as one mapping (Exchange's names, with the journal).

    Read from the committed store, so comparing two of them shows any change.
    """
    from remediations.sandbox.store import document, open_store

    store = open_store(path)
    try:
        with store.transaction(write=False) as state:
            return document(state)
    finally:
        store.close()


def events(audit_dir: Path) -> list[dict[str, Any]]:
    """Every audit event written so far."""
    return list(read_events(audit_dir / "audit.jsonl"))


@dataclass
class CliResult:
    """What one in-process task call printed and returned."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        """The --json document."""
        return json.loads(self.out)


@pytest.fixture
def config(tenant_path: Path, audit_dir: Path) -> dict[str, Any]:
    """Invoke-style settings pointing at the test's tenant and audit folder."""
    return {
        "sandbox": {"path": str(tenant_path), "faults": ""},
        "audit": {"dir": str(audit_dir)},
        "actor": "tester",
        "target": "sandbox",
    }


@pytest.fixture
def run_task(config: dict[str, Any]) -> Callable[..., CliResult]:
    """Run a remediation task in-process exactly as tasks.py does."""
    from remediations.cli import run_action_task

    def run(
        action: str,
        values: dict[str, Any],
        *,
        dry_run: bool = False,
        as_json: bool = False,
        ticket: str = "T-1",
        faults: str = "",
    ) -> CliResult:
        out, err = io.StringIO(), io.StringIO()
        cfg = {**config, "sandbox": {**config["sandbox"], "faults": faults}}
        code = run_action_task(
            cfg,
            action,
            values,
            dry_run=dry_run,
            as_json=as_json,
            ticket=ticket,
            yes=True,
            out=out,
            err=err,
        )
        return CliResult(code, out.getvalue(), err.getvalue())

    return run


@pytest.fixture
def invoke_cli(
    tenant_path: Path, audit_dir: Path
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the real ``invoke`` command in a subprocess against the test's tenant."""

    def run(
        *args: str, env: dict[str, str] | None = None, binary: str = "invoke"
    ) -> subprocess.CompletedProcess[str]:
        full_env = {
            **os.environ,
            "INVOKE_SANDBOX_PATH": str(tenant_path),
            "INVOKE_AUDIT_DIR": str(audit_dir),
            **(env or {}),
        }
        invoke = Path(sys.executable).with_name(binary)
        return subprocess.run(
            [str(invoke), *args],
            cwd=ROOT,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    return run
