"""The Exchange Online admin-API transport over real HTTP on loopback, backed by the sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from remediations.actions import ACTIONS, parse_wish
from remediations.audit import AuditLog
from remediations.budget import RetryBudget
from remediations.engine import run_action
from remediations.errors import (
    Ambiguous,
    CmdletError,
    DryRunWrite,
    NotFound,
    OutcomeUnknown,
    PermissionDenied,
    RejectedByServer,
    ResultTruncated,
    Throttled,
    TransportError,
)
from remediations.exchange import facts
from remediations.exchange.adminapi import AdminApiTransport
from remediations.exchange.cmdlet import AddRemove, Cmdlet
from remediations.exchange.dryrun import DryRun
from remediations.sandbox import SandboxTransport, reset_sandbox
from remediations.testing import Fault, LoopbackTenant

from .conftest import FakeClock, tenant_view

CASES = [
    ("fix-public-folder", {"folder": "\\Support\\Escalations"}),
    ("add-allowed-sender", {"recipient": "Finance Approvers", "sender": "partner@fabrikam.com"}),
    ("open-group-to-external", {"group": "partners@contoso.com"}),
    ("bypass-moderation", {"group": "All Staff", "sender": "alex.kim@contoso.com"}),
]


def _run(name: str, wish: dict[str, Any], transport: Any, audit: AuditLog, **kw: Any) -> Any:
    action = ACTIONS[name]
    return run_action(action, parse_wish(action, wish), transport=transport, audit=audit, **kw)


def _comparable(outcome: Any) -> dict[str, Any]:
    doc = outcome.to_json()
    return {k: doc[k] for k in ("outcome", "changes", "notes", "error")}


@pytest.mark.parametrize(("name", "wish"), CASES, ids=[c[0] for c in CASES])
def test_same_plan_and_end_state_as_the_sandbox(
    name: str,
    wish: dict[str, Any],
    tmp_path: Path,
    served_path: Path,
    exo: AdminApiTransport,
    audit: AuditLog,
) -> None:
    """An action through REST plans, applies and verifies exactly as on the sandbox directly."""
    direct_path = tmp_path / "direct.json"
    reset_sandbox(direct_path)
    direct = _run(name, wish, SandboxTransport(direct_path), audit, dry_run=False)
    rest = _run(name, wish, exo, audit, dry_run=False)

    assert direct.outcome == "applied"
    assert _comparable(rest) == _comparable(direct)
    assert tenant_view(served_path) == tenant_view(direct_path)
    rerun = _run(name, wish, exo, audit, dry_run=False)
    assert rerun.outcome == "no-change"


def test_wire_format_and_headers(server: LoopbackTenant, exo: AdminApiTransport) -> None:
    """CmdletInput, a tagged hashtable, JSON booleans and the headers the reference lists."""
    exo.send(
        Cmdlet.of(
            "Set-DistributionGroup",
            Identity="Finance Approvers",
            AcceptMessagesOnlyFrom=AddRemove(add=("alex.kim@contoso.com",)),
            RequireSenderAuthenticationEnabled=False,
            BypassSecurityGroupManagerCheck=True,
        )
    )
    seen = server.requests[-1]
    assert seen.path == f"/adminapi/beta/{server.tenant}/InvokeCommand"
    assert seen.body == {
        "CmdletInput": {
            "CmdletName": "Set-DistributionGroup",
            "Parameters": {
                "Identity": "Finance Approvers",
                "AcceptMessagesOnlyFrom": {
                    "@odata.type": "#Exchange.GenericHashTable",
                    "Add": ["alex.kim@contoso.com"],
                },
                "RequireSenderAuthenticationEnabled": False,
                "BypassSecurityGroupManagerCheck": True,
            },
        }
    }
    headers = seen.headers
    assert headers["authorization"] == "Bearer loopback-token"
    assert headers["x-anchormailbox"].startswith("APP:SystemMailbox{bb558c35-")
    assert headers["prefer"] == "odata.maxpagesize=1000"
    assert headers["x-cmdletname"] == "Set-DistributionGroup"
    assert headers["client-request-id"]
    assert headers["connection-id"] == exo.connection_id


def test_injection_strings_stay_parameter_values(
    server: LoopbackTenant, exo: AdminApiTransport
) -> None:
    """PowerShell metacharacters travel as JSON strings and come back as Exchange's not-found."""
    nasty = "x'; Remove-Mailbox -Identity * -Confirm:$false; '$(whoami)`"
    with pytest.raises(NotFound) as caught:
        exo.send(Cmdlet.of("Get-Recipient", Identity=nasty))
    assert nasty in str(caught.value)
    assert server.requests[-1].parameters == {"Identity": nasty}


def test_lists_ask_for_everything_and_follow_next_links(
    server: LoopbackTenant, served_path: Path, budget: RetryBudget
) -> None:
    """A Get-* without Identity adds ResultSize Unlimited; every page is read."""
    small_pages = AdminApiTransport(
        tenant=server.tenant,
        endpoint=server.url,
        token=lambda scope: "loopback-token",
        budget=budget,
        page_size=3,
    )
    got = small_pages.send(Cmdlet.of("Get-Recipient"))
    direct = SandboxTransport(served_path).send(Cmdlet.of("Get-Recipient"))
    assert [o["Guid"] for o in got.objects] == [o["Guid"] for o in direct.objects]
    assert len(direct.objects) > 6
    invoked = [r for r in server.requests if r.cmdlet == "Get-Recipient"]
    assert len(invoked) == -(-len(direct.objects) // 3)
    assert invoked[0].parameters == {"ResultSize": "Unlimited"}
    assert all("$skiptoken=" in r.path for r in invoked[1:])
    assert not any("@" in key for obj in got.objects for key in obj)
    small_pages.close()


def test_warnings_are_returned(exo: AdminApiTransport) -> None:
    """A Set-* that changes nothing answers with Exchange's warning, in CmdletResult.warnings."""
    folder = "\\Support\\Escalations"
    result = exo.send(
        Cmdlet.of("Set-MailPublicFolder", Identity=folder, RequireSenderAuthenticationEnabled=True)
    )
    assert result.warnings == (facts.NO_CHANGE_WARNING.format(identity=folder),)


def test_a_result_cut_short_is_an_error(server: LoopbackTenant, exo: AdminApiTransport) -> None:
    """The ResultSize warning is never a short list."""
    server.inject(Fault(kind="warning", warning=facts.RESULT_SIZE_WARNING, cmdlet="Get-Recipient"))
    with pytest.raises(ResultTruncated, match="part of its result"):
        exo.send(Cmdlet.of("Get-Recipient"))


def test_errors_are_typed_and_keep_the_servers_message(
    server: LoopbackTenant, exo: AdminApiTransport
) -> None:
    """Not found, ambiguous, unknown cmdlet, bad token: each its class, Exchange's own text."""
    with pytest.raises(NotFound) as missing:
        exo.send(Cmdlet.of("Get-Recipient", Identity="nobody@contoso.com"))
    assert missing.value.category == "NotFound"
    assert missing.value.code == "Ex6F9304"
    assert "couldn't be found" in str(missing.value)

    with pytest.raises(RejectedByServer) as unknown:
        exo.send(Cmdlet.of("Get-Nothing"))
    assert unknown.value.category == "CommandNotFound"
    assert isinstance(unknown.value, CmdletError)

    bad_token = AdminApiTransport(
        tenant=server.tenant, endpoint=server.url, token=lambda scope: "wrong"
    )
    with pytest.raises(PermissionDenied, match="Access token is invalid"):
        bad_token.send(Cmdlet.of("Get-AcceptedDomain"))
    bad_token.close()


def test_ambiguous_is_typed(exo: AdminApiTransport) -> None:
    """Two recipients answering to one identity give Ambiguous, with Exchange's text."""
    exo.send(
        Cmdlet.of(
            "New-MailContact", Name="Board Partner", Alias="board", ExternalEmailAddress="bp@x.com"
        )
    )
    with pytest.raises(Ambiguous) as caught:
        exo.send(Cmdlet.of("Get-Recipient", Identity="board"))
    assert caught.value.category == "Ambiguous"
    assert "matches multiple entries" in str(caught.value)


@pytest.mark.parametrize(
    ("fault", "expected_sleep"),
    [
        (Fault(kind="throttle", retry_after=7), 7.0),
        (Fault(kind="throttle"), 1.0),
        (Fault(kind="concurrency"), 1.0),
        (Fault(kind="status", status=503), 1.0),
    ],
    ids=["429-retry-after", "429-backoff", "concurrency-text", "503"],
)
def test_reads_are_retried_within_the_budget(
    server: LoopbackTenant,
    exo: AdminApiTransport,
    clock: FakeClock,
    fault: Fault,
    expected_sleep: float,
) -> None:
    """A throttled or failing read waits (Retry-After first, else back-off) and tries again."""
    server.inject(fault)
    result = exo.send(Cmdlet.of("Get-AcceptedDomain"))
    assert result.objects
    assert clock.sleeps == [expected_sleep]
    assert [r.outcome for r in server.requests] == [fault.kind, "ok"]


def test_throttled_past_the_budget_is_an_error_and_no_plan(
    server: LoopbackTenant, exo: AdminApiTransport, audit: AuditLog, served_path: Path
) -> None:
    """A read throttled past the run's budget stops the run: an error, no plan, no write."""
    before = tenant_view(served_path)
    server.inject(Fault(kind="throttle", retry_after=45, times=10))
    outcome = None
    with pytest.raises(Throttled, match="retry budget"):
        outcome = _run(
            "fix-public-folder", {"folder": "\\Support\\Escalations"}, exo, audit, dry_run=False
        )
    assert outcome is None
    assert server.writes() == []
    assert tenant_view(served_path) == before


def test_lost_answer_to_new_is_not_resent(
    server: LoopbackTenant, exo: AdminApiTransport, served_path: Path
) -> None:
    """New-MailContact whose answer is lost: OutcomeUnknown saying to read back; sent once."""
    server.inject(Fault(kind="drop", cmdlet="New-MailContact"))
    with pytest.raises(OutcomeUnknown, match="read it back with Get-MailContact"):
        exo.send(
            Cmdlet.of(
                "New-MailContact", Name="Partner", ExternalEmailAddress="partner@fabrikam.com"
            )
        )
    assert [r.cmdlet for r in server.requests] == ["New-MailContact"]
    found = exo.send(Cmdlet.of("Get-MailContact", Identity="partner@fabrikam.com"))
    assert len(found.objects) == 1  # it was created: resending would have been a duplicate


def test_lost_answer_to_idempotent_set_is_resent(
    server: LoopbackTenant, exo: AdminApiTransport
) -> None:
    """A Set-* to absolute values is safe to send again when its answer is lost."""
    server.inject(Fault(kind="drop", cmdlet="Set-MailPublicFolder"))
    exo.send(
        Cmdlet.of(
            "Set-MailPublicFolder",
            Identity="\\Support\\Escalations",
            RequireSenderAuthenticationEnabled=False,
        )
    )
    sets = [r for r in server.requests if r.cmdlet == "Set-MailPublicFolder"]
    assert [r.outcome for r in sets] == ["drop", "ok"]


def test_new_is_not_resent_after_a_server_error(
    server: LoopbackTenant, exo: AdminApiTransport
) -> None:
    """A 5xx to a New-* may have run it: no retry, OutcomeUnknown."""
    server.inject(Fault(kind="status", status=500, cmdlet="New-MailContact"))
    with pytest.raises(OutcomeUnknown):
        exo.send(
            Cmdlet.of(
                "New-MailContact", Name="Partner", ExternalEmailAddress="partner@fabrikam.com"
            )
        )
    assert len(server.requests) == 1


def test_a_dry_run_sends_no_write(
    server: LoopbackTenant, exo: AdminApiTransport, audit: AuditLog, served_path: Path
) -> None:
    """Through the dry-run wrapper a whole action plans, and the server sees reads only."""
    before = tenant_view(served_path)
    outcome = _run(
        "add-allowed-sender",
        {"recipient": "Finance Approvers", "sender": "partner@fabrikam.com"},
        DryRun(exo),
        audit,
        dry_run=True,
    )
    assert outcome.outcome == "planned"
    assert outcome.plan.changes
    assert server.requests
    assert server.writes() == []
    assert tenant_view(served_path) == before
    with pytest.raises(DryRunWrite):
        DryRun(exo).send(Cmdlet.of("Set-MailPublicFolder", Identity="\\Support"))
    assert server.writes() == []


def test_unreachable_server_is_an_error(budget: RetryBudget) -> None:
    """Nothing listening: BackendUnavailable after the budget, never an empty result."""
    dead = AdminApiTransport(
        tenant="contoso.com",
        endpoint="http://127.0.0.1:9",
        token=lambda scope: "t",
        budget=RetryBudget(seconds=0.5, clock=budget.clock, sleep=budget.sleep),
    )
    with pytest.raises(TransportError, match="did not answer Get-AcceptedDomain"):
        dead.send(Cmdlet.of("Get-AcceptedDomain"))
    dead.close()


def test_graph_cmdlets_are_not_exchange_cmdlets(exo: AdminApiTransport) -> None:
    """Get-MgUser is Graph PowerShell: Exchange Online does not know it (use the Directory)."""
    with pytest.raises(RejectedByServer) as caught:
        exo.send(Cmdlet.of("Get-MgUser", UserId="alex.kim@contoso.com"))
    assert caught.value.category == "CommandNotFound"
    assert "'Get-MgUser' is not recognized" in str(caught.value)


PLAYBOOK = """\
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


def test_a_playbook_through_rest_ends_as_on_the_sandbox(
    tmp_path: Path, served_path: Path, exo: AdminApiTransport, audit: AuditLog
) -> None:
    """A two-step playbook applied over the admin API leaves the tenant as the sandbox run does."""
    from remediations.playbooks import bind, load_playbook, run_playbook

    path = tmp_path / "contact-then-bypass.yaml"
    path.write_text(PLAYBOOK)
    playbook = bind(load_playbook(path), {"sender": "partner@fabrikam.com"})
    direct_path = tmp_path / "direct.json"
    reset_sandbox(direct_path)
    direct = run_playbook(
        playbook, transport=SandboxTransport(direct_path), audit=audit, dry_run=False
    )
    rest = run_playbook(playbook, transport=exo, audit=audit, dry_run=False)
    assert direct.outcome == rest.outcome == "applied"
    assert [s.status for s in rest.steps] == [s.status for s in direct.steps]
    assert tenant_view(served_path) == tenant_view(direct_path)


def test_a_directory_synced_object_names_the_onprem_target(
    server: LoopbackTenant, budget: RetryBudget
) -> None:
    """Exchange Online refuses a change to a synced object: say so and name where to do it."""
    refusal = facts.DIR_SYNCED_REFUSAL.format(
        cmdlet="Set-DistributionGroup",
        parameter="AcceptMessagesOnlyFrom",
        identity="Finance Approvers",
    )
    hybrid = AdminApiTransport(
        tenant=server.tenant,
        endpoint=server.url,
        token=lambda scope: "loopback-token",
        budget=budget,
        onprem="hq-onprem",
    )
    server.inject(Fault(kind="error", status=400, message=refusal))
    with pytest.raises(RejectedByServer) as caught:
        hybrid.send(
            Cmdlet.of(
                "Set-DistributionGroup",
                Identity="Finance Approvers",
                AcceptMessagesOnlyFrom=AddRemove(add=("alex.kim@contoso.com",)),
            )
        )
    assert caught.value.category == "DirSynced"
    assert refusal in str(caught.value)
    assert "on-premises target 'hq-onprem'" in str(caught.value)
    assert server.writes()[0].outcome == "error"
    hybrid.close()
