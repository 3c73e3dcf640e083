"""Every action, the same contract: dry-run changes nothing, apply fixes and verifies,
a rerun is a no-op that sends no write cmdlet."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from remediations.actions import ACTIONS, parse_wish
from remediations.audit import AuditLog
from remediations.engine import run_action
from remediations.sandbox import SandboxTransport
from tests.conftest import tenant_doc


@dataclass(frozen=True)
class Holds:
    """A reference list (Exchange keeps GUIDs) that holds the recipient with this address."""

    address: str


@dataclass(frozen=True)
class Case:
    """One broken case of the demo tenant and the wish that fixes it."""

    action: str
    wish: dict[str, Any]
    target: str  # the recipient's address, the rule's name or the user's UPN to look at after
    fixed: dict[str, Any]  # property -> value it must hold once fixed (or Holds(address))
    kind: str = "recipient"  # recipient, rule or user


DEMO_CASES = [
    Case(
        "fix-public-folder",
        {"folder": "\\Support\\Escalations"},
        "escalations@contoso.com",
        {"RequireSenderAuthenticationEnabled": False},
    ),
    Case(
        "add-allowed-sender",
        {"recipient": "Finance Approvers", "sender": "partner@fabrikam.com"},
        "finance-approvers@contoso.com",
        {
            "RequireSenderAuthenticationEnabled": False,
            "AcceptMessagesOnlyFrom": Holds("partner@fabrikam.com"),  # its new mail contact
        },
    ),
    Case(
        "open-group-to-external",
        {"group": "partners@contoso.com"},
        "partners@contoso.com",
        {"RequireSenderAuthenticationEnabled": False},
    ),
    Case(
        "open-group-to-external",
        {"group": "Project Falcon"},
        "falcon@contoso.com",
        {"RequireSenderAuthenticationEnabled": False},
    ),
    Case(
        "open-group-to-external",
        {"group": "Product Launch"},  # a Microsoft 365 group by its display name
        "productlaunch@contoso.com",
        {"RequireSenderAuthenticationEnabled": False},
    ),
    Case(
        "open-to-external",
        {"recipient": "legal@contoso.com"},  # a mailbox (5.7.134)
        "legal@contoso.com",
        {"RequireSenderAuthenticationEnabled": False},
    ),
    Case(
        "open-to-external",
        {"recipient": "Taylor Reed"},  # a mail user (5.7.136)
        "taylor.reed@contoso.com",
        {"RequireSenderAuthenticationEnabled": False},
    ),
    Case(
        "open-to-external",
        {"recipient": "partners@contoso.com"},  # a group, as open-group-to-external
        "partners@contoso.com",
        {"RequireSenderAuthenticationEnabled": False},
    ),
    Case(
        "bypass-moderation",
        {"group": "All Staff", "sender": "alex.kim@contoso.com"},
        "allstaff@contoso.com",
        {
            "BypassModerationFromSendersOrMembers": Holds("alex.kim@contoso.com"),
            "ModerationEnabled": True,  # the group stays moderated for everyone else
        },
    ),
    Case(
        "block-delicensed-user",
        {"user": "Jordan Lee"},
        "Block mail to leaver jordan.lee@contoso.com",
        {
            "SentTo": Holds("jordan.lee@contoso.com"),
            "State": "Enabled",
            "RejectMessageEnhancedStatusCode": "5.7.1",
            "DeleteMessage": False,
        },
        kind="rule",
    ),
    Case(
        "remove-license",
        {"user": "alex.kim@contoso.com", "even_if_active": True},  # licensed directly
        "alex.kim@contoso.com",
        {"AssignedLicenses": [], "LicenseAssignmentStates": [], "AccountEnabled": True},
        kind="user",
    ),
]
IDS = [f"{c.action}:{next(iter(c.wish.values()))}" for c in DEMO_CASES]


def run_case(case: Case, transport: SandboxTransport, audit: AuditLog, *, dry_run: bool) -> Any:
    action = ACTIONS[case.action]
    return run_action(
        action, parse_wish(action, case.wish), transport=transport, audit=audit, dry_run=dry_run
    )


def not_fixed(tenant_path: Path, case: Case) -> list[str]:
    """What of ``case.fixed`` the tenant does not hold (the object itself, if it is missing)."""
    data = tenant_doc(tenant_path)
    table, key = {
        "recipient": ("recipients", "PrimarySmtpAddress"),
        "rule": ("transport_rules", "Name"),
        "user": ("users", "UserPrincipalName"),
    }[case.kind]
    found = [row for row in data[table] if row[key] == case.target]
    if len(found) != 1:
        return [f"{case.target} ({len(found)} in {table})"]
    guids = {r["PrimarySmtpAddress"]: r["Guid"] for r in data["recipients"]}
    wrong = []
    for prop, value in case.fixed.items():
        held = found[0][prop]
        ok = guids.get(value.address, "") in held if isinstance(value, Holds) else held == value
        if not ok:
            wrong.append(f"{prop}: {held!r}")
    return wrong


@pytest.mark.parametrize("case", DEMO_CASES, ids=IDS)
def test_dry_run_apply_rerun(case: Case, tenant_path: Path, audit: AuditLog) -> None:
    """Dry-run reports changes and changes nothing; apply fixes and verifies; rerun is a no-op."""
    before = tenant_doc(tenant_path)
    assert not_fixed(tenant_path, case)  # the demo tenant has the problem
    dry = run_case(case, SandboxTransport(tenant_path), audit, dry_run=True)
    assert dry.outcome == "planned"
    assert dry.plan.changes
    assert tenant_doc(tenant_path) == before

    applied = run_case(case, SandboxTransport(tenant_path), audit, dry_run=False)
    assert applied.outcome == "applied"
    assert set(applied.status.values()) == {"verified"}
    assert [c.cmdlet for c in applied.plan.changes] == [c.cmdlet for c in dry.plan.changes]
    assert not_fixed(tenant_path, case) == []

    again = SandboxTransport(tenant_path)
    rerun = run_case(case, again, audit, dry_run=False)
    assert rerun.outcome == "no-change"
    assert rerun.plan.is_noop
    assert again.writes == 0


def test_every_action_has_a_demo_case() -> None:
    """A new action must add a case here, with what it must leave, not a test file."""
    assert {c.action for c in DEMO_CASES} == set(ACTIONS)
    assert all(c.fixed for c in DEMO_CASES)


def test_registry_names_match_the_actions() -> None:
    """Each registered name loads the action that answers to it."""
    for name, action in ACTIONS.items():
        assert action.name == name
        assert action.summary
