"""Every shipped playbook on the demo tenant: a dry run changes nothing and plans every
step; a real run fixes the case (the test message now gets through); a rerun changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from remediations.playbooks import SHIPPED_DIR, list_playbooks, playbook_files, playbooks_for
from remediations.playbooks.schema import Playbook
from remediations.sandbox.mailflow import Delivery, send
from remediations.sandbox.store import load_state
from tests.conftest import FIXED_TIME, CliResult, tenant_doc


@dataclass(frozen=True)
class Scenario:
    """A broken case of the demo tenant, the playbook that fixes it, and a test message."""

    playbook: str
    params: tuple[str, ...]
    steps: tuple[str, ...]  # the step ids the run has
    sender: str
    recipient: str
    before: tuple[str, str | None]  # (outcome, status) of the message before the fix
    after: tuple[str, str | None]  # ... and after


SCENARIOS = [
    Scenario(
        "public-folder-external-sender",
        ("folder=\\Support\\Escalations",),
        ("1",),
        "partner@fabrikam.com",
        "escalations@contoso.com",
        ("rejected", "5.7.1"),
        ("delivered", None),
    ),
    Scenario(
        "restricted-group-outside-sender",
        ("group=finance-approvers@contoso.com", "senders=partner@fabrikam.com"),
        ("1.1", "2"),
        "partner@fabrikam.com",
        "finance-approvers@contoso.com",
        ("rejected", "5.7.133"),
        ("delivered", None),
    ),
    Scenario(
        "group-rejects-outside-senders",
        ("group=partners@contoso.com",),
        ("1",),
        "partner@fabrikam.com",
        "partners@contoso.com",
        ("rejected", "5.7.133"),
        ("delivered", None),
    ),
    Scenario(
        "large-group-sender",
        ("group=All Staff", "senders=alex.kim@contoso.com,sam.rivera@contoso.com"),
        ("1.1", "1.2"),
        "alex.kim@contoso.com",
        "allstaff@contoso.com",
        ("held", None),
        ("delivered", None),
    ),
    Scenario(
        # The demo leaver has no license left: step 1 plans nothing; the rule now answers
        # with a clear 5.7.1 instead of the puzzling 5.7.129.
        "leaver-block-mail",
        ("user=jordan.lee@contoso.com",),
        ("1", "2"),
        "partner@fabrikam.com",
        "jordan.lee@contoso.com",
        ("rejected", "5.7.129"),
        ("rejected", "5.7.1"),
    ),
]


def message(tenant_path: Path, scenario: Scenario) -> Delivery:
    return send(
        load_state(tenant_path),
        sender=scenario.sender,
        recipient=scenario.recipient,
        arrival=FIXED_TIME,
    )


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.playbook)
def test_dry_run_run_rerun(
    scenario: Scenario, tenant_path: Path, run_pb: Callable[..., CliResult]
) -> None:
    """Dry run: nothing changes, every step is planned; run: fixed; rerun: no change."""
    first = message(tenant_path, scenario)
    assert (first.outcome, first.status) == scenario.before

    before = tenant_doc(tenant_path)
    dry = run_pb(scenario.playbook, *scenario.params, dry_run=True, as_json=True)
    assert dry.code == 0, dry.err
    doc = dry.json()
    assert doc["outcome"] == "planned"
    assert [s["step"] for s in doc["steps"]] == list(scenario.steps)
    assert all(s["status"] in ("planned", "ok") for s in doc["steps"])
    assert any(s["changes"] for s in doc["steps"])
    assert tenant_doc(tenant_path) == before

    run = run_pb(scenario.playbook, *scenario.params, as_json=True)
    assert run.code == 0, run.err
    applied = run.json()
    assert applied["outcome"] == "applied"
    for planned, done in zip(doc["steps"], applied["steps"], strict=True):
        assert done["status"] == ("verified" if planned["changes"] else "ok")
        assert [c["cmdlet"] for c in done["changes"]] == [c["cmdlet"] for c in planned["changes"]]
    fixed = message(tenant_path, scenario)
    assert (fixed.outcome, fixed.status) == scenario.after

    after = tenant_doc(tenant_path)
    rerun = run_pb(scenario.playbook, *scenario.params, as_json=True)
    assert rerun.code == 0, rerun.err
    assert rerun.json()["outcome"] == "no-change"
    assert {s["status"] for s in rerun.json()["steps"]} == {"ok"}
    assert tenant_doc(tenant_path) == after


def test_every_shipped_playbook_has_a_scenario() -> None:
    """A new shipped playbook adds a scenario above."""
    assert {p.stem for p in playbook_files(SHIPPED_DIR)} == {s.playbook for s in SCENARIOS}


def test_shipped_playbooks_are_valid_and_answer_codes_and_causes() -> None:
    """Every shipped playbook loads, and says which NDR codes and causes it answers."""
    found = list_playbooks(SHIPPED_DIR)
    assert found
    for path, playbook in found:
        assert isinstance(playbook, Playbook), f"{path}: {playbook}"
        assert playbook.codes
        assert playbook.causes


@pytest.mark.parametrize(
    ("cause", "name"),
    [
        ("public-folder-auth", "public-folder-external-sender"),
        ("restricted-recipient", "restricted-group-outside-sender"),
        ("group-auth", "group-rejects-outside-senders"),
        ("large-group-moderation", "large-group-sender"),
        ("disabled-account", "leaver-block-mail"),
    ],
)
def test_diagnose_can_recommend_a_playbook_by_cause(cause: str, name: str) -> None:
    """Each of the article's fixable causes has a shipped playbook, found by its cause id."""
    assert playbooks_for(cause) == [name]
