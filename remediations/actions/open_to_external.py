"""Open a recipient to outside senders (NDR 5.7.133, 5.7.193, 5.7.134, 5.7.136).

A distribution group (5.7.133), a Microsoft 365 group (5.7.193), a mailbox
(5.7.134) or a mail user (5.7.136) that requires authenticated senders rejects
every sender from outside the organisation.  The fix is one Set-* with
``-RequireSenderAuthenticationEnabled:$false``; an accept list, if any, stays
the restriction (the plan says so).  ``open-group-to-external`` is the same
action limited to groups.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

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

_ALL_KINDS = ("distribution group", "Microsoft 365 group", "mailbox", "mail user")
_GROUP_KINDS = ("distribution group", "Microsoft 365 group")


@dataclass(frozen=True, slots=True, kw_only=True)
class Wish:
    """``recipient``: a distribution group, Microsoft 365 group, mailbox or mail user."""

    recipient: str

    def __post_init__(self) -> None:
        check_identity(self.recipient, "--recipient", "legal@contoso.com")


class OpenToExternal:
    """Stop requiring sender authentication on a group, mailbox or mail user."""

    name: ClassVar[str] = "open-to-external"
    summary: ClassVar[str] = (
        "Let outside senders mail a group, mailbox or mail user "
        "(5.7.133, 5.7.193, 5.7.134, 5.7.136)."
    )
    wish_type: ClassVar[type[Any]] = Wish
    flag: ClassVar[str] = "--recipient"
    kinds: ClassVar[tuple[str, ...]] = _ALL_KINDS
    accepted: ClassVar[str] = "distribution groups, Microsoft 365 groups, mailboxes and mail users"

    def identity(self, wish: Any) -> str:
        """The identity the wish names."""
        return str(wish.recipient)

    def read(self, transport: Transport, wish: Any) -> Snapshot:
        """Find which kind of recipient it is, then read it with that kind's cmdlet."""
        identity = self.identity(wish)
        what = "group" if self.kinds == _GROUP_KINDS else "recipient"
        recipient = get_one(
            transport, Cmdlet.of("Get-Recipient", Identity=identity), what=what, flag=self.flag
        )
        details = str(recipient["RecipientTypeDetails"])
        family = family_of(details)
        if family is None or family.kind not in self.kinds:
            raise refuse_kind(self.flag, identity, details, self.accepted)
        target = identity_of(recipient)
        obj = get_one(
            transport, Cmdlet.of(family.get, Identity=target), what=family.kind, flag=self.flag
        )
        return Snapshot(
            values={(target, AUTH): bool(obj[AUTH])},
            facts={
                "target": target,
                "family": family,
                "listed": resolve_entries(transport, obj[ACCEPT]),
            },
        )

    def plan(self, before: Snapshot, wish: Any) -> Plan:
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
            cmdlet=family.set_cmdlet(target, **{AUTH: False}),
            why=f"the {family.kind} rejects every sender from outside the organisation",
        )
        return Plan(action=self.name, changes=(change,), notes=tuple(notes))
