"""Add a sender to a restricted recipient's allowed senders (NDR 5.7.1 NotAuthorized, 5.7.124).

Exchange semantics this respects:

* an empty accept list means "accept from everyone": adding one sender to it
  would lock everyone else out, so that is refused unless asked for with
  ``only_listed_senders``;
* a recipient that requires sender authentication rejects an outside sender
  even when the sender is listed, so an outside sender also turns that
  requirement off (the list stays the restriction);
* individuals go in ``AcceptMessagesOnlyFrom``, groups in
  ``AcceptMessagesOnlyFromDLMembers`` (Add/Remove); Microsoft 365 groups have
  only the combined list, which ``Set-UnifiedGroup`` overwrites whole;
* an outside sender needs a mail contact first, created in the same run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from remediations.actions.recipients import (
    Sender,
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
from remediations.plan import Change, Plan, Snapshot, Value

AUTH = "RequireSenderAuthenticationEnabled"
SENDERS = "AcceptMessagesOnlyFrom"
GROUPS = "AcceptMessagesOnlyFromDLMembers"
COMBINED = "AcceptMessagesOnlyFromSendersOrMembers"


@dataclass(frozen=True, slots=True, kw_only=True)
class Wish:
    """``recipient`` to allow ``sender`` to mail; ``only_listed_senders`` to start a list."""

    recipient: str
    sender: str
    only_listed_senders: bool = False

    def __post_init__(self) -> None:
        check_identity(self.recipient, "--recipient", "finance-approvers@contoso.com")
        object.__setattr__(self, "sender", check_address(self.sender, "--sender"))


class AddAllowedSender:
    """Let one sender mail a recipient that accepts mail only from listed senders."""

    name: ClassVar[str] = "add-allowed-sender"
    summary: ClassVar[str] = (
        "Add a sender to a restricted group or recipient (5.7.1 NotAuthorized, 5.7.124)."
    )
    wish_type: ClassVar[type[Wish]] = Wish

    def read(self, transport: Transport, wish: Wish) -> Snapshot:
        """Read the recipient's lists and authentication, and the sender's recipient."""
        recipient = get_one(
            transport,
            Cmdlet.of("Get-Recipient", Identity=wish.recipient),
            what="recipient",
            flag="--recipient",
        )
        details = str(recipient["RecipientTypeDetails"])
        family = family_of(details)
        if family is None:
            raise refuse_kind(
                "--recipient",
                wish.recipient,
                details,
                "groups, mailboxes and mail-enabled public folders",
            )
        target = identity_of(recipient)
        obj = get_one(
            transport, Cmdlet.of(family.get, Identity=target), what=family.kind, flag="--recipient"
        )
        sender = read_sender(transport, wish.sender)
        values: dict[tuple[str, str], Value] = {
            (target, AUTH): bool(obj[AUTH]),
            (wish.sender, "MailContact"): wish.sender if sender.recipient else None,
        }
        if family.add_remove:
            values[(target, SENDERS)] = resolve_entries(transport, obj[SENDERS])
            values[(target, GROUPS)] = resolve_entries(transport, obj[GROUPS])
        else:
            values[(target, COMBINED)] = resolve_entries(transport, obj[COMBINED])
        return Snapshot(
            values=values,
            facts={"target": target, "family": family, "sender": sender},
        )

    def plan(self, before: Snapshot, wish: Wish) -> Plan:
        """Contact (if missing), then the list, then authentication, in that order.

        The order keeps the recipient closed at every step: the list is in place
        before the authentication requirement goes.
        """
        target = before.facts["target"]
        family = before.facts["family"]
        sender = before.facts["sender"]
        changes = list(plan_sender_contact(sender))
        # A sender found through a secondary address is listed under its primary one.
        address = str(sender.recipient["PrimarySmtpAddress"]) if sender.recipient else wish.sender
        attribute = (GROUPS if sender.is_group else SENDERS) if family.add_remove else COMBINED
        listed = _current_list(before, target, family.add_remove)
        current = before.value(target, attribute)
        assert isinstance(current, tuple)
        if address.lower() not in {a.lower() for a in listed}:
            if not listed and not wish.only_listed_senders:
                raise Refused(_empty_list_refusal(before, target, family.kind, address, sender))
            after = tuple(sorted((*current, address), key=str.lower))
            if family.add_remove:
                value: AddRemove | tuple[str, ...] = AddRemove(add=(address,))
                why = f"add {address} without touching the other entries"
            else:
                value = after
                why = f"{family.set} has no Add/Remove form: the whole list is written"
            changes.append(
                Change(
                    target=target,
                    attribute=attribute,
                    before=current,
                    after=after,
                    cmdlet=family.set_cmdlet(target, **{attribute: value}),
                    why=why,
                )
            )
        if sender.outside and before.value(target, AUTH):
            changes.append(
                Change(
                    target=target,
                    attribute=AUTH,
                    before=True,
                    after=False,
                    cmdlet=family.set_cmdlet(target, **{AUTH: False}),
                    why="a recipient that requires authenticated senders rejects an outside "
                    "sender even when it is listed; the accept list stays the restriction",
                )
            )
        return Plan(action=self.name, changes=tuple(changes))


def _empty_list_refusal(
    before: Snapshot, target: str, kind: str, address: str, sender: Sender
) -> str:
    """Why starting a list is refused, saying what is true of the recipient now."""
    if kind == "public folder":
        opener = f"'invoke fix-public-folder --folder {target}'"
    else:
        opener = f"'invoke open-to-external --recipient {target}'"
    if sender.outside and before.value(target, AUTH):
        now = (
            f"{target} requires authenticated senders (it rejects every sender from outside "
            "the organisation) and has no accept list"
        )
        remedy = f"To let outside senders in, use {opener}"
    else:
        now = f"{target} accepts mail from every sender now (its accept list is empty)"
        remedy = f"Nothing stops {address} today; to open it further, use {opener}"
    return (
        f"{now}; adding {address} would make it accept mail from that sender only and reject "
        f"everyone else. {remedy}; to restrict it to this sender on purpose, pass "
        "--only-listed-senders."
    )


def _current_list(before: Snapshot, target: str, add_remove: bool) -> tuple[str, ...]:
    if not add_remove:
        value = before.value(target, COMBINED)
        return value if isinstance(value, tuple) else ()
    senders = before.value(target, SENDERS)
    groups = before.value(target, GROUPS)
    return (
        *(senders if isinstance(senders, tuple) else ()),
        *(groups if isinstance(groups, tuple) else ()),
    )
