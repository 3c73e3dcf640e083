"""Let a sender bypass moderation of a large or moderated group (held mail).

A moderation hold sends no NDR; 5.7.124 is a delivery restriction (the accept
list: add-allowed-sender).  The bypass list matters only while moderation is on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from remediations.actions.recipients import (
    check_address,
    check_identity,
    family_of,
    get_one,
    identity_of,
    plan_sender_contact,
    read_sender,
    refuse_kind,
    resolve_entries,
)
from remediations.errors import Refused
from remediations.exchange.cmdlet import AddRemove, Cmdlet, Transport
from remediations.plan import Change, Plan, Snapshot

BYPASS = "BypassModerationFromSendersOrMembers"


@dataclass(frozen=True, slots=True, kw_only=True)
class Wish:
    """``group`` whose moderation ``sender`` should bypass."""

    group: str
    sender: str

    def __post_init__(self) -> None:
        check_identity(self.group, "--group", "allstaff@contoso.com")
        object.__setattr__(self, "sender", check_address(self.sender, "--sender"))


class BypassModeration:
    """Add a sender to a distribution group's moderation bypass list."""

    name: ClassVar[str] = "bypass-moderation"
    summary: ClassVar[str] = "Let a sender bypass moderation of a large group (held mail)."
    wish_type: ClassVar[type[Wish]] = Wish

    def read(self, transport: Transport, wish: Wish) -> Snapshot:
        """Read the group's moderation settings and the sender's recipient."""
        recipient = get_one(
            transport, Cmdlet.of("Get-Recipient", Identity=wish.group), what="group", flag="--group"
        )
        details = str(recipient["RecipientTypeDetails"])
        family = family_of(details)
        if family is not None and family.kind == "Microsoft 365 group":
            raise Refused(
                f"--group {wish.group!r} is a Microsoft 365 group: Set-UnifiedGroup has no "
                "BypassModerationFromSendersOrMembers parameter, so a sender cannot bypass its "
                "moderation; add the sender to the group's moderators or approve the message."
            )
        if family is None or family.kind != "distribution group":
            raise refuse_kind("--group", wish.group, details, "distribution groups")
        target = identity_of(recipient)
        group = get_one(
            transport, Cmdlet.of(family.get, Identity=target), what=family.kind, flag="--group"
        )
        sender = read_sender(transport, wish.sender)
        return Snapshot(
            values={
                (target, BYPASS): resolve_entries(transport, group[BYPASS]),
                (wish.sender, "MailContact"): wish.sender if sender.recipient else None,
            },
            facts={
                "target": target,
                "family": family,
                "sender": sender,
                "moderated": bool(group["ModerationEnabled"]),
                "moderators": resolve_entries(transport, group["ModeratedBy"]),
                "requires_auth": bool(group["RequireSenderAuthenticationEnabled"]),
            },
        )

    def plan(self, before: Snapshot, wish: Wish) -> Plan:
        """The contact (for an outside sender without one), then the bypass entry."""
        target = before.facts["target"]
        sender = before.facts["sender"]
        address = str(sender.recipient["PrimarySmtpAddress"]) if sender.recipient else wish.sender
        notes = []
        if not before.facts["moderated"]:
            notes.append(
                f"moderation is off for {target}; the bypass takes effect if it is turned on."
            )
        if sender.outside and before.facts["requires_auth"]:
            notes.append(
                f"{target} requires authenticated senders, so {address} is still rejected "
                f"(invoke open-to-external --recipient {target})."
            )
        if address.lower() in {m.lower() for m in before.facts["moderators"]}:
            notes.append(f"{address} moderates {target}; moderators are never moderated.")
            return Plan(action=self.name, notes=tuple(notes))
        current = before.value(target, BYPASS)
        assert isinstance(current, tuple)
        if address.lower() in {c.lower() for c in current}:
            return Plan(action=self.name, notes=tuple(notes))
        changes = [
            *plan_sender_contact(sender),
            Change(
                target=target,
                attribute=BYPASS,
                before=current,
                after=tuple(sorted((*current, address), key=str.lower)),
                cmdlet=before.facts["family"].set_cmdlet(
                    target, **{BYPASS: AddRemove(add=(address,))}
                ),
                why="messages from senders on this list are delivered without approval",
            ),
        ]
        return Plan(action=self.name, changes=tuple(changes), notes=tuple(notes))
