"""The sandbox answers cmdlets with Exchange's semantics and Exchange's own error texts."""

from __future__ import annotations

import pytest

from remediations.errors import BackendUnavailable, CmdletError, InputError, Throttled
from remediations.exchange.cmdlet import AddRemove, Cmdlet
from remediations.sandbox import Faults, SandboxTransport


def get(sandbox: SandboxTransport, cmdlet: str, identity: str) -> dict:  # type: ignore[type-arg]
    return dict(sandbox.send(Cmdlet.of(cmdlet, Identity=identity)).objects[0])


class TestIdentity:
    @pytest.mark.parametrize(
        "identity",
        [
            "Finance Approvers",  # name
            "finance-approvers",  # alias
            "finance-approvers@contoso.com",  # primary address
            "FINANCE-APPROVERS@CONTOSO.COM",  # case-insensitive
            "SMTP:finance-approvers@contoso.com",  # prefixed
        ],
    )
    def test_resolves_by_name_alias_and_address(
        self, sandbox: SandboxTransport, identity: str
    ) -> None:
        """Identity accepts any unique value."""
        assert get(sandbox, "Get-DistributionGroup", identity)["Name"] == "Finance Approvers"

    def test_resolves_by_guid_and_public_folder_path(self, sandbox: SandboxTransport) -> None:
        """A Guid and a public folder's path are identities too."""
        guid = get(sandbox, "Get-Recipient", "escalations@contoso.com")["Guid"]
        assert get(sandbox, "Get-MailPublicFolder", guid)["Identity"] == "\\Support\\Escalations"
        assert get(sandbox, "Get-MailPublicFolder", "\\support\\escalations")["Guid"] == guid

    def test_resolves_by_secondary_proxy_address(self, tmp_path) -> None:  # type: ignore[no-untyped-def]
        """Any proxy address finds the recipient."""
        from remediations.sandbox import save_state
        from remediations.sandbox.tenant_file import tenant_from_mapping

        path = tmp_path / "t.json"
        save_state(
            tenant_from_mapping(
                {
                    "organization": "contoso.com",
                    "recipients": [
                        {
                            "kind": "distribution-group",
                            "name": "Sales",
                            "address": "sales@contoso.com",
                            "addresses": ["ventas@contoso.com"],
                        }
                    ],
                }
            ),
            path,
        )
        assert get(SandboxTransport(path), "Get-Recipient", "ventas@contoso.com")["Name"] == "Sales"

    def test_not_found_uses_exchange_text(self, sandbox: SandboxTransport) -> None:
        """A misspelt identity fails with ManagementObjectNotFoundException's text."""
        with pytest.raises(CmdletError) as info:
            get(sandbox, "Get-DistributionGroup", "Finanse Approvers")
        assert info.value.category == "NotFound"
        assert str(info.value) == (
            "The operation couldn't be performed because object 'Finanse Approvers' couldn't be "
            "found on 'AM7PR01MB4321.EURPRD01.PROD.OUTLOOK.COM'."
        )

    def test_type_scoped_lookup(self, sandbox: SandboxTransport) -> None:
        """Get-DistributionGroup does not see mailboxes."""
        with pytest.raises(CmdletError, match="couldn't be found"):
            get(sandbox, "Get-DistributionGroup", "cfo@contoso.com")

    def test_ambiguous_identity(self, sandbox: SandboxTransport) -> None:
        """Two recipients answering to one value is an ambiguity error."""
        sandbox.send(
            Cmdlet.of(
                "New-MailContact",
                Name="Legal Dept",
                Alias="Legal",
                ExternalEmailAddress="l@fabrikam.com",
            )
        )
        with pytest.raises(CmdletError) as info:
            get(sandbox, "Get-Recipient", "Legal")
        assert info.value.category == "Ambiguous"
        assert (
            str(info.value)
            == "The operation couldn't be performed because 'Legal' matches multiple entries."
        )

    def test_empty_identity_returns_everything(self, sandbox: SandboxTransport) -> None:
        """As documented: an empty Identity is the same as no Identity."""
        result = sandbox.send(Cmdlet.of("Get-DistributionGroup", Identity=""))
        assert {o["Name"] for o in result.objects} == {
            "Finance Approvers",
            "Licensed Staff",
            "Orders",
            "Partners",
            "All Staff",
            "Board",
        }


class TestMultiValued:
    def test_add_and_remove_touch_only_their_entries(self, sandbox: SandboxTransport) -> None:
        """@{Add=...; Remove=...} keeps the other entries."""
        sandbox.send(
            Cmdlet.of(
                "Set-DistributionGroup",
                Identity="Finance Approvers",
                BypassSecurityGroupManagerCheck=True,
                AcceptMessagesOnlyFrom=AddRemove(add=("alex.kim@contoso.com", "hr@contoso.com")),
            )
        )
        sandbox.send(
            Cmdlet.of(
                "Set-DistributionGroup",
                Identity="Finance Approvers",
                BypassSecurityGroupManagerCheck=True,
                AcceptMessagesOnlyFrom=AddRemove(remove=("hr@contoso.com",)),
            )
        )
        group = get(sandbox, "Get-DistributionGroup", "Finance Approvers")
        names = {
            get(sandbox, "Get-Recipient", g)["PrimarySmtpAddress"]
            for g in group["AcceptMessagesOnlyFrom"]
        }
        assert names == {"cfo@contoso.com", "alex.kim@contoso.com"}
        assert group["AcceptMessagesOnlyFromSendersOrMembers"] == group["AcceptMessagesOnlyFrom"]

    def test_combined_and_individual_list_in_one_command_is_an_error(
        self, sandbox: SandboxTransport
    ) -> None:
        """You can't use AcceptMessagesOnlyFrom and ...SendersOrMembers in the same command."""
        with pytest.raises(CmdletError, match="can't be used in the same command"):
            sandbox.send(
                Cmdlet.of(
                    "Set-DistributionGroup",
                    Identity="Partners",
                    BypassSecurityGroupManagerCheck=True,
                    AcceptMessagesOnlyFrom=("cfo@contoso.com",),
                    AcceptMessagesOnlyFromSendersOrMembers=("cfo@contoso.com",),
                )
            )

    def test_unknown_value_is_reported_and_nothing_changes(self, sandbox: SandboxTransport) -> None:
        """A value naming no object fails the whole command."""
        with pytest.raises(CmdletError, match=r'Couldn\'t find object "ghost@contoso\.com"'):
            sandbox.send(
                Cmdlet.of(
                    "Set-DistributionGroup",
                    Identity="Partners",
                    BypassSecurityGroupManagerCheck=True,
                    RequireSenderAuthenticationEnabled=False,
                    AcceptMessagesOnlyFrom=AddRemove(add=("ghost@contoso.com",)),
                )
            )
        assert (
            get(sandbox, "Get-DistributionGroup", "Partners")["RequireSenderAuthenticationEnabled"]
            is True
        )

    def test_unified_group_refuses_add_remove(self, sandbox: SandboxTransport) -> None:
        """Set-UnifiedGroup takes only the overwrite form."""
        with pytest.raises(CmdletError, match="Add and Remove are not supported"):
            sandbox.send(
                Cmdlet.of(
                    "Set-UnifiedGroup",
                    Identity="falcon",
                    AcceptMessagesOnlyFromSendersOrMembers=AddRemove(add=("cfo@contoso.com",)),
                )
            )

    def test_unified_group_has_no_bypass_parameter(self, sandbox: SandboxTransport) -> None:
        """PowerShell's own binding error for a parameter the cmdlet lacks."""
        with pytest.raises(CmdletError) as info:
            sandbox.send(
                Cmdlet.of(
                    "Set-UnifiedGroup",
                    Identity="falcon",
                    BypassModerationFromSendersOrMembers=("cfo@contoso.com",),
                )
            )
        assert str(info.value) == (
            "A parameter cannot be found that matches parameter name "
            "'BypassModerationFromSendersOrMembers'."
        )

    def test_no_op_set_warns(self, sandbox: SandboxTransport) -> None:
        """A Set-* that changes nothing says so, as Exchange does."""
        result = sandbox.send(
            Cmdlet.of(
                "Set-DistributionGroup",
                Identity="Partners",
                BypassSecurityGroupManagerCheck=True,
                RequireSenderAuthenticationEnabled=True,
            )
        )
        assert result.warnings == (
            "The command completed successfully but no settings of 'Partners' have been modified.",
        )


class TestContactsAndRules:
    def test_new_mail_contact_with_a_taken_address(self, sandbox: SandboxTransport) -> None:
        """An address another recipient holds cannot be a contact's."""
        with pytest.raises(CmdletError, match=r'"SMTP:cfo@contoso\.com" is already being used'):
            sandbox.send(
                Cmdlet.of("New-MailContact", Name="X", ExternalEmailAddress="cfo@contoso.com")
            )

    def test_new_mail_contact_needs_its_mandatory_parameters(
        self, sandbox: SandboxTransport
    ) -> None:
        """Missing mandatory parameters are named."""
        with pytest.raises(CmdletError, match="missing mandatory parameters: ExternalEmailAddress"):
            sandbox.send(Cmdlet.of("New-MailContact", Name="X"))

    def test_duplicate_rule_name(self, sandbox: SandboxTransport) -> None:
        """Transport rule names are unique."""
        sandbox.send(
            Cmdlet.of(
                "New-TransportRule", Name="R", SentTo=("cfo@contoso.com",), DeleteMessage=True
            )
        )
        with pytest.raises(CmdletError) as info:
            sandbox.send(Cmdlet.of("New-TransportRule", Name="r", DeleteMessage=True))
        assert info.value.category == "Duplicate"

    def test_rule_defaults_and_priorities(self, sandbox: SandboxTransport) -> None:
        """Reject code alone gets the default text; priority inserts and shifts the others."""
        sandbox.send(
            Cmdlet.of("New-TransportRule", Name="A", RejectMessageEnhancedStatusCode="5.7.900")
        )
        sandbox.send(
            Cmdlet.of("New-TransportRule", Name="B", RejectMessageReasonText="Go away", Priority=0)
        )
        rules = {r["Name"]: r for r in sandbox.send(Cmdlet.of("Get-TransportRule")).objects}
        assert rules["A"]["RejectMessageReasonText"] == "Delivery not authorized, message refused"
        assert rules["B"]["RejectMessageEnhancedStatusCode"] == "5.7.1"
        board = "Board accepts no external mail"  # the demo's own rule, first at priority 0
        assert [n for n, _ in sorted(rules.items(), key=lambda kv: kv[1]["Priority"])] == [
            "B",
            board,
            "Former staff - Casey Morgan",
            "A",
        ]

    def test_reject_code_must_be_5_7_1_or_5_7_900_to_999(self, sandbox: SandboxTransport) -> None:
        """RejectMessageEnhancedStatusCode accepts only the documented range."""
        with pytest.raises(CmdletError, match="isn't a valid enhanced status code"):
            sandbox.send(
                Cmdlet.of("New-TransportRule", Name="A", RejectMessageEnhancedStatusCode="5.7.2")
            )

    def test_unknown_cmdlet_fails_loudly(self, sandbox: SandboxTransport) -> None:
        """The fake never succeeds silently on something it does not know."""
        with pytest.raises(CmdletError, match="is not recognized"):
            sandbox.send(Cmdlet.of("Set-Nothing", Identity="x"))


class TestFaults:
    def test_fail_nth_write_before_it_takes_effect(self, sandbox: SandboxTransport) -> None:
        """The failing write changes nothing; the calls before it stand."""
        faulty = SandboxTransport(sandbox.path, faults=Faults(fail_write=2))
        faulty.send(
            Cmdlet.of(
                "Set-DistributionGroup",
                Identity="Partners",
                BypassSecurityGroupManagerCheck=True,
                RequireSenderAuthenticationEnabled=False,
            )
        )
        with pytest.raises(BackendUnavailable):
            faulty.send(
                Cmdlet.of(
                    "Set-MailPublicFolder",
                    Identity="\\Support\\Escalations",
                    RequireSenderAuthenticationEnabled=False,
                )
            )
        fresh = SandboxTransport(sandbox.path)
        assert (
            get(fresh, "Get-DistributionGroup", "Partners")["RequireSenderAuthenticationEnabled"]
            is False
        )
        assert (
            get(fresh, "Get-MailPublicFolder", "\\Support\\Escalations")[
                "RequireSenderAuthenticationEnabled"
            ]
            is True
        )

    def test_throttle_and_fail_call(self, sandbox: SandboxTransport) -> None:
        """The Nth call can answer throttled, or not at all."""
        throttled = SandboxTransport(sandbox.path, faults=Faults(throttle_call=1))
        with pytest.raises(Throttled, match="maximum number of concurrent requests"):
            throttled.send(Cmdlet.of("Get-Recipient", Identity="cfo"))
        failing = SandboxTransport(sandbox.path, faults=Faults(fail_call=2))
        failing.send(Cmdlet.of("Get-Recipient", Identity="cfo"))
        with pytest.raises(BackendUnavailable):
            failing.send(Cmdlet.of("Get-Recipient", Identity="cfo"))

    def test_latency(self, sandbox: SandboxTransport) -> None:
        """latency_ms delays every call."""
        import time

        slow = SandboxTransport(sandbox.path, faults=Faults(latency_ms=30))
        start = time.perf_counter()
        slow.send(Cmdlet.of("Get-Recipient", Identity="cfo"))
        assert time.perf_counter() - start >= 0.03

    @pytest.mark.parametrize("spec", ["fail_write", "fail_write=x", "explode=1"])
    def test_bad_fault_spec_is_input_error(self, spec: str) -> None:
        """A fault setting that is not understood says how to write it."""
        with pytest.raises(InputError, match="key=number"):
            Faults.parse(spec)

    def test_fault_spec(self) -> None:
        """The setting's syntax."""
        assert Faults.parse("fail_write=2, latency_ms=5") == Faults(fail_write=2, latency_ms=5)
