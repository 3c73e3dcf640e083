"""``check-domain``: compare a domain's live DNS and set-up with what the tenant expects.

Every check says ok, problem or error, the cause id it guards (``shared/DESIGN.md``),
the evidence (records seen against records expected) and the steps to fix,
each naming who takes it:

=====================  =======================  ==============================================
check                  cause                    passes when
=====================  =======================  ==============================================
``mx``                 ``domain-dns``           exactly one MX record, the one Microsoft 365
                                                gives the domain (Graph
                                                ``serviceConfigurationRecords``; either form,
                                                ``*.mail.protection.outlook.com`` or
                                                ``*.mx.microsoft``), never built from the name
``spf``                ``domain-dns``           exactly one ``v=spf1`` TXT record, including
                                                ``spf.protection.outlook.com``
``verified``           ``unregistered-domain``  Microsoft 365 knows the domain, has verified
                                                it, and serves Email for it (``Get-MgDomain``)
``accepted``           ``unregistered-domain``  Exchange Online accepts it
                                                (``Get-AcceptedDomain``)
``hybrid``             ``hybrid-connector``     (informational) no connector to or from
                                                on-premises concerns the domain
``on-premises-route``  ``hybrid-connector``     an on-premises domain is in the
                                                ``RecipientDomains`` of an enabled outbound
                                                connector to on-premises
``smart-hosts``        ``hybrid-connector``     such a connector uses MX, or each of its
                                                ``SmartHosts`` resolves (A)
``inbound-tls``        ``hybrid-connector``     an enabled inbound connector from on-premises
                                                names a ``TlsSenderCertificateName`` within an
                                                accepted domain (or restricts by IP address)
``inbound-cloud-mail`` ``hybrid-connector``     ... and has ``CloudServicesMailEnabled $true``
=====================  =======================  ==============================================

The on-premises domains are the ``SenderDomains`` of enabled inbound
connectors from on-premises (wildcards aside) and the accepted domains of
type ``InternalRelay``: mail from them comes from on-premises, so mail to
them must go back there.

DNS goes through a :class:`~remediations.dns_lookup.Resolver`: a lookup
that fails makes its check an ``error`` (never "no records").

Exit status (``check-domain`` and ``scan``): 0 every check ok; 3 problems
found (the report says which); 1 something could not be read (a tenant read
or a DNS lookup failed: the answer is unknown); 2 bad input (not a domain
name, or a domain the tenant does not know).

Raises (from :func:`check_domain`): ``InputError`` for bad input;
``TransportError`` when the tenant cannot be read.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from remediations.dns_lookup import DnsLookupFailed, Resolver, normalize_name
from remediations.errors import CmdletError, ExitStatus, InputError
from remediations.exchange.cmdlet import Cmdlet, Transport
from remediations.ndr.codes import Cause

__all__ = [
    "MICROSOFT_MX_SUFFIXES",
    "SPF_INCLUDE",
    "STATUS_EXIT",
    "Check",
    "DomainReport",
    "Status",
    "TenantView",
    "check_domain",
    "check_domain_name",
    "connector_checks",
    "prop",
    "read_graph_domains",
    "read_tenant_view",
    "render_check_lines",
    "render_domain_text",
    "suggest_spf",
]

#: a report's status -> its exit status (3: the tenant was read and has problems)
STATUS_EXIT: dict[str, int] = {
    "ok": ExitStatus.OK,
    "problems": ExitStatus.PROBLEMS_FOUND,
    "error": ExitStatus.FAILED,
}


SPF_INCLUDE = "spf.protection.outlook.com"
# The two forms of the MX record Microsoft 365 gives a domain (exchange.md 4.1, MX caveat).
MICROSOFT_MX_SUFFIXES = (".mail.protection.outlook.com", ".mx.microsoft")

Status = Literal["ok", "problem", "error"]

_DOMAIN = re.compile(
    r"^(?=.{1,253}$)(?:(?!-)[a-z0-9-]{1,63}(?<!-)\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$"
)
_MX = re.compile(r"^(\d+)\s+(\S+)$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    """One check of one subject (a domain or a connector).

    Attributes:
        check: which check (``mx``, ``spf``, ``verified``, ... see the module docstring).
        subject: the domain or connector checked.
        status: ``ok``, ``problem`` or ``error`` (could not be checked).
        cause: the cause id this check guards.
        summary: one sentence: what was found.
        seen: the evidence as found (records, properties).
        expected: what the tenant expects.
        steps: how to fix it, each step naming who takes it (empty when ok).
    """

    check: str
    subject: str
    status: Status
    cause: Cause
    summary: str
    seen: tuple[str, ...] = ()
    expected: tuple[str, ...] = ()
    steps: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The check as one JSON object."""
        return {
            "check": self.check,
            "subject": self.subject,
            "status": self.status,
            "ok": self.status == "ok",
            "cause": self.cause,
            "summary": self.summary,
            "seen": list(self.seen),
            "expected": list(self.expected),
            "steps": list(self.steps),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainReport:
    """Every check of one domain."""

    domain: str
    tenant: str
    transport: str
    checks: tuple[Check, ...]

    @property
    def status(self) -> Literal["ok", "problems", "error"]:
        """``error`` if any check could not run, else ``problems`` if any failed, else ``ok``."""
        if any(c.status == "error" for c in self.checks):
            return "error"
        if any(c.status == "problem" for c in self.checks):
            return "problems"
        return "ok"

    @property
    def exit_code(self) -> int:
        """0 all ok, 3 problems found, 1 a check could not run."""
        return STATUS_EXIT[self.status]

    def to_json(self) -> dict[str, Any]:
        """The report as one JSON document (``check-domain --json``)."""
        return {
            "domain": self.domain,
            "tenant": self.tenant,
            "transport": self.transport,
            "status": self.status,
            "problems": sum(c.status == "problem" for c in self.checks),
            "errors": sum(c.status == "error" for c in self.checks),
            "checks": [c.to_json() for c in self.checks],
        }


# --- reading the tenant ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantView:
    """What the domain checks read from Exchange once: accepted domains and connectors."""

    tenant: str
    transport: str
    accepted: Mapping[str, Mapping[str, Any]]
    outbound: tuple[Mapping[str, Any], ...]
    inbound: tuple[Mapping[str, Any], ...]

    @property
    def hybrid(self) -> bool:
        """Whether any connector goes to or comes from on-premises."""
        return any(_on_premises(c) for c in (*self.outbound, *self.inbound))

    @property
    def on_premises_domains(self) -> tuple[str, ...]:
        """Domains whose mail comes from on-premises, so mail to them must go back there."""
        found = {
            name
            for name, domain in self.accepted.items()
            if str(prop(domain, "DomainType", "")).lower() == "internalrelay"
        }
        for connector in self.inbound:
            if _on_premises(connector) and prop(connector, "Enabled", True):
                found.update(
                    d
                    for d in (_address_space(s) for s in _list(connector, "SenderDomains"))
                    if "*" not in d
                )
        return tuple(sorted(found))


def read_tenant_view(transport: Transport) -> TenantView:
    """Read the accepted domains and the connectors (every object of each)."""
    accepted = transport.send(Cmdlet.of("Get-AcceptedDomain")).objects
    outbound = transport.send(Cmdlet.of("Get-OutboundConnector")).objects
    inbound = transport.send(Cmdlet.of("Get-InboundConnector")).objects
    return TenantView(
        tenant=transport.tenant,
        transport=transport.name,
        accepted={normalize_name(str(prop(d, "DomainName"))): d for d in accepted},
        outbound=tuple(outbound),
        inbound=tuple(inbound),
    )


def read_graph_domains(transport: Transport) -> tuple[Mapping[str, Any], ...]:
    """Every domain Microsoft 365 knows (Graph ``GET /domains``)."""
    return transport.send(Cmdlet.of("Get-MgDomain")).objects


def _read_graph_domain(transport: Transport, name: str) -> Mapping[str, Any] | None:
    try:
        found = transport.send(Cmdlet.of("Get-MgDomain", DomainId=name)).objects
    except CmdletError as exc:
        if exc.category == "NotFound":
            return None
        raise
    return found[0] if found else None


def _read_expected(transport: Transport, name: str) -> tuple[Mapping[str, Any], ...]:
    return transport.send(
        Cmdlet.of("Get-MgDomainServiceConfigurationRecord", DomainId=name)
    ).objects


def prop(obj: Mapping[str, Any], name: str, default: Any = None) -> Any:
    """A property by name, case-insensitively, also inside Graph's ``AdditionalProperties``."""
    lowered = name.lower()
    for key, value in obj.items():
        if key.lower() == lowered:
            return value
    extra = next((v for k, v in obj.items() if k.lower() == "additionalproperties"), None)
    if isinstance(extra, Mapping):
        return prop(extra, name, default)
    return default


def _list(obj: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = prop(obj, name)
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def _on_premises(connector: Mapping[str, Any]) -> bool:
    return str(prop(connector, "ConnectorType", "")).lower() == "onpremises"


def _address_space(entry: str) -> str:
    """``smtp:contoso.com;1`` (Exchange's serialised form) or ``contoso.com`` -> ``contoso.com``."""
    text = entry.strip()
    if text.lower().startswith("smtp:"):
        text = text[5:]
    return normalize_name(text.split(";", 1)[0])


def _covers(pattern: str, domain: str) -> bool:
    """Whether a connector's domain entry covers a domain (``*``; ``*.x``: subdomains of x)."""
    space = _address_space(pattern)
    if space == "*":
        return True
    if space.startswith("*."):
        return domain.endswith(space[1:])
    return space == domain


# --- the checks ------------------------------------------------------------------------


def check_domain_name(value: str | None) -> str:
    """The domain name, normalised; InputError (exit 2) for anything else."""
    text = normalize_name(value or "")
    if not _DOMAIN.match(text):
        raise InputError(
            f"--domain {value!r} is not a domain name; give one like contoso.com "
            "(no address, no URL)."
        )
    return text


def check_domain(
    transport: Transport,
    resolver: Resolver,
    domain: str,
    *,
    view: TenantView | None = None,
    hybrid: bool = True,
) -> DomainReport:
    """Run every check of one domain.

    Args:
        transport: the tenant (Exchange and Graph cmdlets).
        resolver: DNS.
        domain: the domain name as typed.
        view: the accepted domains and connectors, if already read (``scan``).
        hybrid: include the connector checks that concern this domain.

    Raises:
        InputError: not a domain name, or one the tenant knows neither in
            Exchange nor in Microsoft 365 (exit 2).
        TransportError: the tenant could not be read (exit 1).
    """
    name = check_domain_name(domain)
    view = view or read_tenant_view(transport)
    graph = _read_graph_domain(transport, name)
    if graph is None and name not in view.accepted:
        known = ", ".join(sorted(view.accepted)) or "none"
        raise InputError(
            f"--domain {name!r} is not a domain of {view.tenant} ({view.transport}): it is "
            f"neither an accepted domain nor added to Microsoft 365 (accepted: {known})."
        )
    expected = _read_expected(transport, name) if graph is not None else ()
    if is_microsoft_hosted(name, graph):
        dns_checks = [_hosted(name, "mx"), _hosted(name, "spf")]
    else:
        dns_checks = [_check_mx(name, expected, resolver), _check_spf(name, expected, resolver)]
    checks = [
        *dns_checks,
        _check_verified(name, graph),
        _check_accepted(name, view),
    ]
    if hybrid:
        checks.extend(connector_checks(view, resolver, domain=name))
    return DomainReport(
        domain=name, tenant=view.tenant, transport=view.transport, checks=tuple(checks)
    )


# The tenant's initial domain: Microsoft registers it and serves its DNS (MX and SPF).
_INITIAL_SUFFIX = ".onmicrosoft.com"


def is_microsoft_hosted(domain: str, graph: Mapping[str, Any] | None = None) -> bool:
    """Whether Microsoft hosts the domain's DNS: the tenant's initial ``*.onmicrosoft.com``
    domain (Graph ``isInitial``), which no registrar holds."""
    initial = bool(graph is not None and prop(graph, "IsInitial", False))
    return initial or domain.endswith(_INITIAL_SUFFIX)


def _hosted(domain: str, check: str) -> Check:
    return Check(
        check=check,
        subject=domain,
        status="ok",
        cause="domain-dns",
        summary=(
            f"{domain} is the tenant's initial domain: Microsoft hosts its DNS ({check.upper()} "
            "included); there is nothing to set at a registrar."
        ),
        seen=("the initial *.onmicrosoft.com domain",),
        expected=("hosted by Microsoft",),
    )


def _dns_error(check: str, subject: str, cause: Cause, exc: DnsLookupFailed) -> Check:
    return Check(
        check=check,
        subject=subject,
        status="error",
        cause=cause,
        summary=str(exc),
        steps=(
            "You (whoever runs this): run the check again; if it keeps failing, check that "
            "this machine's DNS servers answer, e.g. `dig "
            f"{exc.rdtype} {normalize_name(exc.name)}`.",
        ),
    )


def _again(domain: str) -> str:
    return (
        f"Then check again with `invoke check-domain --domain {shlex.quote(domain)}` "
        "(a DNS change shows once the old record's TTL has passed)."
    )


def _dns_admin(domain: str) -> str:
    return f"The DNS administrator of {domain}, at its registrar or DNS host (not in Microsoft 365)"


def _parse_mx(record: str) -> tuple[int, str]:
    match = _MX.match(record.strip())
    if match is None:
        return (0, normalize_name(record))
    return (int(match.group(1)), normalize_name(match.group(2)))


def _check_mx(domain: str, expected: Sequence[Mapping[str, Any]], resolver: Resolver) -> Check:
    wanted = tuple(
        sorted(
            {
                normalize_name(str(prop(r, "MailExchange")))
                for r in expected
                if str(prop(r, "RecordType", "")).lower() == "mx" and prop(r, "MailExchange")
            }
        )
    )
    try:
        live = sorted(_parse_mx(r) for r in resolver.resolve(domain, "MX"))
    except DnsLookupFailed as exc:
        return _dns_error("mx", domain, "domain-dns", exc)
    seen = tuple(f"MX {pref} {host}" for pref, host in live)
    shown = tuple(f"exactly one MX: {host}" for host in wanted)
    if not wanted:
        return Check(
            check="mx",
            subject=domain,
            status="problem",
            cause="domain-dns",
            summary=(
                f"Microsoft 365 gives no MX record for {domain} (its serviceConfigurationRecords "
                "list none), so there is nothing to compare DNS with."
            ),
            seen=seen,
            expected=("an MX record from Microsoft 365",),
            steps=(
                f"Microsoft 365 admin: open Settings > Domains > {domain} in the admin center "
                "and set the domain up for Exchange (Email); the MX record it then lists is the "
                "one to publish.",
                _again(domain),
            ),
        )
    hosts = [host for _, host in live]
    if len(hosts) == 1 and hosts[0] in wanted:
        return Check(
            check="mx",
            subject=domain,
            status="ok",
            cause="domain-dns",
            summary=f"One MX record, {hosts[0]}, the one Microsoft 365 gives {domain}.",
            seen=seen,
            expected=shown,
        )
    target = wanted[0]
    wrong = [h for h in hosts if h not in wanted]
    if not hosts:
        summary = f"{domain} has no MX record: mail to it cannot reach Microsoft 365."
    elif len(hosts) > 1:
        summary = (
            f"{domain} has {len(hosts)} MX records; Microsoft 365 supports exactly one "
            f"({target}): mail that goes to the others bounces or loops."
        )
    else:
        other = " (another Microsoft 365 host)" if _is_microsoft_mx(hosts[0]) else ""
        summary = f"{domain}'s MX record points at {hosts[0]}{other}, not at {target}."
    actions = []
    if wrong:
        actions.append(f"delete the MX record{'s' if len(wrong) > 1 else ''} {', '.join(wrong)}")
    if target not in hosts:
        actions.append(f"create one MX record for {domain} (host @) pointing to {target}")
    steps = [f"{_dns_admin(domain)}: {' and '.join(actions)}."]
    if any(not _is_microsoft_mx(h) for h in wrong):
        steps.append(
            "If some mail must still reach servers on premises, route it with a connector "
            "from Microsoft 365, not with a second MX record."
        )
    steps.append(_again(domain))
    return Check(
        check="mx",
        subject=domain,
        status="problem",
        cause="domain-dns",
        summary=summary,
        seen=seen or ("no MX record",),
        expected=shown,
        steps=tuple(steps),
    )


def _is_microsoft_mx(host: str) -> bool:
    return host.endswith(MICROSOFT_MX_SUFFIXES)


def _is_spf(text: str) -> bool:
    lowered = text.strip().lower()
    return lowered == "v=spf1" or lowered.startswith("v=spf1 ")


def _has_include(text: str) -> bool:
    return any(term.lstrip("+").lower() == f"include:{SPF_INCLUDE}" for term in text.split()[1:])


def suggest_spf(records: Iterable[str]) -> str:
    """One SPF record keeping every sender of ``records`` and including Microsoft 365."""
    terms: list[str] = []
    ending = ""  # the first record's "all" (or redirect) ends the merged one
    for record in records:
        for term in record.split()[1:]:
            bare = term.lstrip("+-~?").lower()
            if bare == "all" or bare.startswith("redirect="):
                ending = ending or term
            elif term.lower() not in (t.lower() for t in terms):
                terms.append(term)
    if not any(_has_include(f"v=spf1 {t}") for t in terms):
        terms.append(f"include:{SPF_INCLUDE}")
    return " ".join(["v=spf1", *terms, ending or "-all"])


def _check_spf(domain: str, expected: Sequence[Mapping[str, Any]], resolver: Resolver) -> Check:
    wanted = tuple(
        str(prop(r, "Text"))
        for r in expected
        if str(prop(r, "RecordType", "")).lower() == "txt" and _is_spf(str(prop(r, "Text", "")))
    )
    try:
        records = resolver.resolve(domain, "TXT")
    except DnsLookupFailed as exc:
        return _dns_error("spf", domain, "domain-dns", exc)
    spf = [r for r in records if _is_spf(r)]
    seen = tuple(f"TXT {r}" for r in spf) or ("no v=spf1 TXT record",)
    shown = (
        f"exactly one v=spf1 TXT record with include:{SPF_INCLUDE}",
        *(f"Microsoft 365 gives: {w}" for w in wanted),
    )
    if len(spf) == 1 and _has_include(spf[0]):
        return Check(
            check="spf",
            subject=domain,
            status="ok",
            cause="domain-dns",
            summary=f"One SPF record, and it includes {SPF_INCLUDE}.",
            seen=seen,
            expected=shown,
        )
    suggestion = suggest_spf(spf)
    if not spf:
        summary = (
            f"{domain} has no SPF record: receivers that check SPF reject or junk its mail "
            "(5.7.23)."
        )
        action = f"create one TXT record for {domain} (host @): {suggestion}"
    elif len(spf) > 1:
        summary = (
            f"{domain} has {len(spf)} SPF records; more than one is a permanent SPF error "
            "(RFC 7208), so receivers treat its mail as failing SPF (5.7.23)."
        )
        action = f"replace the {len(spf)} v=spf1 TXT records with one: {suggestion}"
    else:
        summary = (
            f"{domain}'s SPF record does not include {SPF_INCLUDE}: mail sent from "
            "Microsoft 365 fails SPF at receivers that check it (5.7.23)."
        )
        action = f"change the v=spf1 TXT record to: {suggestion}"
    return Check(
        check="spf",
        subject=domain,
        status="problem",
        cause="domain-dns",
        summary=summary,
        seen=seen,
        expected=shown,
        steps=(
            f"{_dns_admin(domain)}: {action} (add any other service that sends as {domain}).",
            _again(domain),
        ),
    )


def _check_verified(domain: str, graph: Mapping[str, Any] | None) -> Check:
    expected = ("isVerified: true", "supportedServices includes Email")
    if graph is None:
        return Check(
            check="verified",
            subject=domain,
            status="problem",
            cause="unregistered-domain",
            summary=(
                f"Microsoft 365 does not know {domain}: it was never added to the tenant, so "
                "mail from it counts as from an unregistered domain (5.7.750)."
            ),
            seen=("not among the tenant's domains (Graph /domains)",),
            expected=expected,
            steps=(
                f"Microsoft 365 admin: add {domain} (admin center: Settings > Domains > Add "
                "domain) and verify it with the TXT record the wizard gives; the domain's DNS "
                "administrator publishes that record at the registrar.",
            ),
        )
    verified = bool(prop(graph, "IsVerified", False))
    services = _list(graph, "SupportedServices")
    seen = (
        f"isVerified: {str(verified).lower()}",
        f"supportedServices: {', '.join(services) or '(none)'}",
    )
    if not verified:
        return Check(
            check="verified",
            subject=domain,
            status="problem",
            cause="unregistered-domain",
            summary=(
                f"{domain} was added to Microsoft 365 but is not verified: Exchange Online "
                "neither accepts mail for it nor sends from it (5.7.750)."
            ),
            seen=seen,
            expected=expected,
            steps=(
                f"The DNS administrator of {domain}: publish the verification TXT record shown "
                f"in the admin center (Settings > Domains > {domain}).",
                f"Microsoft 365 admin: then select Verify for {domain}.",
            ),
        )
    if "email" not in {s.lower() for s in services}:
        return Check(
            check="verified",
            subject=domain,
            status="problem",
            cause="unregistered-domain",
            summary=f"{domain} is verified but not set up for Email (Exchange).",
            seen=seen,
            expected=expected,
            steps=(
                f"Microsoft 365 admin: in Settings > Domains > {domain}, choose Exchange "
                "(Email) among the domain's services and publish the records it lists.",
            ),
        )
    return Check(
        check="verified",
        subject=domain,
        status="ok",
        cause="unregistered-domain",
        summary=f"{domain} is verified in Microsoft 365 and set up for Email.",
        seen=seen,
        expected=expected,
    )


def _check_accepted(domain: str, view: TenantView) -> Check:
    found = view.accepted.get(domain)
    if found is not None:
        kind = str(prop(found, "DomainType", "Authoritative"))
        return Check(
            check="accepted",
            subject=domain,
            status="ok",
            cause="unregistered-domain",
            summary=f"{domain} is an accepted domain of Exchange Online ({kind}).",
            seen=(f"accepted domain, {kind}",),
            expected=("an accepted domain",),
        )
    return Check(
        check="accepted",
        subject=domain,
        status="problem",
        cause="unregistered-domain",
        summary=(
            f"{domain} is not an accepted domain: Exchange Online rejects mail to it and "
            "refuses to send from it (5.7.750)."
        ),
        seen=("not in Get-AcceptedDomain",),
        expected=("an accepted domain",),
        steps=(
            f"Microsoft 365 admin: finish setting {domain} up (verified, with Exchange among "
            "its services); Exchange Online then lists it as an accepted domain.",
        ),
    )


# --- hybrid connectors -------------------------------------------------------------------


def connector_checks(
    view: TenantView, resolver: Resolver, *, domain: str | None = None
) -> tuple[Check, ...]:
    """The hybrid checks: all of them, or (with ``domain``) those concerning one domain."""
    if not view.hybrid:
        return (
            Check(
                check="hybrid",
                subject=domain or view.tenant,
                status="ok",
                cause="hybrid-connector",
                summary="No connector to or from on-premises: nothing hybrid to check.",
            ),
        )
    on_premises = view.on_premises_domains
    checks: list[Check] = []
    for name in [domain] if domain else on_premises:
        if name in on_premises:
            checks.append(_check_route(view, name))
    for connector in view.outbound:
        if not (_on_premises(connector) and prop(connector, "Enabled", True)):
            continue
        if domain is None or any(_covers(p, domain) for p in _list(connector, "RecipientDomains")):
            checks.append(_check_smart_hosts(connector, resolver))
    for connector in view.inbound:
        if not (_on_premises(connector) and prop(connector, "Enabled", True)):
            continue
        if domain is None or _inbound_concerns(connector, domain):
            checks.append(_check_inbound_tls(view, connector))
            checks.append(_check_cloud_mail(connector))
    if not checks and domain is not None:
        checks.append(
            Check(
                check="hybrid",
                subject=domain,
                status="ok",
                cause="hybrid-connector",
                summary=f"No connector to or from on-premises concerns {domain}.",
            )
        )
    return tuple(checks)


def _name(connector: Mapping[str, Any]) -> str:
    return str(prop(connector, "Name") or prop(connector, "Identity"))


def _inbound_concerns(connector: Mapping[str, Any], domain: str) -> bool:
    if any(_covers(s, domain) for s in _list(connector, "SenderDomains")):
        return True
    certificate = _address_space(str(prop(connector, "TlsSenderCertificateName") or ""))
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
    connectors = [c for c in view.outbound if _on_premises(c)]
    covering = [
        c for c in connectors if any(_covers(p, domain) for p in _list(c, "RecipientDomains"))
    ]
    enabled = [c for c in covering if prop(c, "Enabled", True)]
    seen = tuple(
        f"{_name(c)}: RecipientDomains {', '.join(_list(c, 'RecipientDomains')) or '(none)'}"
        f"{'' if prop(c, 'Enabled', True) else ' (disabled)'}"
        for c in connectors
    ) or ("no outbound connector to on-premises",)
    expected = (f"{domain} (or *) in RecipientDomains of an enabled connector to on-premises",)
    if enabled:
        return Check(
            check="on-premises-route",
            subject=domain,
            status="ok",
            cause="hybrid-connector",
            summary=f"Mail to on-premises {domain} goes out through {_name(enabled[0])}.",
            seen=seen,
            expected=expected,
        )
    if covering:
        summary = (
            f"The only outbound connector to on-premises that covers {domain}, "
            f"{_name(covering[0])}, is disabled."
        )
        fix = f"Set-OutboundConnector -Identity {_ps(_name(covering[0]))} -Enabled $true"
    elif connectors:
        first = connectors[0]
        domains = (*_list(first, "RecipientDomains"), domain)
        summary = (
            f"{domain} is an on-premises domain (mail from it comes from on-premises), but no "
            "outbound connector to on-premises lists it in RecipientDomains: mail to its "
            "on-premises mailboxes is not routed back there."
        )
        fix = f"Set-OutboundConnector -Identity {_ps(_name(first))} -RecipientDomains " + ",".join(
            _ps(d) for d in domains
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
    return Check(
        check="on-premises-route",
        subject=domain,
        status="problem",
        cause="hybrid-connector",
        summary=summary,
        seen=seen,
        expected=expected,
        steps=tuple(steps),
    )


def _check_smart_hosts(connector: Mapping[str, Any], resolver: Resolver) -> Check:
    name = _name(connector)
    hosts = _list(connector, "SmartHosts")
    if prop(connector, "UseMXRecord", True):
        return Check(
            check="smart-hosts",
            subject=name,
            status="ok",
            cause="hybrid-connector",
            summary=f"{name} delivers by the recipient domains' MX records.",
            seen=("UseMXRecord: true",),
        )
    expected = ("UseMXRecord $true, or smart hosts that resolve",)
    if not hosts:
        return Check(
            check="smart-hosts",
            subject=name,
            status="problem",
            cause="hybrid-connector",
            summary=f"{name} does not use MX and has no smart host: it delivers nowhere.",
            seen=("UseMXRecord: false", "SmartHosts: (none)"),
            expected=expected,
            steps=(
                "Exchange Online admin, in Exchange Online PowerShell: Set-OutboundConnector "
                f"-Identity {_ps(name)} -SmartHosts 'mail.<on-premises domain>'",
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
            return _dns_error("smart-hosts", name, "hybrid-connector", exc)
        seen.append(f"{host}: A {', '.join(addresses)}" if addresses else f"{host}: no A record")
        if not addresses:
            dead.append(normalize_name(host))
    if not dead:
        return Check(
            check="smart-hosts",
            subject=name,
            status="ok",
            cause="hybrid-connector",
            summary=f"Every smart host of {name} resolves.",
            seen=tuple(seen),
            expected=expected,
        )
    return Check(
        check="smart-hosts",
        subject=name,
        status="problem",
        cause="hybrid-connector",
        summary=(
            f"{name} sends to {', '.join(dead)}, which does not resolve: mail to on-premises "
            "is queued, then bounced."
        ),
        seen=tuple(seen),
        expected=expected,
        steps=(
            f"The DNS administrator: publish an A record for {', '.join(dead)} (the on-premises "
            "server's public address), if that is the right host.",
            "Exchange Online admin, if the host is wrong: Set-OutboundConnector -Identity "
            f"{_ps(name)} -SmartHosts '<the on-premises server>'.",
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
    certificate = _address_space(str(prop(connector, "TlsSenderCertificateName") or ""))
    ips = _list(connector, "SenderIPAddresses")
    expected = ("TlsSenderCertificateName within an accepted domain (or SenderIPAddresses)",)
    if not certificate:
        if ips:
            return Check(
                check="inbound-tls",
                subject=name,
                status="ok",
                cause="hybrid-connector",
                summary=f"{name} recognises on-premises by IP address.",
                seen=(f"SenderIPAddresses: {', '.join(ips)}",),
                expected=expected,
            )
        return Check(
            check="inbound-tls",
            subject=name,
            status="problem",
            cause="hybrid-connector",
            summary=(
                f"{name} names neither a certificate nor IP addresses: mail from on-premises "
                "is not recognised (5.7.64 TenantAttribution; relay denied)."
            ),
            seen=("TlsSenderCertificateName: (none)", "SenderIPAddresses: (none)"),
            expected=expected,
            steps=(
                "Exchange Online admin, in Exchange Online PowerShell: Set-InboundConnector "
                f"-Identity {_ps(name)} -TlsSenderCertificateName '<the on-premises "
                "certificate's subject, e.g. mail.contoso.com>'",
                _rerun_hcw(),
            ),
        )
    matches = [d for d in view.accepted if _within(certificate, d)]
    seen = (f"TlsSenderCertificateName: {certificate}",)
    if matches:
        return Check(
            check="inbound-tls",
            subject=name,
            status="ok",
            cause="hybrid-connector",
            summary=f"{name} expects certificate {certificate}, within accepted {matches[0]}.",
            seen=seen,
            expected=expected,
        )
    return Check(
        check="inbound-tls",
        subject=name,
        status="problem",
        cause="hybrid-connector",
        summary=(
            f"{name} expects certificate {certificate}, which is in no accepted domain: mail "
            "from on-premises is not attributed to the tenant (5.7.64 TenantAttribution)."
        ),
        seen=seen,
        expected=(*expected, f"accepted: {', '.join(sorted(view.accepted))}"),
        steps=(
            "Exchange Online admin, in Exchange Online PowerShell: Set-InboundConnector "
            f"-Identity {_ps(name)} -TlsSenderCertificateName '<the subject of the on-premises "
            "server's certificate, in an accepted domain>'",
            _rerun_hcw(),
        ),
    )


def _check_cloud_mail(connector: Mapping[str, Any]) -> Check:
    name = _name(connector)
    enabled = bool(prop(connector, "CloudServicesMailEnabled", False))
    seen = (f"CloudServicesMailEnabled: {str(enabled).lower()}",)
    expected = ("CloudServicesMailEnabled: true",)
    if enabled:
        return Check(
            check="inbound-cloud-mail",
            subject=name,
            status="ok",
            cause="hybrid-connector",
            summary=f"{name} keeps on-premises senders authenticated.",
            seen=seen,
            expected=expected,
        )
    return Check(
        check="inbound-cloud-mail",
        subject=name,
        status="problem",
        cause="hybrid-connector",
        summary=(
            f"{name} has CloudServicesMailEnabled $false: mail from on-premises arrives as "
            "anonymous, and groups that require authenticated senders reject it (5.7.133)."
        ),
        seen=seen,
        expected=expected,
        steps=(
            "Exchange Online admin, in Exchange Online PowerShell: Set-InboundConnector "
            f"-Identity {_ps(name)} -CloudServicesMailEnabled $true",
            _rerun_hcw(),
        ),
    )


def _ps(value: str) -> str:
    from remediations.exchange.cmdlet import ps_quote

    return ps_quote(value)


# --- rendering ----------------------------------------------------------------------------


def render_check_lines(check: Check, indent: str = "  ") -> list[str]:
    """One check for people: status, what was found, the evidence, the steps."""
    mark = {"ok": "ok     ", "problem": "PROBLEM", "error": "ERROR  "}[check.status]
    lines = [f"{indent}[{mark}] {check.check} ({check.cause}): {check.summary}"]
    pad = indent + "          "
    if check.status != "ok":
        if check.seen:
            lines.append(f"{pad}seen:     {'; '.join(check.seen)}")
        if check.expected:
            lines.append(f"{pad}expected: {'; '.join(check.expected)}")
        lines.extend(f"{pad}{n}. {step}" for n, step in enumerate(check.steps, 1))
    return lines


def render_domain_text(report: DomainReport) -> str:
    """The report for people: one line per check, evidence and steps under each problem."""
    problems = sum(c.status == "problem" for c in report.checks)
    errors = sum(c.status == "error" for c in report.checks)
    if report.status == "ok":
        head = "all checks pass."
    else:
        parts = []
        if problems:
            parts.append(f"{problems} problem{'s' if problems != 1 else ''}")
        if errors:
            parts.append(f"{errors} check{'s' if errors != 1 else ''} could not run")
        head = ", ".join(parts) + "."
    lines = [f"Domain {report.domain} in {report.tenant} ({report.transport}): {head}"]
    for check in report.checks:
        lines.extend(render_check_lines(check))
    return "\n".join(lines) + "\n"
