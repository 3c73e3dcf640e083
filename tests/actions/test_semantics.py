"""Exchange semantics the actions must respect (exchange.md section 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from remediations.actions import ACTIONS, parse_wish
from remediations.audit import AuditLog
from remediations.engine import prepare, run_action
from remediations.errors import Refused, UnknownIdentity
from remediations.sandbox import SandboxTransport, save_state
from remediations.sandbox.tenant_file import tenant_from_mapping
from tests.conftest import tenant_doc


def make_tenant(tmp_path: Path, recipients: list[dict[str, Any]], **extra: Any) -> SandboxTransport:
    path = tmp_path / "custom.json"
    save_state(
        tenant_from_mapping({"organization": "contoso.com", "recipients": recipients, **extra}),
        path,
    )
    return SandboxTransport(path)


def plan(transport: SandboxTransport, action: str, **wish: Any) -> Any:
    act = ACTIONS[action]
    return prepare(act, parse_wish(act, wish), transport)


def apply(transport: SandboxTransport, audit: AuditLog, action: str, **wish: Any) -> Any:
    act = ACTIONS[action]
    return run_action(act, parse_wish(act, wish), transport=transport, audit=audit, dry_run=False)


def stored(transport: SandboxTransport, address: str) -> dict[str, Any]:
    data = tenant_doc(transport.path)
    return next(r for r in data["recipients"] if r["PrimarySmtpAddress"] == address)


class TestAddAllowedSender:
    def test_empty_list_is_refused_because_it_would_lock_everyone_out(
        self, sandbox: SandboxTransport
    ) -> None:
        """Adding one sender to an empty list would restrict the group to that sender."""
        before = tenant_doc(sandbox.path)
        # Partners requires authenticated senders: the refusal says so (not "accepts mail
        # from every sender", which is untrue for an outside sender).
        with pytest.raises(Refused, match="requires authenticated senders"):
            plan(sandbox, "add-allowed-sender", recipient="Partners", sender="partner@fabrikam.com")
        with pytest.raises(Refused, match="accepts mail from every sender now"):
            plan(sandbox, "add-allowed-sender", recipient="Partners", sender="cfo@contoso.com")
        assert tenant_doc(sandbox.path) == before

    def test_explicit_flag_starts_a_list(self, sandbox: SandboxTransport, audit: AuditLog) -> None:
        """With only_listed_senders the list is started on purpose."""
        apply(
            sandbox,
            audit,
            "add-allowed-sender",
            recipient="Partners",
            sender="partner@fabrikam.com",
            only_listed_senders=True,
        )
        group = stored(sandbox, "partners@contoso.com")
        assert len(group["AcceptMessagesOnlyFrom"]) == 1
        assert group["RequireSenderAuthenticationEnabled"] is False

    def test_outside_sender_gets_contact_then_list_then_authentication_off(
        self, sandbox: SandboxTransport
    ) -> None:
        """The recipient stays closed at every step: contact, list entry, then authentication."""
        result = plan(
            sandbox,
            "add-allowed-sender",
            recipient="Finance Approvers",
            sender="partner@fabrikam.com",
        )
        assert [(c.cmdlet.name, c.attribute) for c in result.changes] == [
            ("New-MailContact", "MailContact"),
            ("Set-DistributionGroup", "AcceptMessagesOnlyFrom"),
            ("Set-DistributionGroup", "RequireSenderAuthenticationEnabled"),
        ]
        assert result.changes[1].cmdlet.to_powershell() == (
            "Set-DistributionGroup -Identity 'finance-approvers@contoso.com' "
            "-AcceptMessagesOnlyFrom @{Add='partner@fabrikam.com'} "
            "-BypassSecurityGroupManagerCheck:$true"
        )

    def test_inside_sender_leaves_authentication_alone(self, sandbox: SandboxTransport) -> None:
        """An internal sender is authenticated: only the list changes, no contact is made."""
        result = plan(
            sandbox,
            "add-allowed-sender",
            recipient="Finance Approvers",
            sender="alex.kim@contoso.com",
        )
        assert [c.attribute for c in result.changes] == ["AcceptMessagesOnlyFrom"]

    def test_unknown_inside_sender_is_bad_input(self, sandbox: SandboxTransport) -> None:
        """An address in the organisation's own domain that nobody has is a typo, not a contact."""
        with pytest.raises(UnknownIdentity, match="no recipient has that address"):
            plan(sandbox, "add-allowed-sender", recipient="CFO", sender="nobody@contoso.com")

    def test_group_sender_goes_to_dl_members(self, tmp_path: Path) -> None:
        """Groups are listed through AcceptMessagesOnlyFromDLMembers."""
        transport = make_tenant(
            tmp_path,
            [
                {"kind": "mailbox", "name": "Boss", "address": "boss@contoso.com"},
                {"kind": "distribution-group", "name": "Board", "address": "board@contoso.com"},
                {
                    "kind": "distribution-group",
                    "name": "Secret",
                    "address": "secret@contoso.com",
                    "accept_messages_only_from": ["boss@contoso.com"],
                },
            ],
        )
        result = plan(
            transport, "add-allowed-sender", recipient="Secret", sender="board@contoso.com"
        )
        assert [c.attribute for c in result.changes] == ["AcceptMessagesOnlyFromDLMembers"]

    def test_m365_group_list_is_written_whole(self, tmp_path: Path, audit: AuditLog) -> None:
        """Set-UnifiedGroup has no Add/Remove: read-modify-write of the whole list."""
        transport = make_tenant(
            tmp_path,
            [
                {"kind": "mailbox", "name": "Boss", "address": "boss@contoso.com"},
                {
                    "kind": "m365-group",
                    "name": "Team",
                    "address": "team@contoso.com",
                    "accept_messages_only_from": ["boss@contoso.com"],
                },
            ],
        )
        result = plan(transport, "add-allowed-sender", recipient="Team", sender="p@fabrikam.com")
        listing = result.changes[1]
        assert listing.cmdlet.name == "Set-UnifiedGroup"
        assert listing.cmdlet.get("AcceptMessagesOnlyFromSendersOrMembers") == (
            "boss@contoso.com",
            "p@fabrikam.com",
        )
        outcome = apply(
            transport, audit, "add-allowed-sender", recipient="Team", sender="p@fabrikam.com"
        )
        assert outcome.outcome == "applied"
        assert len(stored(transport, "team@contoso.com")["AcceptMessagesOnlyFrom"]) == 2

    def test_sender_known_by_a_secondary_address_is_idempotent(
        self, tmp_path: Path, audit: AuditLog
    ) -> None:
        """A sender found through a proxy address is listed, and recognised, by its primary."""
        transport = make_tenant(
            tmp_path,
            [
                {"kind": "mailbox", "name": "Boss", "address": "boss@contoso.com"},
                {
                    "kind": "mail-contact",
                    "name": "Pat",
                    "address": "pat@fabrikam.com",
                    "addresses": ["patricia@fabrikam.com"],
                },
                {
                    "kind": "distribution-group",
                    "name": "Secret",
                    "address": "secret@contoso.com",
                    "accept_messages_only_from": ["boss@contoso.com"],
                },
            ],
        )
        apply(
            transport,
            audit,
            "add-allowed-sender",
            recipient="Secret",
            sender="patricia@fabrikam.com",
        )
        again = plan(
            transport, "add-allowed-sender", recipient="Secret", sender="patricia@fabrikam.com"
        )
        assert again.is_noop

    def test_a_contact_is_not_a_recipient_we_restrict(
        self, sandbox: SandboxTransport, audit: AuditLog
    ) -> None:
        """Only groups, mailboxes and public folders have allowed senders."""
        apply(
            sandbox,
            audit,
            "add-allowed-sender",
            recipient="Finance Approvers",
            sender="x@fabrikam.com",
        )
        with pytest.raises(Refused, match="is a MailContact"):
            plan(
                sandbox, "add-allowed-sender", recipient="x@fabrikam.com", sender="cfo@contoso.com"
            )


class TestFixPublicFolder:
    def test_all_senders_clears_the_accept_list(self, tmp_path: Path, audit: AuditLog) -> None:
        """--all-senders also empties AcceptMessagesOnlyFromSendersOrMembers ($null)."""
        transport = make_tenant(
            tmp_path,
            [
                {"kind": "mailbox", "name": "Boss", "address": "boss@contoso.com"},
                {
                    "kind": "public-folder",
                    "name": "Sales",
                    "path": "\\Sales",
                    "address": "sales@contoso.com",
                    "accept_messages_only_from": ["boss@contoso.com"],
                },
            ],
        )
        without = plan(transport, "fix-public-folder", folder="\\Sales")
        assert [c.attribute for c in without.changes] == ["RequireSenderAuthenticationEnabled"]
        assert "still accepts mail only from boss@contoso.com" in without.notes[0]
        result = plan(transport, "fix-public-folder", folder="\\Sales", all_senders=True)
        assert result.changes[1].cmdlet.to_powershell() == (
            "Set-MailPublicFolder -Identity '\\Sales' -AcceptMessagesOnlyFromSendersOrMembers $null"
        )
        apply(transport, audit, "fix-public-folder", folder="sales@contoso.com", all_senders=True)
        folder = stored(transport, "sales@contoso.com")
        assert folder["AcceptMessagesOnlyFrom"] == []
        assert folder["RequireSenderAuthenticationEnabled"] is False


class TestBypassModeration:
    def test_m365_group_is_refused_with_the_reason(self, sandbox: SandboxTransport) -> None:
        """Set-UnifiedGroup has no bypass list."""
        with pytest.raises(Refused, match="has no BypassModerationFromSendersOrMembers"):
            plan(
                sandbox,
                "bypass-moderation",
                group="falcon@contoso.com",
                sender="alex.kim@contoso.com",
            )

    def test_moderators_are_never_moderated(self, sandbox: SandboxTransport) -> None:
        """A moderator needs no bypass entry."""
        result = plan(sandbox, "bypass-moderation", group="All Staff", sender="hr@contoso.com")
        assert result.is_noop
        assert "moderators are never moderated" in result.notes[-1]

    def test_uses_add_remove(self, sandbox: SandboxTransport) -> None:
        """Adds one entry without touching the others."""
        result = plan(sandbox, "bypass-moderation", group="allstaff", sender="alex.kim@contoso.com")
        assert result.changes[0].cmdlet.to_powershell() == (
            "Set-DistributionGroup -Identity 'allstaff@contoso.com' "
            "-BypassModerationFromSendersOrMembers @{Add='alex.kim@contoso.com'} "
            "-BypassSecurityGroupManagerCheck:$true"
        )


def leaver_rules(transport: SandboxTransport) -> list[dict[str, Any]]:
    rules = tenant_doc(transport.path)["transport_rules"]
    return [r for r in rules if r["Name"].startswith("Block mail to leaver")]


class TestBlockDelicensedUser:
    def test_rule_is_named_after_the_user_and_rejects_with_5_7_1(
        self, sandbox: SandboxTransport, audit: AuditLog
    ) -> None:
        """A rerun finds the rule by its derived name; reject mode uses 5.7.1 and a reason."""
        apply(sandbox, audit, "block-delicensed-user", user="jordan.lee@contoso.com")
        rules = leaver_rules(sandbox)
        assert [r["Name"] for r in rules] == ["Block mail to leaver jordan.lee@contoso.com"]
        assert rules[0]["RejectMessageEnhancedStatusCode"] == "5.7.1"
        assert "no longer in use" in rules[0]["RejectMessageReasonText"]
        assert plan(sandbox, "block-delicensed-user", user="Jordan Lee").is_noop

    def test_switching_to_delete_mode_corrects_the_rule(
        self, sandbox: SandboxTransport, audit: AuditLog
    ) -> None:
        """The same rule is corrected, not duplicated."""
        apply(sandbox, audit, "block-delicensed-user", user="jordan.lee@contoso.com")
        apply(sandbox, audit, "block-delicensed-user", user="jordan.lee@contoso.com", mode="delete")
        rules = leaver_rules(sandbox)
        assert len(rules) == 1
        assert rules[0]["DeleteMessage"] is True
        assert "RejectMessageEnhancedStatusCode" not in rules[0]

    def test_active_user_is_refused(self, sandbox: SandboxTransport) -> None:
        """Blocking mail to an enabled, licensed user needs an explicit flag."""
        with pytest.raises(Refused, match="looks active"):
            plan(sandbox, "block-delicensed-user", user="alex.kim@contoso.com")
        forced = plan(
            sandbox, "block-delicensed-user", user="alex.kim@contoso.com", even_if_active=True
        )
        assert forced.changes
