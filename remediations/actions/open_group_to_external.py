"""Open a group to outside senders (NDR 5.7.133 SenderNotAuthenticatedForGroup)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from remediations.actions._common import (
    check_identity,
    family_of,
    get_one,
    identity_of,
    refuse_kind,
    resolve_entries,
)
from remediations.exchange.cmdlet import Cmdlet, Transport
from remediations.plan import Change, Plan, Snapshot

AUTH = "RequireSenderAuthenticationEnabled"
ACCEPT = "AcceptMessagesOnlyFromSendersOrMembers"


@dataclass(frozen=True, slots=True, kw_only=True)
class Wish:
    """``group``: a distribution group or a Microsoft 365 group."""

    group: str

    def __post_init__(self) -> None:
        check_identity(self.group, "--group", "partners@contoso.com")


class OpenGroupToExternal:
    """Stop requiring sender authentication on a distribution or Microsoft 365 group."""

    name: ClassVar[str] = "open-group-to-external"
    summary: ClassVar[str] = (
        "Let outside senders mail a group (5.7.133, 5.7.1 AuthRequired to a group)."
    )
    wish_type: ClassVar[type[Wish]] = Wish

    def read(self, transport: Transport, wish: Wish) -> Snapshot:
        """Find which kind of group it is, then read it with that kind's cmdlet."""
        recipient = get_one(
            transport, Cmdlet.of("Get-Recipient", Identity=wish.group), what="group", flag="--group"
        )
        details = str(recipient["RecipientTypeDetails"])
        family = family_of(details)
        if family is None or family.kind not in ("distribution group", "Microsoft 365 group"):
            raise refuse_kind(
                "--group", wish.group, details, "distribution groups and Microsoft 365 groups"
            )
        target = identity_of(recipient)
        group = get_one(
            transport, Cmdlet.of(family.get, Identity=target), what=family.kind, flag="--group"
        )
        return Snapshot(
            values={(target, AUTH): bool(group[AUTH])},
            facts={
                "target": target,
                "family": family,
                "listed": resolve_entries(transport, group[ACCEPT]),
            },
        )

    def plan(self, before: Snapshot, wish: Wish) -> Plan:
        """One change: RequireSenderAuthenticationEnabled to $false."""
        target = before.facts["target"]
        family = before.facts["family"]
        notes = []
        if before.facts["listed"]:
            notes.append(
                f"{target} accepts mail only from {', '.join(before.facts['listed'])}; an "
                "outside sender must also be on that list (invoke add-allowed-sender)."
            )
        if not before.value(target, AUTH):
            return Plan(action=self.name, notes=tuple(notes))
        change = Change(
            target=target,
            attribute=AUTH,
            before=True,
            after=False,
            cmdlet=Cmdlet.of(family.set, Identity=target, **{AUTH: False}),
            why=f"the {family.kind} rejects every sender from outside the organisation",
        )
        return Plan(action=self.name, changes=(change,), notes=tuple(notes))
