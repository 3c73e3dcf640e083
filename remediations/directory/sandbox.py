"""The sandbox's directory behind the typed :class:`~remediations.directory.Directory` interface.

The sandbox answers directory questions as Graph PowerShell-style cmdlets
(``Get-MgUser``, ``Set-MgUserLicense``, ``Get-MgDomain``,
``Get-MgDomainServiceConfigurationRecord``, ``Get-MgGroupMemberCount``) through
its transport; this adapter sends them and returns typed values, so that code
written against ``Directory`` runs on the sandbox and on Microsoft Graph alike.

The sandbox keeps licenses as part numbers (``ENTERPRISEPACK``); Graph
identifies them by SKU GUID.  Where the sandbox has no ``Get-MgSubscribedSku``,
each part number gets a stable synthetic GUID (uuid5 of the tenant and the part
number) so that both sides speak GUIDs; real tenants' GUIDs come from Graph.
A sandbox user's ``LicenseAssignmentStates`` are read when the sandbox gives
them; without them every license counts as assigned directly.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

from remediations.directory import DnsRecord, Domain, GraphRequest, Group, LicenseState, Sku, User
from remediations.directory import license_removal_request as _removal
from remediations.errors import CmdletError
from remediations.exchange.cmdlet import Cmdlet, Transport

__all__ = ["SandboxDirectory", "sku_guid"]

_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_NAMESPACE = uuid.UUID("6d1c2f0e-8a52-4a35-9a3f-0b7f3f9a4e21")
_USER_PROPERTIES = (
    "Id",
    "UserPrincipalName",
    "DisplayName",
    "Mail",
    "AccountEnabled",
    "AssignedLicenses",
    "LicenseAssignmentStates",
    "OnPremisesSyncEnabled",
)


def sku_guid(tenant: str, part_number: str) -> str:
    """The sandbox's stable GUID for a part number (a GUID stays itself)."""
    if _GUID.match(part_number):
        return part_number.lower()
    return str(uuid.uuid5(_NAMESPACE, f"{tenant.lower()}/{part_number.upper()}"))


class SandboxDirectory:
    """:class:`~remediations.directory.Directory` over a sandbox transport's cmdlets."""

    name = "sandbox directory"

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self._parts: dict[str, str] = {}  # GUID -> part number, learnt from what was read

    def _guid(self, part: str) -> str:
        guid = sku_guid(self.transport.tenant, part)
        self._parts.setdefault(guid, part)
        return guid

    def user(self, user: str) -> User:
        """``Get-MgUser -UserId``; NotFound (Graph's text) for an unknown UPN or id."""
        cmdlet = Cmdlet.of("Get-MgUser", UserId=user, Property=_USER_PROPERTIES)
        return self._user(self.transport.send(cmdlet).objects[0])

    def users(self) -> tuple[User, ...]:
        """``Get-MgUser -All``: every user."""
        cmdlet = Cmdlet.of("Get-MgUser", All=True, Property=_USER_PROPERTIES)
        return tuple(self._user(raw) for raw in self.transport.send(cmdlet).objects)

    def _user(self, raw: Mapping[str, Any]) -> User:
        skus = tuple(self._guid(str(lic["SkuId"])) for lic in raw.get("AssignedLicenses") or ())
        states = raw.get("LicenseAssignmentStates")
        license_states = (
            tuple(
                LicenseState(
                    sku_id=self._guid(str(s["SkuId"])),
                    assigned_by_group=str(s["AssignedByGroup"])
                    if s.get("AssignedByGroup")
                    else None,
                    state=str(s.get("State") or "Active"),
                )
                for s in states
            )
            if states is not None
            else tuple(LicenseState(sku_id=s) for s in skus)
        )
        return User(
            id=str(raw["Id"]),
            user_principal_name=str(raw["UserPrincipalName"]),
            display_name=str(raw.get("DisplayName") or ""),
            mail=str(raw.get("Mail") or ""),
            account_enabled=bool(raw.get("AccountEnabled")),
            assigned_licenses=skus,
            license_states=license_states,
            on_premises_sync_enabled=bool(raw.get("OnPremisesSyncEnabled")),
        )

    def subscribed_skus(self) -> tuple[Sku, ...]:
        """``Get-MgSubscribedSku`` where the sandbox has it; else the part numbers seen so far."""
        try:
            result = self.transport.send(Cmdlet.of("Get-MgSubscribedSku"))
        except CmdletError as exc:
            if exc.category != "CommandNotFound":
                raise
            return tuple(
                Sku(sku_id=g, part_number=p) for g, p in sorted(self._parts.items(), key=_by_part)
            )
        return tuple(
            Sku(
                sku_id=self._guid(str(o.get("SkuId") or o["SkuPartNumber"])),
                part_number=str(o["SkuPartNumber"]),
            )
            for o in result.objects
        )

    def removal_request(self, user: str, sku_ids: tuple[str, ...]) -> GraphRequest:
        """The preview of :meth:`remove_licenses`."""
        return _removal(user, sku_ids)

    def remove_licenses(self, user: str, sku_ids: tuple[str, ...]) -> None:
        """``Set-MgUserLicense -RemoveLicenses`` with the sandbox's part numbers."""
        if not self._parts:
            self.user(user)  # learn the part numbers behind the GUIDs
        parts = tuple(self._parts.get(s.lower(), s) for s in sku_ids)
        self.transport.send(
            Cmdlet.of("Set-MgUserLicense", UserId=user, AddLicenses=(), RemoveLicenses=parts)
        )

    def add_licenses(self, user: str, sku_ids: tuple[str, ...]) -> None:
        """``Set-MgUserLicense -AddLicenses`` with the sandbox's part numbers."""
        if not self._parts:
            self.user(user)  # learn the part numbers behind the GUIDs
        parts = tuple(self._parts.get(s.lower(), s) for s in sku_ids)
        self.transport.send(
            Cmdlet.of("Set-MgUserLicense", UserId=user, AddLicenses=parts, RemoveLicenses=())
        )

    def domains(self) -> tuple[Domain, ...]:
        """``Get-MgDomain``: every domain."""
        return tuple(_domain(o) for o in self.transport.send(Cmdlet.of("Get-MgDomain")).objects)

    def domain(self, name: str) -> Domain:
        """``Get-MgDomain -DomainId``."""
        return _domain(self.transport.send(Cmdlet.of("Get-MgDomain", DomainId=name)).objects[0])

    def service_records(self, name: str) -> tuple[DnsRecord, ...]:
        """``Get-MgDomainServiceConfigurationRecord -DomainId``."""
        cmdlet = Cmdlet.of("Get-MgDomainServiceConfigurationRecord", DomainId=name)
        return tuple(_record(o) for o in self.transport.send(cmdlet).objects)

    def group(self, group: str) -> Group:
        """``Get-MgGroup -GroupId``: id, display name and mail."""
        cmdlet = Cmdlet.of("Get-MgGroup", GroupId=group, Property=("Id", "DisplayName", "Mail"))
        raw = self.transport.send(cmdlet).objects[0]
        return Group(
            id=str(raw["Id"]),
            display_name=str(raw.get("DisplayName") or ""),
            mail=str(raw.get("Mail") or ""),
        )

    def transitive_member_count(self, group: str) -> int:
        """``Get-MgGroupMemberCount -GroupId`` (the sandbox's count)."""
        cmdlet = Cmdlet.of("Get-MgGroupMemberCount", GroupId=group, ConsistencyLevel="eventual")
        return int(self.transport.send(cmdlet).objects[0]["Count"])

    def close(self) -> None:
        """The transport belongs to the target, which closes it."""


def _by_part(item: tuple[str, str]) -> str:
    return item[1]


def _domain(raw: Mapping[str, Any]) -> Domain:
    return Domain(
        id=str(raw["Id"]),
        is_verified=bool(raw.get("IsVerified")),
        is_default=bool(raw.get("IsDefault")),
        is_initial=bool(raw.get("IsInitial")),
        supported_services=tuple(str(s) for s in raw.get("SupportedServices") or ()),
        authentication_type=str(raw.get("AuthenticationType") or "Managed"),
    )


def _record(raw: Mapping[str, Any]) -> DnsRecord:
    preference = raw.get("Preference")
    return DnsRecord(
        record_type=str(raw["RecordType"]),
        label=str(raw.get("Label") or ""),
        supported_service=str(raw.get("SupportedService") or ""),
        ttl=int(raw.get("Ttl") or 3600),
        is_optional=bool(raw.get("IsOptional")),
        mail_exchange=raw.get("MailExchange"),
        preference=int(preference) if preference is not None else None,
        text=raw.get("Text"),
    )
