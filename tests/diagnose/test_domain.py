"""check-domain: a domain's live DNS and set-up against what the tenant expects.

The sandbox is the tenant and its zone data is the DNS; the dnspython resolver
is tested against a real DNS responder on 127.0.0.1. Nothing queries the internet.
"""

from __future__ import annotations

import io
import json
import os
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import dns.message
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.rrset
import pytest

from remediations.cli.diagnose import check_domain_task
from remediations.diagnose.domain import (
    Check,
    DomainReport,
    check_domain,
    check_domain_name,
    suggest_spf,
)
from remediations.dns_lookup import DnsLookupFailed, SystemResolver, ZoneResolver
from remediations.errors import CmdletError, InputError
from remediations.exchange.cmdlet import Cmdlet
from remediations.sandbox import SandboxTransport
from remediations.sandbox.directory import zone_data
from remediations.sandbox.store import save_state
from remediations.sandbox.tenant_file import load_tenant_file, tenant_from_mapping
from remediations.testing import RecordingTransport
from tests.conftest import CliResult

MX = "fabrikam-com.mail.protection.outlook.com"
SPF = "v=spf1 include:spf.protection.outlook.com -all"


def tenant(
    *,
    accepted: tuple[str, ...] = ("fabrikam.com",),
    domains: Mapping[str, Any] | None = None,
    zones: Mapping[str, Any] | None = None,
    connectors: Mapping[str, Any] | None = None,
    recipients: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A tenant-file mapping: fabrikam.com, healthy unless told otherwise."""
    data: dict[str, Any] = {
        "organization": accepted[0],
        "accepted_domains": list(accepted),
        "recipients": recipients
        or [
            {
                "kind": "mailbox",
                "name": "Ann",
                "address": f"ann@{accepted[0]}",
                "user": {"licenses": ["ENTERPRISEPACK"]},
            }
        ],
        "dns": {
            "domains": dict(domains) if domains is not None else {"fabrikam.com": {"mx": MX}},
            "zones": dict(zones)
            if zones is not None
            else {"fabrikam.com": {"MX": [f"0 {MX}"], "TXT": [SPF]}},
        },
    }
    if connectors is not None:
        data["connectors"] = dict(connectors)
    return data


def open_tenant(data: Mapping[str, Any], path: Path) -> SandboxTransport:
    """A sandbox transport over a tenant built from a mapping, saved at ``path``."""
    state = tenant_from_mapping(data, source="test")
    save_state(state, path)
    return SandboxTransport(path)


def run_check(
    data: Mapping[str, Any], tmp_path: Path, domain: str = "fabrikam.com"
) -> DomainReport:
    """check-domain over a tenant mapping, DNS from its zone data."""
    transport = open_tenant(data, tmp_path / "tenant.json")
    return check_domain(transport, ZoneResolver(zone_data(transport.state)), domain)


def the(report: DomainReport, check: str, subject: str | None = None) -> Check:
    """The one check of that name (and subject)."""
    found = [c for c in report.checks if c.check == check and subject in (None, c.subject)]
    assert len(found) == 1, [c.check for c in report.checks]
    return found[0]


def demo_report(sandbox: SandboxTransport, domain: str) -> DomainReport:
    """check-domain on the demo tenant."""
    return check_domain(sandbox, ZoneResolver(zone_data(sandbox.state)), domain)


class TestDemoTenant:
    def test_contoso_com_is_healthy(self, sandbox: SandboxTransport) -> None:
        """Every check of contoso.com passes, hybrid included, and the exit status is 0."""
        report = demo_report(sandbox, "contoso.com")
        assert [(c.check, c.status) for c in report.checks] == [
            ("mx", "ok"),
            ("spf", "ok"),
            ("verified", "ok"),
            ("accepted", "ok"),
            ("on-premises-route", "ok"),
            ("smart-hosts", "ok"),
            ("inbound-tls", "ok"),
            ("inbound-cloud-mail", "ok"),
        ]
        assert report.status == "ok"
        assert report.exit_code == 0

    def test_contoso_net_has_two_mx_an_spf_without_include_and_no_route(
        self, sandbox: SandboxTransport
    ) -> None:
        """contoso.net: MX, SPF and the on-premises route fail, each with its cause id."""
        report = demo_report(sandbox, "contoso.net")
        problems = {(c.check, c.cause) for c in report.checks if c.status == "problem"}
        assert problems == {
            ("mx", "domain-dns"),
            ("spf", "domain-dns"),
            ("on-premises-route", "hybrid-connector"),
        }
        assert report.exit_code == 3  # problems found, as the README documents

    def test_name_is_normalised(self, sandbox: SandboxTransport) -> None:
        """Upper case and a trailing dot name the same domain."""
        assert demo_report(sandbox, "CONTOSO.com.").domain == "contoso.com"


class TestMx:
    @pytest.mark.parametrize(
        "expected",
        [
            "fabrikam-com.mail.protection.outlook.com",
            "fabrikam-com.a-v1.mx.microsoft",
        ],
        ids=["mail.protection.outlook.com", "mx.microsoft"],
    )
    def test_either_microsoft_form_passes_when_it_is_the_expected_one(
        self, tmp_path: Path, expected: str
    ) -> None:
        """Both MX forms Microsoft gives are accepted: the check compares with the tenant's."""
        data = tenant(
            domains={"fabrikam.com": {"mx": expected}},
            zones={"fabrikam.com": {"MX": [f"0 {expected}."], "TXT": [SPF]}},
        )
        check = the(run_check(data, tmp_path), "mx")
        assert check.status == "ok"
        assert check.seen == (f"MX 0 {expected}",)
        assert check.expected == (f"exactly one MX: {expected}",)

    def test_the_expected_record_comes_from_the_tenant_never_from_the_name(
        self, tmp_path: Path
    ) -> None:
        """A hyphenated domain's token is not derivable: the name-built host fails."""
        token = "fabrikamshop-com01e.mail.protection.outlook.com"
        derived = "fabrikam-shop-com.mail.protection.outlook.com"
        data = tenant(
            accepted=("fabrikam-shop.com",),
            domains={"fabrikam-shop.com": {"mx": token}},
            zones={"fabrikam-shop.com": {"MX": [f"0 {derived}"], "TXT": [SPF]}},
        )
        check = the(run_check(data, tmp_path, "fabrikam-shop.com"), "mx")
        assert check.status == "problem"
        assert f"points at {derived} (another Microsoft 365 host), not at {token}" in (
            check.summary
        )
        assert any(f"pointing to {token}" in step for step in check.steps)

    def test_two_mx_records_are_a_problem_even_if_one_is_right(self, tmp_path: Path) -> None:
        """Microsoft supports exactly one MX: the extra one is to be deleted at the registrar."""
        data = tenant(
            zones={"fabrikam.com": {"MX": [f"0 {MX}", "10 mail.fabrikam.com"], "TXT": [SPF]}}
        )
        check = the(run_check(data, tmp_path), "mx")
        assert check.status == "problem"
        assert check.cause == "domain-dns"
        assert check.seen == (f"MX 0 {MX}", "MX 10 mail.fabrikam.com")
        assert "2 MX records" in check.summary
        assert check.steps[0] == (
            "The DNS administrator of fabrikam.com, at its registrar or DNS host (not in "
            "Microsoft 365): delete the MX record mail.fabrikam.com."
        )

    def test_no_mx_record(self, tmp_path: Path) -> None:
        """No MX at all: create the expected one."""
        data = tenant(zones={"fabrikam.com": {"TXT": [SPF]}})
        check = the(run_check(data, tmp_path), "mx")
        assert check.status == "problem"
        assert check.seen == ("no MX record",)
        assert (
            f"create one MX record for fabrikam.com (host @) pointing to {MX}" in (check.steps[0])
        )

    def test_one_wrong_mx_record(self, tmp_path: Path) -> None:
        """An MX to an old server: delete it and create the expected one."""
        data = tenant(zones={"fabrikam.com": {"MX": ["5 mx.oldhost.example"], "TXT": [SPF]}})
        check = the(run_check(data, tmp_path), "mx")
        assert check.status == "problem"
        assert "points at mx.oldhost.example, not at" in check.summary
        assert (
            "delete the MX record mx.oldhost.example and create one MX record" in (check.steps[0])
        )

    def test_no_expected_mx_from_the_tenant(self, tmp_path: Path) -> None:
        """Without an MX from Microsoft 365 there is nothing to compare: the admin center step."""
        data = tenant(domains={"fabrikam.com": {}})
        check = the(run_check(data, tmp_path), "mx")
        assert check.status == "problem"
        assert "gives no MX record" in check.summary
        assert check.steps[0].startswith("Microsoft 365 admin:")


class TestSpf:
    def test_several_spf_records(self, tmp_path: Path) -> None:
        """Two v=spf1 records are a permanent error; the fix merges them into one."""
        data = tenant(
            zones={
                "fabrikam.com": {
                    "MX": [f"0 {MX}"],
                    "TXT": [SPF, "v=spf1 ip4:198.51.100.7 ~all", "google-site-verification=x"],
                }
            }
        )
        check = the(run_check(data, tmp_path), "spf")
        assert check.status == "problem"
        assert check.cause == "domain-dns"
        assert "2 SPF records" in check.summary
        assert check.seen == (f"TXT {SPF}", "TXT v=spf1 ip4:198.51.100.7 ~all")
        assert (
            "replace the 2 v=spf1 TXT records with one: v=spf1 include:spf.protection.outlook.com"
            " ip4:198.51.100.7 -all" in check.steps[0]
        )

    def test_missing_include(self, tmp_path: Path) -> None:
        """An SPF record without Microsoft 365's include: add it, keep the other senders."""
        data = tenant(
            zones={
                "fabrikam.com": {"MX": [f"0 {MX}"], "TXT": ["v=spf1 mx a:mail.fabrikam.com ~all"]}
            }
        )
        check = the(run_check(data, tmp_path), "spf")
        assert check.status == "problem"
        assert "does not include spf.protection.outlook.com" in check.summary
        assert (
            "change the v=spf1 TXT record to: v=spf1 mx a:mail.fabrikam.com "
            "include:spf.protection.outlook.com ~all" in check.steps[0]
        )

    def test_no_spf_record(self, tmp_path: Path) -> None:
        """Other TXT records are not SPF."""
        data = tenant(zones={"fabrikam.com": {"MX": [f"0 {MX}"], "TXT": ["MS=ms1234"]}})
        check = the(run_check(data, tmp_path), "spf")
        assert check.status == "problem"
        assert check.seen == ("no v=spf1 TXT record",)
        assert "create one TXT record for fabrikam.com (host @): " + SPF in check.steps[0]

    def test_include_with_a_space_is_no_include(self, tmp_path: Path) -> None:
        """'include: spf...' (as in Graph's sample) is a syntax error, not an include."""
        data = tenant(
            zones={
                "fabrikam.com": {
                    "MX": [f"0 {MX}"],
                    "TXT": ["v=spf1 include: spf.protection.outlook.com -all"],
                }
            }
        )
        assert the(run_check(data, tmp_path), "spf").status == "problem"

    def test_expected_text_from_the_tenant_is_shown(self, tmp_path: Path) -> None:
        """The SPF text Microsoft 365 gives is part of the evidence."""
        data = tenant(domains={"fabrikam.com": {"mx": MX, "spf": SPF}})
        check = the(run_check(data, tmp_path), "spf")
        assert check.status == "ok"
        assert f"Microsoft 365 gives: {SPF}" in check.expected

    @pytest.mark.parametrize(
        ("records", "suggestion"),
        [
            ([], SPF),
            (["v=spf1 -all"], SPF),
            (["v=spf1 +mx ?all"], "v=spf1 +mx include:spf.protection.outlook.com ?all"),
            (
                ["v=spf1 redirect=_spf.fabrikam.com"],
                "v=spf1 include:spf.protection.outlook.com redirect=_spf.fabrikam.com",
            ),
            ([SPF, SPF], SPF),
        ],
    )
    def test_suggestion(self, records: list[str], suggestion: str) -> None:
        """The suggested record keeps the senders, adds the include once, ends as it did."""
        assert suggest_spf(records) == suggestion


class TestRegistration:
    def test_unverified_domain(self, tmp_path: Path) -> None:
        """Added to Microsoft 365 but not verified: unregistered-domain, steps for DNS and admin."""
        data = tenant(domains={"fabrikam.com": {"mx": MX, "verified": False}})
        check = the(run_check(data, tmp_path), "verified")
        assert check.status == "problem"
        assert check.cause == "unregistered-domain"
        assert check.seen == ("isVerified: false", "supportedServices: Email")
        assert "not verified" in check.summary
        assert check.steps[1].startswith("Microsoft 365 admin: then select Verify")

    def test_known_to_microsoft_365_but_not_accepted(self, tmp_path: Path) -> None:
        """A Graph domain Exchange does not accept: the accepted check fails."""
        data = tenant(
            domains={"fabrikam.com": {"mx": MX}, "fabrikam.org": {"verified": False}},
            zones={"fabrikam.org": {"MX": ["0 fabrikam-org.mail.protection.outlook.com"]}},
        )
        report = run_check(data, tmp_path, "fabrikam.org")
        assert the(report, "accepted").status == "problem"
        assert the(report, "accepted").cause == "unregistered-domain"
        assert the(report, "verified").status == "problem"

    def test_verified_without_email(self, tmp_path: Path) -> None:
        """A verified domain without the Email service is not set up for Exchange."""
        data = tenant(
            domains={"fabrikam.com": {"mx": MX, "services": ["OfficeCommunicationsOnline"]}}
        )
        check = the(run_check(data, tmp_path), "verified")
        assert check.status == "problem"
        assert "not set up for Email" in check.summary

    def test_accepted_but_unknown_to_microsoft_365(self, sandbox: SandboxTransport) -> None:
        """An accepted domain Graph does not list fails verification (and has no expected MX).

        The sandbox lists every accepted domain in Graph, so a thin transport plays
        a tenant whose Graph has lost contoso.net.
        """

        def graph_without_contoso_net(cmdlet: Cmdlet) -> CmdletError | None:
            if cmdlet.name.startswith("Get-MgDomain") and cmdlet.get("DomainId"):
                return CmdletError("Resource 'contoso.net' does not exist.", category="NotFound")
            return None

        tenant = RecordingTransport(sandbox, fail=graph_without_contoso_net)
        report = check_domain(tenant, ZoneResolver(zone_data(sandbox.state)), "contoso.net")
        assert the(report, "verified").summary.startswith("Microsoft 365 does not know")
        assert the(report, "verified").cause == "unregistered-domain"
        assert the(report, "mx").summary.startswith("Microsoft 365 gives no MX record")
        assert the(report, "accepted").status == "ok"
        assert [c.name for c in tenant.refused] == ["Get-MgDomain"]

    def test_unknown_domain_is_bad_input(self, sandbox: SandboxTransport) -> None:
        """A domain the tenant knows nowhere is bad input (exit 2), naming the known ones."""
        with pytest.raises(InputError) as caught:
            demo_report(sandbox, "example.org")
        assert caught.value.exit_code == 2
        assert str(caught.value) == (
            "--domain 'example.org' is not a domain of contoso.com (sandbox): it is neither an "
            "accepted domain nor added to Microsoft 365 (accepted: contoso.com, contoso.net, "
            "contoso.onmicrosoft.com)."
        )

    @pytest.mark.parametrize(
        "value",
        ["", "contoso", "a b.com", "user@contoso.com", "https://contoso.com/", "-x.com", "x..com"],
    )
    def test_not_a_domain_name(self, value: str) -> None:
        """Anything but a domain name is refused before the tenant is read."""
        with pytest.raises(InputError, match="is not a domain name"):
            check_domain_name(value)


ON_PREMISES = {
    "outbound": [
        {
            "Name": "To on-premises",
            "ConnectorType": "OnPremises",
            "SmartHosts": ["mail.fabrikam.com"],
            "RecipientDomains": ["fabrikam.com"],
            "UseMXRecord": False,
        }
    ],
    "inbound": [
        {
            "Name": "From on-premises",
            "ConnectorType": "OnPremises",
            "SenderDomains": ["fabrikam.com"],
            "TlsSenderCertificateName": "mail.fabrikam.com",
            "CloudServicesMailEnabled": True,
        }
    ],
}
HEALTHY_ZONES = {
    "fabrikam.com": {"MX": [f"0 {MX}"], "TXT": [SPF]},
    "mail.fabrikam.com": {"A": ["203.0.113.9"]},
}


def hybrid(
    outbound: Mapping[str, Any] | None = None,
    inbound: Mapping[str, Any] | None = None,
    zones: Mapping[str, Any] | None = None,
    accepted: tuple[str, ...] = ("fabrikam.com",),
) -> dict[str, Any]:
    """A hybrid tenant: the on-premises connectors with some properties changed."""
    return tenant(
        accepted=accepted,
        zones=zones or HEALTHY_ZONES,
        connectors={
            "outbound": [{**ON_PREMISES["outbound"][0], **(outbound or {})}],
            "inbound": [{**ON_PREMISES["inbound"][0], **(inbound or {})}],
        },
    )


class TestHybrid:
    def test_healthy_hybrid(self, tmp_path: Path) -> None:
        """Route, smart hosts, certificate and cloud mail all pass."""
        report = run_check(hybrid(), tmp_path)
        assert report.status == "ok"
        assert the(report, "smart-hosts").seen == ("mail.fabrikam.com: A 203.0.113.9",)

    def test_smart_host_that_does_not_resolve(self, tmp_path: Path) -> None:
        """A smart host without an A record: hybrid-connector, DNS and connector steps."""
        zones = {"fabrikam.com": HEALTHY_ZONES["fabrikam.com"]}
        check = the(run_check(hybrid(zones=zones), tmp_path), "smart-hosts")
        assert check.status == "problem"
        assert check.cause == "hybrid-connector"
        assert check.seen == ("mail.fabrikam.com: no A record",)
        assert "sends to mail.fabrikam.com, which does not resolve" in check.summary
        assert check.steps[-1].startswith("Exchange admin (hybrid): or rerun the Hybrid")

    def test_smart_host_given_as_an_ip_address(self, tmp_path: Path) -> None:
        """An IP address needs no lookup."""
        report = run_check(hybrid(outbound={"SmartHosts": ["203.0.113.9"]}), tmp_path)
        assert the(report, "smart-hosts").status == "ok"

    def test_no_smart_host_and_no_mx(self, tmp_path: Path) -> None:
        """UseMXRecord $false without smart hosts delivers nowhere."""
        report = run_check(hybrid(outbound={"SmartHosts": []}), tmp_path)
        assert the(report, "smart-hosts").status == "problem"

    def test_recipient_domains_miss_an_on_premises_domain(self, tmp_path: Path) -> None:
        """Mail from fabrikam.net comes from on-premises, but nothing routes it back there."""
        data = hybrid(
            inbound={"SenderDomains": ["fabrikam.com", "smtp:fabrikam.net;1"]},
            accepted=("fabrikam.com", "fabrikam.net"),
            zones={
                **HEALTHY_ZONES,
                "fabrikam.net": {
                    "MX": ["0 fabrikam-net.mail.protection.outlook.com"],
                    "TXT": [SPF],
                },
            },
        )
        data["dns"]["domains"]["fabrikam.net"] = {"mx": "fabrikam-net.mail.protection.outlook.com"}
        report = run_check(data, tmp_path, "fabrikam.net")
        check = the(report, "on-premises-route")
        assert check.status == "problem"
        assert check.seen == ("To on-premises: RecipientDomains fabrikam.com",)
        assert check.steps[0] == (
            "Exchange Online admin, in Exchange Online PowerShell: Set-OutboundConnector "
            "-Identity 'To on-premises' -RecipientDomains 'fabrikam.com','fabrikam.net'"
        )
        assert [c.check for c in report.checks if c.status == "problem"] == ["on-premises-route"]

    @pytest.mark.parametrize(
        ("domains", "status"),
        [(["*"], "ok"), (["*.fabrikam.com"], "problem"), (["FABRIKAM.com"], "ok")],
    )
    def test_wildcards(self, tmp_path: Path, domains: list[str], status: str) -> None:
        """'*' covers every domain; '*.x' covers x's subdomains only; case does not matter."""
        report = run_check(hybrid(outbound={"RecipientDomains": domains}), tmp_path)
        assert the(report, "on-premises-route").status == status

    def test_covering_connector_disabled(self, tmp_path: Path) -> None:
        """A disabled connector routes nothing: enable it."""
        report = run_check(hybrid(outbound={"Enabled": False}), tmp_path)
        check = the(report, "on-premises-route")
        assert check.status == "problem"
        assert "is disabled" in check.summary
        assert "-Enabled $true" in check.steps[0]

    def test_certificate_outside_the_accepted_domains(self, tmp_path: Path) -> None:
        """A TLS certificate name in no accepted domain: mail from on-premises is not attributed."""
        report = run_check(hybrid(inbound={"TlsSenderCertificateName": "mx.corp.local"}), tmp_path)
        check = the(report, "inbound-tls")
        assert check.status == "problem"
        assert "5.7.64 TenantAttribution" in check.summary

    def test_wildcard_certificate_within_an_accepted_domain(self, tmp_path: Path) -> None:
        """'*.fabrikam.com' is within fabrikam.com."""
        report = run_check(hybrid(inbound={"TlsSenderCertificateName": "*.fabrikam.com"}), tmp_path)
        assert the(report, "inbound-tls").status == "ok"

    def test_cloud_services_mail_disabled(self, tmp_path: Path) -> None:
        """Without CloudServicesMailEnabled, on-premises senders arrive anonymous (5.7.133)."""
        report = run_check(hybrid(inbound={"CloudServicesMailEnabled": False}), tmp_path)
        check = the(report, "inbound-cloud-mail")
        assert check.status == "problem"
        assert "-CloudServicesMailEnabled $true" in check.steps[0]

    def test_not_hybrid(self, tmp_path: Path) -> None:
        """A tenant without on-premises connectors gets one informational hybrid line."""
        report = run_check(tenant(), tmp_path)
        assert [(c.check, c.status) for c in report.checks][-1] == ("hybrid", "ok")


class TestDnsFailures:
    def test_a_failed_lookup_is_an_error_never_no_records(self, sandbox: SandboxTransport) -> None:
        """A timeout makes the check an error (exit 1), not 'no MX record'."""
        resolver = ZoneResolver(zone_data(sandbox.state), failing=["MX contoso.com"])
        report = check_domain(sandbox, resolver, "contoso.com")
        check = the(report, "mx")
        assert check.status == "error"
        assert check.summary == (
            "DNS lookup of MX contoso.com timed out; the answer is unknown, not absent."
        )
        assert report.status == "error"
        assert report.exit_code == 1
        assert the(report, "spf").status == "ok"


# --- the dnspython resolver against a DNS responder on 127.0.0.1 ---------------------


class LocalDns:
    """A tiny UDP DNS responder: answers from a zone, or misbehaves for some names.

    ``timeout.test`` gets no reply; ``servfail.test`` and ``refused.test`` get
    those rcodes; a name not in the zone gets NXDOMAIN; a name without the type
    asked gets an empty NOERROR answer.
    """

    def __init__(self, zone: Mapping[str, Mapping[str, list[str]]]) -> None:
        self.zone = zone
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.queries: list[tuple[str, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> LocalDns:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            query = dns.message.from_wire(data)
            question = query.question[0]
            name = question.name.to_text().rstrip(".").lower()
            rdtype = dns.rdatatype.to_text(question.rdtype)
            self.queries.append((name, rdtype))
            if name == "timeout.test":
                continue
            response = dns.message.make_response(query)
            if name == "servfail.test":
                response.set_rcode(dns.rcode.SERVFAIL)
            elif name == "refused.test":
                response.set_rcode(dns.rcode.REFUSED)
            elif name not in self.zone:
                response.set_rcode(dns.rcode.NXDOMAIN)
            elif self.zone[name].get(rdtype):
                response.answer.append(
                    dns.rrset.from_text_list(
                        question.name, 300, "IN", rdtype, self.zone[name][rdtype]
                    )
                )
            self.sock.sendto(response.to_wire(), peer)


LOCAL_ZONE = {
    "contoso.com": {
        "MX": ["0 contoso-com.mail.protection.outlook.com."],
        "TXT": ['"v=spf1 include:spf.protection.outlook.com" " -all"', '"MS=ms12345678"'],
    },
    "contoso.net": {"MX": ["0 contoso-net.mail.protection.outlook.com.", "10 mail.contoso.net."]},
    "mail.contoso.com": {"A": ["203.0.113.25"]},
}


@pytest.fixture
def local_dns() -> Iterator[LocalDns]:
    """A DNS responder on 127.0.0.1 serving LOCAL_ZONE."""
    with LocalDns(LOCAL_ZONE) as server:
        yield server


@pytest.fixture
def system_resolver(local_dns: LocalDns) -> SystemResolver:
    """The dnspython resolver, pointed at the local responder only."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = local_dns.port
    return SystemResolver(resolver, lifetime=0.5)


class TestSystemResolver:
    def test_answers_as_text(self, system_resolver: SystemResolver) -> None:
        """MX as 'PREFERENCE HOST' without the dot, TXT strings joined, A as an address."""
        assert system_resolver.resolve("contoso.com", "MX") == (
            "0 contoso-com.mail.protection.outlook.com",
        )
        assert set(system_resolver.resolve("contoso.com", "TXT")) == {
            "v=spf1 include:spf.protection.outlook.com -all",
            "MS=ms12345678",
        }
        assert system_resolver.resolve("Mail.Contoso.com.", "A") == ("203.0.113.25",)

    def test_nxdomain_and_no_answer_are_no_records(self, system_resolver: SystemResolver) -> None:
        """A name that does not exist, or has no records of the type, has no records."""
        assert system_resolver.resolve("nothing.contoso.com", "MX") == ()
        assert system_resolver.resolve("mail.contoso.com", "MX") == ()

    @pytest.mark.parametrize(
        ("name", "words"),
        [
            ("timeout.test", "timed out"),
            ("servfail.test", "no server answered"),
            ("refused.test", "no server answered"),
        ],
    )
    def test_failures_are_errors_never_absent(
        self, system_resolver: SystemResolver, name: str, words: str
    ) -> None:
        """A timeout, SERVFAIL or REFUSED raises DnsLookupFailed (exit 1), never ()."""
        with pytest.raises(DnsLookupFailed, match=words) as caught:
            system_resolver.resolve(name, "MX")
        assert caught.value.exit_code == 1
        assert "unknown, not absent" in str(caught.value)

    def test_asks_the_absolute_name_without_search(
        self, system_resolver: SystemResolver, local_dns: LocalDns
    ) -> None:
        """One question per lookup, for the name as given."""
        system_resolver.resolve("contoso.com", "TXT")
        assert local_dns.queries == [("contoso.com", "TXT")]

    def test_check_domain_over_real_dns(
        self, sandbox: SandboxTransport, system_resolver: SystemResolver
    ) -> None:
        """check-domain reads DNS through dnspython just as through the zone data."""
        assert check_domain(sandbox, system_resolver, "contoso.com").status == "ok"
        report = check_domain(sandbox, system_resolver, "contoso.net")
        assert the(report, "mx").status == "problem"
        assert the(report, "spf").seen == ("no v=spf1 TXT record",)


# --- the sandbox's connectors, domains and tenant-file sections -----------------------


class TestSandboxDirectory:
    def test_connectors_by_identity_with_defaults(self, sandbox: SandboxTransport) -> None:
        """Get-OutboundConnector fills Exchange's defaults; an unknown identity is NotFound."""
        found = sandbox.send(
            Cmdlet.of("Get-OutboundConnector", Identity="outbound to ON-PREMISES")
        ).objects
        assert found[0]["IsTransportRuleScoped"] is False
        assert found[0]["RouteAllMessagesViaOnPremises"] is False
        with pytest.raises(CmdletError, match="couldn't be found") as caught:
            sandbox.send(Cmdlet.of("Get-InboundConnector", Identity="nope"))
        assert caught.value.category == "NotFound"

    def test_graph_domain_not_found_uses_graphs_text(self, sandbox: SandboxTransport) -> None:
        """Get-MgDomain and its records answer Graph's 404 text for an unknown domain."""
        for name in ("Get-MgDomain", "Get-MgDomainServiceConfigurationRecord"):
            with pytest.raises(CmdletError, match="does not exist") as caught:
                sandbox.send(Cmdlet.of(name, DomainId="example.org"))
            assert caught.value.category == "NotFound"

    def test_member_count(self, sandbox: SandboxTransport) -> None:
        """Get-MgGroupMemberCount gives a group's MemberCount; a mailbox is not a group."""
        count = sandbox.send(Cmdlet.of("Get-MgGroupMemberCount", GroupId="allstaff@contoso.com"))
        assert count.objects == ({"Count": 5214},)
        with pytest.raises(CmdletError):
            sandbox.send(Cmdlet.of("Get-MgGroupMemberCount", GroupId="legal@contoso.com"))

    @pytest.mark.parametrize(
        ("section", "message"),
        [
            ({"dns": {"zone": {}}}, "test: dns: unknown key 'zone'; expected domains or zones."),
            (
                {"dns": {"zones": {"x.com": {"MX": ["mx.x.com"]}}}},
                "test: dns.zones.x.com.MX: 'mx.x.com' is not 'PREFERENCE HOST', e.g. "
                "'0 mx.contoso.com'.",
            ),
            (
                {"dns": {"zones": {"x.com": {"AAAA": ["::1"]}}}},
                "test: dns.zones.x.com: record type 'AAAA' is not one of MX, TXT, A.",
            ),
            (
                {"dns": {"domains": {"x.com": {"verified": "yes"}}}},
                "test: dns.domains.x.com.verified must be true or false.",
            ),
            (
                {"connectors": {"outbound": [{"Name": "A", "SmartHost": ["x"]}]}},
                "test: connectors.outbound[0] (A): unknown property 'SmartHost'; expected one of "
                "Name, CloudServicesMailEnabled, Comment, ConnectorType, Enabled, "
                "IsTransportRuleScoped, RecipientDomains, RouteAllMessagesViaOnPremises, "
                "SmartHosts, TlsDomain, TlsSettings, UseMXRecord.",
            ),
            (
                {"connectors": {"inbound": [{"Name": "A", "ConnectorType": "Hybrid"}]}},
                "test: connectors.inbound[0] (A).ConnectorType is 'Hybrid'; give one of "
                "Partner, OnPremises.",
            ),
        ],
    )
    def test_tenant_file_sections_are_checked(self, section: dict[str, Any], message: str) -> None:
        """A wrong dns or connectors entry is reported with the file, the entry and the key."""
        with pytest.raises(InputError) as caught:
            tenant_from_mapping({"organization": "x.com", **section}, source="test")
        assert str(caught.value) == message

    def test_demo_file_loads(self) -> None:
        """The shipped demo tenant passes its own validation."""
        from remediations.sandbox.tenant_file import DEMO_TENANT

        state = load_tenant_file(DEMO_TENANT)
        assert sorted(zone_data(state)) == [
            "contoso.com",
            "contoso.net",
            "contoso.onmicrosoft.com",  # the initial domain: Microsoft's own records
            "mail.contoso.com",
            "mail.contoso.net",
        ]


# --- the command ---------------------------------------------------------------------


@pytest.fixture
def check_cli(config: dict[str, Any]) -> Callable[..., CliResult]:
    """Run check-domain in-process exactly as tasks.py does."""

    def run(domain: str | None, *, as_json: bool = False, faults: str = "") -> CliResult:
        out, err = io.StringIO(), io.StringIO()
        cfg = {**config, "sandbox": {**config["sandbox"], "faults": faults}}
        code = check_domain_task(cfg, domain, as_json=as_json, out=out, err=err)
        return CliResult(code, out.getvalue(), err.getvalue())

    return run


class TestCommand:
    def test_exit_0_when_healthy(self, check_cli: Callable[..., CliResult]) -> None:
        """contoso.com: every check ok, exit 0."""
        result = check_cli("contoso.com")
        assert result.code == 0
        assert result.out.startswith(
            "Target: sandbox (sandbox), tenant contoso.com.\n"
            "Domain contoso.com in contoso.com (sandbox): all checks pass."
        )

    def test_exit_3_with_problems_and_the_evidence(
        self, check_cli: Callable[..., CliResult]
    ) -> None:
        """contoso.net: exit 3, each problem with seen, expected and numbered steps."""
        result = check_cli("contoso.net")
        assert result.code == 3
        assert "contoso.net in contoso.com (sandbox): 3 problems." in result.out
        assert (
            "seen:     MX 0 contoso-net.mail.protection.outlook.com; MX 10 mail.contoso.net"
            in result.out
        )
        assert "expected: exactly one MX: contoso-net.mail.protection.outlook.com" in result.out

    def test_json_is_one_document(self, check_cli: Callable[..., CliResult]) -> None:
        """--json: status, counts, and every check with its cause, evidence and steps."""
        doc = check_cli("contoso.net", as_json=True).json()
        assert doc["status"] == "problems"
        assert doc["problems"] == 3
        mx = next(c for c in doc["checks"] if c["check"] == "mx")
        assert mx["ok"] is False
        assert mx["cause"] == "domain-dns"
        assert mx["seen"] == [
            "MX 0 contoso-net.mail.protection.outlook.com",
            "MX 10 mail.contoso.net",
        ]
        assert mx["steps"]

    @pytest.mark.parametrize("domain", [None, "not a domain", "example.org"])
    def test_bad_input_exits_2_with_one_sentence(
        self, check_cli: Callable[..., CliResult], domain: str | None
    ) -> None:
        """No domain, a non-domain, or a domain the tenant does not know: exit 2, one line."""
        result = check_cli(domain)
        assert result.code == 2
        assert result.out == ""
        assert len(result.err.strip().splitlines()) == 1
        assert result.err.strip().endswith(".")

    def test_bad_input_json(self, check_cli: Callable[..., CliResult]) -> None:
        """With --json the refusal is a document too."""
        doc = check_cli("example.org", as_json=True).json()
        assert doc["status"] == "refused"
        assert "is not a domain of contoso.com" in doc["error"]

    @pytest.mark.parametrize("call", [1, 2, 3, 4, 5])
    def test_a_failed_read_exits_1_and_reports_nothing(
        self, check_cli: Callable[..., CliResult], call: int
    ) -> None:
        """Any tenant read failing stops the check: exit 1, no report."""
        result = check_cli("contoso.com", faults=f"fail_call={call}")
        assert result.code == 1
        assert result.out == ""
        assert result.err.startswith("check-domain contoso.com stopped, nothing is reported")

    @pytest.mark.subprocess
    def test_from_the_shell_without_dnspython(
        self, tenant_path: Path, audit_dir: Path, invoke_cli: Callable[..., Any]
    ) -> None:
        """The real command on the sandbox: exit 3 for contoso.net, and dnspython never loaded."""
        from tests.test_cli import imported_modules

        env = {
            **os.environ,
            "INVOKE_SANDBOX_PATH": str(tenant_path),
            "INVOKE_AUDIT_DIR": str(audit_dir),
        }
        proc = invoke_cli("check-domain", "--domain", "contoso.net", "--json")
        assert proc.returncode == 3, proc.stderr
        assert json.loads(proc.stdout)["domain"] == "contoso.net"
        loaded = imported_modules(["check-domain", "--domain", "contoso.com"], env)
        assert "remediations" in loaded
        assert "dns" not in loaded
        assert "dns" not in imported_modules(["--list"], env)


class TestInitialDomain:
    """The tenant's initial *.onmicrosoft.com domain: Microsoft hosts its DNS."""

    def test_never_flagged_for_mx_or_spf(self, tmp_path: Path) -> None:
        """No zone data at all for it, yet MX and SPF are ok: there is no registrar to visit."""
        data = tenant(accepted=("fabrikam.com", "fabrikam.onmicrosoft.com"))
        report = run_check(data, tmp_path, "fabrikam.onmicrosoft.com")
        for name in ("mx", "spf"):
            check = the(report, name)
            assert check.status == "ok", check
            assert "registrar" in check.summary
            assert not check.steps
        assert report.exit_code == 0

    def test_scan_lists_nothing_for_it(self, tmp_path: Path) -> None:
        """A scan of a tenant whose initial domain is accepted finds nothing to fix there."""
        from remediations.diagnose.scan import scan_tenant

        data = tenant(accepted=("fabrikam.com", "fabrikam.onmicrosoft.com"))
        transport = open_tenant(data, tmp_path / "tenant.json")
        report = scan_tenant(transport, ZoneResolver(zone_data(transport.state)))
        assert [f for f in report.findings if "onmicrosoft" in f.target] == []

    def test_mail_to_it_is_accepted(self, tmp_path: Path) -> None:
        """An outside sender's message to the initial domain is not refused as relay (5.7.54):
        an unknown address there meets edge blocking (5.4.1), a known one is delivered."""
        from datetime import UTC, datetime

        from remediations.sandbox.mailflow import send

        data = tenant(
            accepted=("fabrikam.com", "fabrikam.onmicrosoft.com"),
            recipients=[
                {
                    "kind": "mailbox",
                    "name": "Ann",
                    "address": "ann@fabrikam.onmicrosoft.com",
                    "user": {"licenses": ["ENTERPRISEPACK"]},
                }
            ],
        )
        state = open_tenant(data, tmp_path / "tenant.json").state
        when = datetime(2026, 11, 30, tzinfo=UTC)
        known = send(
            state,
            sender="x@tailspintoys.com",
            recipient="ann@fabrikam.onmicrosoft.com",
            arrival=when,
        )
        unknown = send(
            state,
            sender="x@tailspintoys.com",
            recipient="bob@fabrikam.onmicrosoft.com",
            arrival=when,
        )
        assert known.outcome == "delivered"
        assert (unknown.outcome, unknown.status) == ("rejected", "5.4.1")
