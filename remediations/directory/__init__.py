"""The directory: users and their licenses, SKUs, domains and their DNS records, group sizes.

These live in Microsoft Entra ID and are read and changed through Microsoft
Graph, not through Exchange cmdlets.  :class:`Directory` is the one typed
interface; it is implemented by Microsoft Graph
(:class:`remediations.directory.graph.GraphDirectory`, msgraph-sdk, imported
only for real targets) and by the sandbox
(:class:`remediations.directory.sandbox.SandboxDirectory`).

A directory write is previewed as what it is: a :class:`GraphRequest`, shown
as the Graph request and as the Microsoft Graph PowerShell line, each labelled.

Failures are the error tree's transport errors (``NotFound``,
``PermissionDenied``, ``Throttled``, ...), raised at each implementation's boundary.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from remediations.exchange.cmdlet import ps_quote

__all__ = [
    "Directory",
    "DnsRecord",
    "Domain",
    "GraphRequest",
    "Group",
    "LicenseState",
    "Sku",
    "User",
    "license_removal_request",
    "license_request",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class LicenseState:
    """One entry of ``licenseAssignmentStates``: a SKU and the group it came from, if any."""

    sku_id: str
    assigned_by_group: str | None = None
    state: str = "Active"


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    """A directory user with what the fixes look at."""

    id: str
    user_principal_name: str
    display_name: str = ""
    mail: str = ""
    account_enabled: bool = True
    #: the SKU GUIDs assigned (directly or through a group)
    assigned_licenses: tuple[str, ...] = ()
    license_states: tuple[LicenseState, ...] = ()
    on_premises_sync_enabled: bool = False

    def inherited_from(self, sku_id: str) -> tuple[str, ...]:
        """The groups (ids) through which this user holds ``sku_id``; () if only direct."""
        return tuple(
            s.assigned_by_group
            for s in self.license_states
            if s.sku_id.lower() == sku_id.lower() and s.assigned_by_group
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Group:
    """A directory group: its id, display name and mail address (``""`` when not mail-enabled)."""

    id: str
    display_name: str = ""
    mail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Sku:
    """A subscribed SKU: its GUID and its part number (``ENTERPRISEPACK``)."""

    sku_id: str
    part_number: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Domain:
    """A domain Microsoft 365 knows (Graph ``/domains``)."""

    id: str
    is_verified: bool
    is_default: bool = False
    is_initial: bool = False
    supported_services: tuple[str, ...] = ()
    authentication_type: str = "Managed"


@dataclass(frozen=True, slots=True, kw_only=True)
class DnsRecord:
    """A record Microsoft 365 asks a domain to publish (``serviceConfigurationRecords``)."""

    record_type: str  # "Mx", "Txt", "CName", ...
    label: str
    supported_service: str = ""
    ttl: int = 3600
    is_optional: bool = False
    mail_exchange: str | None = None
    preference: int | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GraphRequest:
    """A directory write as data: the Graph request and its Graph PowerShell equivalent."""

    method: str
    path: str  # below the version, e.g. "/users/x@contoso.com/assignLicense"
    body: dict[str, Any] = field(default_factory=dict)
    powershell: str = ""

    def to_graph(self) -> str:
        """The request as a person reads it: ``POST /v1.0/... {json}``."""
        text = f"{self.method} /v1.0{self.path}"
        return f"{text} {json.dumps(self.body, sort_keys=True)}" if self.body else text

    def preview(self) -> str:
        """Both renderings, each labelled as what it is."""
        return (
            f"Microsoft Graph request: {self.to_graph()}\n"
            f"Microsoft Graph PowerShell: {self.powershell}"
        )


def license_request(
    user: str, *, add: tuple[str, ...] = (), remove: tuple[str, ...] = ()
) -> GraphRequest:
    """``assignLicense`` adding and removing licenses (SKU GUIDs), as request and PowerShell."""
    if not add:
        return license_removal_request(user, remove)
    tables = ",".join(f"@{{SkuId={ps_quote(s)}}}" for s in add)
    removing = ",".join(ps_quote(s) for s in remove)
    return GraphRequest(
        method="POST",
        path=f"/users/{user}/assignLicense",
        body={
            "addLicenses": [{"skuId": s, "disabledPlans": []} for s in add],
            "removeLicenses": list(remove),
        },
        powershell=(
            f"Set-MgUserLicense -UserId {ps_quote(user)} -AddLicenses @({tables}) "
            f"-RemoveLicenses @({removing})"
        ),
    )


def license_removal_request(user: str, sku_ids: tuple[str, ...]) -> GraphRequest:
    """``assignLicense`` removing ``sku_ids`` (GUIDs), with the ``-AddLicenses @()`` it needs."""
    removing = ",".join(ps_quote(s) for s in sku_ids) or "@()"
    return GraphRequest(
        method="POST",
        path=f"/users/{user}/assignLicense",
        body={"addLicenses": [], "removeLicenses": list(sku_ids)},
        powershell=(
            f"Set-MgUserLicense -UserId {ps_quote(user)} -AddLicenses @() "
            f"-RemoveLicenses @({removing})"
        ),
    )


class Directory(Protocol):
    """Users, licenses, SKUs, domains, groups and group sizes, by whatever reaches them.

    Lists (SKUs, domains) are whole: an implementation follows every page, and a
    failed or throttled read raises, never answers empty.
    """

    #: how previews and the audit log name it ("Microsoft Graph", "sandbox directory")
    name: str

    def user(self, user: str) -> User:
        """A user by UPN or id; ``NotFound`` if there is none."""
        ...

    def users(self) -> tuple[User, ...]:
        """Every user of the tenant (one paged listing, not one read per user)."""
        ...

    def subscribed_skus(self) -> tuple[Sku, ...]:
        """The tenant's subscribed SKUs (part number and GUID)."""
        ...

    def remove_licenses(self, user: str, sku_ids: tuple[str, ...]) -> None:
        """Remove licenses (by SKU GUID) from a user; a write."""
        ...

    def add_licenses(self, user: str, sku_ids: tuple[str, ...]) -> None:
        """Assign licenses (by SKU GUID, every service plan on) to a user; a write.

        Only a rollback sends it: it gives back what a remove-license run took.
        """
        ...

    def domains(self) -> tuple[Domain, ...]:
        """Every domain of the tenant."""
        ...

    def domain(self, name: str) -> Domain:
        """One domain; ``NotFound`` if the tenant does not have it."""
        ...

    def service_records(self, name: str) -> tuple[DnsRecord, ...]:
        """The DNS records Microsoft 365 expects the domain to publish."""
        ...

    def group(self, group: str) -> Group:
        """A group by id; ``NotFound`` if there is none."""
        ...

    def transitive_member_count(self, group: str) -> int:
        """How many members a group has, nested ones included."""
        ...

    def close(self) -> None:
        """Release connections; idempotent."""
        ...
