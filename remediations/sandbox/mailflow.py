"""Mail flow in the sandbox: deliver, hold for moderation, delete, or reject with an NDR.

The decision comes from the tenant's state alone, in the order Exchange Online
applies its checks:

1. the connection: a client IP on Microsoft's blocklist is refused before the
   message is accepted (5.7.1 ... blocked using Blocklist 1), so that NDR is
   written by the *sender's* server;
2. the accepted domain: a recipient domain the tenant does not accept is not
   relayed (5.7.1 Unable to relay); an unknown address in an accepted domain
   is 5.1.10;
3. transport rules, by priority: ``SentTo`` the recipient, enabled and
   enforced; reject with the rule's status and text, or delete silently;
4. recipient restrictions: sender authentication for outside senders (public
   folder 5.7.1 AuthRequired, group 5.7.133, mailbox 5.7.134), a disabled
   on-premises account (5.7.129), accept-only-from lists including members of
   listed groups (5.7.1 NotAuthorized / 5.7.124), moderation (a group with
   moderation on, or over 5,000 members; moderators and the bypass list are
   not held), and the size limit of groups over 5,000 members.

A recipient that requires authenticated senders rejects an outside sender
even when that sender is on its accept list; an empty accept list means
"everyone".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any, Literal

from remediations.diagnose.build import RejectedRecipient, build_ndr
from remediations.diagnose.codes import SANDBOX_REJECTIONS, Rejection, transport_rule_rejection
from remediations.exchange import facts
from remediations.sandbox.cmdlets import candidates
from remediations.sandbox.state import ALL_GROUP_TYPES, MAILBOX_TYPES, SandboxState

__all__ = ["Delivery", "send"]

Outcome = Literal["delivered", "held", "rejected", "deleted"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """What happened to one test message, and why."""

    outcome: Outcome
    sender: str
    recipient: str
    reason: str
    status: str | None = None
    rule: str | None = None
    ndr: EmailMessage | None = None

    def to_json(self, ndr_path: str | None = None) -> dict[str, Any]:
        """The ``sandbox.send --json`` document."""
        return {
            "outcome": self.outcome,
            "sender": self.sender,
            "recipient": self.recipient,
            "reason": self.reason,
            "status": self.status,
            "rule": self.rule,
            "ndr": ndr_path,
        }


def send(
    state: SandboxState,
    *,
    sender: str,
    recipient: str,
    arrival: datetime,
    size_kb: int = 10,
    client_ip: str | None = None,
    subject: str = "Test message from the NDR toolkit",
) -> Delivery:
    """Decide what the tenant does with one message from ``sender`` to ``recipient``."""
    original = _original(sender, recipient, subject, arrival, size_kb)
    outside = not state.is_internal(sender)

    def reject(
        rejection: Rejection, reason: str, *, rule: str | None = None, by_sender: bool = False
    ) -> Delivery:
        mta, postmaster = state.server.lower(), f"postmaster@{state.organization}"
        if by_sender:  # refused at connection time: the sender's own server writes the NDR
            domain = sender.rpartition("@")[2]
            mta, postmaster = f"mail.{domain}", f"postmaster@{domain}"
        ndr = build_ndr(
            reporting_mta=mta,
            postmaster=postmaster,
            sender=sender,
            recipients=[RejectedRecipient.from_rejection(recipient, rejection)],
            original=original,
            arrival=arrival,
        )
        return Delivery(
            outcome="rejected",
            sender=sender,
            recipient=recipient,
            reason=reason,
            status=rejection.status,
            rule=rule,
            ndr=ndr,
        )

    if client_ip and client_ip in state.data.get("blocked_ips", ()):
        return reject(
            SANDBOX_REJECTIONS["ip-blocklist"].fill(ip=client_ip),
            f"the client IP {client_ip} is on Microsoft's blocklist",
            by_sender=True,
        )

    if not state.is_internal(recipient):
        if outside:
            return reject(
                SANDBOX_REJECTIONS["relay-denied"],
                f"{recipient.rpartition('@')[2]} is not an accepted domain",
            )
        return Delivery(
            outcome="delivered",
            sender=sender,
            recipient=recipient,
            reason="sent out to the recipient's own organisation",
        )
    found = [r for r in candidates(state, recipient, None) if r.get("PrimarySmtpAddress")]
    if len(found) != 1:
        return reject(
            SANDBOX_REJECTIONS["recipient-not-found"], f"no recipient has the address {recipient}"
        )
    rec = found[0]

    for rule in state.transport_rules:
        if rule.get("State") != "Enabled" or rule.get("Mode", "Enforce") != "Enforce":
            continue
        if rec["Guid"] not in rule.get("SentTo", ()):
            continue
        scope = rule.get("FromScope")
        if (scope == "NotInOrganization" and not outside) or (
            scope == "InOrganization" and outside
        ):
            continue
        if rule.get("DeleteMessage"):
            return Delivery(
                outcome="deleted",
                sender=sender,
                recipient=recipient,
                reason=f"the mail flow rule '{rule['Name']}' deletes it silently",
                rule=rule["Name"],
            )
        if rule.get("RejectMessageEnhancedStatusCode") or rule.get("RejectMessageReasonText"):
            rejection = transport_rule_rejection(
                status=rule.get("RejectMessageEnhancedStatusCode"),
                text=rule.get("RejectMessageReasonText"),
            )
            return reject(
                rejection, f"the mail flow rule '{rule['Name']}' rejects it", rule=rule["Name"]
            )

    details = rec["RecipientTypeDetails"]
    is_group = details in ALL_GROUP_TYPES
    if outside and rec.get("RequireSenderAuthenticationEnabled"):
        key = (
            "public-folder-auth"
            if details == "PublicFolder"
            else "group-auth"
            if is_group
            else "mailbox-auth"
        )
        return reject(
            SANDBOX_REJECTIONS[key],
            f"{recipient} requires authenticated senders and {sender} is outside the organisation",
        )
    if details in MAILBOX_TYPES and _disabled_on_premises(state, rec):
        return reject(
            SANDBOX_REJECTIONS["disabled-account"],
            f"the on-premises account of {recipient} is disabled",
        )
    sender_rec = _sender(state, sender)
    listed = [
        *rec.get("AcceptMessagesOnlyFrom", ()),
        *rec.get("AcceptMessagesOnlyFromDLMembers", ()),
    ]
    if listed and not _allowed(state, sender_rec, listed):
        key = "allowed-senders" if is_group else "not-authorized"
        return reject(SANDBOX_REJECTIONS[key], f"{sender} is not on the accept list of {recipient}")
    large = rec.get("MemberCount", 0) > facts.LARGE_GROUP_MEMBERS
    if large and size_kb > facts.LARGE_GROUP_MAX_MESSAGE_KB:
        return reject(
            SANDBOX_REJECTIONS["large-group-size"],
            f"{recipient} has more than {facts.LARGE_GROUP_MEMBERS:,} members and the message "
            f"is larger than {facts.LARGE_GROUP_MAX_MESSAGE_KB} KB",
        )
    if is_group and (rec.get("ModerationEnabled") or large):
        exempt = [*rec.get("ModeratedBy", ()), *rec.get("BypassModerationFromSendersOrMembers", ())]
        if not _allowed(state, sender_rec, exempt):
            why = (
                "moderation is on" if rec.get("ModerationEnabled") else "it has over 5,000 members"
            )
            return Delivery(
                outcome="held",
                sender=sender,
                recipient=recipient,
                reason=f"held for a moderator of {recipient}: {why}",
            )
    return Delivery(
        outcome="delivered", sender=sender, recipient=recipient, reason="no check stopped it"
    )


def _original(
    sender: str, recipient: str, subject: str, arrival: datetime, size_kb: int
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Date"] = format_datetime(arrival)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    body = "This is a test message.\n"
    message.set_content(body + "x" * max(0, size_kb * 1024 - len(body)))
    return message


def _sender(state: SandboxState, sender: str) -> dict[str, Any] | None:
    found = candidates(state, sender, None)
    return found[0] if len(found) == 1 else None


def _allowed(state: SandboxState, sender: dict[str, Any] | None, listed: list[str]) -> bool:
    """Whether the sender is listed, or a member (at any depth) of a listed group."""
    if sender is None:
        return False
    seen: set[str] = set()
    todo = list(listed)
    while todo:
        guid = todo.pop()
        if guid in seen:
            continue
        seen.add(guid)
        if guid == sender["Guid"]:
            return True
        group = state.by_guid(guid)
        if group is not None:
            todo.extend(group.get("Members", ()))
    return False


def _disabled_on_premises(state: SandboxState, rec: dict[str, Any]) -> bool:
    upn = str(rec.get("UserPrincipalName", "")).lower()
    for user in state.users:
        if user["UserPrincipalName"].lower() == upn:
            return bool(user.get("OnPremisesSyncEnabled")) and not user.get("AccountEnabled", True)
    return False
