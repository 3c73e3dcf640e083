"""Bounded concurrent writes: same end state as one by one, faults and throttling included."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from remediations.actions import ACTIONS
from remediations.audit import AuditLog
from remediations.audit.log import verify_chain
from remediations.budget import RetryBudget
from remediations.engine import Writers, run_action
from remediations.errors import ApplyFailed, RemediationError
from remediations.exchange.adminapi import AdminApiTransport
from remediations.exchange.cmdlet import Cmdlet, CmdletResult
from remediations.fleet import FleetAction
from remediations.interrupts import Interrupted
from remediations.sandbox import SandboxTransport
from remediations.sandbox.transport import Faults
from remediations.testing import Fault, LoopbackTenant
from remediations.testing.fleet_tenant import write_fleet_tenant
from tests.fleet.conftest import Recording
from tests.fleet.test_batched_reads import end_state, fleet_wish

AUTH = "RequireSenderAuthenticationEnabled"
SENDER = {"sender": "partner@fabrikam.com"}


def tenants(tmp_path: Path, size: int) -> tuple[Path, Path]:
    fast, slow = tmp_path / "concurrent.db", tmp_path / "sequential.db"
    write_fleet_tenant(fast, groups=size)
    write_fleet_tenant(slow, groups=size)
    return fast, slow


def apply(
    path: Path, audit: AuditLog, size: int, *, workers: int, faults: str = "", **kw: Any
) -> Any:
    transport = SandboxTransport(path, faults=Faults.parse(faults))
    return run_action(
        FleetAction(ACTIONS["add-allowed-sender"], batch_at=1),
        fleet_wish("add-allowed-sender", size, **SENDER),
        transport=kw.get("transport", transport),
        audit=audit,
        dry_run=False,
        writers=Writers(concurrency=workers, budget=kw.get("budget")),
    )


def holds_what_the_outcome_says(path: Path, outcome: Any) -> None:
    """Every change reported applied is in the tenant; every one not applied is not."""
    transport = SandboxTransport(path)
    groups = {
        str(g["PrimarySmtpAddress"]): g
        for g in transport.send(Cmdlet.of("Get-DistributionGroup", ResultSize="Unlimited")).objects
    }
    for index, change in enumerate(outcome.plan.changes):
        if change.attribute != AUTH:
            continue
        expected = change.after if outcome.status[index] == "applied" else change.before
        assert groups[change.target][AUTH] is expected, (change.target, outcome.status[index])


@pytest.mark.parametrize("faults", ["fail_write=1", "fail_write=6", "throttle_call=9"])
def test_a_concurrent_run_with_a_fault_says_what_changed_and_a_rerun_converges(
    tmp_path: Path, audit: AuditLog, audit_dir: Path, faults: str
) -> None:
    fast, slow = tenants(tmp_path, 16)
    apply(slow, audit, 16, workers=1)

    with pytest.raises(ApplyFailed) as caught:
        apply(fast, audit, 16, workers=4, faults=faults)
    failed = caught.value.outcome
    statuses = list(failed.status.values())
    assert "failed" in statuses
    assert "not-applied" in statuses  # the others stopped: nothing new started
    holds_what_the_outcome_says(fast, failed)
    assert "Run the same command again to finish." in str(caught.value)

    again = apply(fast, audit, 16, workers=4)
    assert again.outcome == "applied"
    assert end_state(fast) == end_state(slow)
    assert verify_chain(audit_dir / "audit.jsonl") > 0


def test_one_object_is_written_once_in_order_after_the_contact(
    tmp_path: Path, audit: AuditLog, audit_dir: Path
) -> None:
    path = tmp_path / "fleet.db"
    write_fleet_tenant(path, groups=12)
    recording = Recording(SandboxTransport(path))
    outcome = apply(path, audit, 12, workers=4, transport=recording)

    assert outcome.outcome == "applied"
    writes = recording.writes
    assert writes[0].name == "New-MailContact"
    assert len(writes) == 1 + 12  # one write per changed object
    for write in writes[1:]:
        names = [name for name, _ in write.params]
        # the list before the authentication, in one call: closed at every moment
        assert names.index("AcceptMessagesOnlyFrom") < names.index(AUTH)
    log = [e for e in _events(audit_dir) if e["run_id"] == outcome.run_id]
    applying = [e for e in log if e["event"] == "change-applying"]
    assert len(applying) == 25
    assert all(e.get("sent_as") for e in applying if e["attribute"] == AUTH)
    for target in {e["target"] for e in applying}:  # each change announced before recorded
        kinds = [e["event"] for e in log if e["target"] == target and "change-" in e["event"]]
        assert kinds.index("change-applying") < kinds.index("change-applied")


def _events(audit_dir: Path) -> list[dict[str, Any]]:
    from tests.conftest import events

    return events(audit_dir)


class SignalOnWrite:
    """A real transport that sends SIGINT to this process as its Nth write goes out."""

    def __init__(self, inner: SandboxTransport, nth: int) -> None:
        self.inner = inner
        self.name = inner.name
        self.tenant = inner.tenant
        self.nth = nth
        self.writes = 0
        self._lock = threading.Lock()

    def send(self, cmdlet: Cmdlet) -> CmdletResult:
        if cmdlet.is_write:
            with self._lock:
                self.writes += 1
                due = self.writes == self.nth
            if due:
                os.kill(os.getpid(), signal.SIGINT)
        return self.inner.send(cmdlet)

    def close(self) -> None:
        self.inner.close()


def test_ctrl_c_stops_the_workers_cleanly_and_a_rerun_finishes(
    tmp_path: Path, audit: AuditLog
) -> None:
    fast, slow = tenants(tmp_path, 16)
    apply(slow, audit, 16, workers=1)
    transport = SignalOnWrite(SandboxTransport(fast, faults=Faults(latency_ms=20)), nth=4)

    with pytest.raises(Interrupted) as caught:
        apply(fast, audit, 16, workers=4, transport=transport)
    stopped = caught.value.outcome
    assert stopped.outcome == "interrupted"
    assert "Changed:" in str(caught.value)
    assert "Not changed:" in str(caught.value)
    holds_what_the_outcome_says(fast, stopped)
    assert transport.writes < 17  # the workers stopped taking changes

    assert apply(fast, audit, 16, workers=4).outcome == "applied"
    assert end_state(fast) == end_state(slow)


def test_a_throttling_answer_pauses_every_worker_over_the_admin_api(
    tmp_path: Path, audit: AuditLog
) -> None:
    path = tmp_path / "served.db"
    write_fleet_tenant(path, groups=16, restricted=False)
    pauses: list[tuple[float, float]] = []

    def sleep(seconds: float) -> None:
        pauses.append((time.monotonic(), seconds))
        time.sleep(seconds)

    budget = RetryBudget(seconds=30, sleep=sleep)
    with LoopbackTenant(SandboxTransport(path), token="t") as server:
        exo = AdminApiTransport(
            tenant=server.tenant, endpoint=server.url, token=lambda scope: "t", budget=budget
        )
        server.inject(Fault(kind="throttle", cmdlet="Set-DistributionGroup", retry_after=0.4))
        started: list[float] = []
        timed = _Timed(exo, started)
        outcome = run_action(
            FleetAction(ACTIONS["open-group-to-external"], batch_at=1),
            fleet_wish("open-group-to-external", 16),
            transport=timed,
            audit=audit,
            dry_run=False,
            writers=Writers(concurrency=4, budget=budget),
        )
        exo.close()
    assert outcome.outcome == "applied"
    throttled_at, pause = next(p for p in pauses if p[1] >= 0.3)
    # while the pause set by one worker's throttling answer ran, the others started no
    # write (at most the ones already past the gate when the answer came: 3 other workers;
    # without the shared pause they would each have sent several in 0.4 s)
    inside = [t for t in started if throttled_at + 0.02 < t < throttled_at + pause - 0.02]
    assert len(inside) <= 3
    assert all(not g[0] for g in end_state(path).values())


class _Timed:
    def __init__(self, inner: Any, started: list[float]) -> None:
        self.inner = inner
        self.name = inner.name
        self.tenant = inner.tenant
        self.started = started

    def send(self, cmdlet: Cmdlet) -> CmdletResult:
        if cmdlet.is_write:
            self.started.append(time.monotonic())
        result: CmdletResult = self.inner.send(cmdlet)
        return result

    def close(self) -> None:
        self.inner.close()


def test_a_dry_run_plans_with_the_faults_and_latency_of_the_live_tenant(
    tenant_path: Path,
) -> None:
    live = SandboxTransport(tenant_path, faults=Faults(fail_call=1))
    copy = live.fork()
    with pytest.raises(RemediationError, match="did not answer"):
        copy.send(Cmdlet.of("Get-Recipient", Identity="Partners"))

    slow = SandboxTransport(tenant_path, faults=Faults(latency_ms=30))
    copy = slow.fork()
    began = time.monotonic()
    for _ in range(3):
        copy.send(Cmdlet.of("Get-Recipient", Identity="Partners"))
    assert time.monotonic() - began >= 0.09
    assert slow.calls == 3  # counted with the live tenant's calls
    copy.send(Cmdlet.of("Set-DistributionGroup", Identity="Partners", **{AUTH: False},
                        BypassSecurityGroupManagerCheck=True))  # fmt: skip
    assert slow.writes == 0  # a planned write stays on the copy


@pytest.mark.parametrize("value", ["0", "17", "four"])
def test_a_bad_concurrency_setting_is_one_sentence_exit_2(
    config: dict[str, Any], value: str
) -> None:
    import io

    from remediations.cli import run_action_task

    out, err = io.StringIO(), io.StringIO()
    code = run_action_task(
        {**config, "fleet": {"concurrency": value}},
        "open-group-to-external",
        {"group": "Partners"},
        dry_run=True,
        as_json=False,
        ticket="",
        yes=True,
        out=out,
        err=err,
    )
    assert code == 2
    assert err.getvalue() == (
        f"fleet.concurrency is {value!r}; give a whole number of writers from 1 to 16 "
        "(default 8).\n"
    )
