"""Open a recipient to outside senders (NDR 5.7.133, 5.7.193, 5.7.134, 5.7.136).

A distribution group (5.7.133), a Microsoft 365 group (5.7.193), a mailbox
(5.7.134) or a mail user (5.7.136) that requires authenticated senders rejects
every sender from outside the organisation.  The fix is one Set-* with
``-RequireSenderAuthenticationEnabled:$false``; an accept list, if any, stays
the restriction (the plan says so).  ``open-group-to-external`` is the same
action limited to groups.

Without a recipient the wish means every one of its kinds with the cause
(``scan``'s ``group-auth`` and ``recipient-auth`` findings: it requires
authenticated senders and has no accept list), read with one list cmdlet per
kind (``Get-DistributionGroup -ResultSize Unlimited`` ...) and planned as one plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from remediations.actions.recipients import (
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
# The list cmdlet that reads every recipient of a kind at once.
_LIST_CMDLETS = {
    "distribution group": "Get-DistributionGroup",
    "Microsoft 365 group": "Get-UnifiedGroup",
    "mailbox": "Get-Mailbox",
    "mail user": "Get-MailUser",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Wish:
    """``recipient``: a distribution group, Microsoft 365 group, mailbox or mail user;
    None for every one of them that rejects outside senders."""

    all_targets_field: ClassVar[str] = "recipient"

    recipient: str | None = None

    def __post_init__(self) -> None:
        if self.recipient is not None:
            check_identity(self.recipient, "--recipient", "legal@contoso.com")

    @property
    def all_targets(self) -> bool:
        """Whether the wish names no recipient: every one with the cause."""
        return self.recipient is None


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

    def identity(self, wish: Any) -> str | None:
        """The identity the wish names (None: every recipient with the cause)."""
        return None if wish.recipient is None else str(wish.recipient)

    def read(self, transport: Transport, wish: Any) -> Snapshot:
        """Find which kind of recipient it is, then read it with that kind's cmdlet."""
        identity = self.identity(wish)
        if identity is None:
            return self._read_all(transport)
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
                "targets": ((target, family, resolve_entries(transport, obj[ACCEPT])),),
            },
        )

    def _read_all(self, transport: Transport) -> Snapshot:
        """One list read per kind; recipients with an accept list are left to
        add-allowed-sender (scan's restricted-recipient finding)."""
        values: dict[tuple[str, str], Any] = {}
        targets = []
        left_listed = 0
        for kind in self.kinds:
            listing = Cmdlet.of(_LIST_CMDLETS[kind], ResultSize="Unlimited")
            for obj in transport.send(listing).objects:
                family = family_of(str(obj.get("RecipientTypeDetails") or ""))
                if family is None or family.kind != kind:
                    continue
                target = identity_of(obj)
                values[(target, AUTH)] = bool(obj[AUTH])
                if not obj[AUTH]:
                    continue
                if _entries(obj):
                    left_listed += 1
                    continue
                targets.append((target, family, ()))
        return Snapshot(values=values, facts={"targets": tuple(targets), "listed": left_listed})

    def plan(self, before: Snapshot, wish: Any) -> Plan:
        """One change per target: RequireSenderAuthenticationEnabled to $false."""
        changes = []
        notes = []
        for target, family, listed in before.facts["targets"]:
            if listed:
                notes.append(
                    f"{target} accepts mail only from {', '.join(listed)}; an "
                    "outside sender must also be on that list (invoke add-allowed-sender)."
                )
            if not before.value(target, AUTH):
                continue
            changes.append(
                Change(
                    target=target,
                    attribute=AUTH,
                    before=True,
                    after=False,
                    cmdlet=family.set_cmdlet(target, **{AUTH: False}),
                    why=f"the {family.kind} rejects every sender from outside the organisation",
                )
            )
        left = before.facts.get("listed", 0)
        if left:
            many = left != 1
            notes.append(
                f"{left} {'recipients that require' if many else 'recipient that requires'} "
                f"authenticated senders also {'accept' if many else 'accepts'} mail only from "
                f"listed senders and {'were' if many else 'was'} left as found: opening "
                f"{'them' if many else 'it'} lets no outside sender in; add the sender with "
                "invoke add-allowed-sender."
            )
        return Plan(action=self.name, changes=tuple(changes), notes=tuple(notes))


def _entries(obj: Mapping[str, Any]) -> tuple[str, ...]:
    value = obj.get(ACCEPT) or ()
    return (value,) if isinstance(value, str) else tuple(str(v) for v in value)
