"""DNS: the MX and SPF records of a domain against what Microsoft 365 expects."""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from remediations.diagnose.domain.reads import prop
from remediations.diagnose.domain.result import (
    MICROSOFT_MX_SUFFIXES,
    MX_RECORD,
    SPF_INCLUDE,
    Check,
    CheckOf,
)
from remediations.dns_lookup import DnsLookupFailed, Resolver, normalize_name
from remediations.ndr.codes import Cause

# The tenant's initial domain: Microsoft registers it and serves its DNS (MX and SPF).
_INITIAL_SUFFIX = ".onmicrosoft.com"


def is_microsoft_hosted(domain: str, graph: Mapping[str, Any] | None = None) -> bool:
    """Whether Microsoft hosts the domain's DNS: the tenant's initial ``*.onmicrosoft.com``
    domain (Graph ``isInitial``), which no registrar holds."""
    initial = bool(graph is not None and prop(graph, "IsInitial", False))
    return initial or domain.endswith(_INITIAL_SUFFIX)


def hosted_check(domain: str, check: str) -> Check:
    return CheckOf(check, domain, "domain-dns").ok(
        (
            f"{domain} is the tenant's initial domain: Microsoft hosts its DNS ({check.upper()} "
            "included); there is nothing to set at a registrar."
        ),
        seen=("the initial *.onmicrosoft.com domain",),
        expected=("hosted by Microsoft",),
    )


def dns_error(check: str, subject: str, cause: Cause, exc: DnsLookupFailed) -> Check:
    return CheckOf(check, subject, cause).error(
        str(exc),
        steps=(
            "You (whoever runs this): run the check again; if it keeps failing, check that "
            "this machine's DNS servers answer, e.g. `dig "
            f"{exc.rdtype} {normalize_name(exc.name)}`.",
        ),
    )


def check_again(domain: str) -> str:
    return (
        f"Then check again with `invoke check-domain --domain {shlex.quote(domain)}` "
        "(a DNS change shows once the old record's TTL has passed)."
    )


def dns_admin(domain: str) -> str:
    return f"The DNS administrator of {domain}, at its registrar or DNS host (not in Microsoft 365)"


def _parse_mx(record: str) -> tuple[int, str]:
    match = MX_RECORD.match(record.strip())
    if match is None:
        return (0, normalize_name(record))
    return (int(match.group(1)), normalize_name(match.group(2)))


def check_mx(domain: str, expected: Sequence[Mapping[str, Any]], resolver: Resolver) -> Check:
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
        return dns_error("mx", domain, "domain-dns", exc)
    seen = tuple(f"MX {pref} {host}" for pref, host in live)
    shown = tuple(f"exactly one MX: {host}" for host in wanted)
    if not wanted:
        return CheckOf("mx", domain, "domain-dns").problem(
            (
                f"Microsoft 365 gives no MX record for {domain} (its serviceConfigurationRecords "
                "list none), so there is nothing to compare DNS with."
            ),
            seen=seen,
            expected=("an MX record from Microsoft 365",),
            steps=(
                f"Microsoft 365 admin: open Settings > Domains > {domain} in the admin center "
                "and set the domain up for Exchange (Email); the MX record it then lists is the "
                "one to publish.",
                check_again(domain),
            ),
        )
    hosts = [host for _, host in live]
    if len(hosts) == 1 and hosts[0] in wanted:
        return CheckOf("mx", domain, "domain-dns").ok(
            f"One MX record, {hosts[0]}, the one Microsoft 365 gives {domain}.",
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
    steps = [f"{dns_admin(domain)}: {' and '.join(actions)}."]
    if any(not _is_microsoft_mx(h) for h in wrong):
        steps.append(
            "If some mail must still reach servers on premises, route it with a connector "
            "from Microsoft 365, not with a second MX record."
        )
    steps.append(check_again(domain))
    return CheckOf("mx", domain, "domain-dns").problem(
        summary,
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


def check_spf(domain: str, expected: Sequence[Mapping[str, Any]], resolver: Resolver) -> Check:
    wanted = tuple(
        str(prop(r, "Text"))
        for r in expected
        if str(prop(r, "RecordType", "")).lower() == "txt" and _is_spf(str(prop(r, "Text", "")))
    )
    try:
        records = resolver.resolve(domain, "TXT")
    except DnsLookupFailed as exc:
        return dns_error("spf", domain, "domain-dns", exc)
    spf = [r for r in records if _is_spf(r)]
    seen = tuple(f"TXT {r}" for r in spf) or ("no v=spf1 TXT record",)
    shown = (
        f"exactly one v=spf1 TXT record with include:{SPF_INCLUDE}",
        *(f"Microsoft 365 gives: {w}" for w in wanted),
    )
    if len(spf) == 1 and _has_include(spf[0]):
        return CheckOf("spf", domain, "domain-dns").ok(
            f"One SPF record, and it includes {SPF_INCLUDE}.",
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
    return CheckOf("spf", domain, "domain-dns").problem(
        summary,
        seen=seen,
        expected=shown,
        steps=(
            f"{dns_admin(domain)}: {action} (add any other service that sends as {domain}).",
            check_again(domain),
        ),
    )
