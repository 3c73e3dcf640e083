"""From what a real tenant answers to the sandbox's records: the one converter.

A tenant's ``Get-*`` cmdlets return Exchange objects (the admin API's JSON, or
PSRP's deserialised objects, both as mappings with Exchange's property names;
references to other recipients as Guids, as Exchange Online shows them without
``-IncludeAcceptMessagesOnlyFromWithDisplayNames``), and the typed
:class:`~remediations.directory.Directory` returns users, SKUs and domains.
This module turns both into what a :class:`~remediations.sandbox.state.SandboxState`
stores, so that the planning copy (:mod:`remediations.sandbox.planning`) and
``sandbox.import`` (a tenant file, :func:`import_tenant`) share one mapping.

Only what the fixes and the diagnosis look at is kept: names, addresses, kinds,
the delivery settings (authentication, accept lists, moderation and bypass),
group members, owners and sizes, the rules, connectors, accepted domains, the
domains' expected MX and SPF, and users' license state.  Nothing else is copied:
no credential, token or certificate ever reaches a record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from remediations.directory import Directory, DnsRecord, Domain, Sku, User
from remediations.errors import CmdletError, InputError, ResultTruncated
from remediations.exchange import facts
from remediations.exchange.cmdlet import Cmdlet, CmdletResult, Transport
from remediations.sandbox.state import ALL_GROUP_TYPES, SandboxState

__all__ = [
    "IMPORTABLE_TYPES",
    "LIST_PROPERTIES",
    "ImportResult",
    "accepted_domain_entry",
    "connector_entry",
    "domain_entry",
    "import_tenant",
    "merge_recipient",
    "merge_user",
    "new_copy_state",
    "recipient_record",
    "rule_record",
    "sku_entries",
    "user_record",
]

#: the recipient properties that name other recipients (by Guid), as the sandbox stores them
LIST_PROPERTIES = (
    "AcceptMessagesOnlyFrom",
    "AcceptMessagesOnlyFromDLMembers",
    "ModeratedBy",
    "BypassModerationFromSendersOrMembers",
    "ManagedBy",
)
_SCALARS = (
    "Guid",
    "Name",
    "Alias",
    "DisplayName",
    "PrimarySmtpAddress",
    "RecipientType",
    "RecipientTypeDetails",
    "RequireSenderAuthenticationEnabled",
    "ModerationEnabled",
    "ExternalEmailAddress",
    "FolderPath",
    "UserPrincipalName",
    "GroupType",
    "ExternalDirectoryObjectId",
)
_RULE_PROPERTIES = (
    "Guid",
    "Name",
    "Priority",
    "State",
    "Mode",
    "SentTo",
    "FromScope",
    "RejectMessageEnhancedStatusCode",
    "RejectMessageReasonText",
    "DeleteMessage",
    "StopRuleProcessing",
    "Comments",
)
#: the kinds a tenant file describes (RecipientTypeDetails), the ones ``sandbox.import`` copies
IMPORTABLE_TYPES = frozenset(
    {
        "UserMailbox",
        "SharedMailbox",
        "MailUser",
        "MailContact",
        "MailUniversalDistributionGroup",
        "MailUniversalSecurityGroup",
        "GroupMailbox",
        "PublicFolder",
    }
)
# The listing cmdlet of each kind that shows its delivery settings (one call per kind).
_LISTINGS = (
    "Get-Mailbox",
    "Get-MailUser",
    "Get-MailContact",
    "Get-DistributionGroup",
    "Get-UnifiedGroup",
    "Get-MailPublicFolder",
)
_GETTER = {
    "UserMailbox": "Get-Mailbox",
    "SharedMailbox": "Get-Mailbox",
    "MailUser": "Get-MailUser",
    "MailContact": "Get-MailContact",
    "MailUniversalDistributionGroup": "Get-DistributionGroup",
    "MailUniversalSecurityGroup": "Get-DistributionGroup",
    "GroupMailbox": "Get-UnifiedGroup",
    "PublicFolder": "Get-MailPublicFolder",
}


# --- the converter: one object at a time ------------------------------------------------


def _guids(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    return [str(v) for v in value if v]


def _smtp_addresses(obj: Mapping[str, Any]) -> list[str]:
    """The SMTP proxy addresses only (no SIP, SPO, X500...), the primary first as ``SMTP:``."""
    primary = str(obj.get("PrimarySmtpAddress") or "")
    others = []
    for proxy in obj.get("EmailAddresses") or ():
        kind, _, address = str(proxy).partition(":")
        if kind.lower() == "smtp" and address and address.lower() != primary.lower():
            others.append(f"smtp:{address}")
    return ([f"SMTP:{primary}"] if primary else []) + others


def recipient_record(obj: Mapping[str, Any]) -> dict[str, Any]:
    """An Exchange recipient as the sandbox stores it (only the properties ``obj`` has).

    The combined ``AcceptMessagesOnlyFromSendersOrMembers`` is not stored: Exchange
    keeps it as its two halves, and so does the sandbox.
    """
    rec: dict[str, Any] = {k: obj[k] for k in _SCALARS if k in obj and obj[k] is not None}
    if "Guid" not in rec or "Name" not in rec or "RecipientTypeDetails" not in rec:
        raise InputError(
            "A recipient read from the tenant has no Guid, Name or RecipientTypeDetails; "
            "it cannot be copied."
        )
    rec["Guid"] = str(rec["Guid"])
    rec.setdefault("RecipientType", rec["RecipientTypeDetails"])
    if "EmailAddresses" in obj or "PrimarySmtpAddress" in obj:
        rec["EmailAddresses"] = _smtp_addresses(obj)
    for prop in LIST_PROPERTIES:
        if prop in obj:
            rec[prop] = _guids(obj[prop])
    if rec["RecipientTypeDetails"] in ALL_GROUP_TYPES:
        rec.setdefault("ManagedBy", [])
    external = rec.get("ExternalEmailAddress")
    if external and ":" not in str(external):
        rec["ExternalEmailAddress"] = f"SMTP:{external}"
    return rec


def merge_recipient(state: SandboxState, obj: Mapping[str, Any]) -> dict[str, Any]:
    """Add a recipient read from the tenant, or fill in what an earlier read did not show.

    A property the copy already holds is never overwritten: it may be a planned change.
    """
    rec = recipient_record(obj)
    held = state.by_guid(rec["Guid"])
    if held is None:
        if rec["RecipientTypeDetails"] in ALL_GROUP_TYPES:
            rec.setdefault("Members", [])
            rec.setdefault("MemberCount", len(rec["Members"]))
        state.add_recipient(rec)
        return rec
    for key, value in rec.items():
        held.setdefault(key, value)
    return held


def set_members(state: SandboxState, group_guid: str, members: Iterable[str]) -> None:
    """The group's members (Guids) as the tenant listed them; the count stays at least that."""
    group = state.by_guid(group_guid)
    if group is None:
        return
    group["Members"] = list(dict.fromkeys(members))
    group["MemberCount"] = max(int(group.get("MemberCount") or 0), len(group["Members"]))


def rule_record(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A transport rule as the sandbox stores it (SentTo as Guids)."""
    rule: dict[str, Any] = {k: obj[k] for k in _RULE_PROPERTIES if k in obj}
    if "Guid" not in rule or "Name" not in rule:
        raise InputError("A transport rule read from the tenant has no Guid or Name.")
    rule["Guid"] = str(rule["Guid"])
    rule["SentTo"] = _guids(obj.get("SentTo"))
    rule.setdefault("State", "Enabled")
    rule.setdefault("Mode", "Enforce")
    rule.setdefault("Priority", 0)
    rule.setdefault("DeleteMessage", False)
    rule.setdefault("StopRuleProcessing", False)
    rule["Comments"] = str(rule.get("Comments") or "")
    return rule


def accepted_domain_entry(obj: Mapping[str, Any]) -> dict[str, Any]:
    """An accepted domain as the sandbox keeps it."""
    return {
        "DomainName": str(obj.get("DomainName") or obj.get("Name")),
        "DomainType": str(obj.get("DomainType") or "Authoritative"),
        "Default": bool(obj.get("Default")),
        "InitialDomain": bool(obj.get("InitialDomain")),
    }


def connector_entry(obj: Mapping[str, Any], direction: str) -> dict[str, Any]:
    """A connector with the properties the domain checks read (``facts`` defaults' keys)."""
    defaults = (
        facts.OUTBOUND_CONNECTOR_DEFAULTS
        if direction == "outbound"
        else facts.INBOUND_CONNECTOR_DEFAULTS
    )
    entry: dict[str, Any] = {"Name": str(obj["Name"])}
    for key, default in defaults.items():
        if key not in obj:
            continue
        value = obj[key]
        if isinstance(default, list):
            value = [str(v) for v in value or ()]
        elif isinstance(default, bool):
            value = bool(value)
        elif value is not None:
            value = str(value)
        if value != default:
            entry[key] = value
    return entry


def user_record(user: User) -> dict[str, Any]:
    """A directory user (license state included) as the sandbox stores it."""
    states = [
        {"SkuId": s.sku_id.lower(), "AssignedByGroup": s.assigned_by_group}
        for s in user.license_states
    ]
    if not states:
        states = [{"SkuId": s.lower(), "AssignedByGroup": None} for s in user.assigned_licenses]
    return {
        "Id": user.id,
        "UserPrincipalName": user.user_principal_name,
        "DisplayName": user.display_name,
        "GivenName": None,
        "Surname": None,
        "Mail": user.mail,
        "AccountEnabled": user.account_enabled,
        "AssignedLicenses": list(dict.fromkeys(s.lower() for s in user.assigned_licenses)),
        "LicenseAssignmentStates": states,
        "OnPremisesSyncEnabled": user.on_premises_sync_enabled,
    }


def merge_user(state: SandboxState, user: User) -> dict[str, Any]:
    """Add a directory user read from the tenant (one the copy holds is kept as it is)."""
    held = state.find_user(user.id) or state.find_user(user.user_principal_name)
    if held is not None:
        return held
    record = user_record(user)
    state.add_user(record)
    return record


def sku_entries(skus: Iterable[Sku]) -> list[dict[str, str]]:
    """Subscribed SKUs as the sandbox keeps them."""
    return [{"SkuId": s.sku_id.lower(), "SkuPartNumber": s.part_number} for s in skus]


def domain_entry(domain: Domain, records: Iterable[DnsRecord]) -> dict[str, Any]:
    """A domain's ``dns.domains`` entry: verified, services, and the Email MX and SPF asked for.

    The tenant-file format keeps one MX and one SPF per domain; other records
    (autodiscover CNAMEs...) are not looked at by the domain checks and are left out.
    """
    entry: dict[str, Any] = {}
    if not domain.is_verified:
        entry["verified"] = False
    services = list(domain.supported_services)
    if services != ["Email"]:
        entry["services"] = services
    for record in records:
        kind = record.record_type.lower()
        if kind == "mx" and record.mail_exchange and "mx" not in entry:
            entry["mx"] = record.mail_exchange
        elif kind == "txt" and (record.text or "").lower().startswith("v=spf1"):
            entry.setdefault("spf", record.text)
    return entry


def new_copy_state(tenant: str) -> SandboxState:
    """An empty in-memory tenant to fill from a real one.

    ``admin`` is left empty: the identity the copy runs as manages no group, so a
    ``Set-DistributionGroup`` needs ``-BypassSecurityGroupManagerCheck`` on the copy as it
    does for an app-only sign-in on Exchange Online.
    """
    return SandboxState.new(
        {
            "organization": tenant,
            "tenant_domain": tenant,
            "admin": "",
            "server": "PLANNINGCOPY",
            "accepted_domains": [],
            "subscribed_skus": [],
            "external_senders": [],
            "dns": {},
            "connectors": {},
            "blocked_ips": [],
        }
    )


# --- sandbox.import: a tenant file from a real tenant ------------------------------------


@dataclass(slots=True)
class ImportResult:
    """A tenant-file mapping read from a tenant, and what was and was not copied."""

    mapping: dict[str, Any]
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _read(transport: Transport, cmdlet: Cmdlet) -> CmdletResult:
    """A read; a listing the tenant cut short is an error, never a short list."""
    result = transport.send(cmdlet)
    for warning in result.warnings:
        if warning.startswith(facts.RESULT_SIZE_WARNING_START):
            raise ResultTruncated(
                f"{cmdlet.name} returned only part of the list ({warning}); nothing was written.",
                cmdlet=cmdlet,
            )
    return result


def _listing(name: str, **params: Any) -> Cmdlet:
    return Cmdlet.of(name, ResultSize="Unlimited", **params)


def import_tenant(
    transport: Transport,
    directory: Directory | None,
    *,
    identities: Iterable[str] = (),
    resolver: Any = None,
) -> ImportResult:
    """Read what the fixes and the diagnosis look at from a tenant, as a tenant-file mapping.

    Without ``identities``: every mail recipient of the kinds a tenant file describes
    (one listing per kind, ``-ResultSize Unlimited``), every group's members, the rules,
    connectors, accepted domains, and, from the directory, the users' license state, the
    subscribed SKUs and the domains with the MX and SPF Microsoft 365 expects.  With
    ``identities``: those recipients, what their lists, members and owners reference, the
    users among them, the rules that name them (or everyone), and the same tenant-wide
    settings.  ``resolver`` (the target's DNS resolver), when given, adds the live MX and
    TXT records of the accepted domains as ``dns.zones``.  A failed or cut read raises
    (nothing is written).
    """
    from remediations.sandbox.tenant_file import export_tenant, tenant_from_mapping

    names = [i for i in identities if i.strip()]
    notes: list[str] = []
    accepted = [
        accepted_domain_entry(d) for d in _read(transport, Cmdlet.of("Get-AcceptedDomain")).objects
    ]
    default = next((d["DomainName"] for d in accepted if d["Default"]), None)
    initial = next((d["DomainName"] for d in accepted if d["InitialDomain"]), None)
    organization = default or (accepted[0]["DomainName"] if accepted else transport.tenant)
    state = new_copy_state(organization)
    state.data["accepted_domains"] = accepted
    if initial:
        state.data["tenant_domain"] = initial
    state.conn.execute("BEGIN")
    try:
        skipped = _copy_recipients(state, transport, names)
        outside = _keep_references_inside(state)
        _copy_members(state, transport, directory)
        _copy_rules(state, transport)
        state.data["connectors"] = _copy_connectors(transport)
        users, inherited_dropped = _copy_users(state, directory)
        if directory is not None:
            state.data["subscribed_skus"] = sku_entries(directory.subscribed_skus())
            state.data["dns"] = _copy_domains(directory, accepted)
        state.flush()
    except BaseException:
        state.conn.execute("ROLLBACK")
        raise
    state.conn.execute("COMMIT")
    if skipped:
        listed = ", ".join(f"{n} {t}" for t, n in sorted(skipped.items()))
        notes.append(f"Not copied (a tenant file cannot describe them yet): {listed}.")
    if outside and not names:
        notes.append(
            f"{outside} list entr(ies) naming a recipient the file cannot describe were left out."
        )
    if inherited_dropped:
        notes.append(
            f"{inherited_dropped} license(s) held through a group that is not a mail "
            "recipient in the file were left out."
        )
    if directory is None:
        notes.append("This target has no directory: no users' licenses, SKUs or domain records.")
    _drop_foreign_addresses(state, notes)
    if resolver is not None:
        zones = _zones(resolver, accepted)
        if zones:
            state.data["dns"] = {**state.data.get("dns", {}), "zones": zones}
    mapping = export_tenant(state)
    mapping.pop("server", None)  # the sandbox's own (Exchange's server names are not copied)
    if initial is None:
        mapping.pop("tenant_domain", None)
    tenant_from_mapping(mapping, source="the imported tenant")  # the file must load
    counts = {
        "recipients": len(mapping.get("recipients") or []),
        "users": users,
        "transport rules": len(mapping.get("transport_rules") or []),
        "connectors": sum(len(v) for v in (mapping.get("connectors") or {}).values()),
        "accepted domains": len(accepted),
        "domains": len(((mapping.get("dns") or {}).get("domains")) or {}),
    }
    return ImportResult(mapping=mapping, counts=counts, notes=notes)


def _copy_recipients(state: SandboxState, transport: Transport, names: list[str]) -> dict[str, int]:
    skipped: dict[str, int] = {}
    if not names:
        for listing in _LISTINGS:
            for obj in _read(transport, _listing(listing)).objects:
                _take(state, obj, skipped)
        return skipped
    wanted: list[Mapping[str, Any]] = []
    for name in names:
        try:
            found = _read(transport, Cmdlet.of("Get-Recipient", Identity=name)).objects
        except CmdletError as exc:
            if exc.category not in ("NotFound", "Ambiguous"):
                raise
            found = ()
            if exc.category == "Ambiguous":
                raise InputError(
                    f"--identity {name!r} names more than one recipient; give its primary "
                    f"email address (Exchange said: {exc})"
                ) from None
        if len(found) != 1:
            raise InputError(
                f"--identity {name!r}: no recipient has that identity in {transport.tenant}; "
                "give a name, alias or email address."
            )
        full = _full(transport, found[0])
        if str(full.get("RecipientTypeDetails")) not in IMPORTABLE_TYPES:
            raise InputError(
                f"--identity {name!r} is a {full.get('RecipientTypeDetails')}, which a tenant "
                "file cannot describe yet."
            )
        wanted.append(full)
        _take(state, full, skipped)
    # What their lists reference, and the members of the groups (for the mail-flow checks).
    for obj in wanted:
        refs = [g for prop in LIST_PROPERTIES for g in _guids(obj.get(prop))]
        if str(obj.get("RecipientTypeDetails")) in ALL_GROUP_TYPES:
            refs += [str(m["Guid"]) for m in _members(transport, obj) if m.get("Guid") is not None]
        for guid in dict.fromkeys(refs):
            if _in_file(state, guid) is not None:
                continue
            found_ref = _read(transport, Cmdlet.of("Get-Recipient", Identity=guid)).objects
            if found_ref:
                _take(state, _full(transport, found_ref[0]), skipped)
    return skipped


def _in_file(state: SandboxState, entry: str) -> str | None:
    """The Guid of the recipient of the file a list entry names (a Guid, or a name or address
    as Exchange Server may show it), or None."""
    if state.by_guid(entry) is not None:
        return entry
    from remediations.sandbox.cmdlets import candidates

    found = candidates(state, entry, None)
    return str(found[0]["Guid"]) if len(found) == 1 else None


def _keep_references_inside(state: SandboxState) -> int:
    """Lists keep only entries naming a recipient of the file (as Guids); how many went."""
    dropped = 0
    for rec in state.recipients:
        for prop in LIST_PROPERTIES:
            if prop not in rec:
                continue
            kept = [g for g in (_in_file(state, e) for e in rec[prop]) if g is not None]
            dropped += len(rec[prop]) - len(kept)
            rec[prop] = list(dict.fromkeys(kept))
    return dropped


def _full(transport: Transport, obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """The kind's own Get-* (every delivery setting) for a Get-Recipient answer."""
    getter = _GETTER.get(str(obj.get("RecipientTypeDetails")))
    if getter is None:
        return obj
    identity = str(obj.get("Guid") or obj.get("Identity"))
    found = _read(transport, Cmdlet.of(getter, Identity=identity)).objects
    return {**obj, **found[0]} if found else obj


def _take(state: SandboxState, obj: Mapping[str, Any], skipped: dict[str, int]) -> None:
    kind = str(obj.get("RecipientTypeDetails"))
    if kind not in IMPORTABLE_TYPES:
        skipped[kind] = skipped.get(kind, 0) + 1
        return
    merge_recipient(state, obj)


def _members(transport: Transport, group: Mapping[str, Any]) -> tuple[Mapping[str, Any], ...]:
    if group.get("RecipientTypeDetails") not in (
        "MailUniversalDistributionGroup",
        "MailUniversalSecurityGroup",
    ):
        return ()
    cmdlet = Cmdlet.of(
        "Get-DistributionGroupMember", Identity=str(group["Guid"]), ResultSize="Unlimited"
    )
    return _read(transport, cmdlet).objects


def _copy_members(state: SandboxState, transport: Transport, directory: Directory | None) -> None:
    """Each group's members that are in the file, and its size (the directory's count)."""
    for rec in list(state.recipients):
        if rec["RecipientTypeDetails"] not in ALL_GROUP_TYPES:
            continue
        members = [str(m["Guid"]) for m in _members(transport, rec) if m.get("Guid")]
        kept = [g for g in members if state.by_guid(g) is not None]
        rec["Members"] = kept
        count = len(members)
        if directory is not None and rec.get("ExternalDirectoryObjectId"):
            count = max(
                count, directory.transitive_member_count(str(rec["ExternalDirectoryObjectId"]))
            )
        rec["MemberCount"] = max(count, len(kept))


def _copy_rules(state: SandboxState, transport: Transport) -> None:
    rules = [rule_record(r) for r in _read(transport, _listing("Get-TransportRule")).objects]
    kept = []
    for rule in sorted(rules, key=lambda r: int(r.get("Priority") or 0)):
        inside = [g for g in (_in_file(state, e) for e in rule["SentTo"]) if g is not None]
        if rule["SentTo"] and not inside:
            continue  # names no recipient of the file: it cannot touch them
        rule["SentTo"] = inside
        kept.append(rule)
    for index, rule in enumerate(kept):
        rule["Priority"] = index
    state.data["transport_rules"] = kept


def _copy_connectors(transport: Transport) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for direction, cmdlet in (
        ("outbound", "Get-OutboundConnector"),
        ("inbound", "Get-InboundConnector"),
    ):
        found = _read(transport, Cmdlet.of(cmdlet)).objects
        if found:
            out[direction] = [connector_entry(c, direction) for c in found]
    return out


def _copy_users(state: SandboxState, directory: Directory | None) -> tuple[int, int]:
    """Each mailbox's and mail user's directory user; (users copied, inherited licenses left)."""
    if directory is None:
        return 0, 0
    groups = {
        str(r["ExternalDirectoryObjectId"]).lower(): r
        for r in state.recipients
        if r["RecipientTypeDetails"] in ALL_GROUP_TYPES and r.get("ExternalDirectoryObjectId")
    }
    count = dropped = 0
    for rec in state.recipients:
        upn = rec.get("UserPrincipalName")
        if not upn or rec["RecipientTypeDetails"] not in (
            "UserMailbox",
            "SharedMailbox",
            "MailUser",
        ):
            continue
        user = merge_user(state, directory.user(str(upn)))
        rec["UserPrincipalName"] = user["UserPrincipalName"]
        states = []
        for item in user["LicenseAssignmentStates"]:
            group = item.get("AssignedByGroup")
            if group and str(group).lower() not in groups:
                dropped += 1
                continue
            states.append(item)
        user["LicenseAssignmentStates"] = states
        count += 1
    return count, dropped


def _copy_domains(directory: Directory, accepted: list[dict[str, Any]]) -> dict[str, Any]:
    initial = {d["DomainName"].lower() for d in accepted if d["InitialDomain"]}
    domains: dict[str, Any] = {}
    for domain in directory.domains():
        if domain.id.lower() in initial:
            continue  # Microsoft's own: the sandbox knows its records
        domains[domain.id] = domain_entry(domain, directory.service_records(domain.id))
    return {"domains": domains} if domains else {}


def _drop_foreign_addresses(state: SandboxState, notes: list[str]) -> None:
    """Proxy addresses outside the accepted domains (a tenant file refuses them) are left out."""
    accepted = {d["DomainName"].lower() for d in state.accepted_domains}
    dropped = 0
    for rec in state.recipients:
        if rec["RecipientTypeDetails"] in ("MailContact", "MailUser"):
            continue
        kept = [
            a
            for i, a in enumerate(rec.get("EmailAddresses") or ())
            if i == 0 or a.partition(":")[2].rpartition("@")[2].lower() in accepted
        ]
        dropped += len(rec.get("EmailAddresses") or ()) - len(kept)
        rec["EmailAddresses"] = kept
    if dropped:
        notes.append(f"{dropped} proxy address(es) outside the accepted domains were left out.")


def _zones(resolver: Any, accepted: list[dict[str, Any]]) -> dict[str, dict[str, list[str]]]:
    """The accepted domains' live MX and TXT records, as ``dns.zones`` holds them."""
    zones: dict[str, dict[str, list[str]]] = {}
    for domain in accepted:
        if domain["InitialDomain"]:
            continue  # Microsoft's own: the sandbox answers it
        name = str(domain["DomainName"]).lower()
        records = {
            rdtype: list(found)
            for rdtype in ("MX", "TXT")
            if (found := resolver.resolve(name, rdtype))
        }
        if records:
            zones[name] = records
    return zones
