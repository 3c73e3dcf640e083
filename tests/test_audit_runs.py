"""Reading the log by run: ``audit.runs`` lists them, ``audit.show`` reads one, streamed."""

from __future__ import annotations

import io
import json
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from remediations.audit.reader import RunFilter, summarize_runs
from tests.conftest import CliResult

ALLOW = {"recipient": "Finance Approvers", "sender": "partner@fabrikam.com"}


def runs(config: dict[str, Any], **options: Any) -> CliResult:
    from remediations.cli.audit import audit_runs_task

    out, err = io.StringIO(), io.StringIO()
    code = audit_runs_task(config, out=out, err=err, **options)
    return CliResult(code, out.getvalue(), err.getvalue())


def show(config: dict[str, Any], run_id: str, **options: Any) -> CliResult:
    from remediations.cli.audit import audit_show_task

    out, err = io.StringIO(), io.StringIO()
    code = audit_show_task(config, run_id, out=out, err=err, **options)
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture
def three_runs(run_task: Callable[..., CliResult]) -> list[str]:
    """A dry run, an applied run (CHG-7), a refused run (CHG-8)."""
    dry = run_task("add-allowed-sender", ALLOW, dry_run=True, as_json=True, ticket="CHG-6")
    real = run_task("add-allowed-sender", ALLOW, as_json=True, ticket="CHG-7")
    refused = run_task(
        "add-allowed-sender", {"recipient": "Nobody", "sender": "a@b.com"}, as_json=True,
        ticket="CHG-8",
    )  # fmt: skip
    assert refused.code == 2
    return [dry.json()["run_id"], real.json()["run_id"], refused.json()["run_id"]]


def test_runs_lists_one_line_per_run(config: dict[str, Any], three_runs: list[str]) -> None:
    result = runs(config)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == [
        "RUN", "STARTED", "ACTOR", "TARGET", "TICKET", "WHAT", "OUTCOME", "CHANGES",
    ]  # fmt: skip
    dry, real, refused = lines[1:]
    assert dry.startswith(three_runs[0])
    assert "add-allowed-sender (dry run)" in dry
    assert dry.split()[-2:] == ["planned", "3"]
    assert real.startswith(three_runs[1])
    assert "tester" in real
    assert "contoso.com (sandbox)" in real
    assert "CHG-7" in real
    assert real.split()[-2:] == ["applied", "3"]
    assert refused.split()[-2:] == ["refused", "0"]


def test_runs_filters_and_json(config: dict[str, Any], three_runs: list[str]) -> None:
    doc = runs(config, ticket="chg-7", as_json=True).json()
    assert [run["run_id"] for run in doc] == [three_runs[1]]
    only = doc[0]
    assert (only["actor"], only["tenant"], only["ticket"], only["action"]) == (
        "tester",
        "contoso.com",
        "CHG-7",
        "add-allowed-sender",
    )
    assert (only["outcome"], only["changes"], only["dry_run"]) == ("applied", 3, False)
    assert only["chain_head"]["count"] > 0
    assert len(runs(config, target="contoso.com", as_json=True).json()) == 3
    assert len(runs(config, target="sandbox", as_json=True).json()) == 3
    assert runs(config, target="fabrikam.com", as_json=True).json() == []
    assert runs(config, actor="someone-else", as_json=True).json() == []
    assert len(runs(config, since="2020-01-01", as_json=True).json()) == 3
    assert runs(config, since="2999-01-01", as_json=True).json() == []
    bad = runs(config, since="last tuesday")
    assert bad.code == 2
    assert "--since 'last tuesday' is not a date" in bad.err


def test_show_reads_one_run(config: dict[str, Any], three_runs: list[str]) -> None:
    result = show(config, three_runs[1])
    assert result.code == 0, result.err
    text = result.out
    assert text.startswith(f"Run {three_runs[1]}: add-allowed-sender\n")
    assert "ticket CHG-7" in text
    assert "outcome applied, 3 changes applied" in text
    assert (
        "change-applied  finance-approvers@contoso.com AcceptMessagesOnlyFrom: "
        "cfo@contoso.com -> cfo@contoso.com, partner@fabrikam.com"
    ) in text
    assert "New-MailContact -Name 'partner@fabrikam.com'" in text
    assert text.count("change-verified") == 3
    assert text.rstrip().endswith("run-end  applied")
    refused = show(config, three_runs[2])
    assert "error: " in refused.out
    doc = show(config, three_runs[1], as_json=True).json()
    assert doc["run"]["outcome"] == "applied"
    assert [e["event"] for e in doc["events"]][-1] == "run-end"
    missing = show(config, "0123456789ab")
    assert missing.code == 2
    assert "No run '0123456789ab'" in missing.err
    assert "audit.runs" in missing.err


def test_a_playbook_run_is_one_run(
    config: dict[str, Any], run_task: Callable[..., CliResult]
) -> None:
    from remediations.cli.playbooks import playbook_run_task

    out, err = io.StringIO(), io.StringIO()
    code = playbook_run_task(
        config, "group-rejects-outside-senders", ["group=All Staff"], dry_run=False,
        as_json=True, ticket="CHG-9", yes=True, resume="", out=out, err=err,
    )  # fmt: skip
    assert code == 0, err.getvalue()
    run_id = json.loads(out.getvalue())["run_id"]
    listed = runs(config, as_json=True).json()
    assert [run["run_id"] for run in listed] == [run_id]
    assert listed[0]["playbook"] == "group-rejects-outside-senders"
    assert listed[0]["outcome"] == "applied"
    assert listed[0]["changes"] >= 1
    assert "playbook-start  group-rejects-outside-senders" in show(config, run_id).out


def test_reading_is_streamed_in_constant_memory(tmp_path: Path) -> None:
    """20,000 events (about 7 MB) are summarised holding little more than one line.

    The peak allowed (1 MB) is a seventh of the file: reading it whole would fail.
    """
    path = tmp_path / "audit.jsonl"
    padding = "x" * 250

    def line(run: str, event: str) -> str:
        return json.dumps(
            {"event": event, "run_id": run, "time": "2026-11-30T10:00:00Z",
             "actor": "a", "tenant": "contoso.com", "transport": "sandbox",
             "ticket": "T", "action": "x", "outcome": "applied", "pad": padding,
             "hash": "0"}
        ) + "\n"  # fmt: skip

    with path.open("w") as handle:
        for n in range(20):  # 20 runs of 999 applied changes and a run-end
            run = f"run{n:05d}"
            handle.write(line(run, "change-applied") * 999 + line(run, "run-end"))
    assert path.stat().st_size > 6_000_000
    tracemalloc.start()
    try:
        found = summarize_runs(path, RunFilter(ticket="t"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(found) == 20
    assert found[0].applied == 999
    assert peak < 1_000_000


def test_runs_filters_by_the_configured_target_name(
    config: dict[str, Any], three_runs: list[str]
) -> None:
    """--target matches the name the run was given, as well as its tenant and transport."""
    named = runs(config, target="sandbox", as_json=True)
    assert named.code == 0, named.err
    listed = json.loads(named.out)
    documents = listed["runs"] if isinstance(listed, dict) else listed
    assert {r["run_id"] for r in documents} >= set(three_runs)
    assert all(r["target"] == "sandbox" for r in documents if r["run_id"] in three_runs)
    other = runs(config, target="northwind", as_json=True)
    other_docs = json.loads(other.out)
    other_docs = other_docs["runs"] if isinstance(other_docs, dict) else other_docs
    assert not {r["run_id"] for r in other_docs} & set(three_runs)
