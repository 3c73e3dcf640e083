"""Reading NDRs: whole messages, pasted bodies, single lines, and what is not an NDR."""

from __future__ import annotations

from pathlib import Path

import pytest

from remediations.diagnose.ndr import NdrFailure, NotAnNdr, parse_ndr, split_reply

SAMPLES = Path(__file__).parent / "samples"


def _read(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def _only(failures: tuple[NdrFailure, ...]) -> NdrFailure:
    assert len(failures) == 1
    return failures[0]


class TestMessage:
    """A whole .eml: the message/delivery-status part is the source of truth."""

    def test_reads_the_delivery_status_part(self) -> None:
        """Recipient, status, reply and reporter come from the machine-readable part."""
        report = parse_ndr(_read("eml/exo-5.7.1-public-folder-auth.eml"))
        failure = _only(report.failures)
        assert failure.recipient == "sales-pf@contoso.com"
        assert (failure.smtp_code, failure.status) == (550, "5.7.1")
        assert failure.diagnostic == (
            "RESOLVER.RST.AuthRequired; authentication required [Stage: CreateMessage]"
        )
        assert (
            failure.evidence == "message/delivery-status part, recipient block 1, Diagnostic-Code"
        )
        assert report.reporting_mta == "AM0PR01MB1234.eurprd01.prod.outlook.com"
        assert report.sender == "alice@fabrikam.com"
        assert report.subject == "Quote for May order"

    def test_two_failed_recipients_give_two_failures(self) -> None:
        """Each recipient block is its own failure, in order."""
        report = parse_ndr(_read("eml/exo-two-recipients-5.7.133-5.7.134.eml"))
        assert [(f.recipient, f.status) for f in report.failures] == [
            ("project-team@contoso.com", "5.7.133"),
            ("lee.chen@contoso.com", "5.7.134"),
        ]
        assert report.failures[1].evidence.endswith("recipient block 2, Diagnostic-Code")

    def test_embedded_original_is_never_read_for_status(self) -> None:
        """Status lines in the message/rfc822 original (and its quoted headers) are ignored."""
        report = parse_ndr(_read("eml/exo-5.7.124-embedded-original.eml"))
        failure = _only(report.failures)
        assert (failure.recipient, failure.status) == ("board@contoso.com", "5.7.124")
        assert "AuthRequired" not in failure.diagnostic
        assert report.sender == "ivan@fabrikam.com"
        assert report.subject == "FW: Undeliverable: agenda"

    def test_delayed_recipient_is_not_a_failure(self) -> None:
        """Action: delayed is left out; the failed recipient stays."""
        report = parse_ndr(_read("eml/postfix-delayed-and-failed.eml"))
        failure = _only(report.failures)
        assert failure.recipient == "relay-test@contoso.com"
        assert failure.remote_mta == "mail.contoso.com"

    def test_postfix_report(self) -> None:
        """A Postfix DSN: remote MTA, folded diagnostic read as one line, X-Postfix-Sender."""
        report = parse_ndr(_read("eml/postfix-5.7.1-blocklist.eml"))
        failure = _only(report.failures)
        assert failure.remote_mta == "contoso-com.mail.protection.outlook.com"
        assert failure.diagnostic.startswith(
            "Service unavailable; Client host [203.0.113.10] blocked using Blocklist 1;"
        )
        assert report.reporting_mta == "mail.fabrikam.com"
        assert report.sender == "frank@fabrikam.com"

    def test_only_delayed_is_not_an_ndr(self) -> None:
        """A delivery report without a failed recipient is refused, saying why."""
        raw = _read("eml/postfix-delayed-and-failed.eml").replace(
            b"Action: failed", b"Action: relayed"
        )
        with pytest.raises(NotAnNdr, match="no failed recipient"):
            parse_ndr(raw)

    def test_missing_diagnostic_code_is_taken_from_the_human_part(self) -> None:
        """Without Diagnostic-Code, the reply comes from "Remote Server returned", said so."""
        raw = _read("eml/exo-5.7.1-not-authorized.eml").replace(
            b"Diagnostic-Code: smtp;550 5.7.1 RESOLVER.RST.NotAuthorized; not authorized\n", b""
        )
        failure = _only(parse_ndr(raw).failures)
        assert failure.diagnostic == "RESOLVER.RST.NotAuthorized; not authorized"
        assert "text/plain part" in failure.evidence
        assert failure.evidence.startswith("message/delivery-status part, recipient block 1")

    def test_report_without_delivery_status_uses_the_text(self) -> None:
        """A bounce that is plain text only is read from its body."""
        raw = (
            b"From: MAILER-DAEMON@mail.fabrikam.com\nTo: frank@fabrikam.com\n"
            b"Subject: Undelivered Mail Returned to Sender\n\n"
            + _read("pasted/postfix-5.7.1-blocklist.txt")
        )
        report = parse_ndr(raw)
        failure = _only(report.failures)
        assert failure.recipient == "orders@contoso.com"
        assert failure.evidence.startswith("message body, bounce entry for <orders@contoso.com>")
        assert report.sender == "frank@fabrikam.com"

    def test_html_only_bounce(self) -> None:
        """When the only readable part is HTML, its text is read."""
        raw = (
            b"From: postmaster@contoso.com\nTo: a@fabrikam.com\nSubject: Undeliverable: x\n"
            b"Content-Type: text/html\n\n"
            b"<html><body><p>Diagnostic information for administrators:</p>"
            b"<p>x@contoso.com<br>Remote Server returned '550 5.7.1 RESOLVER.RST.NotAuthorized;"
            b" not authorized'</p></body></html>\n"
        )
        failure = _only(parse_ndr(raw).failures)
        assert (failure.recipient, failure.status) == ("x@contoso.com", "5.7.1")
        assert failure.evidence.startswith("message body")

    def test_forwarded_ndr_is_read_from_the_attachment(self) -> None:
        """A mail forwarding an NDR as an attachment: the attached NDR is read, said so."""
        report = parse_ndr(_read("eml/forwarded-ndr-5.7.1-not-authorized.eml"))
        failure = _only(report.failures)
        assert (failure.recipient, failure.status) == ("accounts@contoso.com", "5.7.1")
        assert failure.evidence.startswith("attached message/rfc822 (a forwarded NDR), ")
        assert report.sender == "bruno@fabrikam.com"

    def test_attached_plain_mail_is_not_an_ndr(self) -> None:
        """A mail with an ordinary mail attached is still not an NDR."""
        raw = (
            b"From: a@fabrikam.com\nTo: b@fabrikam.com\nSubject: fyi\nMIME-Version: 1.0\n"
            b'Content-Type: multipart/mixed; boundary="x"\n\n--x\nContent-Type: text/plain\n\n'
            b"see below\n--x\nContent-Type: message/rfc822\n\nFrom: c@contoso.com\n"
            b"Subject: Status: 5.7.1\n\n"
            b"550 5.7.1 RESOLVER.RST.NotAuthorized; not authorized\n--x--\n"
        )
        with pytest.raises(NotAnNdr, match="holds no delivery failure"):
            parse_ndr(raw)

    def test_str_and_bytes_give_the_same_report(self) -> None:
        """A message given as text reads the same as its bytes."""
        raw = _read("eml/exo-5.7.129-disabled-account.eml")
        assert parse_ndr(raw) == parse_ndr(raw.decode())


class TestPastedText:
    """The text of a bounce pasted from a mail client."""

    def test_exchange_online_admin_section(self) -> None:
        """ "Remote Server returned" with the recipient on the line above."""
        report = parse_ndr(_read("pasted/exo-5.7.134-mailbox.txt").decode())
        failure = _only(report.failures)
        assert (failure.recipient, failure.status) == ("sam.taylor@contoso.com", "5.7.134")
        assert failure.evidence == 'pasted text, "Remote Server returned" line 10'
        assert report.reporting_mta == "CO1PR11MB4455.namprd11.prod.outlook.com"
        assert report.sender == "steve@fabrikam.com"

    def test_articles_prefixed_reply(self) -> None:
        """The article's "<xxxxxxxx> #5.7.1 smtp;550 5.7.1 ..." form is unwrapped."""
        failure = _only(parse_ndr(_read("pasted/exo-article-placeholder-5.7.1.txt")).failures)
        assert (failure.smtp_code, failure.status) == (550, "5.7.1")
        assert failure.diagnostic.startswith("RESOLVER.RST.AuthRequired")
        assert failure.remote_mta is None

    def test_original_headers_section_is_ignored(self) -> None:
        """Status lines after "Original message headers:" are not taken."""
        report = parse_ndr(_read("pasted/exo-article-5.7.1-public-folder.txt"))
        assert [f.status for f in report.failures] == ["5.7.1"]
        assert report.sender == "alice@fabrikam.com"

    def test_remote_server_at_host(self) -> None:
        """ "Remote Server at host (ip) returned" names the remote MTA."""
        failure = _only(parse_ndr(_read("pasted/exo-5.7.64-tenant-attribution.txt")).failures)
        assert failure.remote_mta == "fabrikam-com.mail.protection.outlook.com"
        assert failure.status == "5.7.64"

    def test_repeated_reply_lines_count_once(self) -> None:
        """A retry line repeating the same reply does not make a second failure."""
        raw = _read("eml/exo-5.7.23-spf.eml")
        text = raw.decode().split("Diagnostic information for administrators:")[1]
        text = "Diagnostic information for administrators:" + text.split("--2b3c")[0]
        failure = _only(parse_ndr(text).failures)
        assert failure.remote_mta == "mx1.northwind.example"

    def test_wrapped_reply_is_joined(self) -> None:
        """A reply a mail client wrapped over two lines is read whole."""
        failure = _only(parse_ndr(_read("pasted/exo-wrapped-5.7.708.txt")).failures)
        assert failure.diagnostic == "Access denied, traffic not accepted from this IP"

    def test_exchange_2010_hash_form(self) -> None:
        """Exchange 2010's "host #550 5.7.1 text ##" line."""
        report = parse_ndr(_read("pasted/exchange2010-5.7.1-unable-to-relay.txt"))
        failure = _only(report.failures)
        assert (failure.recipient, failure.diagnostic) == (
            "purchasing@contoso.com",
            "Unable to relay",
        )
        assert failure.remote_mta == "mail.contoso.com"

    def test_exchange_2007_hash_form(self) -> None:
        """Exchange 2007's "#< #5.7.1 smtp;550 5.7.1 text> #SMTP#" line."""
        failure = _only(
            parse_ndr(_read("pasted/exchange2007-5.7.1-auth-required-group.txt")).failures
        )
        assert failure.diagnostic == "RESOLVER.RST.AuthRequired; authentication required"

    def test_postfix_body(self) -> None:
        """A Postfix bounce: the recipient entry, the host that said it, the reply."""
        report = parse_ndr(_read("pasted/postfix-5.7.1-blocklist.txt"))
        failure = _only(report.failures)
        assert failure.recipient == "orders@contoso.com"
        assert failure.remote_mta == "contoso-com.mail.protection.outlook.com"
        assert failure.diagnostic.endswith("forward this message to delist@microsoft.com")
        assert report.reporting_mta == "mail.fabrikam.com"

    def test_sendmail_body(self) -> None:
        """A Sendmail bounce: the "(reason: ...)" under the recipient, not the transcript."""
        failure = _only(parse_ndr(_read("pasted/sendmail-5.7.1-relaying-denied.txt")).failures)
        assert failure.recipient == "chris@contoso.com"
        assert failure.status == "5.7.1"
        assert "Relaying denied" in failure.diagnostic

    def test_pasted_with_client_headers_takes_sender_from_to(self) -> None:
        """Pasted with Outlook's From/Sent/To/Subject lines, the NDR's To is a sender source."""
        raw = _read("pasted/exo-outlook-5.7.133-group.txt").decode()
        without_original = raw.split("Original message headers:")[0]
        assert parse_ndr(without_original).sender == "rita@fabrikam.com"

    def test_delivery_status_fields_as_text(self) -> None:
        """RFC 3464 fields pasted as text are read as recipient blocks."""
        report = parse_ndr(_read("pasted/dsn-fields-5.7.1-not-authorized.txt"))
        failure = _only(report.failures)
        assert failure.recipient == "accounts@contoso.com"
        assert report.reporting_mta == "DB9PR02MB5555.eurprd02.prod.outlook.com"


class TestSingleLine:
    """One diagnostic line."""

    @pytest.mark.parametrize(
        ("line", "code", "status", "text"),
        [
            (
                "550 5.7.1 RESOLVER.RST.AuthRequired; authentication required",
                550,
                "5.7.1",
                "RESOLVER.RST.AuthRequired; authentication required",
            ),
            (
                "  smtp;550 5.7.1 RESOLVER.RST.NotAuthorized; not authorized\n",
                550,
                "5.7.1",
                "RESOLVER.RST.NotAuthorized; not authorized",
            ),
            (
                "Diagnostic-Code: smtp; 554 5.7.1 Relay access denied",
                554,
                "5.7.1",
                "Relay access denied",
            ),
            (
                "5.7.1 Service unavailable; Client host [192.0.2.1] blocked",
                None,
                "5.7.1",
                "Service unavailable; Client host [192.0.2.1] blocked",
            ),
            ("550-5.7.1 Access denied", 550, "5.7.1", "Access denied"),
            ("550 Relay denied", 550, None, "Relay denied"),
        ],
    )
    def test_line(self, line: str, code: int | None, status: str | None, text: str) -> None:
        """The reply code, enhanced status and text are split apart."""
        failure = _only(parse_ndr(line).failures)
        assert (failure.smtp_code, failure.status, failure.diagnostic) == (code, status, text)
        assert failure.recipient is None
        assert failure.evidence == "pasted text, single diagnostic line"

    def test_reply_property_rebuilds_the_line(self) -> None:
        """NdrFailure.reply is the SMTP reply as one line again."""
        line = "550 5.7.133 RESOLVER.RST.SenderNotAuthenticatedForGroup; authentication required"
        assert _only(parse_ndr(line).failures).reply == line


class TestNotAnNdr:
    """Input that holds no NDR is refused in one clear sentence."""

    @pytest.mark.parametrize(
        "raw",
        [
            "",
            "   \n\t  ",
            b"",
            "The quarterly numbers look good; let's meet on Tuesday.",
            "lorem ipsum 550 5.7.1 dolor sit amet",
            "250 2.0.0 OK queued as 4VfK2x1Qmcz9sTl",
            "451 4.7.1 Try again later",
            "From: Alice <alice@fabrikam.com>\nTo: bob@contoso.com\nSubject: Lunch\n\nTuesday?\n",
            b"\x00\x01\x02\xff binary junk",
        ],
        ids=[
            "empty",
            "whitespace",
            "empty-bytes",
            "prose",
            "code-mid-sentence",
            "success-reply",
            "transient-reply",
            "plain-mail",
            "binary",
        ],
    )
    def test_refused(self, raw: str | bytes) -> None:
        """NotAnNdr (a ValueError) with one sentence saying what was expected."""
        with pytest.raises(NotAnNdr) as caught:
            parse_ndr(raw)
        message = str(caught.value)
        assert isinstance(caught.value, ValueError)
        assert "expected a non-delivery report" in message
        assert message.count(". ") == 0
        assert message.endswith(".")


class TestSplitReply:
    """Splitting an SMTP reply."""

    def test_exchange_host_prefix(self) -> None:
        """ "<host #5.7.1 smtp;550 5.7.1 text>" loses its wrapper."""
        assert split_reply("<mx.contoso.com #5.7.1 smtp;550 5.7.1 Unable to relay>") == (
            550,
            "5.7.1",
            "Unable to relay",
        )

    def test_leading_zeros_are_normalised(self) -> None:
        """The status code is normalised to plain numbers."""
        assert split_reply("550 5.07.001 text")[1] == "5.7.1"
