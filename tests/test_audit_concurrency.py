"""The audit chain under concurrent appends: one valid chain, every event in its writer's order."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from remediations.actions import ACTIONS
from remediations.audit import AuditLog
from remediations.audit.log import AUDIT_FILE, check_chain
from remediations.engine import Writers, run_action
from remediations.fleet import FleetAction
from remediations.sandbox import SandboxTransport
from remediations.sandbox.transport import Faults
from remediations.testing.fleet_tenant import write_fleet_tenant
from tests.fleet.test_batched_reads import fleet_wish

FIXED = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def lines(audit_dir: Path) -> list[dict[str, Any]]:
    text = (audit_dir / AUDIT_FILE).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def test_threads_appending_at_once_make_one_chain_in_each_writers_order(tmp_path: Path) -> None:
    """Eight writers, each with its own log object on one file, single events and batches."""
    writers, rounds = 8, 25
    start = threading.Barrier(writers)

    def write(number: int) -> None:
        log = AuditLog(tmp_path, clock=lambda: FIXED, context={"writer": number})
        start.wait()
        for n in range(rounds):
            if n % 5 == 4:
                log.events([("step", {"n": n, "part": 0}), ("step", {"n": n, "part": 1})])
            else:
                log.event("step", n=n, part=0, password="hunter2")

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    per_writer = rounds + rounds // 5
    report = check_chain(tmp_path / AUDIT_FILE)
    assert report.count == writers * per_writer
    assert report.damaged == ()
    events = lines(tmp_path)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    for number in range(writers):
        mine = [(e["n"], e["part"]) for e in events if e["writer"] == number]
        assert mine == sorted(mine)
        assert len(mine) == per_writer
    assert all(e.get("password") in (None, "[redacted]") for e in events)


def test_a_concurrent_apply_logs_a_valid_chain_each_change_announced_then_recorded(
    tmp_path: Path,
) -> None:
    path = tmp_path / "fleet.db"
    write_fleet_tenant(path, groups=40)
    audit = AuditLog(tmp_path / "audit", clock=lambda: FIXED, context={"actor": "tester"})
    outcome = run_action(
        FleetAction(ACTIONS["add-allowed-sender"], batch_at=1),
        fleet_wish("add-allowed-sender", 40, sender="partner@fabrikam.com"),
        transport=SandboxTransport(path, faults=Faults(latency_ms=2)),
        audit=audit,
        dry_run=False,
        writers=Writers(concurrency=8),
    )
    assert outcome.outcome == "applied"

    events = lines(tmp_path / "audit")
    assert check_chain(tmp_path / "audit" / AUDIT_FILE).count == len(events)
    seen: dict[tuple[str, str], list[str]] = {}
    for event in events:
        if event["event"].startswith("change-"):
            seen.setdefault((event["target"], event["attribute"]), []).append(event["event"])
    assert len(seen) == len(outcome.plan.changes)  # 40 lists, 40 authentications, a contact
    for kinds in seen.values():
        assert kinds == ["change-planned", "change-applying", "change-applied", "change-verified"]
    assert events[-1]["event"] == "run-end"
    assert events[-1]["outcome"] == "applied"
