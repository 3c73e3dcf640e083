"""Registration: the domain verified in Microsoft 365 and accepted by Exchange Online."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from remediations.diagnose.domain.reads import TenantView, list_prop, prop
from remediations.diagnose.domain.result import Check, CheckOf


def check_verified(domain: str, graph: Mapping[str, Any] | None) -> Check:
    expected = ("isVerified: true", "supportedServices includes Email")
    if graph is None:
        return CheckOf("verified", domain, "unregistered-domain").problem(
            (
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
    services = list_prop(graph, "SupportedServices")
    seen = (
        f"isVerified: {str(verified).lower()}",
        f"supportedServices: {', '.join(services) or '(none)'}",
    )
    if not verified:
        return CheckOf("verified", domain, "unregistered-domain").problem(
            (
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
        return CheckOf("verified", domain, "unregistered-domain").problem(
            f"{domain} is verified but not set up for Email (Exchange).",
            seen=seen,
            expected=expected,
            steps=(
                f"Microsoft 365 admin: in Settings > Domains > {domain}, choose Exchange "
                "(Email) among the domain's services and publish the records it lists.",
            ),
        )
    return CheckOf("verified", domain, "unregistered-domain").ok(
        f"{domain} is verified in Microsoft 365 and set up for Email.",
        seen=seen,
        expected=expected,
    )


def check_accepted(domain: str, view: TenantView) -> Check:
    found = view.accepted.get(domain)
    if found is not None:
        kind = str(prop(found, "DomainType", "Authoritative"))
        return CheckOf("accepted", domain, "unregistered-domain").ok(
            f"{domain} is an accepted domain of Exchange Online ({kind}).",
            seen=(f"accepted domain, {kind}",),
            expected=("an accepted domain",),
        )
    return CheckOf("accepted", domain, "unregistered-domain").problem(
        (
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
