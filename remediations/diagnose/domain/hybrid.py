"""Hybrid connectors: mail between Exchange Online and on-premises for a domain."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from remediations.diagnose.domain.reads import (
    TenantView,
    address_space,
    covers,
    is_on_premises,
    list_prop,
    prop,
)
from remediations.diagnose.domain.records import dns_error
from remediations.diagnose.domain.result import Check, CheckOf
from remediations.dns_lookup import DnsLookupFailed, Resolver, normalize_name

# --- hybrid connectors -------------------------------------------------------------------


def connector_checks(
    view: TenantView, resolver: Resolver, *, domain: str | None = None
) -> tuple[Check, ...]:
    """The hybrid checks: all of them, or (with ``domain``) those concerning one domain."""
    if not view.hybrid:
        return (
            CheckOf("hybrid", domain or view.tenant, "hybrid-connector").ok(
                "No connector to or from on-premises: nothing hybrid to check.",
            ),
        )
    on_premises = view.on_premises_domains
    checks: list[Check] = []
    for name in [domain] if domain else on_premises:
        if name in on_premises:
            checks.append(_check_route(view, name))
    for connector in view.outbound:
        if not (is_on_premises(connector) and prop(connector, "Enabled", True)):
            continue
        if domain is None or any(
            covers(p, domain) for p in list_prop(connector, "RecipientDomains")
        ):
            checks.append(_check_smart_hosts(connector, resolver))
    for connector in view.inbound:
        if not (is_on_premises(connector) and prop(connector, "Enabled", True)):
            continue
        if domain is None or _inbound_concerns(connector, domain):
            checks.append(_check_inbound_tls(view, connector))
            checks.append(_check_cloud_mail(connector))
    if not checks and domain is not None:
        checks.append(
            CheckOf("hybrid", domain, "hybrid-connector").ok(
                f"No connector to or from on-premises concerns {domain}.",
            )
        )
    return tuple(checks)


def _name(connector: Mapping[str, Any]) -> str:
    return str(prop(connector, "Name") or prop(connector, "Identity"))


def _inbound_concerns(connector: Mapping[str, Any], domain: str) -> bool:
    if any(covers(s, domain) for s in list_prop(connector, "SenderDomains")):
        return True
    certificate = address_space(str(prop(connector, "TlsSenderCertificateName") or ""))
    return bool(certificate) and _within(certificate, domain)


def _within(certificate: str, domain: str) -> bool:
    bare = certificate.removeprefix("*.")
    return bare == domain or bare.endswith("." + domain)


def _rerun_hcw() -> str:
    return (
        "Exchange admin (hybrid): or rerun the Hybrid Configuration Wizard on premises, "
        "which rewrites both hybrid connectors."
    )


def _check_route(view: TenantView, domain: str) -> Check:
    connectors = [c for c in view.outbound if is_on_premises(c)]
    covering = [
        c for c in connectors if any(covers(p, domain) for p in list_prop(c, "RecipientDomains"))
    ]
    enabled = [c for c in covering if prop(c, "Enabled", True)]
    seen = tuple(
        f"{_name(c)}: RecipientDomains {', '.join(list_prop(c, 'RecipientDomains')) or '(none)'}"
        f"{'' if prop(c, 'Enabled', True) else ' (disabled)'}"
        for c in connectors
    ) or ("no outbound connector to on-premises",)
    expected = (f"{domain} (or *) in RecipientDomains of an enabled connector to on-premises",)
    if enabled:
        return CheckOf("on-premises-route", domain, "hybrid-connector").ok(
            f"Mail to on-premises {domain} goes out through {_name(enabled[0])}.",
            seen=seen,
            expected=expected,
        )
    if covering:
        summary = (
            f"The only outbound connector to on-premises that covers {domain}, "
            f"{_name(covering[0])}, is disabled."
        )
        fix = f"Set-OutboundConnector -Identity {ps_quote(_name(covering[0]))} -Enabled $true"
    elif connectors:
        first = connectors[0]
        domains = (*list_prop(first, "RecipientDomains"), domain)
        summary = (
            f"{domain} is an on-premises domain (mail from it comes from on-premises), but no "
            "outbound connector to on-premises lists it in RecipientDomains: mail to its "
            "on-premises mailboxes is not routed back there."
        )
        fix = (
            f"Set-OutboundConnector -Identity {ps_quote(_name(first))} -RecipientDomains "
            + ",".join(ps_quote(d) for d in domains)
        )
    else:
        summary = (
            f"{domain} is an on-premises domain, but there is no outbound connector to "
            "on-premises at all."
        )
        fix = ""
    steps = []
    if fix:
        steps.append(f"Exchange Online admin, in Exchange Online PowerShell: {fix}")
    steps.append(_rerun_hcw())
    return CheckOf("on-premises-route", domain, "hybrid-connector").problem(
        summary,
        seen=seen,
        expected=expected,
        steps=tuple(steps),
    )


def _check_smart_hosts(connector: Mapping[str, Any], resolver: Resolver) -> Check:
    name = _name(connector)
    hosts = list_prop(connector, "SmartHosts")
    if prop(connector, "UseMXRecord", True):
        return CheckOf("smart-hosts", name, "hybrid-connector").ok(
            f"{name} delivers by the recipient domains' MX records.",
            seen=("UseMXRecord: true",),
        )
    expected = ("UseMXRecord $true, or smart hosts that resolve",)
    if not hosts:
        return CheckOf("smart-hosts", name, "hybrid-connector").problem(
            f"{name} does not use MX and has no smart host: it delivers nowhere.",
            seen=("UseMXRecord: false", "SmartHosts: (none)"),
            expected=expected,
            steps=(
                "Exchange Online admin, in Exchange Online PowerShell: Set-OutboundConnector "
                f"-Identity {ps_quote(name)} -SmartHosts 'mail.<on-premises domain>'",
                _rerun_hcw(),
            ),
        )
    seen: list[str] = []
    dead: list[str] = []
    for host in hosts:
        if _is_ip(host):
            seen.append(f"{host}: an IP address")
            continue
        try:
            addresses = resolver.resolve(host, "A")
        except DnsLookupFailed as exc:
            return dns_error("smart-hosts", name, "hybrid-connector", exc)
        seen.append(f"{host}: A {', '.join(addresses)}" if addresses else f"{host}: no A record")
        if not addresses:
            dead.append(normalize_name(host))
    if not dead:
        return CheckOf("smart-hosts", name, "hybrid-connector").ok(
            f"Every smart host of {name} resolves.",
            seen=tuple(seen),
            expected=expected,
        )
    return CheckOf("smart-hosts", name, "hybrid-connector").problem(
        (
            f"{name} sends to {', '.join(dead)}, which does not resolve: mail to on-premises "
            "is queued, then bounced."
        ),
        seen=tuple(seen),
        expected=expected,
        steps=(
            f"The DNS administrator: publish an A record for {', '.join(dead)} (the on-premises "
            "server's public address), if that is the right host.",
            "Exchange Online admin, if the host is wrong: Set-OutboundConnector -Identity "
            f"{ps_quote(name)} -SmartHosts '<the on-premises server>'.",
            _rerun_hcw(),
        ),
    )


def _is_ip(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


def _check_inbound_tls(view: TenantView, connector: Mapping[str, Any]) -> Check:
    name = _name(connector)
    certificate = address_space(str(prop(connector, "TlsSenderCertificateName") or ""))
    ips = list_prop(connector, "SenderIPAddresses")
    expected = ("TlsSenderCertificateName within an accepted domain (or SenderIPAddresses)",)
    if not certificate:
        if ips:
            return CheckOf("inbound-tls", name, "hybrid-connector").ok(
                f"{name} recognises on-premises by IP address.",
                seen=(f"SenderIPAddresses: {', '.join(ips)}",),
                expected=expected,
            )
        return CheckOf("inbound-tls", name, "hybrid-connector").problem(
            (
                f"{name} names neither a certificate nor IP addresses: mail from on-premises "
                "is not recognised (5.7.64 TenantAttribution; relay denied)."
            ),
            seen=("TlsSenderCertificateName: (none)", "SenderIPAddresses: (none)"),
            expected=expected,
            steps=(
                "Exchange Online admin, in Exchange Online PowerShell: Set-InboundConnector "
                f"-Identity {ps_quote(name)} -TlsSenderCertificateName '<the on-premises "
                "certificate's subject, e.g. mail.contoso.com>'",
                _rerun_hcw(),
            ),
        )
    matches = [d for d in view.accepted if _within(certificate, d)]
    seen = (f"TlsSenderCertificateName: {certificate}",)
    if matches:
        return CheckOf("inbound-tls", name, "hybrid-connector").ok(
            f"{name} expects certificate {certificate}, within accepted {matches[0]}.",
            seen=seen,
            expected=expected,
        )
    return CheckOf("inbound-tls", name, "hybrid-connector").problem(
        (
            f"{name} expects certificate {certificate}, which is in no accepted domain: mail "
            "from on-premises is not attributed to the tenant (5.7.64 TenantAttribution)."
        ),
        seen=seen,
        expected=(*expected, f"accepted: {', '.join(sorted(view.accepted))}"),
        steps=(
            "Exchange Online admin, in Exchange Online PowerShell: Set-InboundConnector "
            f"-Identity {ps_quote(name)} -TlsSenderCertificateName '<the subject of the "
            "on-premises server's certificate, in an accepted domain>'",
            _rerun_hcw(),
        ),
    )


def _check_cloud_mail(connector: Mapping[str, Any]) -> Check:
    name = _name(connector)
    enabled = bool(prop(connector, "CloudServicesMailEnabled", False))
    seen = (f"CloudServicesMailEnabled: {str(enabled).lower()}",)
    expected = ("CloudServicesMailEnabled: true",)
    if enabled:
        return CheckOf("inbound-cloud-mail", name, "hybrid-connector").ok(
            f"{name} keeps on-premises senders authenticated.",
            seen=seen,
            expected=expected,
        )
    return CheckOf("inbound-cloud-mail", name, "hybrid-connector").problem(
        (
            f"{name} has CloudServicesMailEnabled $false: mail from on-premises arrives as "
            "anonymous, and groups that require authenticated senders reject it (5.7.133)."
        ),
        seen=seen,
        expected=expected,
        steps=(
            "Exchange Online admin, in Exchange Online PowerShell: Set-InboundConnector "
            f"-Identity {ps_quote(name)} -CloudServicesMailEnabled $true",
            _rerun_hcw(),
        ),
    )


def ps_quote(value: str) -> str:
    from remediations.exchange.cmdlet import ps_quote

    return ps_quote(value)
