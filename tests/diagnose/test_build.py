"""Writing Exchange Online-format NDRs, and reading them back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from hypothesis import given
from hypothesis import strategies as st

from remediations.diagnose import (
    SANDBOX_REJECTIONS,
    RejectedRecipient,
    build_ndr,
    diagnose,
    parse_ndr,
)

ARRIVAL = datetime(2024, 5, 14, 9, 12, 43, tzinfo=UTC)
MTA = "AM0PR01MB1234.eurprd01.prod.outlook.com"


def _original(subject: str = "Quote for May order") -> EmailMessage:
    original = EmailMessage()
    original["From"] = "Alice Martin <alice@fabrikam.com>"
    original["To"] = "sales-pf@contoso.com"
    original["Subject"] = subject
    original["Message-ID"] = "<CAF3x9Qp2Lm@mail.fabrikam.com>"
    # Misleading lines in the original: they must never be read as the NDR's.
    original["X-Old-Status"] = "Status: 5.1.1"
    original.set_content("Earlier bounce: 550 5.7.1 RESOLVER.RST.NotAuthorized; not authorized\n")
    return original


def _build(*recipients: RejectedRecipient, original: EmailMessage | None = None) -> EmailMessage:
    return build_ndr(
        reporting_mta=MTA,
        postmaster="postmaster@contoso.onmicrosoft.com",
        sender="alice@fabrikam.com",
        recipients=recipients,
        original=original or _original(),
        arrival=ARRIVAL,
    )


PF = RejectedRecipient.from_rejection(
    "sales-pf@contoso.com", SANDBOX_REJECTIONS["public-folder-auth"]
)
GROUP = RejectedRecipient.from_rejection("team@contoso.com", SANDBOX_REJECTIONS["group-auth"])


class TestShape:
    """The NDR has Exchange Online's layout."""

    def test_headers(self) -> None:
        """From postmaster, To the sender, Undeliverable subject, the NDR markers."""
        ndr = _build(PF)
        assert ndr["From"] == "postmaster@contoso.onmicrosoft.com"
        assert ndr["To"] == "alice@fabrikam.com"
        assert ndr["Subject"] == "Undeliverable: Quote for May order"
        assert ndr["X-MS-Exchange-Message-Is-Ndr"] == ""
        assert ndr["Auto-Submitted"] == "auto-replied"
        assert ndr["In-Reply-To"] == "<CAF3x9Qp2Lm@mail.fabrikam.com>"
        assert ndr.get_content_type() == "multipart/report"
        assert ndr.get_param("report-type") == "delivery-status"

    def test_parts(self) -> None:
        """Human text, then message/delivery-status, then text/rfc822-headers."""
        parts = list(_build(PF).iter_parts())
        assert [p.get_content_type() for p in parts] == [
            "text/plain",
            "message/delivery-status",
            "text/rfc822-headers",
        ]

    def test_human_part(self) -> None:
        """The human part carries the administrator section in Exchange Online's words."""
        reparsed = message_from_bytes(_build(PF).as_bytes(), policy=policy.default)
        assert isinstance(reparsed, EmailMessage)
        human = next(reparsed.iter_parts())
        assert isinstance(human, EmailMessage)
        text = human.get_content()
        assert "Diagnostic information for administrators:" in text
        assert f"Generating server: {MTA}" in text
        assert (
            "sales-pf@contoso.com\nRemote Server returned '550 5.7.1 RESOLVER.RST.AuthRequired;"
            " authentication required [Stage: CreateMessage]'"
        ) in text
        assert "Original message headers:\n\nFrom: Alice Martin <alice@fabrikam.com>" in text

    def test_delivery_status_part(self) -> None:
        """RFC 3464 fields: per message, then one block per recipient."""
        raw = _build(PF, GROUP).as_bytes().decode()
        status_part = raw.split("Content-Type: message/delivery-status")[1].split("--_000_")[0]
        assert f"Reporting-MTA: dns;{MTA}\nArrival-Date: Tue, 14 May 2024 09:12:43 +0000\n\n" in (
            status_part
        )
        assert "Final-Recipient: rfc822;sales-pf@contoso.com\nAction: failed\nStatus: 5.7.1\n" in (
            status_part
        )
        assert "Diagnostic-Code: smtp;550 5.7.133" in status_part

    def test_same_inputs_same_bytes(self) -> None:
        """Message-ID and boundary derive from the inputs: building twice is identical."""
        assert _build(PF).as_bytes() == _build(PF).as_bytes()

    def test_refuses_no_recipients(self) -> None:
        """An NDR needs someone who was rejected."""
        with pytest.raises(ValueError, match="at least one rejected recipient"):
            _build()

    def test_refuses_naive_arrival(self) -> None:
        """A naive arrival time is refused."""
        with pytest.raises(ValueError, match="timezone-aware"):
            build_ndr(
                reporting_mta=MTA,
                postmaster="postmaster@contoso.com",
                sender="alice@fabrikam.com",
                recipients=[PF],
                original=_original(),
                arrival=datetime(2024, 5, 14, 9, 0),  # naive on purpose
            )

    def test_refuses_unfilled_placeholders(self) -> None:
        """The blocklist rejection needs its IP before it can reject anyone."""
        with pytest.raises(ValueError, match="fill the placeholders"):
            RejectedRecipient.from_rejection("x@contoso.com", SANDBOX_REJECTIONS["ip-blocklist"])


class TestRoundTrip:
    """parse_ndr(build_ndr(...)) gives back what was written."""

    @pytest.mark.parametrize("name", sorted(SANDBOX_REJECTIONS))
    def test_each_sandbox_rejection(self, name: str) -> None:
        """Recipient, status, reply code, diagnostic and sender come back unchanged."""
        rejection = SANDBOX_REJECTIONS[name]
        if rejection.placeholders:
            rejection = rejection.fill(ip="198.51.100.7")
        rejected = RejectedRecipient.from_rejection("rcpt@contoso.com", rejection)
        report = parse_ndr(_build(rejected).as_bytes())
        (failure,) = report.failures
        assert (failure.recipient, failure.status, failure.smtp_code, failure.diagnostic) == (
            "rcpt@contoso.com",
            rejection.status,
            rejection.smtp_code,
            rejection.diagnostic,
        )
        assert report.sender == "alice@fabrikam.com"
        assert report.reporting_mta == MTA
        assert report.subject == "Quote for May order"

    def test_two_recipients_two_diagnoses(self) -> None:
        """Two rejected recipients come back as two diagnoses with their causes."""
        diagnoses = diagnose(parse_ndr(_build(PF, GROUP).as_bytes()), recipient_kind=None)
        assert [(d.recipient, d.cause) for d in diagnoses] == [
            ("sales-pf@contoso.com", "public-folder-auth"),
            ("team@contoso.com", "group-auth"),
        ]

    def test_offset_arrival(self) -> None:
        """A non-UTC arrival is written with its offset."""
        ndr = build_ndr(
            reporting_mta=MTA,
            postmaster="postmaster@contoso.com",
            sender="alice@fabrikam.com",
            recipients=[PF],
            original=_original(),
            arrival=datetime(2024, 5, 14, 11, 12, 43, tzinfo=timezone(timedelta(hours=2))),
        )
        assert "Arrival-Date: Tue, 14 May 2024 11:12:43 +0200" in ndr.as_string()

    @given(
        local=st.from_regex(r"[a-z][a-z0-9.\-]{0,20}[a-z0-9]", fullmatch=True),
        code=st.integers(min_value=500, max_value=599),
        detail=st.integers(min_value=0, max_value=999),
        words=st.lists(
            st.from_regex(r"[A-Za-z0-9.;,:\[\]()/=_-]{1,24}", fullmatch=True),
            min_size=1,
            max_size=30,
        ),
        subject=st.from_regex(r"[A-Za-z0-9 ,.!?-]{0,60}", fullmatch=True),
    )
    def test_any_reply(
        self, local: str, code: int, detail: int, words: list[str], subject: str
    ) -> None:
        """Any ASCII reply text, however long, survives folding and comes back whole."""
        rejected = RejectedRecipient(
            address=f"{local}@contoso.com",
            smtp_code=code,
            status=f"5.7.{detail}",
            diagnostic=" ".join(words),
            human_text="Your message couldn't be delivered.",
        )
        report = parse_ndr(_build(rejected, original=_original(subject)).as_bytes())
        (failure,) = report.failures
        assert (failure.recipient, failure.smtp_code, failure.status, failure.diagnostic) == (
            rejected.address,
            code,
            rejected.status,
            rejected.diagnostic,
        )
        assert report.sender == "alice@fabrikam.com"
