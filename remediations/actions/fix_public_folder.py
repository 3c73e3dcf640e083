"""Let outside senders mail a public folder (NDR 5.7.1 RESOLVER.RST.AuthRequired)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from remediations.actions._common import check_identity, get_one, identity_of, resolve_entries
from remediations.exchange.cmdlet import Cmdlet, Transport
from remediations.plan import Change, Plan, Snapshot

AUTH = "RequireSenderAuthenticationEnabled"
ACCEPT = "AcceptMessagesOnlyFromSendersOrMembers"


@dataclass(frozen=True, slots=True, kw_only=True)
class Wish:
    """``folder``: path, name or address; ``all_senders``: also clear the accept lists."""

    folder: str
    all_senders: bool = False

    def __post_init__(self) -> None:
        check_identity(self.folder, "--folder", r"'\Support\Escalations'")


class FixPublicFolder:
    """Stop requiring sender authentication on a mail-enabled public folder."""

    name: ClassVar[str] = "fix-public-folder"
    summary: ClassVar[str] = "Let outside senders mail a public folder (5.7.1 AuthRequired)."
    wish_type: ClassVar[type[Wish]] = Wish

    def read(self, transport: Transport, wish: Wish) -> Snapshot:
        """Read the folder's authentication setting and accept lists."""
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
            facts={"target": target},
        )

    def plan(self, before: Snapshot, wish: Wish) -> Plan:
        """Turn authentication off; with ``all_senders``, empty the accept lists too."""
        target = before.facts["target"]
        changes = []
        notes = []
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
        return Plan(action=self.name, changes=tuple(changes), notes=tuple(notes))
