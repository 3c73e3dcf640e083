"""Saved plans and rollback against a real target: the loopback admin API, over HTTP.

``plan.apply`` and ``rollback`` open the run's target from the configuration
(``kind: exchange-online``, ``credential.kind: token``, loopback endpoints): they
ask before applying, refuse with nobody to ask (exit 2), refuse a plan made for
another target (exit 1), and the rollback returns the served tenant to the state
before the run, compared over the whole tenant export.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from remediations.audit import read_events
from remediations.cli import run_action_task
from remediations.cli.review import plan_apply_task, rollback_task
from remediations.testing import LoopbackTenant
from tests.conftest import CliResult
from tests.test_rollback import tenant

from .conftest import TOKEN, online_target

ALLOW = {"recipient": "Finance Approvers", "sender": "partner@fabrikam.com"}
GROUP = "finance-approvers@contoso.com"


@pytest.fixture
def lab(
    server: LoopbackTenant, config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """The test's settings with the default target ``lab``: the loopback server."""
    monkeypatch.setenv("TEST_EXO_TOKEN", TOKEN)
    monkeypatch.setenv("TEST_GRAPH_TOKEN", TOKEN)
    return {
        **config,
        "target": "lab",
        "targets": {"lab": online_target(server)},
    }


def call(task: Callable[..., int], *args: Any, **kw: Any) -> CliResult:
    out, err = io.StringIO(), io.StringIO()
    code = task(*args, out=out, err=err, **kw)
    return CliResult(code, out.getvalue(), err.getvalue())


def save(config: dict[str, Any], path: Path, target: str | None = None) -> CliResult:
    return call(
        run_action_task, config, "add-allowed-sender", ALLOW, dry_run=True, as_json=False,
        ticket="CHG-9", yes=False, target=target, save_plan=str(path), interactive=False,
    )  # fmt: skip


def test_plan_apply_and_rollback_on_a_real_target(
    lab: dict[str, Any],
    server: LoopbackTenant,
    served_path: Path,
    audit_dir: Path,
    tmp_path: Path,
) -> None:
    before = tenant(served_path)
    plan = tmp_path / "chg-9.json"
    saved = save(lab, plan)
    assert saved.code == 0, saved.err
    doc = json.loads(plan.read_text())
    assert (doc["tenant"], doc["transport"]) == (server.tenant, "exchange-online")
    assert server.writes() == []

    # nobody to confirm and no --yes: refused in one sentence, nothing sent
    unasked = call(plan_apply_task, lab, str(plan), interactive=False)
    assert unasked.code == 2, unasked.err
    assert "Not applied: target 'lab' is a real tenant and there is no terminal" in unasked.err
    assert server.writes() == []
    # a "no" at the prompt: nothing sent either
    prompts: list[str] = []
    declined = call(plan_apply_task, lab, str(plan), interactive=True,
                    ask=lambda p: prompts.append(p) or "n")  # fmt: skip
    assert declined.code == 0
    assert prompts == ["Apply these changes to lab? [y/N] "]
    assert server.writes() == []
    assert tenant(served_path) == before

    # a plan made on the sandbox is not applied to the real target
    elsewhere = tmp_path / "sandbox.json"
    assert save(lab, elsewhere, target="sandbox").code == 0
    foreign = call(plan_apply_task, lab, str(elsewhere), yes=True)
    assert foreign.code == 1
    assert (
        f"was made for contoso.com (sandbox), and this target is {server.tenant} "
        "(exchange-online)" in foreign.err
    )
    assert server.writes() == []

    # asked and answered: applied through the admin API and verified
    applied = call(plan_apply_task, lab, str(plan), interactive=True, ask=lambda p: "y",
                   as_json=True)  # fmt: skip
    assert applied.code == 0, applied.err
    result = applied.json()
    assert result["outcome"] == "applied"
    assert result["plan_hash"] == doc["hash"]
    assert {c["status"] for c in result["changes"]} == {"verified"}
    writes = [w.cmdlet for w in server.writes()]
    assert writes == ["New-MailContact", "Set-DistributionGroup", "Set-DistributionGroup"]
    assert tenant(served_path) != before
    events = [e for e in read_events(audit_dir / "audit.jsonl") if e["run_id"] == result["run_id"]]
    assert {e["plan_hash"] for e in events} == {doc["hash"]}
    assert {e["target_name"] for e in events} == {"lab"}

    # rollback asks too; with --yes it undoes the run: the whole tenant is as before
    refused = call(rollback_task, lab, result["run_id"], interactive=False)
    assert refused.code == 2
    assert "there is no terminal to confirm on" in refused.err
    assert len(server.writes()) == len(writes)
    undone = call(rollback_task, lab, result["run_id"], yes=True, as_json=True)
    assert undone.code == 0, undone.err
    assert undone.json()["outcome"] == "applied"
    assert undone.json()["rollback_of"] == result["run_id"]
    assert [w.cmdlet for w in server.writes()][len(writes) :] == [
        "Set-DistributionGroup",
        "Set-DistributionGroup",
        "Remove-MailContact",
    ]
    assert tenant(served_path) == before
    again = call(plan_apply_task, lab, str(plan), yes=True)
    assert again.code == 1
    assert f"was already applied by run {result['run_id']}" in again.err
    assert tenant(served_path) == before


def test_rollback_refuses_a_run_made_on_another_target(
    lab: dict[str, Any], config: dict[str, Any], server: LoopbackTenant
) -> None:
    sandbox_run = call(
        run_action_task, config, "open-to-external", {"recipient": "legal@contoso.com"},
        dry_run=False, as_json=True, ticket="", yes=True,
    )  # fmt: skip
    assert sandbox_run.code == 0, sandbox_run.err
    result = call(rollback_task, lab, sandbox_run.json()["run_id"], yes=True)
    assert result.code == 2
    assert f"ran against contoso.com (sandbox); this target is {server.tenant}" in result.err
    assert server.writes() == []
    # --target names the run's own target
    undone = call(rollback_task, lab, sandbox_run.json()["run_id"], yes=True, target="sandbox",
                  as_json=True)  # fmt: skip
    assert undone.code == 0, undone.err
    assert undone.json()["outcome"] == "applied"
    assert server.writes() == []


def test_plan_apply_takes_the_target_flag(
    lab: dict[str, Any], server: LoopbackTenant, tmp_path: Path
) -> None:
    plan = tmp_path / "sandbox.json"
    assert save(lab, plan, target="sandbox").code == 0
    applied = call(plan_apply_task, lab, str(plan), target="sandbox", as_json=True)
    assert applied.code == 0, applied.err
    assert applied.json()["outcome"] == "applied"
    assert server.writes() == []


def test_a_playbook_plan_on_a_real_target_applies_step_by_step_and_rolls_back(
    lab: dict[str, Any], server: LoopbackTenant, served_path: Path, tmp_path: Path
) -> None:
    """Planned ahead on the real tenant's planning copy (step 2 sees what step 1 would leave),
    saved, applied exactly, and rolled back: the served tenant is as before."""
    from remediations.cli.playbooks import playbook_run_task

    before = tenant(served_path)
    plan = tmp_path / "book.json"
    params = ["group=finance-approvers@contoso.com", "senders=partner@fabrikam.com"]
    saved = call(
        playbook_run_task, lab, "restricted-group-outside-sender", params, dry_run=True,
        as_json=False, ticket="CHG-10", yes=False, save_plan=str(plan), interactive=False,
    )  # fmt: skip
    assert saved.code == 0, saved.err
    doc = json.loads(plan.read_text())
    assert doc["planned_ahead"] is True
    assert [(c["step"], c["attribute"]) for c in doc["changes"]] == [
        ("1.1", "MailContact"),
        ("1.1", "AcceptMessagesOnlyFrom"),
        ("1.1", "RequireSenderAuthenticationEnabled"),
    ]
    read = {(i["step"], i["attribute"]): i["value"] for i in doc["read"] if i["target"] == GROUP}
    assert read[("1.1", "RequireSenderAuthenticationEnabled")] is True
    assert read[("2", "RequireSenderAuthenticationEnabled")] is False  # as step 1 leaves it
    assert server.writes() == []
    unasked = call(plan_apply_task, lab, str(plan), interactive=False)
    assert unasked.code == 2
    assert server.writes() == []
    applied = call(plan_apply_task, lab, str(plan), yes=True, as_json=True)
    assert applied.code == 0, applied.err
    result = applied.json()
    assert result["outcome"] == "applied"
    assert result["plan_hash"] == doc["hash"]
    assert [s["status"] for s in result["steps"]] == ["verified", "ok"]
    assert len(server.writes()) == 3
    undone = call(rollback_task, lab, result["run_id"], yes=True, as_json=True)
    assert undone.code == 0, undone.err
    assert [r["outcome"] for r in undone.json()["runs"]] == ["applied"]
    assert tenant(served_path) == before


def test_rollback_of_a_removed_license_assigns_it_again_through_graph(
    lab: dict[str, Any], server: LoopbackTenant, served_path: Path, audit_dir: Path
) -> None:
    """remove-license on a real target is undone by one ``assignLicense`` with
    ``addLicenses`` (msgraph-sdk against the loopback Graph), and the served tenant is whole."""
    before = tenant(served_path)
    ran = call(
        run_action_task, lab, "remove-license",
        {"user": "alex.kim@contoso.com", "even_if_active": True}, dry_run=False, as_json=True,
        ticket="CHG-10", yes=True, interactive=False,
    )  # fmt: skip
    assert ran.code == 0, ran.err
    assert tenant(served_path) != before
    server.requests.clear()
    undone = call(rollback_task, lab, ran.json()["run_id"], yes=True, as_json=True)
    assert undone.code == 0, undone.err
    assert undone.json()["outcome"] == "applied"
    (write,) = server.writes()
    assert write.path == "/v1.0/users/alex.kim%40contoso.com/assignLicense"
    assert write.body["removeLicenses"] == []
    assert [lic["disabledPlans"] for lic in write.body["addLicenses"]] == [[]]
    assert tenant(served_path) == before
