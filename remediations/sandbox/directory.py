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

:mod:`remediations.sandbox.tenant_sections` checks those sections of a tenant
file (the format is in ``tenant_file``'s docstring).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from remediations.errors import CmdletError
from remediations.exchange import facts
from remediations.exchange.cmdlet import Cmdlet, CmdletResult
from remediations.sandbox.cmdlets import Handler, candidates, stable_guid
from remediations.sandbox.state import ALL_GROUP_TYPES, SandboxState

__all__ = [
    "DIRECTORY_CMDLETS",
    "normalize_name",
    "zone_data",
]


# property -> default, per direction (facts.py); the type of the default is the type a
# tenant file must give (a list means a multi-valued property of strings).
_OUTBOUND: dict[str, Any] = dict(facts.OUTBOUND_CONNECTOR_DEFAULTS)
_INBOUND: dict[str, Any] = dict(facts.INBOUND_CONNECTOR_DEFAULTS)
_DIRECTIONS = {"outbound": _OUTBOUND, "inbound": _INBOUND}


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
