"""The audit log: one JSON object a line, every step of a run, chained, nothing secret."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from remediations.audit import AuditLog, ChainError, redact, verify_chain
from tests.conftest import FIXED_TIME, CliResult, events

REQUIRED = {
    "time",
    "run_id",
    "event",
    "actor",
    "tenant",
    "transport",
    "action",
    "dry_run",
    "ticket",
    "target",
    "before",
    "after",
    "cmdlets",
    "outcome",
    "error",
}


def test_a_real_run_logs_every_step(run_task: Callable[..., CliResult], audit_dir: Path) -> None:
    """Start, each planned, applied and verified change, and the end, with full context."""
    result = run_task(
        "add-allowed-sender",
        {"recipient": "Finance Approvers", "sender": "partner@fabrikam.com"},
        ticket="CHG-42",
        as_json=True,
    )
    run_id = result.json()["run_id"]
    run = [e for e in events(audit_dir) if e["run_id"] == run_id]
    assert [e["event"] for e in run] == [
        "run-start",
        *["change-planned"] * 3,
        *["change-applying", "change-applied"] * 3,
        *["change-verified"] * 3,
        "run-end",
    ]
    for event in run:
        assert set(event) >= REQUIRED
        assert event["ticket"] == "CHG-42"
        assert event["actor"] == "tester"
        assert (event["tenant"], event["transport"]) == ("contoso.com", "sandbox")
        assert event["time"].endswith("Z")
        assert event["dry_run"] is False
    assert {e["outcome"] for e in run if e["event"].startswith("change-")} == {
        "planned",
        "applying",
        "applied",
        "verified",
    }
    applied = [e for e in run if e["event"] == "change-applied"]
    assert applied[0]["cmdlets"] == [
        {
            "name": "New-MailContact",
            "parameters": {
                "Name": "partner@fabrikam.com",
                "ExternalEmailAddress": "partner@fabrikam.com",
            },
        }
    ]
    assert applied[1]["before"] == ["cfo@contoso.com"]
    assert applied[1]["after"] == ["cfo@contoso.com", "partner@fabrikam.com"]
    assert run[-1]["outcome"] == "applied"
    assert run[0]["wish"] == {
        "recipient": "Finance Approvers",
        "sender": "partner@fabrikam.com",
        "only_listed_senders": False,
    }


def test_a_dry_run_is_logged_as_a_plan(run_task: Callable[..., CliResult], audit_dir: Path) -> None:
    """A dry run records what it would do, and nothing applied."""
    run_task("fix-public-folder", {"folder": "\\Support\\Escalations"}, dry_run=True)
    kinds = [(e["event"], e.get("outcome"), e["dry_run"]) for e in events(audit_dir)]
    assert kinds == [
        ("run-start", None, True),
        ("change-planned", "planned", True),
        ("run-end", "planned", True),
    ]


def test_refused_runs_are_logged_too(run_task: Callable[..., CliResult], audit_dir: Path) -> None:
    """A refusal leaves a record of who asked for what, and why it was refused."""
    run_task("add-allowed-sender", {"recipient": "Partners", "sender": "p@fabrikam.com"})
    end = events(audit_dir)[-1]
    assert (end["event"], end["outcome"]) == ("run-end", "refused")
    assert "requires authenticated senders" in end["error"]


def test_secrets_never_reach_the_log(audit: AuditLog, audit_dir: Path) -> None:
    """Any key naming a secret is redacted, at any depth."""
    audit.event(
        "run-start",
        client_secret="s3cr3t",
        wish={"password": "p", "nested": [{"access_token": "t"}]},
    )
    text = (audit_dir / "audit.jsonl").read_text()
    assert "s3cr3t" not in text
    assert '"p"' not in text
    assert '"t"' not in text
    assert redact({"Authorization": "Bearer x", "target": "ok"}) == {
        "Authorization": "[redacted]",
        "target": "ok",
    }


def test_chain_detects_a_deleted_line(audit: AuditLog, audit_dir: Path) -> None:
    """Removing a line breaks the chain at the line after it."""
    for n in range(4):
        audit.event("note", n=n)
    path = audit_dir / "audit.jsonl"
    assert verify_chain(path) == 4
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:1] + lines[2:]) + "\n")
    with pytest.raises(ChainError, match="line 2: does not follow"):
        verify_chain(path)


def test_concurrent_writers_make_one_chain(audit_dir: Path) -> None:
    """Two runs appending at once still leave one intact chain (appends are locked)."""

    def write(tag: str) -> None:
        log = AuditLog(audit_dir, clock=lambda: FIXED_TIME, context={"writer": tag})
        for n in range(40):
            log.event("note", n=n)

    threads = [threading.Thread(target=write, args=(t,)) for t in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert verify_chain(audit_dir / "audit.jsonl") == 80
