"""Concurrent writes announced ahead in windows: each change on disk before it is sent, and
a change announced but never sent closed as such (``change-not-sent``) when the run stops."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from remediations.actions import ACTIONS
from remediations.audit import AuditLog
from remediations.audit.log import read_events, verify_chain
from remediations.audit.reader import summarize
from remediations.audit.report import build_report, render_markdown
from remediations.audit.rollback import applied_changes
from remediations.cli.audit import render_run
from remediations.engine import Writers, run_action
from remediations.errors import ApplyFailed
from remediations.exchange.cmdlet import Cmdlet, CmdletResult
from remediations.fleet import FleetAction
from remediations.sandbox import SandboxTransport
from remediations.sandbox.transport import Faults
from remediations.testing.cli import CliRunner
from remediations.testing.fleet_tenant import fleet_group, write_fleet_tenant
from tests.conftest import ROOT, events
from tests.fleet.test_batched_reads import end_state, fleet_wish

OPEN = "open-group-to-external"
CLOSING = ("change-applied", "change-failed", "change-not-sent")


class LogOnSend:
    """A real transport that notes, as each write goes out, what the log holds about it."""

    def __init__(self, inner: SandboxTransport, log: Path) -> None:
        self.inner = inner
        self.name = inner.name
        self.tenant = inner.tenant
        self.log = log
        self.unannounced: list[str] = []

    def send(self, cmdlet: Cmdlet) -> CmdletResult:
        if cmdlet.is_write:
            identity = str(cmdlet.get("Identity"))
            announced = {
                e["target"]
                for e in read_events(self.log)
                if e["event"] == "change-applying" and e.get("run_id") != "warm"
            }
            if identity not in announced:
                self.unannounced.append(identity)
        return self.inner.send(cmdlet)

    def close(self) -> None:
        self.inner.close()


def run(path: Path, audit: AuditLog, size: int, **kw: Any) -> Any:
    transport = kw.get("transport") or SandboxTransport(path, faults=Faults.parse(kw.get("faults")))
    return run_action(
        FleetAction(ACTIONS[OPEN], batch_at=1),
        fleet_wish(OPEN, size),
        transport=transport,
        audit=audit,
        dry_run=False,
        writers=Writers(concurrency=kw.get("workers", 4)),
    )


def closed_by(log: list[dict[str, Any]], run_id: str) -> dict[str, str]:
    """Each announced target of the run and the event that closed it ('' if none)."""
    state: dict[str, str] = {}
    for event in log:
        if event.get("run_id") != run_id:
            continue
        if event["event"] == "change-applying":
            state[event["target"]] = ""
        elif event["event"] in CLOSING and event["target"] in state:
            state[event["target"]] = event["event"]
    return state


def test_every_change_is_on_disk_before_it_is_sent_and_the_log_holds_fewer_fsyncs(
    tmp_path: Path, audit: AuditLog, audit_dir: Path
) -> None:
    path = tmp_path / "fleet.db"
    write_fleet_tenant(path, groups=40, restricted=False)
    # the log exists before the run (its run-start is written first)
    audit.bind(run_id="warm").event("note", note="warm-up")
    transport = LogOnSend(SandboxTransport(path), audit_dir / "audit.jsonl")
    outcome = run(path, audit, 40, transport=transport, workers=4)

    assert outcome.outcome == "applied"
    assert transport.unannounced == []  # the write-ahead rule holds for every send
    state = closed_by(events(audit_dir), outcome.run_id)
    assert len(state) == 40
    assert set(state.values()) == {"change-applied"}
    assert verify_chain(audit_dir / "audit.jsonl") > 0


def test_a_failure_mid_fleet_closes_each_unsent_announcement_and_a_rerun_applies_those(
    tmp_path: Path, audit: AuditLog, audit_dir: Path
) -> None:
    path, reference = tmp_path / "fleet.db", tmp_path / "reference.db"
    write_fleet_tenant(path, groups=40, restricted=False)
    write_fleet_tenant(reference, groups=40, restricted=False)
    run(reference, audit, 40, workers=1)

    with pytest.raises(ApplyFailed) as caught:
        run(path, audit, 40, faults="fail_write=3,latency_ms=30", workers=4)
    failed = caught.value.outcome
    log = events(audit_dir)
    state = closed_by(log, failed.run_id)
    assert "" not in state.values()  # a clean stop leaves no change "may have been applied"
    not_sent = {t for t, how in state.items() if how == "change-not-sent"}
    assert not_sent  # the window ran ahead of the sends
    status = {c.target: failed.status[i] for i, c in enumerate(failed.plan.changes)}
    assert {t for t in not_sent if status[t] != "not-applied"} == set()
    applied = {t for t, s in status.items() if s == "applied"}
    assert applied == {t for t, how in state.items() if how == "change-applied"}
    # what rollback would undo: exactly what reached the tenant
    run_log = [e for e in log if e.get("run_id") == failed.run_id]
    assert {c["target"] for c in applied_changes(run_log)} == applied

    again = run(path, audit, 40, workers=4)
    assert again.outcome == "applied"
    # the rerun wrote exactly what the stopped run did not
    assert {c.target for c in again.plan.changes} == set(status) - applied
    assert end_state(path) == end_state(reference)
    assert verify_chain(audit_dir / "audit.jsonl") > 0

    report = render_markdown(build_report(failed.run_id, run_log))
    assert "(not sent (the run stopped first))" in report
    shown = render_run(summarize(failed.run_id, run_log), run_log)
    assert "change-not-sent" in shown


def _file(tmp_path: Path, size: int) -> Path:
    targets = tmp_path / "groups.txt"
    targets.write_text("".join(f"{fleet_group(n)}\n" for n in range(1, size + 1)))
    return targets


@pytest.mark.subprocess
def test_ctrl_c_mid_fleet_closes_each_unsent_announcement_and_a_rerun_applies_those(
    tmp_path: Path, audit_dir: Path
) -> None:
    path = tmp_path / "fleet.db"
    write_fleet_tenant(path, groups=40, restricted=False)
    args = [OPEN, "--targets-file", str(_file(tmp_path, 40)), "--yes"]
    env = {
        **os.environ,
        "INVOKE_SANDBOX_PATH": str(path),
        "INVOKE_AUDIT_DIR": str(audit_dir),
        "INVOKE_SANDBOX_FAULTS": "latency_ms=200",
    }
    invoke = str(Path(sys.executable).with_name("invoke"))
    proc = subprocess.Popen(
        [invoke, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    log = audit_dir / "audit.jsonl"
    deadline = time.monotonic() + 60
    while not (log.exists() and b'"change-applying"' in log.read_bytes()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run never started applying"
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert b"Traceback" not in err

    first = events(audit_dir)
    run_id = first[-1]["run_id"]
    assert (first[-1]["event"], first[-1]["outcome"]) == ("run-end", "interrupted")
    state = closed_by(first, run_id)
    assert "" not in state.values()
    assert "change-not-sent" in state.values()
    applied = {t for t, how in state.items() if how == "change-applied"}
    assert {c["target"] for c in first[-1]["applied"]} == applied

    # the rerun is behaviour: in-process
    rerun = CliRunner(
        cwd=ROOT, env={"INVOKE_SANDBOX_PATH": str(path), "INVOKE_AUDIT_DIR": str(audit_dir)}
    )
    again = rerun(*args)
    assert again.returncode == 0, again.stderr
    second = [e for e in events(audit_dir) if e["run_id"] != run_id and e.get("run_id")]
    sent = {e["target"] for e in second if e["event"] == "change-applying"}
    assert sent == {fleet_group(n) for n in range(1, 41)} - applied
    assert verify_chain(log) > 0
