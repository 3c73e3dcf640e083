"""A playbook's saved plan: every step's changes, applied exactly once, refused when stale.

Also: every refusal of a saved plan, and every object a rollback leaves alone, is an
event of its own run in the audit log, which audit.runs, audit.show and audit.report show.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from remediations.audit import read_events
from remediations.audit.plans import plan_hash, write_plan
from tests.conftest import CliResult
from tests.test_rollback import tenant

BOOK = "restricted-group-outside-sender"
PARAMS = ["group=finance-approvers@contoso.com", "senders=partner@fabrikam.com"]
GROUP = "finance-approvers@contoso.com"


def run_playbook(config: dict[str, Any], **kw: Any) -> CliResult:
    from remediations.cli.playbooks import playbook_run_task

    out, err = io.StringIO(), io.StringIO()
    options: dict[str, Any] = {"dry_run": True, "as_json": False, "ticket": "CHG-7", "yes": True}
    options.update(kw)
    code = playbook_run_task(config, BOOK, list(PARAMS), out=out, err=err, **options)
    return CliResult(code, out.getvalue(), err.getvalue())


def apply(config: dict[str, Any], path: Path, **kw: Any) -> CliResult:
    from remediations.cli.review import plan_apply_task

    out, err = io.StringIO(), io.StringIO()
    code = plan_apply_task(config, str(path), yes=True, out=out, err=err, **kw)
    return CliResult(code, out.getvalue(), err.getvalue())


def cli(task: Callable[..., int], config: dict[str, Any], *args: Any, **kw: Any) -> CliResult:
    out, err = io.StringIO(), io.StringIO()
    code = task(config, *args, out=out, err=err, **kw)
    return CliResult(code, out.getvalue(), err.getvalue())


def run_of(audit_dir: Path, run_id: str) -> list[dict[str, Any]]:
    return [e for e in read_events(audit_dir / "audit.jsonl") if e["run_id"] == run_id]


@pytest.fixture
def book_plan(config: dict[str, Any], tmp_path: Path) -> Path:
    path = tmp_path / "chg-7.json"
    saved = run_playbook(config, save_plan=str(path))
    assert saved.code == 0, saved.err
    assert f"Plan saved to {path} (hash " in saved.out
    return path


def test_a_playbook_plan_holds_every_step_in_order_and_what_each_read(
    config: dict[str, Any], book_plan: Path, audit_dir: Path, tenant_path: Path
) -> None:
    doc = json.loads(book_plan.read_text())
    assert doc["hash"] == plan_hash(doc)
    assert doc["playbook"]["name"] == BOOK
    assert [s["step"] for s in doc["steps"]] == ["1.1", "2"]
    assert [(c["step"], c["attribute"]) for c in doc["changes"]] == [
        ("1.1", "MailContact"),
        ("1.1", "AcceptMessagesOnlyFrom"),
        ("1.1", "RequireSenderAuthenticationEnabled"),
    ]
    read = {(i["step"], i["target"], i["attribute"]): i["value"] for i in doc["read"]}
    assert read[("1.1", GROUP, "RequireSenderAuthenticationEnabled")] is True
    # step 2 was planned on the copy step 1 left: it read the group already open
    assert read[("2", GROUP, "RequireSenderAuthenticationEnabled")] is False
    saved = [e for e in read_events(audit_dir / "audit.jsonl") if e["event"] == "plan-saved"]
    assert saved[-1]["saved_plan"] == doc["hash"]
    assert saved[-1]["playbook"] == BOOK
    from remediations.cli.review import plan_show_task

    shown = cli(plan_show_task, config, str(book_plan))
    assert shown.code == 0
    assert shown.out.startswith(f"Plan {doc['hash']}\n")
    assert f"playbook {BOOK} (version " in shown.out
    assert 'Step 1.1 "Add the sender' in shown.out
    assert f"[step 2] {GROUP} RequireSenderAuthenticationEnabled = $false" in shown.out


def test_save_plan_needs_a_dry_run(config: dict[str, Any], tmp_path: Path) -> None:
    result = run_playbook(config, dry_run=False, save_plan=str(tmp_path / "p.json"))
    assert result.code == 2
    assert "--save-plan needs --dry-run" in result.err
    assert not (tmp_path / "p.json").exists()


def test_a_playbook_plan_applies_once_and_links_its_hash(
    config: dict[str, Any], book_plan: Path, tenant_path: Path, audit_dir: Path, tmp_path: Path
) -> None:
    from remediations.sandbox import load_tenant

    digest = json.loads(book_plan.read_text())["hash"]
    before = tenant(tenant_path)
    applied = apply(config, book_plan, as_json=True)
    assert applied.code == 0, applied.err
    doc = applied.json()
    assert doc["outcome"] == "applied"
    assert doc["plan_hash"] == digest
    assert [c["attribute"] for s in doc["steps"] for c in s["changes"]] == [
        "MailContact",
        "AcceptMessagesOnlyFrom",
        "RequireSenderAuthenticationEnabled",
    ]
    events = run_of(audit_dir, doc["run_id"])
    assert {e["plan_hash"] for e in events} == {digest}
    assert sum(e["event"] == "change-verified" for e in events) == 3
    after = tenant(tenant_path)
    assert after != before

    # applied twice: refused, even with the tenant put back as it was when planned
    snapshot = tmp_path / "before.json"
    snapshot.write_text(json.dumps(before))
    load_tenant(snapshot, tenant_path)
    again = apply(config, book_plan)
    assert again.code == 1
    assert f"was already applied by run {doc['run_id']}" in again.err
    assert tenant(tenant_path) == before


def test_a_playbook_plan_is_refused_when_the_tenant_moved(
    config: dict[str, Any],
    book_plan: Path,
    tenant_path: Path,
    audit_dir: Path,
    run_task: Callable[..., CliResult],
) -> None:
    moved = run_task("open-group-to-external", {"group": GROUP})
    assert moved.code == 0, moved.err
    before = tenant(tenant_path)
    result = apply(config, book_plan)
    assert result.code == 1
    assert "the tenant changed since plan" in result.err
    assert (
        f"(step 1.1): {GROUP} RequireSenderAuthenticationEnabled: was true when planned, "
        "is false now" in result.err
    )
    assert "Nothing was changed." in result.err
    assert tenant(tenant_path) == before
    end = [e for e in read_events(audit_dir / "audit.jsonl") if e["event"] == "playbook-end"][-1]
    assert end["outcome"] == "refused"
    assert end["plan_hash"] == json.loads(book_plan.read_text())["hash"]


def test_an_edited_playbook_is_refused(
    config: dict[str, Any], tmp_path: Path, tenant_path: Path
) -> None:
    """The plan names the playbook's version: a playbook edited since is not applied."""
    from remediations.playbooks import SHIPPED_DIR

    books = tmp_path / "books"
    books.mkdir()
    source = (SHIPPED_DIR / f"{BOOK}.yaml").read_text()
    (books / f"{BOOK}.yaml").write_text(source)
    config = {**config, "playbooks": {"dir": str(books)}}
    path = tmp_path / "p.json"
    assert run_playbook(config, save_plan=str(path)).code == 0
    (books / f"{BOOK}.yaml").write_text(source + "\n# edited\n")
    before = tenant(tenant_path)
    result = apply(config, path)
    assert result.code == 1
    assert f"the playbook {BOOK} has changed since plan" in result.err
    assert tenant(tenant_path) == before


def test_every_refusal_is_a_run_on_the_record(
    config: dict[str, Any],
    tmp_path: Path,
    audit_dir: Path,
    run_task: Callable[..., CliResult],
) -> None:
    """Another tenant, already applied, stale, edited: each is a run with who, hash, why."""
    from remediations.cli import run_action_task
    from remediations.cli.audit import audit_report_task, audit_runs_task, audit_show_task
    from remediations.cli.review import rollback_task
    from tests.test_saved_plans import save

    good = tmp_path / "good.json"
    assert save(config, good).code == 0
    doc = json.loads(good.read_text())
    foreign = tmp_path / "foreign.json"
    write_plan(foreign, {k: v for k, v in doc.items() if k != "hash"} | {"tenant": "fabrikam.com"})
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps({**doc, "ticket": "CHG-666"}))
    stale = tmp_path / "stale.json"
    made = cli(run_action_task, config, "open-to-external", {"recipient": "legal@contoso.com"},
               dry_run=True, as_json=False, ticket="", yes=True, save_plan=str(stale))  # fmt: skip
    assert made.code == 0, made.err

    whys: dict[str, tuple[str, str]] = {}  # why, and the hash the file records
    assert apply(config, good).code == 0
    for name, path in (("applied", good), ("foreign", foreign), ("edited", edited)):
        result = apply(config, path)
        assert result.code == 1, result.err
        whys[name] = (result.err.strip(), json.loads(path.read_text())["hash"])
    assert run_task("open-to-external", {"recipient": "legal@contoso.com"}).code == 0  # moved
    result = apply(config, stale)
    assert result.code == 1
    whys["stale"] = (result.err.strip(), json.loads(stale.read_text())["hash"])

    runs = cli(audit_runs_task, config, as_json=True).json()
    refused = [r for r in runs if r["outcome"] == "refused"]
    assert len(refused) == 4
    for run, (name, (why, digest)) in zip(refused, whys.items(), strict=True):
        assert run["actor"] == "tester"
        assert run["refusals"] == [why], name
        assert run["plan_hash"] == digest
        events = run_of(audit_dir, run["run_id"])
        assert [e["event"] for e in events][-2:] == ["plan-refused", "run-end"]
        assert {e["plan_hash"] for e in events} == {digest}
    edited_events = run_of(audit_dir, refused[2]["run_id"])
    assert edited_events[-2]["file_hash"] != doc["hash"]
    text = cli(audit_runs_task, config).out
    assert text.count(" refused ") >= 4
    shown = cli(audit_show_task, config, refused[1]["run_id"]).out
    assert "plan-refused  Not applied: plan " in shown
    assert "was made for fabrikam.com (sandbox)" in shown
    report = cli(audit_report_task, config, refused[3]["run_id"]).out
    assert "## Refused" in report
    assert "legal@contoso.com RequireSenderAuthenticationEnabled: was true when planned" in report

    # a rollback that leaves an object alone records it as an event of its own
    ran = run_task("add-allowed-sender", {"recipient": "Finance Approvers",
                                          "sender": "x@fabrikam.com"}, as_json=True)  # fmt: skip
    assert (
        run_task(
            "add-allowed-sender", {"recipient": "Finance Approvers", "sender": "y@fabrikam.com"}
        ).code
        == 0
    )
    undone = cli(rollback_task, config, ran.json()["run_id"], yes=True, as_json=True)
    assert undone.code == 0, undone.err
    events = run_of(audit_dir, undone.json()["run_id"])
    left = [e for e in events if e["event"] == "rollback-refused"]
    assert {(e["target"], e["attribute"]) for e in left} == {
        (GROUP, "AcceptMessagesOnlyFrom"),
        ("x@fabrikam.com", "MailContact"),
    }
    assert all(e["reason"].startswith("Not undone: ") for e in left)
    assert events.index(left[0]) < len(events) - 1  # before the run's end
    line = next(
        row for row in cli(audit_runs_task, config).out.splitlines()
        if row.startswith(undone.json()["run_id"])
    )  # fmt: skip
    assert "(2 refused)" in line
    report = cli(audit_report_task, config, undone.json()["run_id"]).out
    assert f"Not undone: {GROUP} AcceptMessagesOnlyFrom is " in report.split("## Refused")[1]


def test_audit_runs_finds_the_runs_of_a_plan_by_its_hash(
    config: dict[str, Any], book_plan: Path, run_task: Callable[..., CliResult]
) -> None:
    """A reviewer holding an approved hash finds the dry run that saved it and the run that
    applied it (and any refused attempt), and nothing else."""
    from remediations.cli.audit import audit_runs_task

    digest = json.loads(book_plan.read_text())["hash"]
    applied = apply(config, book_plan, as_json=True)
    assert applied.code == 0, applied.err
    assert apply(config, book_plan).code == 1
    assert run_task("open-to-external", {"recipient": "legal@contoso.com"}).code == 0
    runs = cli(audit_runs_task, config, plan=digest[:12], as_json=True).json()
    assert [(r["dry_run"], r["outcome"]) for r in runs] == [
        (True, "planned"),
        (False, "applied"),
        (False, "refused"),
    ]
    assert runs[0]["saved_plan"] == digest
    assert runs[1]["run_id"] == applied.json()["run_id"]
    assert {r["plan_hash"] for r in runs[1:]} == {digest}
    assert runs[1]["playbook"] == BOOK
    bad = cli(audit_runs_task, config, plan="not-a-hash")
    assert bad.code == 2
    assert "--plan 'not-a-hash' is not a saved plan's hash" in bad.err
