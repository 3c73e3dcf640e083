"""Let outside senders mail a public folder (NDR 5.7.1 RESOLVER.RST.AuthRequired).

Without a folder the wish means every mail-enabled public folder with the cause
(``scan``'s ``public-folder-auth`` finding: it requires authenticated senders
and has no accept list), read with one ``Get-MailPublicFolder -ResultSize
Unlimited`` and planned as one plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from remediations.actions.recipients import check_identity, get_one, identity_of, resolve_entries
from remediations.exchange.cmdlet import Cmdlet, Transport
from remediations.plan import Change, Plan, Snapshot

AUTH = "RequireSenderAuthenticationEnabled"
ACCEPT = "AcceptMessagesOnlyFromSendersOrMembers"


@dataclass(frozen=True, slots=True, kw_only=True)
class Wish:
    """``folder``: path, name or address, or None for every folder with the cause;
    ``all_senders``: also clear the accept lists."""

    all_targets_field: ClassVar[str] = "folder"

    folder: str | None = None
    all_senders: bool = False

    def __post_init__(self) -> None:
        if self.folder is not None:
            check_identity(self.folder, "--folder", r"'\Support\Escalations'")

    @property
    def all_targets(self) -> bool:
        """Whether the wish names no folder: every folder with the cause."""
        return self.folder is None


class FixPublicFolder:
    """Stop requiring sender authentication on a mail-enabled public folder."""

    name: ClassVar[str] = "fix-public-folder"
    summary: ClassVar[str] = "Let outside senders mail a public folder (5.7.1 AuthRequired)."
    wish_type: ClassVar[type[Wish]] = Wish

    def read(self, transport: Transport, wish: Wish) -> Snapshot:
        """Read the folder's authentication setting and accept lists (or every folder's)."""
        if wish.folder is None:
            return self._read_all(transport, wish)
        identity = wish.folder
        if "@" in identity and not identity.startswith("\\"):
            # Get-MailPublicFolder takes a GUID, name or path, never the SMTP address:
            # find the folder by address first, then read it by its path.
            found = get_one(
                transport,
                Cmdlet.of("Get-Recipient", Identity=identity, RecipientTypeDetails="PublicFolder"),
                what="mail-enabled public folder",
                flag="--folder",
            )
            identity = identity_of(found)
        folder = get_one(
            transport,
            Cmdlet.of("Get-MailPublicFolder", Identity=identity),
            what="mail-enabled public folder",
            flag="--folder",
        )
        target = identity_of(folder)
        return Snapshot(
            values={
                (target, AUTH): bool(folder[AUTH]),
                (target, ACCEPT): resolve_entries(transport, folder[ACCEPT]),
            },
            facts={"targets": (target,)},
        )

    def _read_all(self, transport: Transport, wish: Wish) -> Snapshot:
        """One list read; accept lists are resolved only for folders the plan changes."""
        folders = transport.send(Cmdlet.of("Get-MailPublicFolder", ResultSize="Unlimited")).objects
        values: dict[tuple[str, str], Any] = {}
        targets = []
        left_listed = 0
        for folder in folders:
            target = identity_of(folder)
            entries = _entries(folder)
            values[(target, AUTH)] = bool(folder[AUTH])
            if entries and not wish.all_senders:
                # scan's restricted-recipient finding: opening authentication would not
                # let an outside sender in; add-allowed-sender is its fix.
                left_listed += bool(folder[AUTH])
                values[(target, ACCEPT)] = entries
                continue
            if bool(folder[AUTH]) or entries:
                values[(target, ACCEPT)] = resolve_entries(transport, entries) if entries else ()
                targets.append(target)
            else:
                values[(target, ACCEPT)] = ()
        return Snapshot(values=values, facts={"targets": tuple(targets), "listed": left_listed})

    def plan(self, before: Snapshot, wish: Wish) -> Plan:
        """Turn authentication off; with ``all_senders``, empty the accept lists too."""
        changes: list[Change] = []
        notes: list[str] = []
        for target in before.facts["targets"]:
            self._plan_one(before, wish, target, changes, notes)
        listed = before.facts.get("listed", 0)
        if listed:
            many = listed != 1
            notes.append(
                f"{listed} public {'folders that require' if many else 'folder that requires'} "
                f"authenticated senders also {'accept' if many else 'accepts'} mail only from "
                f"listed senders and {'were' if many else 'was'} left as found: add the sender "
                "with invoke add-allowed-sender, or pass --all-senders to accept everyone."
            )
        return Plan(action=self.name, changes=tuple(changes), notes=tuple(notes))

    def _plan_one(
        self, before: Snapshot, wish: Wish, target: str, changes: list[Change], notes: list[str]
    ) -> None:
        if before.value(target, AUTH):
            changes.append(
                Change(
                    target=target,
                    attribute=AUTH,
                    before=True,
                    after=False,
                    cmdlet=Cmdlet.of("Set-MailPublicFolder", Identity=target, **{AUTH: False}),
                    why="outside senders are not authenticated, so they get 5.7.1 AuthRequired",
                )
            )
        listed = before.value(target, ACCEPT)
        assert isinstance(listed, tuple)
        if listed and wish.all_senders:
            changes.append(
                Change(
                    target=target,
                    attribute=ACCEPT,
                    before=listed,
                    after=(),
                    cmdlet=Cmdlet.of("Set-MailPublicFolder", Identity=target, **{ACCEPT: None}),
                    why="an empty list accepts mail from all senders",
                )
            )
        elif listed:
            notes.append(
                f"{target} still accepts mail only from {', '.join(listed)}; senders not on "
                "that list stay rejected (pass --all-senders to accept everyone)."
            )


def _entries(obj: Mapping[str, Any]) -> tuple[str, ...]:
    value = obj.get(ACCEPT) or ()
    return (value,) if isinstance(value, str) else tuple(str(v) for v in value)
