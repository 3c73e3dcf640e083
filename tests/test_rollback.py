"""Rollback: the inverse of a run's changes returns the whole sandbox tenant to before it."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from remediations.audit import read_events
from remediations.exchange.cmdlet import Cmdlet
from remediations.sandbox import SandboxTransport
from tests.actions.test_lifecycle import DEMO_CASES, IDS, Case
from tests.conftest import CliResult
from tests.playbooks.test_shipped import SCENARIOS, Scenario


def tenant(path: Path) -> dict[str, Any]:
    """The whole tenant, as ``sandbox.export`` writes it (every object, every attribute)."""
    from remediations.sandbox.store import open_store
    from remediations.sandbox.tenant_file import export_tenant

    store = open_store(path)
    try:
        with store.transaction(write=False) as state:
            return export_tenant(state)
    finally:
        store.close()


def rollback(config: dict[str, Any], run_id: str, **kw: Any) -> CliResult:
    from remediations.cli.review import rollback_task

    out, err = io.StringIO(), io.StringIO()
    code = rollback_task(config, run_id, yes=True, out=out, err=err, **kw)
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.mark.parametrize("case", DEMO_CASES, ids=IDS)
def test_rollback_after_each_action_restores_the_whole_tenant(
    case: Case,
    config: dict[str, Any],
    tenant_path: Path,
    audit_dir: Path,
    run_task: Callable[..., CliResult],
) -> None:
    before = tenant(tenant_path)
    ran = run_task(case.action, case.wish, as_json=True)
    assert ran.code == 0, ran.err
    assert tenant(tenant_path) != before
    run_id = ran.json()["run_id"]
    dry = rollback(config, run_id, dry_run=True, as_json=True)
    assert dry.code == 0, dry.err
    assert dry.json()["outcome"] == "planned"
    assert tenant(tenant_path) != before
    undone = rollback(config, run_id, as_json=True)
    assert undone.code == 0, undone.err
    doc = undone.json()
    assert doc["outcome"] == "applied"
    assert doc["rollback_of"] == run_id
    assert {c["status"] for c in doc["changes"]} == {"verified"}
    assert tenant(tenant_path) == before
    events = [e for e in read_events(audit_dir / "audit.jsonl") if e["run_id"] == doc["run_id"]]
    assert {e["rollback_of"] for e in events} == {run_id}
    assert events[0]["event"] == "run-start"
    assert events[-1]["outcome"] == "applied"
    again = rollback(config, run_id, as_json=True)
    assert again.code == 0
    assert again.json()["outcome"] == "no-change"


def test_rollback_of_a_removed_license_assigns_it_again(
    config: dict[str, Any], tenant_path: Path, run_task: Callable[..., CliResult]
) -> None:
    """remove-license is undone by assigning the same SKU again, previewed as Graph PowerShell
    takes it (a hashtable per SKU) and as the Graph request."""
    (case,) = [c for c in DEMO_CASES if c.action == "remove-license"]
    before = tenant(tenant_path)
    ran = run_task(case.action, case.wish, as_json=True)
    assert ran.code == 0, ran.err
    (removed,) = ran.json()["changes"]
    undone = rollback(config, ran.json()["run_id"], as_json=True)
    assert undone.code == 0, undone.err
    (change,) = undone.json()["changes"]
    assert (change["before"], change["after"]) == (removed["after"], removed["before"])
    (sku,) = change["cmdlet"]["parameters"]["AddLicenses"]
    assert change["powershell"] == (
        f"Set-MgUserLicense -UserId 'alex.kim@contoso.com' -AddLicenses @(@{{SkuId='{sku}'}}) "
        "-RemoveLicenses @()"
    )
    assert change["runs_in"] == "microsoft-graph"
    assert '"addLicenses": [{"disabledPlans": [], "skuId": "' + sku in change["graph_request"]
    assert tenant(tenant_path) == before


def test_rollback_refuses_per_object_what_changed_since(
    config: dict[str, Any], tenant_path: Path, run_task: Callable[..., CliResult]
) -> None:
    ran = run_task(
        "add-allowed-sender",
        {"recipient": "Finance Approvers", "sender": "partner@fabrikam.com"},
        as_json=True,
    )
    # someone else adds a second sender to the same list afterwards
    other = run_task(
        "add-allowed-sender", {"recipient": "Finance Approvers", "sender": "cfo2@fabrikam.com"}
    )
    assert other.code == 0, other.err
    result = rollback(config, ran.json()["run_id"])
    assert result.code == 0, result.err
    assert "Not undone: finance-approvers@contoso.com AcceptMessagesOnlyFrom is " in result.out
    assert (
        "cfo2@fabrikam.com, cfo@contoso.com, partner@fabrikam.com now, not cfo@contoso.com, "
        "partner@fabrikam.com as run"
    ) in result.out
    assert "it was changed since, so it is left as it is" in result.out
    assert (
        "Not undone: partner@fabrikam.com MailContact: finance-approvers@contoso.com "
        "AcceptMessagesOnlyFrom still lists it"
    ) in result.out
    transport = SandboxTransport(tenant_path)
    try:
        group = transport.send(
            Cmdlet.of("Get-DistributionGroup", Identity="finance-approvers@contoso.com")
        ).objects[0]
        contact = transport.send(Cmdlet.of("Get-MailContact", Identity="partner@fabrikam.com"))
    finally:
        transport.close()
    assert group["RequireSenderAuthenticationEnabled"] is True  # this one was undone
    assert len(contact.objects) == 1  # still listed: kept


def test_rollback_of_a_run_that_failed_halfway(
    config: dict[str, Any], tenant_path: Path, run_task: Callable[..., CliResult]
) -> None:
    before = tenant(tenant_path)
    ran = run_task(
        "add-allowed-sender",
        {"recipient": "Finance Approvers", "sender": "partner@fabrikam.com"},
        as_json=True,
        faults="fail_write=2",
    )
    assert ran.code == 1
    assert tenant(tenant_path) != before  # the contact was created
    undone = rollback(config, ran.json()["run_id"], as_json=True)
    assert undone.code == 0, undone.err
    assert len(undone.json()["changes"]) == 1
    assert tenant(tenant_path) == before


def test_rollback_of_an_unknown_run_or_a_rollback_is_bad_input(
    config: dict[str, Any], run_task: Callable[..., CliResult]
) -> None:
    missing = rollback(config, "0123456789ab")
    assert missing.code == 2
    assert "No run '0123456789ab'" in missing.err
    ran = run_task("open-to-external", {"recipient": "legal@contoso.com"}, as_json=True)
    undone = rollback(config, ran.json()["run_id"], as_json=True)
    assert undone.code == 0, undone.err
    again = rollback(config, undone.json()["run_id"])
    assert again.code == 2
    assert "is itself a rollback" in again.err


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.playbook for s in SCENARIOS])
def test_rollback_after_each_shipped_playbook_restores_the_whole_tenant(
    scenario: Scenario, config: dict[str, Any], tenant_path: Path, audit_dir: Path
) -> None:
    from remediations.cli.playbooks import playbook_run_task

    before = tenant(tenant_path)
    out, err = io.StringIO(), io.StringIO()
    code = playbook_run_task(
        config, scenario.playbook, list(scenario.params), dry_run=False, as_json=True,
        ticket="T", yes=True, out=out, err=err,
    )  # fmt: skip
    assert code == 0, err.getvalue()
    run_id = json.loads(out.getvalue())["run_id"]
    assert tenant(tenant_path) != before
    undone = rollback(config, run_id, as_json=True)
    assert undone.code == 0, undone.err
    doc = undone.json()
    assert doc["rollback_of"] == run_id
    assert doc["runs"]
    for run in doc["runs"]:
        assert run["outcome"] == "applied"
        assert run["rollback_of"] == run_id
        assert {c["status"] for c in run["changes"]} == {"verified"}
    assert tenant(tenant_path) == before
    steps = [r["rollback_step"] for r in doc["runs"]]
    assert steps == sorted(steps, reverse=True)  # the last step is undone first
