"""Connectors, domains and DNS in the sandbox: the cmdlets and the resolver the domain checks use.

Cmdlets (in :data:`DIRECTORY_CMDLETS`, joined with the rest in ``sandbox.dispatch``):

* ``Get-OutboundConnector`` / ``Get-InboundConnector`` ``[-Identity]``: the
  tenant file's ``connectors.outbound`` / ``connectors.inbound``, with
  Exchange's defaults filled in (``shared/reference/exchange.md`` 2.2);
* ``Get-MgDomain [-DomainId]``: the domains Microsoft 365 knows (Graph
  ``/domains``): every accepted domain, verified and with the Email service
  unless ``dns.domains`` says otherwise, plus any other ``dns.domains`` entry;
* ``Get-MgDomainServiceConfigurationRecord -DomainId``: the records Microsoft
  365 asks the domain to publish (Graph ``serviceConfigurationRecords``): the
  ``mx`` and ``spf`` of the domain's ``dns.domains`` entry, nothing else;
  the sandbox never derives them from the name, as Microsoft does not;
* ``Get-MgGroupMemberCount -GroupId``: a group's ``MemberCount``.

:func:`zone_data` gives ``dns.zones``, from which the sandbox's DNS answers
(``remediations.dns_lookup.ZoneResolver``): a name the zones do not hold
does not exist (NXDOMAIN).

:func:`check_dns_section` and :func:`check_connectors_section` validate those
sections of a tenant file (the format is in ``tenant_file``'s docstring).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from remediations.errors import CmdletError, InputError
from remediations.exchange import facts
from remediations.exchange.cmdlet import Cmdlet, CmdletResult
from remediations.sandbox.cmdlets import Handler, candidates, stable_guid
from remediations.sandbox.state import ALL_GROUP_TYPES, SandboxState

__all__ = [
    "DIRECTORY_CMDLETS",
    "check_connectors_section",
    "check_dns_section",
    "zone_data",
]


# property -> default, per direction (facts.py); the type of the default is the type a
# tenant file must give (a list means a multi-valued property of strings).
_OUTBOUND: dict[str, Any] = dict(facts.OUTBOUND_CONNECTOR_DEFAULTS)
_INBOUND: dict[str, Any] = dict(facts.INBOUND_CONNECTOR_DEFAULTS)
_CHOICES: dict[str, tuple[str | None, ...]] = {
    "ConnectorType": ("Partner", "OnPremises"),
    "ConnectorSource": ("Default", "HybridWizard", "Migrated"),
    "TlsSettings": (None, "EncryptionOnly", "CertificateValidation", "DomainValidation"),
}
_DIRECTIONS = {"outbound": _OUTBOUND, "inbound": _INBOUND}
_DOMAIN_KEYS = frozenset({"verified", "services", "mx", "spf"})
_RECORD_TYPES = ("MX", "TXT", "A")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_MX = re.compile(r"^(\d{1,5})\s+(\S+)$")


# --- tenant-file validation ------------------------------------------------------------


def check_dns_section(value: Any, where: str) -> None:
    """Check a tenant file's ``dns`` section; raise InputError naming the entry and key."""
    if value is None:
        return
    if not isinstance(value, dict):
        raise InputError(f"{where} must be a mapping with 'domains' and/or 'zones'.")
    unknown = sorted(set(value) - {"domains", "zones"})
    if unknown:
        raise InputError(f"{where}: unknown key {unknown[0]!r}; expected domains or zones.")
    domains = value.get("domains") or {}
    if not isinstance(domains, dict):
        raise InputError(f"{where}.domains must map each domain name to its settings.")
    for name, entry in domains.items():
        here = f"{where}.domains.{name}"
        _check_name(name, here)
        if not isinstance(entry, dict):
            raise InputError(f"{here} must be a mapping (verified, services, mx, spf).")
        bad = sorted(set(entry) - _DOMAIN_KEYS)
        if bad:
            raise InputError(
                f"{here}: unknown key {bad[0]!r}; expected one of "
                f"{', '.join(sorted(_DOMAIN_KEYS))}."
            )
        if not isinstance(entry.get("verified", True), bool):
            raise InputError(f"{here}.verified must be true or false.")
        _check_strings(entry.get("services", []), f"{here}.services")
        for key in ("mx", "spf"):
            if key in entry and not isinstance(entry[key], str):
                raise InputError(f"{here}.{key} must be one text value.")
    zones = value.get("zones") or {}
    if not isinstance(zones, dict):
        raise InputError(f"{where}.zones must map each DNS name to its records.")
    for name, records in zones.items():
        here = f"{where}.zones.{name}"
        _check_name(name, here)
        if not isinstance(records, dict):
            raise InputError(f"{here} must map record types (MX, TXT, A) to lists.")
        for rdtype, values in records.items():
            if rdtype not in _RECORD_TYPES:
                raise InputError(f"{here}: record type {rdtype!r} is not one of MX, TXT, A.")
            for item in _check_strings(values, f"{here}.{rdtype}"):
                _check_record(rdtype, item, f"{here}.{rdtype}")


def check_connectors_section(value: Any, where: str) -> None:
    """Check a tenant file's ``connectors`` section; raise InputError naming the entry and key."""
    if value is None:
        return
    if not isinstance(value, dict):
        raise InputError(f"{where} must be a mapping with 'outbound' and/or 'inbound' lists.")
    unknown = sorted(set(value) - set(_DIRECTIONS))
    if unknown:
        raise InputError(f"{where}: unknown key {unknown[0]!r}; expected outbound or inbound.")
    for direction, defaults in _DIRECTIONS.items():
        entries = value.get(direction) or []
        if not isinstance(entries, list):
            raise InputError(f"{where}.{direction} must be a list of connectors.")
        names: set[str] = set()
        for index, entry in enumerate(entries):
            here = f"{where}.{direction}[{index}]"
            if not isinstance(entry, dict) or not isinstance(entry.get("Name"), str):
                raise InputError(f"{here}: each connector is a mapping with a 'Name'.")
            if entry["Name"].lower() in names:
                raise InputError(f"{here}: the name {entry['Name']!r} is used twice.")
            names.add(entry["Name"].lower())
            for key, given in entry.items():
                if key == "Name":
                    continue
                if key not in defaults:
                    raise InputError(
                        f"{here} ({entry['Name']}): unknown property {key!r}; expected one of "
                        f"Name, {', '.join(sorted(defaults))}."
                    )
                _check_property(key, given, defaults[key], f"{here} ({entry['Name']}).{key}")


def _check_property(key: str, given: Any, default: Any, where: str) -> None:
    if key in _CHOICES:
        if given not in _CHOICES[key]:
            choices = ", ".join(c for c in _CHOICES[key] if c)
            raise InputError(f"{where} is {given!r}; give one of {choices}.")
    elif isinstance(default, bool):
        if not isinstance(given, bool):
            raise InputError(f"{where} must be true or false.")
    elif isinstance(default, list):
        _check_strings(given, where)
    elif given is not None and not isinstance(given, str):
        raise InputError(f"{where} must be one text value.")


def _check_strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{where} must be a list of strings.")
    return value


def _check_name(name: Any, where: str) -> None:
    text = normalize_name(name) if isinstance(name, str) else ""
    if not text or not all(_LABEL.match(label) for label in text.split(".")):
        raise InputError(f"{where}: {name!r} is not a DNS name.")


def _check_record(rdtype: str, item: str, where: str) -> None:
    if rdtype == "MX" and not _MX.match(item.strip()):
        raise InputError(f"{where}: {item!r} is not 'PREFERENCE HOST', e.g. '0 mx.contoso.com'.")
    if rdtype == "A":
        try:
            ipaddress.IPv4Address(item)
        except ValueError:
            raise InputError(f"{where}: {item!r} is not an IPv4 address.") from None


# --- connectors ------------------------------------------------------------------------


def _connectors(state: SandboxState, direction: str) -> list[dict[str, Any]]:
    section = state.data.get("connectors") or {}
    return list(section.get(direction) or [])


def _present_connector(
    state: SandboxState, entry: Mapping[str, Any], defaults: Mapping[str, Any]
) -> dict[str, Any]:
    out: dict[str, Any] = {"Identity": entry["Name"], "Name": entry["Name"]}
    for key, default in defaults.items():
        value = entry.get(key, default)
        out[key] = list(value) if isinstance(value, list) else value
    out["Guid"] = stable_guid(state.organization, "Connector", entry["Name"])
    return out


def _connector_getter(direction: str) -> Handler:
    defaults = _DIRECTIONS[direction]

    def get(state: SandboxState, cmdlet: Cmdlet) -> CmdletResult:
        shown = [_present_connector(state, c, defaults) for c in _connectors(state, direction)]
        identity = cmdlet.get("Identity")
        if identity in (None, ""):
            return CmdletResult(objects=tuple(shown))
        key = str(identity).lower()
        found = [c for c in shown if key in (c["Name"].lower(), c["Guid"].lower())]
        if not found:
            raise CmdletError(
                facts.NOT_FOUND.format(identity=identity, server=state.server),
                cmdlet=cmdlet,
                category="NotFound",
            )
        return CmdletResult(objects=tuple(found))

    return get


# --- domains (Graph) ---------------------------------------------------------------------


def _initial_domains(state: SandboxState) -> dict[str, dict[str, Any]]:
    """The initial (*.onmicrosoft.com) domain -> the records Microsoft keeps for it."""
    out = {}
    for accepted in state.accepted_domains:
        if accepted.get("InitialDomain"):
            name = normalize_name(accepted["DomainName"])
            mx = facts.INITIAL_DOMAIN_MX.format(name=name.removesuffix(facts.INITIAL_DOMAIN_SUFFIX))
            out[name] = {"mx": mx, "spf": facts.INITIAL_DOMAIN_SPF}
    return out


def _graph_domains(state: SandboxState) -> dict[str, dict[str, Any]]:
    """Domain name -> its dns.domains entry; accepted domains get the defaults."""
    listed = ((state.data.get("dns") or {}).get("domains")) or {}
    out: dict[str, dict[str, Any]] = {}
    for accepted in state.accepted_domains:
        out[normalize_name(accepted["DomainName"])] = {}
    out.update(_initial_domains(state))
    for name, entry in listed.items():
        out[normalize_name(name)] = dict(entry)
    return out


def _present_domain(state: SandboxState, name: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    accepted = [d for d in state.accepted_domains if normalize_name(d["DomainName"]) == name]
    default = any(d.get("Default") for d in accepted)
    initial = any(d.get("InitialDomain") for d in accepted)
    return {
        "Id": name,
        "IsVerified": bool(entry.get("verified", True)),
        "IsDefault": default,
        "IsInitial": initial,
        "IsRoot": True,
        "AuthenticationType": "Managed",
        "SupportedServices": list(entry.get("services", ["Email"])),
    }


def _find_domain(state: SandboxState, cmdlet: Cmdlet) -> tuple[str, dict[str, Any]]:
    name = normalize_name(str(cmdlet.get("DomainId")))
    domains = _graph_domains(state)
    if name not in domains:
        raise CmdletError(
            facts.GRAPH_NOT_FOUND.format(identity=cmdlet.get("DomainId")),
            cmdlet=cmdlet,
            category="NotFound",
        )
    return name, domains[name]


def _get_mg_domain(state: SandboxState, cmdlet: Cmdlet) -> CmdletResult:
    if cmdlet.get("DomainId") in (None, ""):
        domains = _graph_domains(state)
        return CmdletResult(objects=tuple(_present_domain(state, n, e) for n, e in domains.items()))
    name, entry = _find_domain(state, cmdlet)
    return CmdletResult(objects=(_present_domain(state, name, entry),))


def _get_service_records(state: SandboxState, cmdlet: Cmdlet) -> CmdletResult:
    name, entry = _find_domain(state, cmdlet)
    common = {"Label": name, "SupportedService": "Email", "IsOptional": False, "Ttl": 3600}
    records: list[dict[str, Any]] = []
    if "mx" in entry:
        records.append(
            {
                "Id": stable_guid(state.organization, "DnsRecord", name, "MX"),
                "RecordType": "Mx",
                "MailExchange": entry["mx"],
                "Preference": 0,
                **common,
            }
        )
    if "spf" in entry:
        records.append(
            {
                "Id": stable_guid(state.organization, "DnsRecord", name, "TXT"),
                "RecordType": "Txt",
                "Text": entry["spf"],
                **common,
            }
        )
    return CmdletResult(objects=tuple(records))


def _get_group_member_count(state: SandboxState, cmdlet: Cmdlet) -> CmdletResult:
    group_id = str(cmdlet.get("GroupId"))
    # Graph's group id is the recipient's ExternalDirectoryObjectId.
    found = [
        r
        for r in state.find(group_id, ("directory",))
        if str(r.get("ExternalDirectoryObjectId", "")).lower() == group_id.lower()
        and "MemberCount" in r
    ] or [r for r in candidates(state, group_id, ALL_GROUP_TYPES) if "MemberCount" in r]
    if len(found) != 1:
        raise CmdletError(
            facts.GRAPH_NOT_FOUND.format(identity=group_id), cmdlet=cmdlet, category="NotFound"
        )
    return CmdletResult(objects=({"Count": int(found[0]["MemberCount"])},))


# cmdlet name (lower case) -> (allowed parameters, mandatory parameters, handler)
DIRECTORY_CMDLETS: dict[str, tuple[frozenset[str], tuple[str, ...], Handler]] = {
    "get-outboundconnector": (
        frozenset({"Identity", "IncludeTestModeConnectors", "IsTransportRuleScoped", "ResultSize"}),
        (),
        _connector_getter("outbound"),
    ),
    "get-inboundconnector": (
        frozenset({"Identity", "ResultSize"}),
        (),
        _connector_getter("inbound"),
    ),
    "get-mgdomain": (frozenset({"DomainId", "Property", "All"}), (), _get_mg_domain),
    "get-mgdomainserviceconfigurationrecord": (
        frozenset({"DomainId", "All"}),
        ("DomainId",),
        _get_service_records,
    ),
    "get-mggroupmembercount": (
        frozenset({"GroupId", "ConsistencyLevel"}),
        ("GroupId",),
        _get_group_member_count,
    ),
}


# --- DNS -------------------------------------------------------------------------------


def zone_data(state: SandboxState) -> dict[str, dict[str, list[str]]]:
    """The tenant's ``dns.zones``: what the sandbox's DNS answers (see ``ZoneResolver``),
    with Microsoft's own records for the initial domain unless the file gives them."""
    zones: dict[str, dict[str, list[str]]] = ((state.data.get("dns") or {}).get("zones")) or {}
    initial = {
        name: {"MX": [f"0 {entry['mx']}"], "TXT": [entry["spf"]]}
        for name, entry in _initial_domains(state).items()
        if name not in {normalize_name(z) for z in zones}
    }
    return {**zones, **initial} if initial else zones


def normalize_name(name: str) -> str:
    """A DNS name as compared here: lower case, no trailing dot."""
    return name.strip().rstrip(".").lower()
