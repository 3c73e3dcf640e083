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

from remediations.diagnose.domain.hybrid import connector_checks
from remediations.diagnose.domain.reads import (
    TenantView,
    prop,
    read_expected,
    read_graph_domain,
    read_graph_domains,
    read_tenant_view,
)
from remediations.diagnose.domain.records import (
    check_mx,
    check_spf,
    hosted_check,
    is_microsoft_hosted,
    suggest_spf,
)
from remediations.diagnose.domain.registration import check_accepted, check_verified
from remediations.diagnose.domain.render import render_check_lines, render_domain_text
from remediations.diagnose.domain.result import (
    DOMAIN_NAME,
    MICROSOFT_MX_SUFFIXES,
    SPF_INCLUDE,
    STATUS_EXIT,
    Check,
    DomainReport,
    Status,
)
from remediations.dns_lookup import Resolver, normalize_name
from remediations.errors import InputError
from remediations.exchange.cmdlet import Transport

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


# The checks, by concern: reads.py (what is read from the tenant), records.py (DNS: MX
# and SPF), registration.py (verified, accepted), hybrid.py (connectors), render.py (text);
# result.py holds Check, DomainReport and the builder of a check's results.


def check_domain_name(value: str | None) -> str:
    """The domain name, normalised; InputError (exit 2) for anything else."""
    text = normalize_name(value or "")
    if not DOMAIN_NAME.match(text):
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
    graph = read_graph_domain(transport, name)
    if graph is None and name not in view.accepted:
        known = ", ".join(sorted(view.accepted)) or "none"
        raise InputError(
            f"--domain {name!r} is not a domain of {view.tenant} ({view.transport}): it is "
            f"neither an accepted domain nor added to Microsoft 365 (accepted: {known})."
        )
    expected = read_expected(transport, name) if graph is not None else ()
    if is_microsoft_hosted(name, graph):
        dns_checks = [hosted_check(name, "mx"), hosted_check(name, "spf")]
    else:
        dns_checks = [check_mx(name, expected, resolver), check_spf(name, expected, resolver)]
    checks = [
        *dns_checks,
        check_verified(name, graph),
        check_accepted(name, view),
    ]
    if hybrid:
        checks.extend(connector_checks(view, resolver, domain=name))
    return DomainReport(
        domain=name, tenant=view.tenant, transport=view.transport, checks=tuple(checks)
    )
