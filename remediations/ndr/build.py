"""Write a non-delivery report in Exchange Online's real format.

The sandbox mail flow calls :func:`build_ndr` to bounce a message the way an
Exchange Online tenant does (``shared/reference/exchange.md`` §5.2-5.3): a
``multipart/report; report-type=delivery-status`` with a human-readable part
(ending in "Diagnostic information for administrators"), a
``message/delivery-status`` part and a ``text/rfc822-headers`` part holding the
original headers. :func:`remediations.diagnose.ndr.parse_ndr` reads it back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from remediations.ndr.codes import Rejection

__all__ = ["RejectedRecipient", "build_ndr"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RejectedRecipient:
    """One recipient the tenant rejected, and what it answered.

    Attributes:
        address: the recipient's address.
        smtp_code: the SMTP reply code, e.g. 550.
        status: the enhanced status code, e.g. ``"5.7.1"``.
        diagnostic: the reply text after the code and status.
        human_text: what the NDR tells the sender, in plain words.
    """

    address: str
    smtp_code: int
    status: str
    diagnostic: str
    human_text: str

    @classmethod
    def from_rejection(cls, address: str, rejection: Rejection) -> RejectedRecipient:
        """Reject ``address`` with one of ``codes.SANDBOX_REJECTIONS`` (placeholders filled)."""
        if rejection.placeholders:
            msg = f"fill the placeholders {sorted(rejection.placeholders)} before rejecting with it"
            raise ValueError(msg)
        return cls(
            address=address,
            smtp_code=rejection.smtp_code,
            status=rejection.status,
            diagnostic=rejection.diagnostic,
            human_text=rejection.human_text,
        )

    @property
    def reply(self) -> str:
        """The SMTP reply as one line: ``550 5.7.1 <diagnostic>``."""
        return f"{self.smtp_code} {self.status} {self.diagnostic}"


def build_ndr(
    *,
    reporting_mta: str,
    postmaster: str,
    sender: str,
    recipients: Sequence[RejectedRecipient],
    original: EmailMessage,
    arrival: datetime,
) -> EmailMessage:
    """Write the NDR that Exchange Online sends back for rejected recipients.

    Args:
        reporting_mta: the server writing the NDR, e.g. ``XX0PR01MB0001.prod.outlook.com``.
        postmaster: the NDR's From, e.g. ``postmaster@contoso.com``.
        sender: the original sender, who receives the NDR.
        recipients: the rejected recipients, at least one.
        original: the bounced message (its headers are quoted).
        arrival: when the original arrived; timezone-aware. It is also the NDR's Date.

    Returns:
        The NDR. Its Message-ID and MIME boundary derive from the inputs, so the
        same inputs give the same bytes.

    Raises:
        ValueError: no recipients, or a naive ``arrival``.
    """
    if not recipients:
        msg = "an NDR needs at least one rejected recipient"
        raise ValueError(msg)
    if arrival.tzinfo is None or arrival.utcoffset() is None:
        msg = "arrival must be timezone-aware, e.g. datetime(..., tzinfo=UTC)"
        raise ValueError(msg)
    original_headers = _headers_text(original)
    subject = " ".join(str(original.get("Subject", "")).split())
    digest = hashlib.sha256(
        "\n".join(
            [reporting_mta, sender, original_headers, arrival.isoformat()]
            + [r.address + " " + r.reply for r in recipients]
        ).encode()
    ).hexdigest()

    ndr = EmailMessage(policy=policy.default)
    ndr["From"] = postmaster
    ndr["To"] = sender
    ndr["Subject"] = f"Undeliverable: {subject}"
    ndr["Date"] = format_datetime(arrival)
    ndr["Message-ID"] = f"<{digest[:32]}@{reporting_mta}>"
    original_id = original.get("Message-ID")
    if original_id is not None:
        ndr["In-Reply-To"] = str(original_id)
        ndr["References"] = str(original_id)
    ndr["Content-Language"] = "en-US"
    ndr["X-MS-Exchange-Message-Is-Ndr"] = ""
    ndr["Auto-Submitted"] = "auto-replied"
    ndr.set_content(_human_text(reporting_mta, recipients, original_headers))
    ndr.make_mixed()
    ndr.set_type("multipart/report")
    ndr.set_param("report-type", "delivery-status")
    ndr.set_boundary(f"_000_{digest[32:56]}_")

    ndr.attach(_delivery_status(reporting_mta, recipients, arrival))
    headers_part = EmailMessage(policy=policy.default)
    headers_part.set_content(original_headers, subtype="rfc822-headers")
    ndr.attach(headers_part)
    return ndr


def _headers_text(original: EmailMessage) -> str:
    text = original.as_string(policy=policy.default.clone(linesep="\n"))
    head, _, _ = text.partition("\n\n")
    return head.rstrip("\n") + "\n"


def _human_text(
    reporting_mta: str, recipients: Sequence[RejectedRecipient], original_headers: str
) -> str:
    lines = ["Delivery has failed to these recipients or groups:", ""]
    for recipient in recipients:
        lines += [recipient.address, recipient.human_text, ""]
    lines += [
        "",
        "Diagnostic information for administrators:",
        "",
        f"Generating server: {reporting_mta}",
        "",
    ]
    for recipient in recipients:
        lines += [recipient.address, f"Remote Server returned '{recipient.reply}'", ""]
    lines += ["Original message headers:", "", original_headers]
    return "\n".join(lines)


def _delivery_status(
    reporting_mta: str, recipients: Sequence[RejectedRecipient], arrival: datetime
) -> EmailMessage:
    part = EmailMessage(policy=policy.default)
    part["Content-Type"] = "message/delivery-status"
    per_message = EmailMessage(policy=policy.default)
    per_message["Reporting-MTA"] = f"dns;{reporting_mta}"
    per_message["Arrival-Date"] = format_datetime(arrival)
    part.attach(per_message)
    for recipient in recipients:
        block = EmailMessage(policy=policy.default)
        _, address = parseaddr(recipient.address)
        block["Final-Recipient"] = f"rfc822;{address or recipient.address}"
        block["Action"] = "failed"
        block["Status"] = recipient.status
        block["Diagnostic-Code"] = f"smtp;{recipient.reply}"
        part.attach(block)
    return part
