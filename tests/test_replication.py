"""Verification that allows for replication: a read that lags a write is waited out, up to
a bound (``verify.wait_seconds``), before it is a mismatch.  The sandbox's
``replication_ms`` fault makes reads lag writes, so this runs end to end."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import pytest

from remediations.actions import ACTIONS, parse_wish
from remediations.audit import AuditLog
from remediations.cli import run_action_task
from remediations.engine import VerifyWait, run_action
from remediations.errors import VerifyMismatch
from remediations.exchange.cmdlet import Cmdlet
from remediations.sandbox import SandboxTransport
from remediations.sandbox.transport import Faults
from tests.conftest import CliResult, events

FOLDER = {"folder": "\\Support\\Escalations"}


def auth_required(transport: SandboxTransport) -> Any:
    found = transport.send(Cmdlet.of("Get-MailPublicFolder", Identity="\\Support\\Escalations"))
    return found.objects[0]["RequireSenderAuthenticationEnabled"]


def test_reads_lag_writes_by_replication_ms(tenant_path: Path) -> None:
    """A read right after a write answers the state before it; once the lag is over, after."""
    transport = SandboxTransport(tenant_path, faults=Faults(replication_ms=300))
    assert auth_required(transport) is True
    transport.send(
        Cmdlet.of(
            "Set-MailPublicFolder",
            Identity="\\Support\\Escalations",
            RequireSenderAuthenticationEnabled=False,
        )
    )
    assert auth_required(transport) is True
    time.sleep(0.35)
    assert auth_required(transport) is False
    assert auth_required(SandboxTransport(tenant_path)) is False  # the write itself was kept


def run(config: dict[str, Any], *, faults: str, wait: Any, as_json: bool = False) -> CliResult:
    out, err = io.StringIO(), io.StringIO()
    cfg = {
        **config,
        "sandbox": {**config["sandbox"], "faults": faults},
        "verify": {"wait_seconds": wait},
    }
    code = run_action_task(
        cfg,
        "fix-public-folder",
        FOLDER,
        dry_run=False,
        as_json=as_json,
        ticket="T-7",
        yes=True,
        out=out,
        err=err,
    )
    return CliResult(code, out.getvalue(), err.getvalue())


def test_replication_lag_is_waited_out(config: dict[str, Any], audit_dir: Path) -> None:
    """The first verify read does not show the change; a later one does: applied, exit 0,
    and the audit log shows the waits."""
    result = run(config, faults="replication_ms=400", wait=10)
    assert result.code == 0, result.err
    assert "Applied and verified 1 change" in result.out
    kinds = [e["event"] for e in events(audit_dir)]
    assert "verify-wait" in kinds
    assert "verify-failed" not in kinds
    assert kinds.index("change-verified") > kinds.index("verify-wait")


def test_past_the_bound_it_is_a_mismatch_and_a_rerun_is_a_no_op(
    config: dict[str, Any], audit_dir: Path
) -> None:
    """wait_seconds 0: one read, still stale, so exit 1 saying what the tenant holds; once
    replicated, the rerun finds nothing to do."""
    result = run(config, faults="replication_ms=400", wait=0)
    assert result.code == 1
    assert "does not hold what was planned" in result.err
    assert "verify-failed" in [e["event"] for e in events(audit_dir)]
    time.sleep(0.45)
    again = run(config, faults="", wait=0)
    assert again.code == 0, again.err
    assert "No change needed" in again.out


@pytest.mark.parametrize("wait", ["soon", -1, 7200])
def test_a_bad_wait_is_one_sentence_and_exit_2(config: dict[str, Any], wait: Any) -> None:
    result = run(config, faults="", wait=wait)
    assert result.code == 2
    assert result.err.startswith("verify.wait_seconds is ")
    assert result.err.count("\n") == 1


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_the_back_off_doubles_to_a_cap_and_never_passes_the_bound(
    tenant_path: Path, audit: AuditLog
) -> None:
    """Reads that never catch up: back-off 0.5, 1, 2, 4, 8 (the cap), then the bound stops it."""
    clock = FakeClock()
    transport = SandboxTransport(tenant_path, faults=Faults(replication_ms=3_600_000))
    action = ACTIONS["fix-public-folder"]
    with pytest.raises(VerifyMismatch):
        run_action(
            action,
            parse_wish(action, FOLDER),
            transport=transport,
            audit=audit,
            dry_run=False,
            verify_wait=VerifyWait(seconds=30, clock=clock, sleep=clock.sleep),
        )
    assert clock.sleeps == [0.5, 1, 2, 4, 8, 8]
    assert sum(clock.sleeps) <= 30
