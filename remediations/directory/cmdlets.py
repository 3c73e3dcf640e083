"""Microsoft Graph PowerShell cmdlets, answered by the directory: one transport per run.

Actions read and change the directory with the Graph PowerShell cmdlets a
person would type (``Get-MgUser``, ``Set-MgUserLicense``, ...): cmdlets stay
data and actions keep their one small interface.  Neither Exchange Online's
admin API nor Exchange Server runs them, so the run's transport routes by
module (:class:`RoutedTransport`): the cmdlets named in :data:`GRAPH_CMDLETS`
(the one table of them) go to the directory, every other cmdlet to Exchange.

On a real tenant the directory side is :class:`DirectoryCmdlets` over the typed
:class:`~remediations.directory.Directory` (Microsoft Graph), which answers in
the shape Graph PowerShell gives: PascalCase properties, and with ``-Property``
only the properties named (and ``Id``).  The sandbox answers these cmdlets
itself, with Graph's semantics.  A target with no directory (on-premises
Exchange only) refuses them in one sentence naming the target, before any change.

The table and :func:`runs_in` / :func:`graph_request` (where a cmdlet runs, a
directory write as its Graph request) live in :mod:`remediations.graph_cmdlets`
and are named here too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from remediations.directory import Directory, DnsRecord, Domain, User
from remediations.errors import CmdletError, InputError
from remediations.exchange import facts
from remediations.exchange.cmdlet import Cmdlet, CmdletResult, Transport
from remediations.graph_cmdlets import (
    EXCHANGE,
    GRAPH,
    GRAPH_CMDLETS,
    graph_request,
    is_graph_cmdlet,
    runs_in,
)
from remediations.graph_cmdlets import strings as _strings

__all__ = [
    "EXCHANGE",
    "GRAPH",
    "GRAPH_CMDLETS",
    "DirectoryCmdlets",
    "RoutedTransport",
    "graph_request",
    "is_graph_cmdlet",
    "runs_in",
]


class DirectoryCmdlets:
    """A :class:`~remediations.exchange.cmdlet.Transport` answering the Graph PowerShell
    cmdlets of :data:`GRAPH_CMDLETS` from a typed :class:`Directory`."""

    def __init__(self, directory: Directory, *, tenant: str) -> None:
        self.directory = directory
        self.name = directory.name
        self.tenant = tenant

    def send(self, cmdlet: Cmdlet) -> CmdletResult:
        """Answer one Graph PowerShell cmdlet in Graph PowerShell's shape."""
        name = cmdlet.name.lower()
        directory = self.directory
        if name == "get-mguser":
            default = facts.GRAPH_USER_DEFAULT_PROPERTIES
            if cmdlet.get("UserId") in (None, ""):
                # Without -All, Get-MgUser lists Graph's first page only.
                users = directory.users()
                if not cmdlet.get("All"):
                    users = users[: facts.GRAPH_DEFAULT_PAGE_SIZE]
                return CmdletResult(
                    objects=tuple(_selected(_user(u), cmdlet, default) for u in users)
                )
            return _one(
                _selected(_user(directory.user(str(cmdlet.get("UserId")))), cmdlet, default)
            )
        if name == "set-mguserlicense":
            user_id = _required(cmdlet, "UserId")
            removing = _strings(cmdlet.get("RemoveLicenses"))
            adding = _strings(cmdlet.get("AddLicenses"))
            if removing:
                directory.remove_licenses(user_id, removing)
            if adding:  # a rollback giving back what remove-license took
                directory.add_licenses(user_id, adding)
            return CmdletResult()
        if name == "get-mgsubscribedsku":
            return CmdletResult(
                objects=tuple(
                    {"SkuId": s.sku_id, "SkuPartNumber": s.part_number}
                    for s in directory.subscribed_skus()
                )
            )
        if name == "get-mggroup":
            group = directory.group(_required(cmdlet, "GroupId"))
            doc = {"Id": group.id, "DisplayName": group.display_name, "Mail": group.mail or None}
            return _one(_selected(doc, cmdlet, ("Id", "DisplayName", "Mail")))
        if name == "get-mgdomain":
            domain_id = cmdlet.get("DomainId")
            if domain_id in (None, ""):
                return CmdletResult(objects=tuple(_domain(d) for d in directory.domains()))
            return _one(_domain(directory.domain(str(domain_id))))
        if name == "get-mgdomainserviceconfigurationrecord":
            records = directory.service_records(_required(cmdlet, "DomainId"))
            return CmdletResult(objects=tuple(_record(r) for r in records))
        if name == "get-mggroupmembercount":
            return _one({"Count": directory.transitive_member_count(_required(cmdlet, "GroupId"))})
        raise CmdletError(
            facts.NO_SUCH_CMDLET.format(name=cmdlet.name), cmdlet=cmdlet, category="CommandNotFound"
        )

    def close(self) -> None:
        """Close the directory."""
        self.directory.close()


class RoutedTransport:
    """The run's one transport: Graph PowerShell cmdlets to the directory, the rest to Exchange.

    ``directory`` is what answers :data:`GRAPH_CMDLETS` (None: the target has no
    directory, and such a cmdlet is refused in one sentence naming ``target``).
    ``name`` and ``tenant`` are the Exchange side's.

    ``onprem`` (a hybrid Exchange Online target's ``onprem:`` target, over PSRP) takes
    the changes Exchange Online refuses because the object is synchronised from on
    premises (category ``DirSynced``): the write is sent there instead, and from then on
    every cmdlet naming that object (by any of its names, addresses or Guids) goes there
    too, so that the change is verified where it was made.
    """

    def __init__(
        self,
        exchange: Transport,
        directory: Transport | None,
        *,
        target: str,
        onprem: Transport | None = None,
    ) -> None:
        self.exchange = exchange
        self.directory = directory
        self.target = target
        self.onprem = onprem
        self.name = exchange.name
        self.tenant = exchange.tenant
        #: identities (lower case) of the directory-synced objects changed on premises
        self.on_premises: set[str] = set()

    def send(self, cmdlet: Cmdlet) -> CmdletResult:
        """Send ``cmdlet`` to the side that runs it."""
        if is_graph_cmdlet(cmdlet):
            if self.directory is None:
                raise InputError(
                    f"target {self.target!r} is on-premises Exchange only and has no "
                    f"directory: {cmdlet.name} runs in Microsoft Graph, so run this on the "
                    "Exchange Online target instead (its 'onprem' setting can name this one)."
                )
            return self.directory.send(cmdlet)
        identity = cmdlet.get("Identity")
        key = identity.lower() if isinstance(identity, str) else ""
        if self.onprem is not None and key and key in self.on_premises:
            return self.onprem.send(cmdlet)
        try:
            return self.exchange.send(cmdlet)
        except CmdletError as exc:
            if exc.category != "DirSynced" or self.onprem is None or not key:
                raise
        # Exchange Online refused before changing anything: make the change on premises.
        self.on_premises |= _identities(self.exchange, key) | {key}
        result = self.onprem.send(cmdlet)
        self.on_premises |= _identities(self.onprem, key)
        return result

    def close(self) -> None:
        """Close every side (each once, when two are the same transport)."""
        self.exchange.close()
        if self.directory is not None and self.directory is not self.exchange:
            self.directory.close()
        if self.onprem is not None:
            self.onprem.close()


_IDENTITY_PROPERTIES = ("Identity", "Name", "DisplayName", "Alias", "PrimarySmtpAddress", "Guid")


def _identities(transport: Transport, identity: str) -> set[str]:
    """Every name, address and Guid the object answers to on one side (empty if unread)."""
    try:
        found = transport.send(Cmdlet.of("Get-Recipient", Identity=identity)).objects
    except CmdletError:
        return set()
    names: set[str] = set()
    for rec in found[:1]:
        names |= {str(rec.get(p) or "").lower() for p in _IDENTITY_PROPERTIES}
        names |= {str(proxy).partition(":")[2].lower() for proxy in rec.get("EmailAddresses") or ()}
    names.discard("")
    return names


def _required(cmdlet: Cmdlet, param: str) -> str:
    value = cmdlet.get(param)
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{cmdlet.name} needs -{param}: the object's id or name.")
    return value


def _one(doc: Mapping[str, Any]) -> CmdletResult:
    return CmdletResult(objects=(doc,))


def _selected(doc: Mapping[str, Any], cmdlet: Cmdlet, default: tuple[str, ...]) -> dict[str, Any]:
    """Only the properties ``-Property`` names (and ``Id``), as ``$select`` returns them."""
    wanted = {p.lower() for p in (_strings(cmdlet.get("Property")) or default)} | {"id"}
    return {k: v for k, v in doc.items() if k.lower() in wanted}


def _user(user: User) -> dict[str, Any]:
    return {
        "Id": user.id,
        "UserPrincipalName": user.user_principal_name,
        "DisplayName": user.display_name,
        "Mail": user.mail or None,
        "AccountEnabled": user.account_enabled,
        "AssignedLicenses": [{"SkuId": s, "DisabledPlans": []} for s in user.assigned_licenses],
        "LicenseAssignmentStates": [
            {
                "SkuId": s.sku_id,
                "AssignedByGroup": s.assigned_by_group,
                "State": s.state,
                "DisabledPlans": [],
            }
            for s in user.license_states
        ],
        "OnPremisesSyncEnabled": user.on_premises_sync_enabled,
    }


def _domain(domain: Domain) -> dict[str, Any]:
    return {
        "Id": domain.id,
        "IsVerified": domain.is_verified,
        "IsDefault": domain.is_default,
        "IsInitial": domain.is_initial,
        "AuthenticationType": domain.authentication_type,
        "SupportedServices": list(domain.supported_services),
    }


def _record(record: DnsRecord) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "RecordType": record.record_type,
        "Label": record.label,
        "SupportedService": record.supported_service,
        "IsOptional": record.is_optional,
        "Ttl": record.ttl,
    }
    if record.mail_exchange is not None:
        doc["MailExchange"] = record.mail_exchange
    if record.preference is not None:
        doc["Preference"] = record.preference
    if record.text is not None:
        doc["Text"] = record.text
    return doc
