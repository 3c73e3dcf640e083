"""The mail-flow decision as a pure function over Get-* output of a real tenant.

The objects below are shaped as Exchange Online's cmdlets return them (references as
names and addresses, not the sandbox's Guids), so nothing here goes through the sandbox.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from remediations.ndr.mailflow import (
    SenderView,
    TenantView,
    decide,
    recipient_view,
    rule_view,
)

TENANT = TenantView(accepted_domains=frozenset({"contoso.com", "contoso.onmicrosoft.com"}))
OUTSIDE = SenderView.unknown("partner@fabrikam.com", internal=False)
INSIDE = SenderView.unknown("sam@contoso.com", internal=True)


def group(**props: Any) -> dict[str, Any]:
    return {
        "Identity": "Finance Approvers",
        "Name": "Finance Approvers",
        "Guid": "6f1c1d1e-0000-4000-8000-000000000001",
        "PrimarySmtpAddress": "finance-approvers@contoso.com",
        "EmailAddresses": ["SMTP:finance-approvers@contoso.com"],
        "RecipientTypeDetails": "MailUniversalDistributionGroup",
        "RequireSenderAuthenticationEnabled": False,
        **props,
    }


def status(rec: dict[str, Any] | None, sender: SenderView, **kw: Any) -> str | None:
    view = recipient_view(rec) if rec is not None else None
    address = rec["PrimarySmtpAddress"] if rec else kw.pop("address")
    tenant = kw.pop("tenant", TENANT)
    decision = decide(tenant, view, sender, recipient_address=address, **kw)
    return decision.status or decision.outcome


@pytest.mark.parametrize(
    ("details", "code"),
    [
        ("PublicFolder", "5.7.1"),
        ("MailUniversalDistributionGroup", "5.7.133"),
        ("GroupMailbox", "5.7.193"),
        ("UserMailbox", "5.7.134"),
        ("MailUser", "5.7.136"),
    ],
)
def test_authentication_code_by_kind(details: str, code: str) -> None:
    """Each kind answers an outside sender with its own code; inside senders pass."""
    rec = group(RecipientTypeDetails=details, RequireSenderAuthenticationEnabled=True)
    assert status(rec, OUTSIDE) == code
    assert status(rec, INSIDE) == "delivered"


def test_accept_list_by_name_and_membership() -> None:
    """Entries as Exchange shows them (names); members of a listed group pass when the
    membership is given; others get 5.7.124 from a group, 5.7.1 from a mailbox."""
    cfo = {
        "Name": "CFO",
        "PrimarySmtpAddress": "cfo@contoso.com",
        "RecipientTypeDetails": "UserMailbox",
    }
    approvers = {
        "Name": "Approvers",
        "Guid": "g-2",
        "RecipientTypeDetails": "MailUniversalDistributionGroup",
    }
    alex = {
        "Name": "Alex Kim",
        "PrimarySmtpAddress": "alex@contoso.com",
        "RecipientTypeDetails": "UserMailbox",
    }
    directory = {"cfo": cfo, "approvers": approvers}
    rec = group(AcceptMessagesOnlyFromSendersOrMembers=["CFO", "Approvers"])
    view = recipient_view(
        rec,
        resolve=lambda entry: directory.get(entry.lower()),
        members_of=lambda g: [alex] if g["Name"] == "Approvers" else [],
    )
    as_sender = SenderView(
        address="alex@contoso.com", keys=frozenset({"alex@contoso.com", "alex kim"}), internal=True
    )
    cfo_sender = SenderView(
        address="cfo@contoso.com", keys=frozenset({"cfo@contoso.com", "cfo"}), internal=True
    )
    args = {"recipient_address": "finance-approvers@contoso.com"}
    assert decide(TENANT, view, as_sender, **args).outcome == "delivered"
    assert decide(TENANT, view, cfo_sender, **args).outcome == "delivered"
    other = decide(TENANT, view, INSIDE, **args)
    assert (other.status, other.cause) == ("5.7.124", "restricted-recipient")
    mailbox = dict(rec, RecipientTypeDetails="UserMailbox")
    assert status(mailbox, INSIDE) == "5.7.1"


def test_authentication_comes_before_the_list() -> None:
    """A listed outside sender is still refused while authentication is required."""
    rec = group(
        RequireSenderAuthenticationEnabled=True,
        AcceptMessagesOnlyFromSendersOrMembers=["partner@fabrikam.com"],
    )
    assert status(rec, OUTSIDE) == "5.7.133"
    assert status(dict(rec, RequireSenderAuthenticationEnabled=False), OUTSIDE) == "delivered"


def test_moderation_holds_without_an_ndr_and_the_bypass_list_passes() -> None:
    """A hold is not a rejection; the bypass list matters when moderation is on."""
    rec = group(ModerationEnabled=True, ModeratedBy=["hr@contoso.com"])
    view = recipient_view(rec)
    held = decide(TENANT, view, INSIDE, recipient_address=rec["PrimarySmtpAddress"])
    assert (held.outcome, held.rejection) == ("held", None)
    bypass = dict(rec, BypassModerationFromSendersOrMembers=["sam@contoso.com"])
    assert status(bypass, INSIDE) == "delivered"


def test_large_group_size_limit() -> None:
    """Over 5,000 members a large message is rejected (5.2.3)."""
    rec = group(MemberCount=5214, BypassModerationFromSendersOrMembers=["sam@contoso.com"])
    assert status(rec, INSIDE, size_kb=3000) == "5.2.3"
    assert status(rec, INSIDE) == "delivered"


def test_disabled_on_premises_account() -> None:
    rec = group(RecipientTypeDetails="UserMailbox")
    view = recipient_view(rec, disabled_on_premises=True)
    decision = decide(TENANT, view, OUTSIDE, recipient_address=rec["PrimarySmtpAddress"])
    assert decision.status == "5.7.129"


def test_rules_by_sent_to_scope_state_and_priority() -> None:
    """Rules match SentTo by name or address; a disabled rule, another scope, or a rule after
    one with StopRuleProcessing does nothing; the first by priority decides."""
    rec = group()
    rules = (
        rule_view(
            {
                "Name": "Tag",
                "Priority": 0,
                "SentTo": ["Finance Approvers"],
                "State": "Enabled",
                "StopRuleProcessing": False,
            }
        ),
        rule_view(
            {
                "Name": "Off",
                "Priority": 1,
                "SentTo": ["finance-approvers@contoso.com"],
                "State": "Disabled",
                "DeleteMessage": True,
            }
        ),
        rule_view(
            {
                "Name": "Inside only",
                "Priority": 2,
                "SentTo": ["Finance Approvers"],
                "FromScope": "InOrganization",
                "DeleteMessage": True,
            }
        ),
        rule_view(
            {
                "Name": "Close",
                "Priority": 3,
                "SentTo": ["finance-approvers@contoso.com"],
                "FromScope": "NotInOrganization",
                "RejectMessageEnhancedStatusCode": "5.7.950",
                "RejectMessageReasonText": "Closed",
            }
        ),
    )
    tenant = TenantView(accepted_domains=TENANT.accepted_domains, rules=rules)
    view = recipient_view(rec)
    outside = decide(tenant, view, OUTSIDE, recipient_address="finance-approvers@contoso.com")
    assert (outside.rule, outside.status, outside.rejection and outside.rejection.line) == (
        "Close",
        "5.7.950",
        "550 5.7.950 Closed",
    )
    inside = decide(tenant, view, INSIDE, recipient_address="finance-approvers@contoso.com")
    assert (inside.outcome, inside.rule) == ("deleted", "Inside only")
    stop = (
        rule_view(
            {
                "Name": "Stop",
                "Priority": 0,
                "SentTo": ["Finance Approvers"],
                "StopRuleProcessing": True,
            }
        ),
        *rules,
    )
    stopped = TenantView(accepted_domains=TENANT.accepted_domains, rules=stop)
    assert decide(stopped, view, OUTSIDE, recipient_address=rec["PrimarySmtpAddress"]).outcome == (
        "delivered"
    )


def test_unknown_recipient_and_relay() -> None:
    """Outside sender, unknown address: 5.4.1 at SMTP time (the sender's server writes it);
    internal sender: 5.1.10; a domain the tenant does not accept: 5.7.54."""
    edge = decide(TENANT, None, OUTSIDE, recipient_address="nobody@contoso.com")
    assert (edge.status, edge.by_sender) == ("5.4.1", True)
    assert edge.rejection is not None
    assert (
        edge.rejection.line == "550 5.4.1 Recipient address rejected: Access denied. AS(201806281)"
    )
    assert status(None, INSIDE, address="nobody@contoso.com") == "5.1.10"
    relay = decide(TENANT, None, OUTSIDE, recipient_address="x@tailspintoys.com")
    assert relay.rejection is not None
    assert (
        relay.rejection.line == "550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain"
    )
    assert status(None, OUTSIDE, address="nobody@contoso.onmicrosoft.com") == "5.4.1"


def test_ndr_knowledge_is_below_the_sandbox_and_the_diagnosis() -> None:
    """remediations.ndr imports neither remediations.sandbox nor remediations.diagnose."""
    package = Path(__file__).resolve().parents[2] / "remediations" / "ndr"
    imported: set[str] = set()
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    assert not {
        m for m in imported if m.startswith(("remediations.sandbox", "remediations.diagnose"))
    }
    assert "remediations.ndr.codes" in imported
