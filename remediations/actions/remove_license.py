"""Remove a leaver's licenses (NDR 5.7.129 for a disabled account, with a mail-flow rule).

The article's second way for a user who left: "remove the license and create a
mail flow rule", because without the rule "the user would continue to receive
messages for about 30 days after removal of the license".  This action is the
first half; ``block-delicensed-user`` is the second.  Licenses live in the
directory (Microsoft Graph), so the change is one ``Set-MgUserLicense``.

Graph semantics this respects (exchange.md 9):

* ``-RemoveLicenses`` takes SKU GUIDs (``skuId``); ``Get-MgSubscribedSku``
  maps them to part numbers (``ENTERPRISEPACK``), which the diff shows;
* ``Get-MgUser -Property`` returns only the properties named, so every
  property read here is named;
* a license assigned through a group (``licenseAssignmentStates`` with
  ``assignedByGroup``) cannot be removed from the user: the plan refuses and
  names the group;
* an enabled account is not a leaver: refused unless ``even_if_active``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from remediations.actions.recipients import check_identity, read_mailbox_user
from remediations.errors import Refused
from remediations.exchange.cmdlet import Cmdlet, Transport
from remediations.plan import Change, Plan, Snapshot

LICENSES = "AssignedLicenses"
USER_PROPERTIES = (
    "Id",
    "UserPrincipalName",
    "AccountEnabled",
    "AssignedLicenses",
    "LicenseAssignmentStates",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Wish:
    """``user`` whose licenses to remove; ``sku`` one license only (part number or GUID;
    default: all); ``even_if_active`` to delicense an enabled account."""

    user: str
    sku: str = ""
    even_if_active: bool = False

    def __post_init__(self) -> None:
        check_identity(self.user, "--user", "jordan.lee@contoso.com")
        object.__setattr__(self, "sku", self.sku.strip())


def read_skus(transport: Transport) -> dict[str, str]:
    """skuId (lower case) -> skuPartNumber, from the tenant's subscribed SKUs."""
    skus = transport.send(Cmdlet.of("Get-MgSubscribedSku", All=True)).objects
    return {str(s["SkuId"]).lower(): str(s["SkuPartNumber"]) for s in skus}


def read_group_names(transport: Transport, ids: set[str]) -> dict[str, str]:
    """Directory group id -> display name (the id itself when Graph has no such group)."""
    names = {}
    for group_id in sorted(ids):
        found = transport.send(
            Cmdlet.of("Get-MgGroup", GroupId=group_id, Property=("Id", "DisplayName", "Mail"))
        ).objects
        group = found[0] if found else {}
        mail = group.get("Mail")
        shown = str(group.get("DisplayName") or group_id)
        names[group_id] = f"{shown} ({mail})" if mail else shown
    return names


@dataclass(frozen=True, slots=True)
class License:
    """One license as the user holds it."""

    sku_id: str
    part: str
    groups: tuple[str, ...]  # the groups it comes through (display names)
    direct: bool  # assigned to the user directly


def licenses_of(
    user: Mapping[str, Any], skus: Mapping[str, str], groups: Mapping[str, str]
) -> tuple[License, ...]:
    """The user's licenses: how each was assigned, and its part number."""
    states = user.get("LicenseAssignmentStates") or [
        {"SkuId": lic["SkuId"], "AssignedByGroup": None} for lic in user.get(LICENSES, ())
    ]
    out = []
    for lic in user.get(LICENSES, ()):
        sku_id = str(lic["SkuId"]).lower()
        mine = [s for s in states if str(s["SkuId"]).lower() == sku_id]
        by_group = tuple(
            groups.get(str(s["AssignedByGroup"]), str(s["AssignedByGroup"]))
            for s in mine
            if s.get("AssignedByGroup")
        )
        direct = not mine or any(not s.get("AssignedByGroup") for s in mine)
        out.append(License(sku_id, skus.get(sku_id, sku_id), by_group, direct))
    return tuple(sorted(out, key=lambda lic: lic.part.lower()))


class RemoveLicense:
    """Take a user's licenses away (all of them, or one SKU)."""

    name: ClassVar[str] = "remove-license"
    summary: ClassVar[str] = "Remove a leaver's licenses (5.7.129; then block-delicensed-user)."
    wish_type: ClassVar[type[Wish]] = Wish

    def read(self, transport: Transport, wish: Wish) -> Snapshot:
        """Read the mailbox (for the user's UPN), the user's licenses and the SKU names."""
        _, user = read_mailbox_user(transport, wish.user, USER_PROPERTIES)
        upn = str(user["UserPrincipalName"])
        skus = read_skus(transport) if user.get(LICENSES) else {}
        group_ids = {
            str(s["AssignedByGroup"])
            for s in user.get("LicenseAssignmentStates") or ()
            if s.get("AssignedByGroup")
        }
        held = licenses_of(user, skus, read_group_names(transport, group_ids))
        return Snapshot(
            values={(upn, LICENSES): tuple(lic.part for lic in held)},
            facts={"upn": upn, "enabled": bool(user.get("AccountEnabled")), "licenses": held},
        )

    def plan(self, before: Snapshot, wish: Wish) -> Plan:
        """One ``Set-MgUserLicense`` removing the wished licenses; empty when none remain."""
        upn = before.facts["upn"]
        held: tuple[License, ...] = before.facts["licenses"]
        notes = []
        if wish.sku:
            key = wish.sku.lower()
            removing = tuple(lic for lic in held if key in (lic.part.lower(), lic.sku_id))
            if not removing and held:
                notes.append(
                    f"{upn} has no {wish.sku} license (it has "
                    f"{', '.join(lic.part for lic in held)}); nothing to remove."
                )
        else:
            removing = held
        if not removing:
            return Plan(action=self.name, notes=tuple(notes))
        if before.facts["enabled"] and not wish.even_if_active:
            raise Refused(
                f"--user {wish.user!r} is an enabled account; removing the licenses of someone "
                "who has not left is refused. Disable the account first (on premises, if "
                "synced), or pass --even-if-active (in a playbook, even_if_active=true)."
            )
        inherited = [lic for lic in removing if not lic.direct]
        if inherited:
            lic = inherited[0]
            raise Refused(
                f"--user {wish.user!r}: the {lic.part} license is assigned through the group "
                f"{', '.join(lic.groups)} and cannot be removed from the user (group-based "
                "licensing); remove the user from that group instead"
                + (", or name the others with --sku." if len(inherited) < len(removing) else ".")
            )
        current = tuple(lic.part for lic in held)
        gone = {lic.sku_id for lic in removing}
        change = Change(
            target=upn,
            attribute=LICENSES,
            before=current,
            after=tuple(lic.part for lic in held if lic.sku_id not in gone),
            # Graph PowerShell requires -AddLicenses even when it adds nothing;
            # -RemoveLicenses takes SKU GUIDs (skuId), never part numbers.
            cmdlet=Cmdlet.of(
                "Set-MgUserLicense",
                UserId=upn,
                AddLicenses=(),
                RemoveLicenses=tuple(lic.sku_id for lic in removing),
            ),
            why=f"remove {', '.join(f'{lic.part} ({lic.sku_id})' for lic in removing)}: a "
            "leaver keeps no license; mail still arrives for about 30 days unless a mail-flow "
            "rule stops it (block-delicensed-user)",
        )
        return Plan(action=self.name, changes=(change,), notes=tuple(notes))
