"""scan: every object of the tenant that bounces outside or restricted senders, with its fix.

The demo tenant holds one broken case per cause; the sandbox is the tenant and
its zone data the DNS. Fixes are run as a user runs them, then the scan again.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from remediations.cli.diagnose import scan_task
from remediations.diagnose.scan import ScanReport, scan_tenant
from remediations.dns_lookup import ZoneResolver
from remediations.errors import InputError
from remediations.exchange.cmdlet import Cmdlet
from remediations.sandbox import SandboxTransport
from remediations.sandbox.directory import zone_data
from remediations.sandbox.store import save_state
from remediations.sandbox.tenant_file import tenant_from_mapping
from tests.conftest import CliResult

Scan = Callable[..., CliResult]
RunTask = Callable[..., CliResult]

# (cause, target, the exact fix command, or None when the fix is not a command)
DEMO_CASES = [
    (
        "public-folder-auth",
        "\\Support\\Escalations",
        "invoke fix-public-folder --folder '\\Support\\Escalations'",
    ),
    (
        "restricted-recipient",
        "finance-approvers@contoso.com",
        "invoke add-allowed-sender --recipient finance-approvers@contoso.com --sender SENDER",
    ),
    (
        "group-auth",
        "partners@contoso.com",
        "invoke open-group-to-external --group partners@contoso.com",
    ),
    (
        "group-auth",
        "allstaff@contoso.com",
        "invoke open-group-to-external --group allstaff@contoso.com",
    ),
    (
        "large-group-moderation",
        "allstaff@contoso.com",
        "invoke bypass-moderation --group allstaff@contoso.com --sender SENDER",
    ),
    (
        "disabled-account",
        "jordan.lee@contoso.com",
        "invoke block-delicensed-user --user jordan.lee@contoso.com",
    ),
    (
        "group-auth",
        "falcon@contoso.com",
        "invoke open-group-to-external --group falcon@contoso.com",
    ),
    (
        "recipient-auth",
        "legal@contoso.com",
        "invoke open-to-external --recipient legal@contoso.com",
    ),
    # demo cases added for issue 7: a mail user requiring authentication, a Microsoft 365
    # group found by its display name, a leaver whose license comes through a group
    (
        "recipient-auth",
        "taylor.reed@contoso.com",
        "invoke open-to-external --recipient taylor.reed@contoso.com",
    ),
    (
        "group-auth",
        "productlaunch@contoso.com",
        "invoke open-group-to-external --group productlaunch@contoso.com",
    ),
    (
        "disabled-account",
        "riley.chen@contoso.com",
        "invoke block-delicensed-user --user riley.chen@contoso.com",
    ),
    ("transport-rule", "Board accepts no external mail", None),
    ("domain-dns", "contoso.net", None),
    ("hybrid-connector", "contoso.net", None),
    ("unregistered-domain", "contoso-sales.com", None),
    ("domain-dns", "contoso-sales.com", None),
]


def run_scan(transport: SandboxTransport, **kwargs: Any) -> ScanReport:
    """scan over a sandbox transport, DNS from its zone data."""
    return scan_tenant(transport, ZoneResolver(zone_data(transport.state)), **kwargs)


def listed(report: ScanReport) -> set[tuple[str, str]]:
    """(cause, target) of every finding."""
    return {(f.cause, f.target) for f in report.findings}


@pytest.fixture
def scan(config: dict[str, Any]) -> Scan:
    """Run scan in-process exactly as tasks.py does."""

    def run(*partners: str, as_json: bool = False, faults: str = "") -> CliResult:
        out, err = io.StringIO(), io.StringIO()
        cfg = {**config, "sandbox": {**config["sandbox"], "faults": faults}}
        code = scan_task(cfg, partners=list(partners), as_json=as_json, out=out, err=err)
        return CliResult(code, out.getvalue(), err.getvalue())

    return run


class TestDemoTenant:
    @pytest.mark.parametrize(
        ("cause", "target", "command"), DEMO_CASES, ids=[f"{c[0]}:{c[1]}" for c in DEMO_CASES]
    )
    def test_every_broken_case_is_listed_with_its_fix(
        self, sandbox: SandboxTransport, cause: str, target: str, command: str | None
    ) -> None:
        """Each demo case appears under its cause, with the exact command that fixes it."""
        report = run_scan(sandbox)
        found = [f for f in report.findings if (f.cause, f.target) == (cause, target)]
        assert found, sorted(listed(report))
        if command is None:
            assert all(not f.commands for f in found)
            assert all(f.steps or f.powershell for f in found)
        else:
            assert [f.commands for f in found] == [(command,)]

    def test_nothing_else_is_listed(self, sandbox: SandboxTransport) -> None:
        """The healthy objects (people, Board itself, contoso.com, the connectors) are not."""
        report = run_scan(sandbox)
        assert listed(report) == {(cause, target) for cause, target, _ in DEMO_CASES}
        assert sorted(f.target for f in report.by_cause["domain-dns"]) == [
            "contoso-sales.com",
            "contoso-sales.com",
            "contoso.net",
            "contoso.net",
        ]
        assert report.exit_code == 3

    def test_grouped_in_the_designs_order_of_causes(self, sandbox: SandboxTransport) -> None:
        """Causes come in the order of the design's table."""
        assert list(run_scan(sandbox).by_cause) == [
            "public-folder-auth",
            "group-auth",
            "recipient-auth",
            "restricted-recipient",
            "large-group-moderation",
            "disabled-account",
            "transport-rule",
            "unregistered-domain",
            "domain-dns",
            "hybrid-connector",
        ]

    def test_recipient_auth_shows_the_powershell(self, sandbox: SandboxTransport) -> None:
        """A mailbox requiring authentication gets open-to-external (every in-tenant cause
        has a command, issue 7), with the PowerShell it equals."""
        legal = next(
            f
            for f in run_scan(sandbox).by_cause["recipient-auth"]
            if f.target == "legal@contoso.com"
        )
        assert legal.powershell == (
            "Set-Mailbox -Identity 'legal@contoso.com' -RequireSenderAuthenticationEnabled:$false",
        )
        assert legal.automatable

    @pytest.mark.parametrize(
        ("target", "sender"),
        [
            ("\\Support\\Escalations", "partner@fabrikam.com"),
            ("partners@contoso.com", "partner@fabrikam.com"),
            ("falcon@contoso.com", "partner@fabrikam.com"),
            ("legal@contoso.com", "partner@fabrikam.com"),
            ("finance-approvers@contoso.com", "partner@fabrikam.com"),
        ],
    )
    def test_scan_and_sandbox_send_agree_on_the_code(
        self, sandbox: SandboxTransport, target: str, sender: str
    ) -> None:
        """The code a finding names is the one a test message to that recipient gets
        (finance-approvers: 5.7.133 for an outside sender, not 5.7.1 NotAuthorized)."""
        from remediations.sandbox.mailflow import send

        (finding,) = [f for f in run_scan(sandbox).findings if f.target == target]
        rec = next(
            r
            for r in sandbox.state.recipients
            if target in (r.get("FolderPath"), r.get("PrimarySmtpAddress"))
        )
        delivery = send(
            sandbox.state,
            sender=sender,
            recipient=rec["PrimarySmtpAddress"],
            arrival=datetime(2026, 11, 30, tzinfo=UTC),
        )
        assert delivery.status is not None
        assert finding.status == delivery.status
        assert delivery.status in finding.problem

    def test_restricted_group_names_the_code_an_internal_sender_gets(
        self, sandbox: SandboxTransport
    ) -> None:
        """An internal sender not on Finance Approvers' list gets 5.7.124, as sandbox.send says."""
        from remediations.sandbox.mailflow import send

        (finance,) = run_scan(sandbox).by_cause["restricted-recipient"]
        delivery = send(
            sandbox.state,
            sender="sam.rivera@contoso.com",
            recipient="finance-approvers@contoso.com",
            arrival=datetime(2026, 11, 30, tzinfo=UTC),
        )
        assert delivery.status == "5.7.124"
        assert "every other sender gets 5.7.124 Sender not in allowed-senders list" in (
            finance.problem
        )

    def test_a_restricted_group_is_listed_once(self, sandbox: SandboxTransport) -> None:
        """Finance Approvers also requires authentication, but add-allowed-sender fixes both."""
        report = run_scan(sandbox)
        assert ("group-auth", "finance-approvers@contoso.com") not in listed(report)
        (finance,) = report.by_cause["restricted-recipient"]
        assert "accepts mail only from cfo@contoso.com" in finance.problem
        assert "also requires authenticated senders" in finance.problem

    def test_moderation_evidence(self, sandbox: SandboxTransport) -> None:
        """All Staff: moderated and over 5,000 members, the count read from Graph."""
        (allstaff,) = run_scan(sandbox).by_cause["large-group-moderation"]
        assert "moderation is on and it has 5,214 members (over 5,000)" in allstaff.problem
        assert "members: 5214" in allstaff.seen


class TestPartners:
    def test_partner_flag_fills_in_the_sender(self, sandbox: SandboxTransport) -> None:
        """--partner gives the bypass command with the partner's address."""
        (allstaff,) = run_scan(sandbox, partners=["Partner@Fabrikam.com"]).by_cause[
            "large-group-moderation"
        ]
        assert allstaff.commands == (
            "invoke bypass-moderation --group allstaff@contoso.com --sender partner@fabrikam.com",
        )
        assert allstaff.automatable

    def test_mail_contacts_are_known_partners(self, sandbox: SandboxTransport) -> None:
        """The tenant's mail contacts count as partners, one command each."""
        for name, address in (("Pat", "pat@fabrikam.com"), ("Odd", "o'neil@tailspin.example")):
            sandbox.send(Cmdlet.of("New-MailContact", Name=name, ExternalEmailAddress=address))
        report = run_scan(sandbox)
        (allstaff,) = report.by_cause["large-group-moderation"]
        assert allstaff.commands == (
            "invoke bypass-moderation --group allstaff@contoso.com --sender pat@fabrikam.com",
            "invoke bypass-moderation --group allstaff@contoso.com --sender "
            "'o'\"'\"'neil@tailspin.example'",
        )
        assert report.partners == ("pat@fabrikam.com", "o'neil@tailspin.example")

    def test_a_partner_that_bypasses_is_not_listed(
        self, sandbox: SandboxTransport, run_task: RunTask
    ) -> None:
        """After bypass-moderation for the only partner, All Staff no longer holds its mail."""
        fixed = run_task(
            "bypass-moderation", {"group": "allstaff@contoso.com", "sender": "partner@fabrikam.com"}
        )
        assert fixed.code == 0, fixed.err
        report = run_scan(SandboxTransport(sandbox.path), partners=["partner@fabrikam.com"])
        assert "large-group-moderation" not in report.by_cause

    def test_a_partner_must_be_an_address(self, sandbox: SandboxTransport) -> None:
        """--partner that is not an address is bad input, before anything is read."""
        with pytest.raises(InputError, match="--partner 'fabrikam' is not an email address"):
            run_scan(sandbox, partners=["fabrikam"])
        assert sandbox.calls == 0


class TestAfterAFix:
    @pytest.mark.parametrize(
        ("action", "values", "gone"),
        [
            (
                "fix-public-folder",
                {"folder": "\\Support\\Escalations"},
                ("public-folder-auth", "\\Support\\Escalations"),
            ),
            (
                "open-group-to-external",
                {"group": "partners@contoso.com"},
                ("group-auth", "partners@contoso.com"),
            ),
            (
                "open-group-to-external",
                {"group": "falcon@contoso.com"},
                ("group-auth", "falcon@contoso.com"),
            ),
            (
                "block-delicensed-user",
                {"user": "jordan.lee@contoso.com"},
                ("disabled-account", "jordan.lee@contoso.com"),
            ),
        ],
        ids=["public-folder", "partners", "falcon", "jordan"],
    )
    def test_a_fixed_case_is_no_longer_listed(
        self,
        sandbox: SandboxTransport,
        run_task: RunTask,
        action: str,
        values: dict[str, Any],
        gone: tuple[str, str],
    ) -> None:
        """The fix's own command takes the case off the list; the others stay."""
        before = listed(run_scan(sandbox))
        assert gone in before
        result = run_task(action, values)
        assert result.code == 0, result.err
        after = listed(run_scan(SandboxTransport(sandbox.path)))
        assert after == before - {gone}

    def test_the_rule_that_blocks_a_leaver_is_not_a_finding(
        self, sandbox: SandboxTransport, run_task: RunTask
    ) -> None:
        """block-delicensed-user's rule stops mail to a user who left: as intended, not listed."""
        assert run_task("block-delicensed-user", {"user": "jordan.lee@contoso.com"}).code == 0
        rules = run_scan(SandboxTransport(sandbox.path)).by_cause["transport-rule"]
        assert [f.target for f in rules] == ["Board accepts no external mail"]

    def test_fixing_dns_and_the_connector_clears_the_domain_findings(
        self, tenant_path: Path, sandbox: SandboxTransport
    ) -> None:
        """With one MX, an SPF include and contoso.net routed, no domain finding is left."""
        state = sandbox.state
        zones = state.data["dns"]["zones"]
        zones["contoso.net"]["MX"] = ["0 contoso-net.mail.protection.outlook.com"]
        zones["contoso.net"]["TXT"] = ["v=spf1 include:spf.protection.outlook.com -all"]
        state.data["connectors"]["outbound"][0]["RecipientDomains"].append("contoso.net")
        del state.data["dns"]["domains"]["contoso-sales.com"]  # the unverified one, removed
        save_state(state, tenant_path)
        causes = run_scan(SandboxTransport(tenant_path)).by_cause
        assert not {"domain-dns", "hybrid-connector", "unregistered-domain"} & set(causes)


def write_tenant(data: dict[str, Any], path: Path) -> SandboxTransport:
    """Save a tenant built from a mapping and open it."""
    save_state(tenant_from_mapping(data, source="test"), path)
    return SandboxTransport(path)


HEALTHY: dict[str, Any] = {
    "organization": "fabrikam.com",
    "recipients": [
        {
            "kind": "mailbox",
            "name": "Ann",
            "address": "ann@fabrikam.com",
            "user": {"licenses": ["ENTERPRISEPACK"]},
        },
        {
            "kind": "distribution-group",
            "name": "Sales",
            "address": "sales@fabrikam.com",
            "require_sender_authentication": False,
            "members": ["ann@fabrikam.com"],
        },
    ],
    "dns": {
        "domains": {"fabrikam.com": {"mx": "fabrikam-com.mail.protection.outlook.com"}},
        "zones": {
            "fabrikam.com": {
                "MX": ["0 fabrikam-com.mail.protection.outlook.com"],
                "TXT": ["v=spf1 include:spf.protection.outlook.com -all"],
            }
        },
    },
}


class TestOtherTenants:
    def test_a_healthy_tenant_exits_0(self, tmp_path: Path) -> None:
        """Nothing to list: an empty report and exit 0."""
        report = run_scan(write_tenant(HEALTHY, tmp_path / "t.json"))
        assert report.findings == ()
        assert report.exit_code == 0

    def test_shared_mailbox_users_are_not_leavers(self, tmp_path: Path) -> None:
        """A shared mailbox's user is disabled and unlicensed by design."""
        data = {
            **HEALTHY,
            "recipients": [
                *HEALTHY["recipients"],
                {
                    "kind": "shared-mailbox",
                    "name": "Info",
                    "address": "info@fabrikam.com",
                    "user": {"licenses": [], "account_enabled": False},
                },
                {
                    "kind": "mailbox",
                    "name": "Bo",
                    "address": "bo@fabrikam.com",
                    "user": {"licenses": ["ENTERPRISEPACK"], "account_enabled": False},
                },
            ],
        }
        report = run_scan(write_tenant(data, tmp_path / "t.json"))
        assert listed(report) == {("disabled-account", "bo@fabrikam.com")}
        assert "The account is disabled, and no mail-flow rule" in report.findings[0].problem

    def test_a_large_group_without_moderation(self, tmp_path: Path) -> None:
        """Over 5,000 members holds mail even with moderation off; M365 groups get steps only."""
        data = {
            **HEALTHY,
            "recipients": [
                *HEALTHY["recipients"],
                {
                    "kind": "distribution-group",
                    "name": "Everyone",
                    "address": "everyone@fabrikam.com",
                    "require_sender_authentication": False,
                    "member_count": 6000,
                },
                {
                    "kind": "m365-group",
                    "name": "Community",
                    "address": "community@fabrikam.com",
                    "require_sender_authentication": False,
                    "member_count": 7000,
                },
            ],
        }
        found = run_scan(write_tenant(data, tmp_path / "t.json")).by_cause["large-group-moderation"]
        assert [(f.target, bool(f.commands)) for f in found] == [
            ("everyone@fabrikam.com", True),
            ("community@fabrikam.com", False),
        ]
        assert "Set-UnifiedGroup has no moderation bypass list" in found[1].steps[0]

    def test_an_unverified_domain_known_to_microsoft_365(self, tmp_path: Path) -> None:
        """A domain added but never verified is found too, though Exchange does not accept it."""
        data = {**HEALTHY, "dns": {**HEALTHY["dns"]}}
        data["dns"]["domains"] = {**HEALTHY["dns"]["domains"], "fabrikam.org": {"verified": False}}
        report = run_scan(write_tenant(data, tmp_path / "t.json"))
        assert {
            (f.target, f.problem.split(":")[0]) for f in report.by_cause["unregistered-domain"]
        } == {
            ("fabrikam.org", "verified"),
            ("fabrikam.org", "accepted"),
        }


class TestFailures:
    def test_every_failed_read_exits_1_and_reports_nothing(
        self, scan: Scan, sandbox: SandboxTransport
    ) -> None:
        """Whichever read fails, the scan stops with exit 1: never an empty or partial list."""
        run_scan(sandbox)
        reads = sandbox.calls
        assert reads > 20
        for call in range(1, reads + 1):
            result = scan(faults=f"fail_call={call}")
            assert result.code == 1, (call, result.out)
            assert result.out == "", call
            assert result.err.startswith("The scan stopped, nothing is reported: a read failed:")
            assert "(injected fault)" in result.err

    def test_a_failed_read_in_json(self, scan: Scan) -> None:
        """--json: one document saying the scan failed, with no findings in it."""
        doc = scan(as_json=True, faults="fail_call=2").json()
        assert doc == {
            "tenant": "contoso.com",
            "status": "failed",
            "error": "The scan stopped, nothing is reported: a read failed: The sandbox did not "
            "answer Get-MailPublicFolder (injected fault).",
        }

    def test_a_throttled_read_also_stops_it(self, scan: Scan) -> None:
        """Throttling is a failed read too."""
        assert scan(faults="throttle_call=4").code == 1

    def test_a_dns_failure_is_reported_as_unknown(self, sandbox: SandboxTransport) -> None:
        """A lookup that fails is listed as could-not-check, the rest is reported, exit 1."""
        resolver = ZoneResolver(zone_data(sandbox.state), failing=["TXT contoso.net"])
        report = scan_tenant(sandbox, resolver)
        assert [(c.check, c.subject, c.status) for c in report.errors] == [
            ("spf", "contoso.net", "error")
        ]
        assert ("public-folder-auth", "\\Support\\Escalations") in listed(report)
        assert report.exit_code == 1
        assert report.to_json()["status"] == "error"


class TestCommand:
    def test_text(self, scan: Scan) -> None:
        """Sections per cause with a count, each object with its fix line."""
        result = scan()
        assert result.code == 3
        assert result.out.startswith(
            "Target: sandbox (sandbox), tenant contoso.com.\n"
            "Scan of contoso.com (sandbox): 19 problems under 10 causes."
        )
        assert "Known partners: none (no mail contacts; add --partner ADDRESS)." in result.out
        assert (
            "public-folder-auth (1): public folders outside senders cannot mail (5.7.1 "
            "AuthRequired)\n  \\Support\\Escalations (public folder): requires authenticated "
            "senders: outside senders get 5.7.1 RESOLVER.RST.AuthRequired.\n      fix: invoke "
            "fix-public-folder --folder '\\Support\\Escalations'\n" in result.out
        )
        assert (
            "      seen:     MX 0 contoso-net.mail.protection.outlook.com; MX 10 mail.contoso.net"
            in result.out
        )

    def test_json_is_one_document_grouped_by_cause(self, scan: Scan) -> None:
        """--json: status, partners, and the findings under their cause ids."""
        doc = scan("partner@fabrikam.com", as_json=True).json()
        assert doc["status"] == "problems"
        assert doc["problems"] == 19
        assert doc["partners"] == ["partner@fabrikam.com"]
        assert doc["errors"] == []
        assert doc["causes"]["large-group-moderation"][0]["commands"] == [
            "invoke bypass-moderation --group allstaff@contoso.com --sender partner@fabrikam.com"
        ]
        assert doc["causes"]["domain-dns"][0]["expected"] == [
            "exactly one MX: contoso-net.mail.protection.outlook.com"
        ]

    def test_bad_partner_exits_2(self, scan: Scan) -> None:
        """A --partner that is not an address: exit 2, one sentence."""
        result = scan("not-an-address")
        assert result.code == 2
        assert result.out == ""
        assert result.err.count("\n") == 1

    def test_from_the_shell(self, invoke_cli: Callable[..., Any]) -> None:
        """The real command: --partner repeats, --json prints one document, exit 3."""
        import json

        proc = invoke_cli(
            "scan", "--partner", "a@fabrikam.com", "--partner", "b@fabrikam.com", "--json"
        )
        assert proc.returncode == 3, proc.stderr
        doc = json.loads(proc.stdout)
        assert doc["partners"] == ["a@fabrikam.com", "b@fabrikam.com"]
        assert len(doc["causes"]["large-group-moderation"][0]["commands"]) == 2

    def test_from_the_shell_after_a_failed_read(self, invoke_cli: Callable[..., Any]) -> None:
        """INVOKE_SANDBOX_FAULTS makes a read fail: exit 1, the reason on stderr."""
        proc = invoke_cli("scan", env={"INVOKE_SANDBOX_FAULTS": "fail_call=5"})
        assert proc.returncode == 1
        assert proc.stdout == ""
        assert "The scan stopped" in proc.stderr
