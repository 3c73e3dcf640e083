"""What the domain checks read from the tenant: accepted domains, connectors, Graph domains."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from remediations.dns_lookup import normalize_name
from remediations.errors import CmdletError
from remediations.exchange.cmdlet import Cmdlet, Transport

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
        return any(is_on_premises(c) for c in (*self.outbound, *self.inbound))

    @property
    def on_premises_domains(self) -> tuple[str, ...]:
        """Domains whose mail comes from on-premises, so mail to them must go back there."""
        found = {
            name
            for name, domain in self.accepted.items()
            if str(prop(domain, "DomainType", "")).lower() == "internalrelay"
        }
        for connector in self.inbound:
            if is_on_premises(connector) and prop(connector, "Enabled", True):
                found.update(
                    d
                    for d in (address_space(s) for s in list_prop(connector, "SenderDomains"))
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


def read_graph_domain(transport: Transport, name: str) -> Mapping[str, Any] | None:
    try:
        found = transport.send(Cmdlet.of("Get-MgDomain", DomainId=name)).objects
    except CmdletError as exc:
        if exc.category == "NotFound":
            return None
        raise
    return found[0] if found else None


def read_expected(transport: Transport, name: str) -> tuple[Mapping[str, Any], ...]:
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


def list_prop(obj: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = prop(obj, name)
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def is_on_premises(connector: Mapping[str, Any]) -> bool:
    return str(prop(connector, "ConnectorType", "")).lower() == "onpremises"


def address_space(entry: str) -> str:
    """``smtp:contoso.com;1`` (Exchange's serialised form) or ``contoso.com`` -> ``contoso.com``."""
    text = entry.strip()
    if text.lower().startswith("smtp:"):
        text = text[5:]
    return normalize_name(text.split(";", 1)[0])


def covers(pattern: str, domain: str) -> bool:
    """Whether a connector's domain entry covers a domain (``*``; ``*.x``: subdomains of x)."""
    space = address_space(pattern)
    if space == "*":
        return True
    if space.startswith("*."):
        return domain.endswith(space[1:])
    return space == domain
