"""Issue 7, actions: every previewed command would run on Exchange Online as shown.

Each test runs through the sandbox, which rejects what Exchange Online rejects.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from remediations.actions import ACTIONS, parse_wish
from remediations.audit import AuditLog
from remediations.engine import prepare, run_action
from remediations.errors import AmbiguousIdentity, Refused
from remediations.exchange.cmdlet import Cmdlet
from remediations.sandbox import SandboxTransport, save_state
from remediations.sandbox.tenant_file import tenant_from_mapping

E3 = "6fd2c87f-b296-42f0-b197-1e91e994b900"  # ENTERPRISEPACK's skuId


def plan(transport: SandboxTransport, action: str, **wish: Any) -> Any:
    act = ACTIONS[action]
    return prepare(act, parse_wish(act, wish), transport)


def apply(transport: SandboxTransport, audit: AuditLog, action: str, **wish: Any) -> Any:
    act = ACTIONS[action]
    return run_action(act, parse_wish(act, wish), transport=transport, audit=audit, dry_run=False)


def read(transport: SandboxTransport, cmdlet: str, identity: str) -> dict[str, Any]:
    return dict(transport.send(Cmdlet.of(cmdlet, Identity=identity)).objects[0])


def rules(transport: SandboxTransport) -> dict[str, dict[str, Any]]:
    return {str(r["Name"]): dict(r) for r in transport.send(Cmdlet.of("Get-TransportRule")).objects}


def licenses(transport: SandboxTransport, upn: str) -> list[str]:
    user = transport.send(
        Cmdlet.of("Get-MgUser", UserId=upn, Property=("AssignedLicenses",))
    ).objects[0]
    return [str(lic["SkuId"]) for lic in user["AssignedLicenses"]]


class TestBlockDelicensedUser:
    def test_a_disabled_rule_of_ours_is_turned_on_with_enable_transportrule(
        self, sandbox: SandboxTransport, audit: AuditLog
    ) -> None:
        """Set-TransportRule has no -Enabled: the preview uses Enable-TransportRule, which the
        sandbox applies and the verification reads back."""
        apply(sandbox, audit, "block-delicensed-user", user="Jordan Lee")
        name = "Block mail to leaver jordan.lee@contoso.com"
        sandbox.send(Cmdlet.of("Disable-TransportRule", Identity=name))
        assert rules(sandbox)[name]["State"] == "Disabled"

        outcome = apply(sandbox, audit, "block-delicensed-user", user="Jordan Lee")
        (change,) = outcome.plan.changes
        assert change.cmdlet.to_powershell() == f"Enable-TransportRule -Identity '{name}'"
        assert set(outcome.status.values()) == {"verified"}
        assert rules(SandboxTransport(sandbox.path))[name]["State"] == "Enabled"

    def test_a_user_another_enabled_rule_blocks_is_reported_blocked(
        self, sandbox: SandboxTransport, audit: AuditLog
    ) -> None:
        """Casey Morgan's mail is already rejected by the organisation's own rule: no second
        rule, and the rule is named."""
        outcome = apply(sandbox, audit, "block-delicensed-user", user="casey.morgan@contoso.com")
        assert outcome.outcome == "no-change"
        assert "already blocked" in outcome.plan.notes[-1]
        assert "'Former staff - Casey Morgan'" in outcome.plan.notes[-1]
        assert not any(n.startswith("Block mail to leaver") for n in rules(sandbox))

    def test_a_disabled_or_scoped_rule_does_not_count(
        self, sandbox: SandboxTransport, audit: AuditLog
    ) -> None:
        """Only an enabled rule that stops all mail to the user counts."""
        sandbox.send(Cmdlet.of("Disable-TransportRule", Identity="Former staff - Casey Morgan"))
        result = plan(sandbox, "block-delicensed-user", user="casey.morgan@contoso.com")
        assert [c.cmdlet.name for c in result.changes] == ["New-TransportRule"]

    @pytest.mark.parametrize("action", ["block-delicensed-user", "remove-license"])
    def test_a_shared_mailbox_is_never_a_leaver(
        self, sandbox: SandboxTransport, action: str
    ) -> None:
        """Reception is a shared mailbox: refused in one sentence, nothing read further."""
        with pytest.raises(Refused, match="is a shared mailbox, not a person's mailbox"):
            plan(sandbox, action, user="reception@contoso.com")


class TestRemoveLicense:
    def test_licenses_are_removed_by_sku_guid_and_shown_by_part_number(
        self, sandbox: SandboxTransport, audit: AuditLog
    ) -> None:
        """-RemoveLicenses carries the skuId; the diff shows ENTERPRISEPACK."""
        outcome = apply(
            sandbox, audit, "remove-license", user="alex.kim@contoso.com", even_if_active=True
        )
        (change,) = outcome.plan.changes
        assert change.before == ("ENTERPRISEPACK",)
        assert change.after == ()
        assert change.cmdlet.to_powershell() == (
            f"Set-MgUserLicense -UserId 'alex.kim@contoso.com' -AddLicenses @() "
            f"-RemoveLicenses '{E3}'"
        )
        assert licenses(sandbox, "alex.kim@contoso.com") == []

    def test_sku_may_be_named_by_part_number_or_guid(self, sandbox: SandboxTransport) -> None:
        """--sku ENTERPRISEPACK and --sku <its GUID> plan the same change."""
        by_part = plan(
            sandbox, "remove-license", user="cfo", sku="enterprisepack", even_if_active=True
        )
        by_guid = plan(sandbox, "remove-license", user="cfo", sku=E3, even_if_active=True)
        assert by_part.changes == by_guid.changes
        assert by_part.changes[0].cmdlet.get("RemoveLicenses") == (E3,)

    def test_a_group_license_is_refused_naming_the_group(self, sandbox: SandboxTransport) -> None:
        """Riley Chen's license comes through Licensed Staff: it cannot be removed from the
        user, so the plan says where it comes from instead of failing at Graph."""
        with pytest.raises(Refused) as info:
            plan(sandbox, "remove-license", user="riley.chen@contoso.com")
        assert str(info.value) == (
            "--user 'riley.chen@contoso.com': the ENTERPRISEPACK license is assigned through "
            "the group Licensed Staff (licensed-staff@contoso.com) and cannot be removed from "
            "the user (group-based licensing); remove the user from that group instead."
        )

    def test_an_enabled_account_is_refused(self, sandbox: SandboxTransport) -> None:
        """Issue 8 item 4: an enabled, licensed user is no leaver without --even-if-active."""
        with pytest.raises(Refused, match="--even-if-active"):
            plan(sandbox, "remove-license", user="alex.kim@contoso.com")


class TestDistributionGroups:
    @pytest.mark.parametrize(
        ("action", "wish"),
        [
            ("open-group-to-external", {"group": "Partners"}),
            ("open-to-external", {"recipient": "partners@contoso.com"}),
            (
                "add-allowed-sender",
                {"recipient": "Finance Approvers", "sender": "partner@fabrikam.com"},
            ),
            ("bypass-moderation", {"group": "All Staff", "sender": "partner@fabrikam.com"}),
        ],
    )
    def test_every_set_distributiongroup_carries_the_manager_bypass(
        self, sandbox: SandboxTransport, audit: AuditLog, action: str, wish: dict[str, Any]
    ) -> None:
        """The admin is in no group's ManagedBy: without the switch Exchange refuses. Applied
        through the sandbox, which enforces that, the changes verify."""
        outcome = apply(sandbox, audit, action, **wish)
        groups = [
            c.cmdlet for c in outcome.plan.changes if c.cmdlet.name == "Set-DistributionGroup"
        ]
        assert groups
        for cmdlet in groups:
            assert cmdlet.get("BypassSecurityGroupManagerCheck") is True
            assert cmdlet.to_powershell().endswith(" -BypassSecurityGroupManagerCheck:$true")
        assert set(outcome.status.values()) == {"verified"}

    def test_mailbox_and_folder_changes_never_carry_it(
        self, sandbox: SandboxTransport, audit: AuditLog
    ) -> None:
        """Set-Mailbox and Set-MailPublicFolder have no such switch."""
        for action, wish in (
            ("open-to-external", {"recipient": "legal@contoso.com"}),
            ("fix-public-folder", {"folder": "\\Support\\Escalations"}),
        ):
            outcome = apply(sandbox, audit, action, **wish)
            for change in outcome.plan.changes:
                assert change.cmdlet.get("BypassSecurityGroupManagerCheck") is None


class TestPublicFolderIdentity:
    def test_add_allowed_sender_passes_the_folder_path(self, sandbox: SandboxTransport) -> None:
        """Get-/Set-MailPublicFolder -Identity is the path, never the SMTP address."""
        result = plan(
            sandbox,
            "add-allowed-sender",
            recipient="escalations@contoso.com",
            sender="partner@fabrikam.com",
            only_listed_senders=True,
        )
        folder_changes = [c for c in result.changes if c.cmdlet.name == "Set-MailPublicFolder"]
        assert folder_changes
        assert {c.cmdlet.get("Identity") for c in folder_changes} == {"\\Support\\Escalations"}

    def test_fix_public_folder_finds_a_folder_given_by_address(
        self, sandbox: SandboxTransport, audit: AuditLog
    ) -> None:
        """The address is looked up first; the folder is then read and set by its path."""
        outcome = apply(sandbox, audit, "fix-public-folder", folder="escalations@contoso.com")
        (change,) = outcome.plan.changes
        assert change.cmdlet.get("Identity") == "\\Support\\Escalations"
        assert set(outcome.status.values()) == {"verified"}


class TestIdentities:
    @pytest.mark.parametrize(
        ("action", "wish", "flag"),
        [
            (
                "add-allowed-sender",
                {"recipient": "Orders", "sender": "cfo@contoso.com"},
                "--recipient",
            ),
            ("open-to-external", {"recipient": "orders"}, "--recipient"),
            ("open-group-to-external", {"group": "Orders"}, "--group"),
        ],
    )
    def test_a_name_of_two_kinds_names_each_match(
        self, sandbox: SandboxTransport, action: str, wish: dict[str, Any], flag: str
    ) -> None:
        """A public folder and a distribution group are both called Orders."""
        with pytest.raises(AmbiguousIdentity) as info:
            plan(sandbox, action, **wish)
        given = next(iter(wish.values()))
        assert str(info.value) == (
            f"{flag} {given!r} matches a public folder (\\Orders) and a distribution group "
            "(orders@contoso.com); give one of those."
        )

    def test_the_exact_identities_work(self, sandbox: SandboxTransport) -> None:
        """What the message offers is accepted."""
        group = plan(
            sandbox,
            "add-allowed-sender",
            recipient="orders@contoso.com",
            sender="cfo@contoso.com",
            only_listed_senders=True,
        )
        folder = plan(
            sandbox,
            "add-allowed-sender",
            recipient="\\Orders",
            sender="cfo@contoso.com",
            only_listed_senders=True,
        )
        assert group.changes[0].cmdlet.name == "Set-DistributionGroup"
        assert folder.changes[0].cmdlet.name == "Set-MailPublicFolder"

    def test_a_microsoft_365_group_by_its_display_name(self, sandbox: SandboxTransport) -> None:
        """Its Name is ProductLaunch_1a2b3c; admins type 'Product Launch'."""
        result = plan(sandbox, "open-group-to-external", group="Product Launch")
        (change,) = result.changes
        assert change.cmdlet.to_powershell() == (
            "Set-UnifiedGroup -Identity 'productlaunch@contoso.com' "
            "-RequireSenderAuthenticationEnabled:$false"
        )


class TestOpenToExternal:
    @pytest.mark.parametrize(
        ("recipient", "cmdlet"),
        [
            ("legal@contoso.com", "Set-Mailbox"),
            ("Taylor Reed", "Set-MailUser"),
            ("Project Falcon", "Set-UnifiedGroup"),
            ("partners", "Set-DistributionGroup"),
        ],
    )
    def test_opens_each_kind_with_its_own_cmdlet(
        self, sandbox: SandboxTransport, audit: AuditLog, recipient: str, cmdlet: str
    ) -> None:
        """5.7.134 (mailbox), 5.7.136 (mail user), 5.7.193 and 5.7.133 (groups)."""
        outcome = apply(sandbox, audit, "open-to-external", recipient=recipient)
        (change,) = outcome.plan.changes
        assert change.cmdlet.name == cmdlet
        assert change.cmdlet.get("RequireSenderAuthenticationEnabled") is False
        assert set(outcome.status.values()) == {"verified"}
        assert apply(sandbox, audit, "open-to-external", recipient=recipient).outcome == "no-change"

    @pytest.mark.parametrize(
        ("action", "wish", "message"),
        [
            ("open-to-external", {"recipient": "\\Support\\Escalations"}, "is a PublicFolder"),
            ("open-group-to-external", {"group": "legal@contoso.com"}, "is a UserMailbox"),
        ],
    )
    def test_kinds_it_does_not_open(
        self, sandbox: SandboxTransport, action: str, wish: dict[str, Any], message: str
    ) -> None:
        """Folders have fix-public-folder; the group task stays groups only."""
        with pytest.raises(Refused, match=message):
            plan(sandbox, action, **wish)

    def test_add_allowed_sender_says_a_mailbox_requires_authenticated_senders(
        self, sandbox: SandboxTransport
    ) -> None:
        """Legal has no accept list but requires authentication: the refusal says so and
        points at open-to-external."""
        with pytest.raises(Refused) as info:
            plan(sandbox, "add-allowed-sender", recipient="Legal", sender="partner@fabrikam.com")
        text = str(info.value)
        assert text.startswith("legal@contoso.com requires authenticated senders")
        assert "accepts mail from every sender" not in text
        assert "invoke open-to-external --recipient legal@contoso.com" in text

    def test_the_task(self, invoke_cli: Callable[..., Any]) -> None:
        """invoke open-to-external --recipient X, the name diagnose prints."""
        result = invoke_cli("open-to-external", "--recipient", "legal@contoso.com", "--dry-run")
        assert result.returncode == 0, result.stderr
        assert (
            "Set-Mailbox -Identity 'legal@contoso.com' -RequireSenderAuthenticationEnabled:$false"
            in result.stdout
        )


def test_the_initial_domain_is_accepted_and_initial(sandbox: SandboxTransport) -> None:
    """contoso.onmicrosoft.com: an accepted domain (InitialDomain) and a Graph domain with
    isInitial; contoso.com stays the default."""
    accepted = {d["DomainName"]: d for d in sandbox.send(Cmdlet.of("Get-AcceptedDomain")).objects}
    assert accepted["contoso.onmicrosoft.com"]["InitialDomain"] is True
    assert accepted["contoso.com"]["Default"] is True
    assert not accepted["contoso.onmicrosoft.com"]["Default"]
    graph = sandbox.send(Cmdlet.of("Get-MgDomain", DomainId="contoso.onmicrosoft.com")).objects[0]
    assert graph["IsInitial"] is True
    assert graph["IsDefault"] is False


def test_mail_to_the_initial_domain_is_not_relayed(tmp_path: Path) -> None:
    """A tenant file without accepted_domains still accepts its initial domain."""
    state = tenant_from_mapping(
        {
            "organization": "fabrikam.com",
            "recipients": [
                {"kind": "mailbox", "name": "A", "address": "a@fabrikam.onmicrosoft.com"}
            ],
        }
    )
    assert state.is_internal("a@fabrikam.onmicrosoft.com")
    save_state(state, tmp_path / "t.json")
