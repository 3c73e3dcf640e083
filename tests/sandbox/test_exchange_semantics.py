"""Issue 7, sandbox: it rejects what Exchange Online (and Graph) reject, and its tenant
files hold what Exchange has (ManagedBy, SKUs, group licenses, directory ids, domains)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from remediations.errors import CmdletError, InputError
from remediations.exchange import facts
from remediations.exchange.cmdlet import Cmdlet
from remediations.sandbox import SandboxTransport, save_state
from remediations.sandbox.tenant_file import DEMO_TENANT, load_tenant_file, tenant_from_mapping

E3 = "6fd2c87f-b296-42f0-b197-1e91e994b900"


def one(sandbox: SandboxTransport, cmdlet: Cmdlet) -> dict[str, Any]:
    return dict(sandbox.send(cmdlet).objects[0])


def custom(tmp_path: Path, data: dict[str, Any]) -> SandboxTransport:
    path = tmp_path / "t.json"
    save_state(tenant_from_mapping({"organization": "contoso.com", **data}), path)
    return SandboxTransport(path)


class TestTransportRules:
    def test_set_transportrule_has_no_enabled(self, sandbox: SandboxTransport) -> None:
        """PowerShell's binding error, as Exchange Online gives it."""
        with pytest.raises(CmdletError) as info:
            sandbox.send(
                Cmdlet.of(
                    "Set-TransportRule", Identity="Board accepts no external mail", Enabled=False
                )
            )
        assert (
            str(info.value) == "A parameter cannot be found that matches parameter name 'Enabled'."
        )

    def test_enable_and_disable_transportrule(self, sandbox: SandboxTransport) -> None:
        """The documented way to turn a rule off and on; a repeat warns and changes nothing."""
        name = "Board accepts no external mail"
        sandbox.send(Cmdlet.of("Disable-TransportRule", Identity=name))
        assert one(sandbox, Cmdlet.of("Get-TransportRule", Identity=name))["State"] == "Disabled"
        again = sandbox.send(Cmdlet.of("Disable-TransportRule", Identity=name))
        assert again.warnings == (facts.NO_CHANGE_WARNING.format(identity=name),)
        sandbox.send(Cmdlet.of("Enable-TransportRule", Identity=name))
        assert one(sandbox, Cmdlet.of("Get-TransportRule", Identity=name))["State"] == "Enabled"

    def test_new_transportrule_may_start_disabled(self, sandbox: SandboxTransport) -> None:
        """New-TransportRule does have -Enabled."""
        sandbox.send(Cmdlet.of("New-TransportRule", Name="R", DeleteMessage=True, Enabled=False))
        assert one(sandbox, Cmdlet.of("Get-TransportRule", Identity="R"))["State"] == "Disabled"

    def test_stop_rule_processing_is_loaded(self, sandbox: SandboxTransport) -> None:
        """The demo's Board rule stops the rules after it."""
        rule = one(
            sandbox, Cmdlet.of("Get-TransportRule", Identity="Board accepts no external mail")
        )
        assert rule["StopRuleProcessing"] is True


class TestGraphUsers:
    def test_property_returns_only_what_it_names(self, sandbox: SandboxTransport) -> None:
        """$select: the named properties and Id, nothing else."""
        user = one(
            sandbox,
            Cmdlet.of("Get-MgUser", UserId="jordan.lee@contoso.com", Property=("AccountEnabled",)),
        )
        assert set(user) == {"Id", "AccountEnabled"}

    def test_without_property_the_default_set(self, sandbox: SandboxTransport) -> None:
        """Graph's default set has no AccountEnabled and no AssignedLicenses."""
        user = one(sandbox, Cmdlet.of("Get-MgUser", UserId="jordan.lee@contoso.com"))
        assert user["UserPrincipalName"] == "jordan.lee@contoso.com"
        assert "AccountEnabled" not in user
        assert "AssignedLicenses" not in user

    def test_subscribed_skus_map_part_numbers_to_guids(self, sandbox: SandboxTransport) -> None:
        """Get-MgSubscribedSku: skuId <-> skuPartNumber."""
        skus = sandbox.send(Cmdlet.of("Get-MgSubscribedSku")).objects
        assert [(s["SkuPartNumber"], s["SkuId"]) for s in skus] == [("ENTERPRISEPACK", E3)]

    def test_licenses_are_guids_with_how_they_were_assigned(
        self, sandbox: SandboxTransport
    ) -> None:
        """Riley Chen holds E3 through Licensed Staff (its directory id)."""
        staff = one(sandbox, Cmdlet.of("Get-DistributionGroup", Identity="Licensed Staff"))
        user = one(
            sandbox,
            Cmdlet.of(
                "Get-MgUser",
                UserId="riley.chen@contoso.com",
                Property=("AssignedLicenses", "LicenseAssignmentStates"),
            ),
        )
        assert [lic["SkuId"] for lic in user["AssignedLicenses"]] == [E3]
        (state,) = user["LicenseAssignmentStates"]
        assert state["AssignedByGroup"] == staff["ExternalDirectoryObjectId"]
        group = one(sandbox, Cmdlet.of("Get-MgGroup", GroupId=state["AssignedByGroup"]))
        assert group["DisplayName"] == "Licensed Staff"

    def test_a_part_number_is_not_a_license_id(self, sandbox: SandboxTransport) -> None:
        """removeLicenses takes skuIds: a part number fails and nothing changes."""
        with pytest.raises(CmdletError) as info:
            sandbox.send(
                Cmdlet.of(
                    "Set-MgUserLicense",
                    UserId="alex.kim@contoso.com",
                    AddLicenses=(),
                    RemoveLicenses=("ENTERPRISEPACK",),
                )
            )
        assert str(info.value) == facts.GRAPH_NOT_A_GUID.format(value="ENTERPRISEPACK")

    def test_a_group_license_cannot_be_removed_from_the_user(
        self, sandbox: SandboxTransport
    ) -> None:
        """Group-based licensing: Graph refuses."""
        with pytest.raises(CmdletError) as info:
            sandbox.send(
                Cmdlet.of(
                    "Set-MgUserLicense",
                    UserId="riley.chen@contoso.com",
                    AddLicenses=(),
                    RemoveLicenses=(E3,),
                )
            )
        assert str(info.value) == facts.GRAPH_LICENSE_INHERITED

    def test_both_license_parameters_are_mandatory(self, sandbox: SandboxTransport) -> None:
        """Graph PowerShell requires -AddLicenses and -RemoveLicenses."""
        with pytest.raises(CmdletError, match="missing mandatory parameters: AddLicenses"):
            sandbox.send(
                Cmdlet.of("Set-MgUserLicense", UserId="alex.kim@contoso.com", RemoveLicenses=(E3,))
            )


class TestManagerCheck:
    def test_an_admin_who_manages_nothing_needs_the_switch(self, sandbox: SandboxTransport) -> None:
        """Exchange's text; the group is unchanged."""
        with pytest.raises(CmdletError) as info:
            sandbox.send(
                Cmdlet.of(
                    "Set-DistributionGroup",
                    Identity="Partners",
                    RequireSenderAuthenticationEnabled=False,
                )
            )
        assert str(info.value) == (
            "You don't have sufficient permissions. This operation can only be performed by a "
            "manager of the group."
        )
        group = one(sandbox, Cmdlet.of("Get-DistributionGroup", Identity="Partners"))
        assert group["RequireSenderAuthenticationEnabled"] is True

    def test_a_manager_needs_no_switch(self, tmp_path: Path) -> None:
        """An admin in ManagedBy may change the group without it."""
        transport = custom(
            tmp_path,
            {
                "admin": "owner@contoso.com",
                "recipients": [
                    {"kind": "mailbox", "name": "Owner", "address": "owner@contoso.com"},
                    {
                        "kind": "distribution-group",
                        "name": "Team",
                        "address": "team@contoso.com",
                        "managed_by": ["owner@contoso.com"],
                    },
                ],
            },
        )
        transport.send(
            Cmdlet.of(
                "Set-DistributionGroup", Identity="Team", RequireSenderAuthenticationEnabled=False
            )
        )
        group = one(transport, Cmdlet.of("Get-DistributionGroup", Identity="Team"))
        owner = one(transport, Cmdlet.of("Get-Recipient", Identity="owner@contoso.com"))
        assert group["ManagedBy"] == [owner["Guid"]]
        assert group["RequireSenderAuthenticationEnabled"] is False

    @pytest.mark.parametrize(
        ("cmdlet", "identity"),
        [("Set-Mailbox", "legal@contoso.com"), ("Set-MailPublicFolder", "\\Support\\Escalations")],
    )
    def test_mailboxes_and_folders_have_no_such_switch(
        self, sandbox: SandboxTransport, cmdlet: str, identity: str
    ) -> None:
        """Only Set-DistributionGroup has -BypassSecurityGroupManagerCheck."""
        with pytest.raises(CmdletError) as info:
            sandbox.send(
                Cmdlet.of(
                    cmdlet,
                    Identity=identity,
                    RequireSenderAuthenticationEnabled=False,
                    BypassSecurityGroupManagerCheck=True,
                )
            )
        assert str(info.value) == facts.NO_SUCH_PARAMETER.format(
            name="BypassSecurityGroupManagerCheck"
        )


class TestIdentities:
    @pytest.mark.parametrize("identity", ["escalations@contoso.com", "orders-archive"])
    def test_a_mail_public_folder_is_not_found_by_address_or_alias(
        self, sandbox: SandboxTransport, identity: str
    ) -> None:
        """-Identity of Get-/Set-MailPublicFolder: GUID, name or path."""
        for cmdlet in (
            Cmdlet.of("Get-MailPublicFolder", Identity=identity),
            Cmdlet.of(
                "Set-MailPublicFolder", Identity=identity, RequireSenderAuthenticationEnabled=False
            ),
        ):
            with pytest.raises(CmdletError) as info:
                sandbox.send(cmdlet)
            assert info.value.category == "NotFound"

    def test_a_mail_public_folder_by_path_name_and_guid(self, sandbox: SandboxTransport) -> None:
        """The three documented forms."""
        guid = one(sandbox, Cmdlet.of("Get-Recipient", Identity="escalations@contoso.com"))["Guid"]
        for identity in ("\\Support\\Escalations", "Escalations", guid):
            found = one(sandbox, Cmdlet.of("Get-MailPublicFolder", Identity=identity))
            assert found["Guid"] == guid

    def test_a_microsoft_365_group_by_display_name(self, sandbox: SandboxTransport) -> None:
        """Name ProductLaunch_1a2b3c, display name Product Launch."""
        group = one(sandbox, Cmdlet.of("Get-UnifiedGroup", Identity="Product Launch"))
        assert group["Name"] == "ProductLaunch_1a2b3c"
        assert (
            one(sandbox, Cmdlet.of("Get-Recipient", Identity="product launch"))["Guid"]
            == (group["Guid"])
        )

    def test_a_folder_and_a_group_may_share_a_name(self, sandbox: SandboxTransport) -> None:
        """Both called Orders: Get-Recipient is ambiguous, the kind's own cmdlet is not, and
        -Anr lists both."""
        with pytest.raises(CmdletError) as info:
            sandbox.send(Cmdlet.of("Get-Recipient", Identity="Orders"))
        assert info.value.category == "Ambiguous"
        folder = one(sandbox, Cmdlet.of("Get-MailPublicFolder", Identity="Orders"))
        group = one(sandbox, Cmdlet.of("Get-DistributionGroup", Identity="Orders"))
        assert folder["Guid"] != group["Guid"]
        anr = sandbox.send(Cmdlet.of("Get-Recipient", Anr="Orders")).objects
        assert {o["Guid"] for o in anr} == {folder["Guid"], group["Guid"]}

    def test_group_members(self, sandbox: SandboxTransport) -> None:
        """Get-DistributionGroupMember lists the members the tenant file names."""
        members = sandbox.send(
            Cmdlet.of("Get-DistributionGroupMember", Identity="Finance Approvers")
        )
        assert sorted(m["PrimarySmtpAddress"] for m in members.objects) == [
            "alex.kim@contoso.com",
            "cfo@contoso.com",
        ]

    def test_get_recipient_filters_by_recipienttypedetails(self, sandbox: SandboxTransport) -> None:
        """With -Identity too."""
        found = one(
            sandbox,
            Cmdlet.of("Get-Recipient", Identity="Orders", RecipientTypeDetails="PublicFolder"),
        )
        assert found["FolderPath"] == "\\Orders"


class TestTenantFiles:
    def test_the_same_file_loads_to_the_same_tenant(self) -> None:
        """Every Guid and id is derived from names."""
        assert load_tenant_file(DEMO_TENANT).data == load_tenant_file(DEMO_TENANT).data

    def test_directory_ids(self, sandbox: SandboxTransport) -> None:
        """A mailbox's ExternalDirectoryObjectId is its user's id; a group has its own."""
        mailbox = one(sandbox, Cmdlet.of("Get-Mailbox", Identity="alex.kim@contoso.com"))
        user = one(
            sandbox, Cmdlet.of("Get-MgUser", UserId="alex.kim@contoso.com", Property=("Id",))
        )
        assert mailbox["ExternalDirectoryObjectId"] == user["Id"]
        group = one(sandbox, Cmdlet.of("Get-DistributionGroup", Identity="Partners"))
        assert group["ExternalDirectoryObjectId"] not in (group["Guid"], user["Id"])

    def test_skus_default_to_every_license_named(self) -> None:
        """Without subscribed_skus: known part numbers get Microsoft's GUID, others a stable one."""
        state = tenant_from_mapping(
            {
                "organization": "contoso.com",
                "recipients": [
                    {
                        "kind": "mailbox",
                        "name": "A",
                        "address": "a@contoso.com",
                        "user": {"licenses": ["ENTERPRISEPACK", "VISIO"]},
                    }
                ],
            }
        )
        skus = {s["SkuPartNumber"]: s["SkuId"] for s in state.data["subscribed_skus"]}
        assert skus["ENTERPRISEPACK"] == E3
        assert (
            skus["VISIO"]
            == tenant_from_mapping(
                {
                    "organization": "other.com",
                    "subscribed_skus": ["VISIO"],
                }
            ).data["subscribed_skus"][0]["SkuId"]
        )

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            (
                {
                    "subscribed_skus": ["E5"],
                    "recipients": [
                        {
                            "kind": "mailbox",
                            "name": "A",
                            "address": "a@contoso.com",
                            "user": {"licenses": ["E3"]},
                        }
                    ],
                },
                "'E3' is not one of the tenant's subscribed_skus",
            ),
            ({"subscribed_skus": [{"part_number": "E5", "sku_id": "nope"}]}, "is not a GUID"),
            (
                {
                    "recipients": [
                        {"kind": "distribution-group", "name": "X", "address": "x@contoso.com"},
                        {"kind": "security-group", "name": "x", "address": "y@contoso.com"},
                    ]
                },
                "the name 'x' is used twice",
            ),
            (
                {
                    "recipients": [
                        {
                            "kind": "mailbox",
                            "name": "A",
                            "address": "a@contoso.com",
                            "managed_by": ["a@contoso.com"],
                        }
                    ]
                },
                "only groups have members and managed_by",
            ),
            (
                {
                    "recipients": [
                        {"kind": "mailbox", "name": "B", "address": "b@contoso.com"},
                        {
                            "kind": "mailbox",
                            "name": "A",
                            "address": "a@contoso.com",
                            "user": {"group_licenses": [{"sku": "E3", "group": "B"}]},
                        },
                    ]
                },
                "'B' is not a group",
            ),
            (
                {"default_domain": "fabrikam.com"},
                "default_domain 'fabrikam.com' is not an accepted",
            ),
            ({"tenant_domain": "contoso.com"}, "is not an initial domain"),
            ({"admin": "nobody"}, "admin must be an email address"),
        ],
    )
    def test_bad_new_fields_are_named(self, data: dict[str, Any], message: str) -> None:
        """Each new field is checked, the entry and key named."""
        with pytest.raises(InputError, match=message):
            tenant_from_mapping({"organization": "contoso.com", **data})
