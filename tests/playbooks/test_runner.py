"""The whole playbook is planned before any step is applied, each step against the state
the steps before it would leave; then steps are applied and verified one by one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from remediations.audit import AuditLog
from remediations.exchange.cmdlet import Cmdlet
from remediations.playbooks import (
    PlaybookError,
    PlaybookFailed,
    PlaybookOutcome,
    bind,
    load_playbook,
    run_playbook,
)
from remediations.playbooks.runner import NOT_PLANNED_AHEAD
from remediations.sandbox import Faults, SandboxTransport
from remediations.testing import RecordingTransport
from tests.conftest import events

# Step 1 creates the contact; step 2 must know it exists (no second New-MailContact).
CONTACT_THEN_BYPASS = """\
    name: contact-then-bypass
    description: Let a partner mail Finance Approvers, then skip All Staff's moderation.
    answers:
      causes: [restricted-recipient, large-group-moderation]
    parameters:
      sender:
        type: address
        description: the partner's address
    steps:
      - name: Allow the partner on Finance Approvers
        action: add-allowed-sender
        inputs:
          recipient: finance-approvers@contoso.com
          sender: ${sender}
      - name: Let the partner bypass moderation of All Staff
        action: bypass-moderation
        inputs:
          group: allstaff@contoso.com
          sender: ${sender}
"""


@pytest.fixture
def contact_then_bypass(write_playbook: Callable[[str, str], Path]) -> Any:
    path = write_playbook("contact-then-bypass", CONTACT_THEN_BYPASS)
    return bind(load_playbook(path), {"sender": "partner@fabrikam.com"})


def cmdlet_names(outcome: PlaybookOutcome, step: int) -> list[str]:
    plan = outcome.steps[step].plan
    assert plan is not None
    return [c.cmdlet.name for c in plan.changes]


def test_a_contact_created_in_step_1_is_known_to_step_2_in_a_dry_run(
    contact_then_bypass: Any, sandbox: SandboxTransport, audit: AuditLog
) -> None:
    """Step 2 is planned on a copy holding step 1's contact: it does not create it again."""
    outcome = run_playbook(
        contact_then_bypass,
        transport=sandbox,
        planning_copy=sandbox.fork,
        audit=audit,
        dry_run=True,
    )
    assert outcome.planned_ahead
    assert cmdlet_names(outcome, 0) == [
        "New-MailContact",
        "Set-DistributionGroup",
        "Set-DistributionGroup",
    ]
    assert cmdlet_names(outcome, 1) == ["Set-DistributionGroup"]
    assert sandbox.writes == 0
    assert sandbox.state.journal_entries() == []


def test_the_whole_plan_is_previewed_before_anything_is_applied(
    contact_then_bypass: Any, sandbox: SandboxTransport, audit: AuditLog
) -> None:
    """The preview sees every step planned and the tenant untouched; then all is applied."""
    seen: list[tuple[list[str], int]] = []

    def preview(outcome: PlaybookOutcome) -> None:
        seen.append(([r.status for r in outcome.steps], sandbox.writes))

    outcome = run_playbook(
        contact_then_bypass,
        transport=sandbox,
        planning_copy=sandbox.fork,
        audit=audit,
        dry_run=False,
        preview=preview,
    )
    assert seen == [(["planned", "planned"], 0)]
    assert outcome.outcome == "applied"
    assert [r.status for r in outcome.steps] == ["verified", "verified"]
    assert sandbox.writes == 4


def test_cancelled_at_the_confirmation_changes_nothing(
    contact_then_bypass: Any, sandbox: SandboxTransport, audit: AuditLog
) -> None:
    """Saying no after the preview applies nothing."""
    outcome = run_playbook(
        contact_then_bypass,
        transport=sandbox,
        planning_copy=sandbox.fork,
        audit=audit,
        dry_run=False,
        confirm=lambda outcome: False,
    )
    assert outcome.outcome == "cancelled"
    assert sandbox.writes == 0


def test_a_transport_without_fork_plans_live_and_says_so(
    contact_then_bypass: Any, sandbox: SandboxTransport, audit: AuditLog
) -> None:
    """Without a copy, step 2 is planned on the live state (so it plans the contact too);
    each step is planned again before it is applied, so the run still converges."""
    live = RecordingTransport(sandbox)  # no fork: it cannot be copied, as a real tenant
    dry = run_playbook(contact_then_bypass, transport=live, audit=audit, dry_run=True)
    assert not dry.planned_ahead
    assert dry.notes == [NOT_PLANNED_AHEAD]
    assert cmdlet_names(dry, 1) == ["New-MailContact", "Set-DistributionGroup"]
    assert sandbox.writes == 0
    assert live.writes == []
    assert live.reads  # planned on the live tenant

    run = run_playbook(contact_then_bypass, transport=live, audit=audit, dry_run=False)
    assert run.outcome == "applied"
    assert cmdlet_names(run, 1) == ["Set-DistributionGroup"]
    assert sandbox.writes == 4


def test_a_tenant_changed_after_the_preview_stops_the_run(
    contact_then_bypass: Any, sandbox: SandboxTransport, audit: AuditLog
) -> None:
    """What is applied is what was previewed: a step whose plan changed is not applied."""

    def someone_else_edits(outcome: PlaybookOutcome) -> None:
        sandbox.send(
            Cmdlet.of(
                "Set-DistributionGroup",
                Identity="finance-approvers@contoso.com",
                BypassSecurityGroupManagerCheck=True,
                RequireSenderAuthenticationEnabled=False,
            )
        )

    with pytest.raises(PlaybookFailed) as caught:
        run_playbook(
            contact_then_bypass,
            transport=sandbox,
            planning_copy=sandbox.fork,
            audit=audit,
            dry_run=False,
            preview=someone_else_edits,
        )
    assert "the tenant changed since the preview" in str(caught.value)
    outcome = caught.value.outcome
    assert [r.status for r in outcome.steps] == ["failed", "not-started"]
    assert sandbox.writes == 1  # only the other admin's


def test_a_step_that_cannot_be_planned_refuses_the_whole_playbook(
    write_playbook: Callable[[str, str], Path], sandbox: SandboxTransport, audit: AuditLog
) -> None:
    """A refusal in step 2 is found while planning: step 1 is not applied either (exit 2)."""
    path = write_playbook(
        "two-steps",
        """\
        name: two-steps
        description: Open a group, then bypass moderation of a Microsoft 365 group.
        answers: {causes: [group-auth]}
        steps:
          - name: Open Partners
            action: open-group-to-external
            inputs: {group: partners@contoso.com}
          - name: Bypass moderation of Falcon
            action: bypass-moderation
            inputs: {group: falcon@contoso.com, sender: alex.kim@contoso.com}
        """,
    )
    with pytest.raises(PlaybookError) as caught:
        run_playbook(
            bind(load_playbook(path), {}),
            transport=sandbox,
            planning_copy=sandbox.fork,
            audit=audit,
            dry_run=False,
        )
    err = caught.value
    assert err.exit_code == 2
    assert 'step 2 "Bypass moderation of Falcon" cannot be planned' in str(err)
    assert "Nothing was changed." in str(err)
    assert sandbox.writes == 0


def test_every_event_belongs_to_the_run_with_playbook_version_and_parameters_once(
    contact_then_bypass: Any, sandbox: SandboxTransport, audit: AuditLog, audit_dir: Path
) -> None:
    """The run, each step's plan, application and verification are events of one run id;
    the parameters are recorded once, at the start."""
    outcome = run_playbook(
        contact_then_bypass,
        transport=sandbox,
        planning_copy=sandbox.fork,
        audit=audit,
        dry_run=False,
    )
    log = [e for e in events(audit_dir) if e["run_id"] == outcome.run_id]
    assert {e["playbook"] for e in log} == {"contact-then-bypass"}
    assert {e["playbook_version"] for e in log} == {contact_then_bypass.playbook.version}
    assert log[0]["parameters"] == {"sender": "partner@fabrikam.com"}
    assert not any("parameters" in e for e in log[1:])
    names = [e["event"] for e in log]
    assert names[0] == "playbook-start"
    assert names[-1] == "playbook-end"
    for step in ("1", "2"):
        mine = [e["event"] for e in log if e.get("step") == step]
        assert mine[0] == "step-planned"
        assert "change-planned" in mine
        assert "change-applied" in mine
        assert "change-verified" in mine
        assert mine[-1] == "step-end"
    assert log[-1]["outcome"] == "applied"
    assert log[-1]["verified"] == ["1", "2"]


def test_a_failed_read_while_applying_stops_the_run(
    contact_then_bypass: Any, tenant_path: Path, audit: AuditLog
) -> None:
    """Planning happens on the copy; the first live read fails: step 1 failed, exit 1."""
    live = SandboxTransport(tenant_path, faults=Faults(fail_call=1))
    with pytest.raises(PlaybookFailed) as caught:
        run_playbook(
            contact_then_bypass,
            transport=live,
            audit=audit,
            dry_run=False,
            planning_copy=live.fork,
        )
    assert caught.value.exit_code == 1
    assert "did not answer Get-Recipient" in str(caught.value)
    assert [r.status for r in caught.value.outcome.steps] == ["failed", "not-started"]
    assert live.writes == 0


def test_a_failed_read_while_planning_live_changes_nothing(
    contact_then_bypass: Any, tenant_path: Path, audit: AuditLog
) -> None:
    """Without a copy, a read that fails while planning ends the run before any write."""
    live = RecordingTransport(SandboxTransport(tenant_path, faults=Faults(fail_call=1)))
    with pytest.raises(PlaybookFailed) as caught:
        run_playbook(contact_then_bypass, transport=live, audit=audit, dry_run=False)
    assert caught.value.exit_code == 1
    assert 'step 1 "Allow the partner on Finance Approvers" cannot be planned' in str(caught.value)
    assert "Nothing was changed." in str(caught.value)
    assert caught.value.outcome.outcome == "failed"
