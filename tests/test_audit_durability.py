"""Nothing unrecorded: write-ahead events, a log that cannot be written, damaged lines."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from remediations.actions import ACTIONS, parse_wish
from remediations.audit import AuditLog, check_chain, read_events
from remediations.cli import run_action_task
from remediations.engine import prepare
from remediations.sandbox import SandboxTransport
from remediations.testing import CliRunner
from remediations.testing.full_disk import full_disk_at
from tests.conftest import FIXED_TIME, CliResult, events

Invoke = CliRunner

# add-allowed-sender for an outside sender to a restricted group that requires
# authenticated senders: three changes (contact, list, authentication).
FIX = "add-allowed-sender"
WISH = {"recipient": "Finance Approvers", "sender": "partner@fabrikam.com"}
# run-start, 3 x change-planned, 3 x (change-applying, change-applied),
# 3 x change-verified, run-end
APPENDS = 14


def remaining(tenant_path: Path) -> set[tuple[str, str]]:
    """The changes the fix would still make: (target, attribute)."""
    action = ACTIONS[FIX]
    transport = SandboxTransport(tenant_path)
    try:
        plan = prepare(action, parse_wish(action, dict(WISH)), transport)
    finally:
        transport.close()
    return {(c.target, c.attribute) for c in plan.changes}


def run_fix(config: dict[str, Any], sink: Any = None) -> CliResult:
    out, err = io.StringIO(), io.StringIO()
    code = run_action_task(
        config,
        FIX,
        dict(WISH),
        dry_run=False,
        as_json=False,
        ticket="T-1",
        yes=True,
        out=out,
        err=err,
        audit_sink=sink,
    )
    return CliResult(code, out.getvalue(), err.getvalue())


def test_a_full_run_makes_the_appends_the_failure_test_counts(
    config: dict[str, Any], audit_dir: Path
) -> None:
    """The failure test below covers every append of this fix: there are 14."""
    assert run_fix(config).code == 0
    assert len(events(audit_dir)) == APPENDS


@pytest.mark.parametrize("k", range(1, APPENDS + 1))
def test_log_unwritable_at_every_append(
    k: int, config: dict[str, Any], tenant_path: Path, audit_dir: Path
) -> None:
    """The tenant holds exactly the changes announced in the log; exit 1; a later run works."""
    everything = remaining(tenant_path)
    assert len(everything) == 3
    result = run_fix(config, full_disk_at(k))
    assert result.code == 1
    assert "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert "could not be written" in result.err
    announced = {
        (e["target"], e["attribute"]) for e in events(audit_dir) if e["event"] == "change-applying"
    }
    in_tenant = everything - remaining(tenant_path)
    assert in_tenant == announced
    if in_tenant:
        assert "may not record all that reached the tenant. Changed: " in result.err
    else:
        assert "nothing reached the tenant" in result.err
    # the failed append left nothing behind: the chain is whole, and the next run works
    assert check_chain(audit_dir / "audit.jsonl").damaged == ()
    again = run_fix(config)
    assert again.code == 0, again.err
    assert remaining(tenant_path) == set()
    assert check_chain(audit_dir / "audit.jsonl").damaged == ()


def test_every_append_is_whole_even_with_short_writes(audit_dir: Path) -> None:
    """Writes that return short are finished, never left as a cut line."""
    log = AuditLog(
        audit_dir,
        clock=lambda: FIXED_TIME,
        context={"actor": "tester"},
        sink=full_disk_at(1000),  # short writes of 97 bytes, no failure
    )
    for n in range(5):
        log.event("note", note="x" * 500, n=n)
    report = check_chain(audit_dir / "audit.jsonl")
    assert (report.count, report.damaged) == (5, ())


@pytest.fixture
def logged(run_task: Callable[..., CliResult], audit_dir: Path) -> Path:
    """An audit log holding one real run."""
    assert run_task("open-group-to-external", {"group": "Partners"}).code == 0
    return audit_dir / "audit.jsonl"


def test_a_cut_last_line_is_closed_off_reported_and_never_blocks(
    logged: Path, run_task: Callable[..., CliResult], invoke_cli: Invoke
) -> None:
    """A crash mid-append leaves half a line: the next run closes it off and marks it."""
    good = len(logged.read_bytes().splitlines())
    with logged.open("ab") as handle:
        handle.write(b'{"event":"change-applied","target":"Part')
    damaged: list[int] = []
    assert len(list(read_events(logged, damaged=damaged))) == good
    assert damaged == [good + 1]
    unfinished = check_chain(logged)
    assert unfinished.damaged == (
        (good + 1, "an unfinished write (the line is cut short); the next run closes it off"),
    )
    result = run_task("fix-public-folder", {"folder": "\\Support\\Escalations"})
    assert result.code == 0, result.err
    lines = logged.read_bytes().splitlines()
    assert lines[good] == b'{"event":"change-applied","target":"Part'
    assert json.loads(lines[good + 1])["event"] == "damaged-line"
    report = check_chain(logged)
    assert report.damaged == (
        (good + 1, "an unfinished write (the line is cut short); closed off"),
    )
    assert report.count == len(lines) - 1
    proc = invoke_cli("audit.verify")
    assert proc.returncode == 0
    assert "hash chain intact" in proc.stdout
    assert f"line {good + 1} is damaged" in proc.stdout


def test_a_last_line_without_its_newline_is_not_glued_onto(
    logged: Path, run_task: Callable[..., CliResult]
) -> None:
    """A complete last line whose newline is missing is closed off, not joined to the next."""
    data = logged.read_bytes()
    logged.write_bytes(data.rstrip(b"\n"))
    count = len(data.splitlines())
    assert run_task("fix-public-folder", {"folder": "\\Support\\Escalations"}).code == 0
    lines = logged.read_bytes().splitlines()
    assert all(json.loads(line)["hash"] for line in lines)
    assert json.loads(lines[count])["event"] == "damaged-line"
    report = check_chain(logged)
    assert report.damaged == ((count, "the last line had no newline; closed off"),)
    assert report.count == len(lines)


def test_a_damaged_line_in_the_middle_is_tampering(logged: Path) -> None:
    """Only a line the log closed off itself is excused; any other bad line is reported."""
    from remediations.audit import ChainError

    lines = logged.read_bytes().splitlines()
    lines[1] = lines[1][:20]
    logged.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(ChainError, match="line 2: not an audit event"):
        check_chain(logged)


def test_resume_reads_past_a_damaged_line(
    run_playbook: Callable[..., CliResult], audit_dir: Path
) -> None:
    """--resume finds its run in a log with a damaged line instead of crashing."""
    first = run_playbook(
        "restricted-group-outside-sender",
        ["group=finance-approvers@contoso.com", "senders=partner@fabrikam.com"],
        faults="fail_write=2",
    )
    assert first.code == 1
    run_id = first.json()["run_id"]
    log = audit_dir / "audit.jsonl"
    with log.open("ab") as handle:
        handle.write(b'{"event":"no')
    resumed = run_playbook("restricted-group-outside-sender", [], resume=run_id)
    assert resumed.code == 0, resumed.err
    assert check_chain(log).damaged[0][1].endswith("closed off")


@pytest.fixture
def run_playbook(config: dict[str, Any]) -> Callable[..., CliResult]:
    from remediations.cli.playbooks import playbook_run_task

    def run(name: str, params: list[str], *, faults: str = "", resume: str = "") -> CliResult:
        out, err = io.StringIO(), io.StringIO()
        cfg = {**config, "sandbox": {**config["sandbox"], "faults": faults}}
        code = playbook_run_task(
            cfg,
            name,
            params,
            dry_run=False,
            as_json=True,
            ticket="",
            yes=True,
            resume=resume,
            out=out,
            err=err,
        )
        return CliResult(code, out.getvalue(), err.getvalue())

    return run


@pytest.mark.parametrize("damage", ["folder-is-a-file", "log-is-a-folder", "read-only"])
def test_a_damaged_audit_setup_is_bad_input(
    damage: str, invoke_cli: Invoke, tenant_path: Path, audit_dir: Path
) -> None:
    """One sentence naming the path, exit 2, no traceback, nothing changed."""
    if damage == "folder-is-a-file":
        audit_dir.write_text("not a folder\n")
        named = str(audit_dir)
    elif damage == "log-is-a-folder":
        (audit_dir / "audit.jsonl").mkdir(parents=True)
        named = str(audit_dir / "audit.jsonl")
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        audit_dir.mkdir()
        audit_dir.chmod(0o500)
        named = str(audit_dir / "audit.jsonl")
    before = remaining(tenant_path)
    proc = invoke_cli(FIX, "--recipient", WISH["recipient"], "--sender", WISH["sender"])
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert named in proc.stderr
    assert remaining(tenant_path) == before


@pytest.mark.parametrize("cut", [b"", b'{"event":"note","x":"' + b"y" * 9000])
def test_long_lines_chain_across_read_blocks(audit_dir: Path, cut: bytes) -> None:
    """Lines longer than a read block chain, and a long cut line is closed off as one."""
    log = AuditLog(audit_dir, clock=lambda: FIXED_TIME, context={"actor": "tester"})
    log.event("note", note="z" * 10000)
    with (audit_dir / "audit.jsonl").open("ab") as handle:
        handle.write(cut)
    log.event("note", note="after")
    report = check_chain(audit_dir / "audit.jsonl")
    assert report.count == (3 if cut else 2)
    assert len(report.damaged) == (1 if cut else 0)
    assert [e["note"] for e in read_events(audit_dir / "audit.jsonl")][-1] == "after"
