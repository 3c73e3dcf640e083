"""Saved plans: approved by hash, applied exactly, refused when stale, repeated or elsewhere."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from remediations.audit import read_events
from remediations.audit.plans import plan_hash, write_plan
from remediations.sandbox import SandboxTransport
from tests.conftest import CliResult

ALLOW = {"recipient": "Finance Approvers", "sender": "partner@fabrikam.com"}
GROUP = "finance-approvers@contoso.com"


def save(
    config: dict[str, Any], path: Path, values: dict[str, Any] = ALLOW, **kw: Any
) -> CliResult:
    from remediations.cli import run_action_task

    out, err = io.StringIO(), io.StringIO()
    options: dict[str, Any] = {"dry_run": True, "as_json": False, "ticket": "CHG-5", "yes": True}
    options.update(kw)
    code = run_action_task(
        config, "add-allowed-sender", values, out=out, err=err, save_plan=str(path), **options
    )
    return CliResult(code, out.getvalue(), err.getvalue())


def apply(config: dict[str, Any], path: Path, **kw: Any) -> CliResult:
    from remediations.cli.review import plan_apply_task

    out, err = io.StringIO(), io.StringIO()
    code = plan_apply_task(config, str(path), yes=True, out=out, err=err, **kw)
    return CliResult(code, out.getvalue(), err.getvalue())


def group(tenant_path: Path) -> dict[str, Any]:
    transport = SandboxTransport(tenant_path)
    try:
        from remediations.exchange.cmdlet import Cmdlet

        result = transport.send(Cmdlet.of("Get-DistributionGroup", Identity=GROUP))
        return dict(result.objects[0])
    finally:
        transport.close()


@pytest.fixture
def plan_file(config: dict[str, Any], tmp_path: Path) -> Path:
    path = tmp_path / "plans" / "chg-5.json"
    result = save(config, path)
    assert result.code == 0, result.err
    assert f"Plan saved to {path} (hash " in result.out
    return path


def test_a_saved_plan_holds_what_it_read_and_the_target(plan_file: Path, audit_dir: Path) -> None:
    doc = json.loads(plan_file.read_text())
    assert doc["hash"] == plan_hash(doc)
    assert (doc["tenant"], doc["transport"], doc["action"]) == (
        "contoso.com",
        "sandbox",
        "add-allowed-sender",
    )
    read = {(i["target"], i["attribute"]): i for i in doc["read"]}
    assert read[(GROUP, "AcceptMessagesOnlyFrom")]["value"] == ["cfo@contoso.com"]
    assert read[(GROUP, "RequireSenderAuthenticationEnabled")]["value"] is True
    assert all(len(i["sha256"]) == 64 for i in doc["read"])
    assert [c["attribute"] for c in doc["changes"]] == [
        "MailContact",
        "AcceptMessagesOnlyFrom",
        "RequireSenderAuthenticationEnabled",
    ]
    saved = [e for e in read_events(audit_dir / "audit.jsonl") if e["event"] == "plan-saved"]
    assert saved[0]["saved_plan"] == doc["hash"]
    assert saved[0]["run_id"] == doc["dry_run_id"]


def test_plan_show(config: dict[str, Any], plan_file: Path) -> None:
    from remediations.cli.review import plan_show_task

    out = io.StringIO()
    assert plan_show_task(config, str(plan_file), out=out) == 0
    text = out.getvalue()
    digest = json.loads(plan_file.read_text())["hash"]
    assert text.startswith(f"Plan {digest}\n")
    assert "for contoso.com (sandbox)" in text
    assert f"{GROUP} RequireSenderAuthenticationEnabled: $true -> $false" in text
    assert "New-MailContact -Name 'partner@fabrikam.com'" in text
    assert f"{GROUP} AcceptMessagesOnlyFrom = cfo@contoso.com" in text


def test_a_good_plan_applies_verifies_and_links_its_hash(
    config: dict[str, Any], plan_file: Path, tenant_path: Path, audit_dir: Path
) -> None:
    digest = json.loads(plan_file.read_text())["hash"]
    result = apply(config, plan_file, as_json=True)
    assert result.code == 0, result.err
    doc = result.json()
    assert doc["outcome"] == "applied"
    assert doc["plan_hash"] == digest
    assert {c["status"] for c in doc["changes"]} == {"verified"}
    assert group(tenant_path)["RequireSenderAuthenticationEnabled"] is False
    run = [e for e in read_events(audit_dir / "audit.jsonl") if e["run_id"] == doc["run_id"]]
    assert {e["plan_hash"] for e in run} == {digest}
    assert run[-1]["event"] == "run-end"
    assert run[-1]["ticket"] == "CHG-5"


def test_a_plan_applied_twice_is_refused_the_second_time(
    config: dict[str, Any], plan_file: Path, tenant_path: Path, tmp_path: Path
) -> None:
    from remediations.sandbox import load_tenant
    from remediations.sandbox.store import open_store
    from remediations.sandbox.tenant_file import export_tenant

    store = open_store(tenant_path)
    with store.transaction(write=False) as state:
        exported = export_tenant(state)
    store.close()
    saved = tmp_path / "before.json"
    saved.write_text(json.dumps(exported))
    first = apply(config, plan_file, as_json=True)
    assert first.code == 0, first.err
    # even with the tenant put back exactly as planned (the hole of plans from no state)
    load_tenant(saved, tenant_path)
    second = apply(config, plan_file)
    assert second.code == 1
    run_id = first.json()["run_id"]
    assert f"was already applied by run {run_id}" in second.err
    assert group(tenant_path)["RequireSenderAuthenticationEnabled"] is True


def test_a_stale_plan_is_refused_naming_what_moved(
    config: dict[str, Any],
    plan_file: Path,
    tenant_path: Path,
    run_task: Callable[..., CliResult],
    audit_dir: Path,
) -> None:
    moved = run_task("open-to-external", {"recipient": "Finance Approvers"})
    assert moved.code == 0, moved.err
    before = group(tenant_path)
    result = apply(config, plan_file)
    assert result.code == 1
    assert "the tenant changed since plan" in result.err
    assert (
        f"{GROUP} RequireSenderAuthenticationEnabled: was true when planned, is false now"
        in result.err
    )
    assert "AcceptMessagesOnlyFrom" not in result.err.split("made:")[1].split(".")[0]
    assert group(tenant_path) == before
    ends = [e for e in read_events(audit_dir / "audit.jsonl") if e["event"] == "run-end"]
    assert ends[-1]["outcome"] == "refused"  # a refusal on the record, still exit 1
    assert ends[-1]["plan_hash"] == json.loads(plan_file.read_text())["hash"]


def test_an_edited_or_foreign_plan_is_refused(
    config: dict[str, Any], plan_file: Path, tmp_path: Path, tenant_path: Path
) -> None:
    doc = json.loads(plan_file.read_text())
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps({**doc, "wish": {**doc["wish"], "sender": "evil@x.com"}}))
    result = apply(config, edited)
    assert result.code == 1
    assert "was changed after it was saved" in result.err
    foreign = tmp_path / "foreign.json"
    write_plan(foreign, {k: v for k, v in doc.items() if k != "hash"} | {"tenant": "fabrikam.com"})
    result = apply(config, foreign)
    assert result.code == 1
    assert "was made for fabrikam.com (sandbox), and this target is contoso.com" in result.err
    assert group(tenant_path)["RequireSenderAuthenticationEnabled"] is True
    missing = apply(config, tmp_path / "nothing.json")
    assert missing.code == 2
    assert "cannot be read" in missing.err


def test_save_plan_needs_dry_run(config: dict[str, Any], tmp_path: Path) -> None:
    result = save(config, tmp_path / "p.json", dry_run=False)
    assert result.code == 2
    assert "--save-plan needs --dry-run" in result.err
    assert not (tmp_path / "p.json").exists()


def test_a_plan_for_every_object_applies_and_rolls_back(
    config: dict[str, Any], tmp_path: Path, tenant_path: Path
) -> None:
    """A plan saved without a target flag (every object with the cause) is its own --all."""
    from remediations.cli import run_action_task
    from remediations.cli.review import rollback_task

    path = tmp_path / "every.json"
    out, err = io.StringIO(), io.StringIO()
    code = run_action_task(
        config, "fix-public-folder", {"folder": None, "all_senders": False}, dry_run=True,
        as_json=False, ticket="T", yes=True, out=out, err=err, save_plan=str(path),
    )  # fmt: skip
    assert code == 0, err.getvalue()
    assert "Plan saved to" in out.getvalue()
    applied = apply(config, path, as_json=True)
    assert applied.code == 0, applied.err
    assert applied.json()["outcome"] == "applied"
    out = io.StringIO()
    undone = rollback_task(config, applied.json()["run_id"], yes=True, as_json=True, out=out)
    assert undone == 0
    assert json.loads(out.getvalue())["outcome"] == "applied"
