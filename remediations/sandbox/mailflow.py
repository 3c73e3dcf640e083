"""Mail flow in the sandbox: deliver, hold for moderation, delete, or reject with an NDR.

The decision is :func:`remediations.ndr.mailflow.decide`, the same pure function
``scan`` and ``diagnose --check`` use, over views read through the sandbox's own
``Get-*`` cmdlets (exactly what a real tenant's cmdlets return); this module adds
what only the sandbox has (the blocklisted client IPs of its tenant file) and
writes the real-format NDR a rejection produces: by the tenant's server, or by
the sender's own server when the message was refused at SMTP time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from remediations.exchange.cmdlet import Cmdlet, CmdletResult
from remediations.ndr.build import RejectedRecipient, build_ndr
from remediations.ndr.mailflow import Outcome, decide, read_views
from remediations.sandbox.dispatch import run_cmdlet
from remediations.sandbox.state import SandboxState

__all__ = ["Delivery", "StateReader", "send"]


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
    tenant, rec, who = read_views(
        StateReader(state),
        sender=sender,
        recipient=recipient,
        blocked_ips=state.data.get("blocked_ips", ()),
    )
    decision = decide(
        tenant, rec, who, recipient_address=recipient, size_kb=size_kb, client_ip=client_ip
    )
    ndr = None
    if decision.rejection is not None:
        mta, postmaster = state.server.lower(), f"postmaster@{state.organization}"
        if decision.by_sender:  # refused at SMTP time: the sender's own server writes the NDR
            domain = sender.rpartition("@")[2]
            mta, postmaster = f"mail.{domain}", f"postmaster@{domain}"
        ndr = build_ndr(
            reporting_mta=mta,
            postmaster=postmaster,
            sender=sender,
            recipients=[RejectedRecipient.from_rejection(recipient, decision.rejection)],
            original=_original(sender, recipient, subject, arrival, size_kb),
            arrival=arrival,
        )
    return Delivery(
        outcome=decision.outcome,
        sender=sender,
        recipient=recipient,
        reason=decision.reason,
        status=decision.status,
        rule=decision.rule,
        ndr=ndr,
    )


class StateReader:
    """The sandbox's cmdlets over a state, read-only: what the mail flow reads through."""

    name = "sandbox"

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.tenant = state.organization

    def send(self, cmdlet: Cmdlet) -> CmdletResult:
        """Run one Get-* cmdlet (a write is refused: the mail flow only reads)."""
        if cmdlet.is_write:
            msg = f"the mail flow only reads; {cmdlet.name} is a write"
            raise ValueError(msg)
        return run_cmdlet(self.state, cmdlet)

    def close(self) -> None:
        """Nothing to release."""


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
