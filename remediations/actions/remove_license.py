"""Remove a leaver's licenses (NDR 5.7.129 for a disabled account, with a mail-flow rule).

The article's second way for a user who left: "remove the license and create a
mail flow rule", because without the rule "the user would continue to receive
messages for about 30 days after removal of the license".  This action is the
first half; ``block-delicensed-user`` is the second.  Licenses live in the
directory (Microsoft Graph), so the change is one ``Set-MgUserLicense``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from remediations.actions._common import check_identity, read_mailbox_user
from remediations.exchange.cmdlet import Cmdlet, Transport
from remediations.plan import Change, Plan, Snapshot

LICENSES = "AssignedLicenses"


@dataclass(frozen=True, slots=True, kw_only=True)
class Wish:
    """``user`` whose licenses to remove; ``sku`` one license only (default: all)."""

    user: str
    sku: str = ""

    def __post_init__(self) -> None:
        check_identity(self.user, "--user", "jordan.lee@contoso.com")
        object.__setattr__(self, "sku", self.sku.strip())


class RemoveLicense:
    """Take a user's licenses away (all of them, or one SKU)."""

    name: ClassVar[str] = "remove-license"
    summary: ClassVar[str] = "Remove a leaver's licenses (5.7.129; then block-delicensed-user)."
    wish_type: ClassVar[type[Wish]] = Wish

    def read(self, transport: Transport, wish: Wish) -> Snapshot:
        """Read the mailbox (for the user's UPN), then the directory user's licenses."""
        _, user = read_mailbox_user(transport, wish.user, ("AccountEnabled", LICENSES))
        upn = str(user["UserPrincipalName"])
        licenses = tuple(sorted(str(lic["SkuId"]) for lic in user.get(LICENSES, ())))
        return Snapshot(
            values={(upn, LICENSES): licenses},
            facts={"upn": upn, "enabled": bool(user.get("AccountEnabled"))},
        )

    def plan(self, before: Snapshot, wish: Wish) -> Plan:
        """One ``Set-MgUserLicense`` removing the wished licenses; empty when none remain."""
        upn = before.facts["upn"]
        current = before.value(upn, LICENSES)
        assert isinstance(current, tuple)
        notes = []
        if before.facts["enabled"]:
            notes.append(
                f"{upn}'s account is still enabled; disable it (on-premises, if synced) if "
                "the person has left."
            )
        if wish.sku:
            removing = tuple(s for s in current if s.lower() == wish.sku.lower())
            if not removing and current:
                notes.append(
                    f"{upn} has no {wish.sku} license (it has {', '.join(current)}); "
                    "nothing to remove."
                )
        else:
            removing = current
        if not removing:
            return Plan(action=self.name, notes=tuple(notes))
        change = Change(
            target=upn,
            attribute=LICENSES,
            before=current,
            after=tuple(s for s in current if s not in removing),
            # Graph PowerShell requires -AddLicenses even when it adds nothing.
            cmdlet=Cmdlet.of(
                "Set-MgUserLicense", UserId=upn, AddLicenses=(), RemoveLicenses=removing
            ),
            why="a leaver keeps no license; mail still arrives for about 30 days unless a "
            "mail-flow rule stops it (block-delicensed-user)",
        )
        return Plan(action=self.name, changes=(change,), notes=tuple(notes))
