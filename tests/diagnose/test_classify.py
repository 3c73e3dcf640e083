"""Diagnoses: the cause, the exact fix command or steps, and how they are rendered."""

from __future__ import annotations

import json

import pytest

from remediations.diagnose.classify import (
    Diagnosis,
    diagnose,
    render_json,
    render_text,
)
from remediations.diagnose.ndr import NdrFailure, NdrReport
from remediations.exchange.cmdlet import ps_quote


def _one(
    line: str,
    *,
    recipient: str | None = "rcpt@contoso.com",
    sender: str | None = "alice@fabrikam.com",
    kind: str | None = None,
) -> Diagnosis:
    code, _, rest = line.partition(" ")
    status, _, text = rest.partition(" ")
    failure = NdrFailure(
        recipient=recipient,
        status=status,
        smtp_code=int(code),
        diagnostic=text,
        evidence="test input",
    )
    (diagnosis,) = diagnose(NdrReport(failures=(failure,), sender=sender), recipient_kind=kind)
    return diagnosis


AUTH_REQUIRED = "550 5.7.1 RESOLVER.RST.AuthRequired; authentication required"


class TestFixCommands:
    """The automatable causes get this toolkit's exact command."""

    @pytest.mark.parametrize(
        ("line", "kind", "command"),
        [
            (AUTH_REQUIRED, "public-folder", "invoke fix-public-folder --folder rcpt@contoso.com"),
            (AUTH_REQUIRED, "group", "invoke open-group-to-external --group rcpt@contoso.com"),
            (
                "550 5.7.1 RESOLVER.RST.NotAuthorized; not authorized",
                None,
                "invoke add-allowed-sender --recipient rcpt@contoso.com"
                " --sender alice@fabrikam.com",
            ),
            (
                # 5.7.124 is a delivery restriction: the allowed list, never moderation.
                "550 5.7.124 Senders to this group must be members of the group",
                None,
                "invoke add-allowed-sender --recipient rcpt@contoso.com"
                " --sender alice@fabrikam.com",
            ),
            (
                "550 5.7.129 RESOLVER.RST.RestrictedToRecipientsPermission",
                None,
                "invoke block-delicensed-user --user rcpt@contoso.com",
            ),
        ],
    )
    def test_command(self, line: str, kind: str | None, command: str) -> None:
        """The command names the recipient (and sender) from the NDR and is automatable."""
        diagnosis = _one(line, kind=kind)
        assert diagnosis.fix.command == command
        assert diagnosis.automatable
        assert any(f"{command} --dry-run" in step for step in diagnosis.fix.steps)

    def test_values_are_shell_quoted(self) -> None:
        """A value with shell metacharacters is quoted with shlex rules."""
        diagnosis = _one(
            "550 5.7.1 RESOLVER.RST.NotAuthorized; not authorized",
            recipient="o'hara;rm -rf@contoso.com",
            sender="a b@fabrikam.com",
        )
        assert diagnosis.fix.command == (
            "invoke add-allowed-sender --recipient 'o'\"'\"'hara;rm -rf@contoso.com'"
            " --sender 'a b@fabrikam.com'"
        )

    @pytest.mark.parametrize(
        "line",
        [
            "550 5.7.1 RESOLVER.RST.NotAuthorized; not authorized",
            "550 5.7.124 Senders to this group must be members of the group",
        ],
    )
    def test_unknown_sender_leaves_a_placeholder(self, line: str) -> None:
        """Without a sender: --sender SENDER, not automatable, and a step saying so."""
        diagnosis = _one(line, sender=None)
        assert diagnosis.fix.command is not None
        assert diagnosis.fix.command.endswith("--sender SENDER")
        assert not diagnosis.automatable
        assert any("does not name the original sender" in step for step in diagnosis.fix.steps)

    def test_unknown_recipient_leaves_a_placeholder(self) -> None:
        """Without a recipient the command holds a placeholder and is not automatable."""
        diagnosis = _one(AUTH_REQUIRED, recipient=None, kind="public-folder")
        assert diagnosis.fix.command == "invoke fix-public-folder --folder FOLDER"
        assert not diagnosis.automatable

    def test_auth_required_without_kind_names_the_alternatives(self) -> None:
        """Without the recipient kind: medium, and the steps say --check confirms."""
        diagnosis = _one(AUTH_REQUIRED)
        assert (diagnosis.cause, diagnosis.confidence) == ("public-folder-auth", "medium")
        assert any("--check" in step and "group-auth" in step for step in diagnosis.fix.steps)

    def test_large_group_size_is_not_bypass_moderation(self) -> None:
        """A too-large message to a large group: the sender sends a smaller one."""
        diagnosis = _one(
            "550 5.2.3 RESOLVER.RST.RecipSizeLimit.DL; message length exceeds administrative limit"
        )
        assert diagnosis.cause == "large-group-moderation"
        assert diagnosis.fix.command is None
        assert not diagnosis.automatable
        assert diagnosis.fix.steps[0].startswith("Sender: send the message again")


class TestRecipientAuth:
    """5.7.134/5.7.136: open-to-external, with the PowerShell it equals."""

    def test_mailbox_powershell(self) -> None:
        """The command that opens the mailbox, and the exact Set-Mailbox line, single-quoted."""
        diagnosis = _one(
            "550 5.7.134 RESOLVER.RST.SenderNotAuthenticatedForMailbox",
            recipient="o'neil@contoso.com",
        )
        assert diagnosis.cause == "recipient-auth"
        # Every in-tenant cause has a command (issue 7): no longer PowerShell only.
        assert (diagnosis.fix.command, diagnosis.automatable) == (
            "invoke open-to-external --recipient 'o'\"'\"'neil@contoso.com'",
            True,
        )
        assert (
            "Set-Mailbox -Identity 'o''neil@contoso.com' -RequireSenderAuthenticationEnabled $false"
            in diagnosis.fix.steps
        )

    def test_mail_user_powershell(self) -> None:
        """5.7.136 is a mail user's: Set-MailUser."""
        diagnosis = _one("550 5.7.136 Sender was not authenticated")
        assert any(
            step.startswith("Set-MailUser -Identity 'rcpt@contoso.com'")
            for step in diagnosis.fix.steps
        )

    @pytest.mark.parametrize(
        ("value", "quoted"),
        [
            ("plain", "'plain'"),
            ("o'neil", "'o''neil'"),
            ("o\u2019neil", "'o\u2019\u2019neil'"),
            ("", "''"),
        ],
    )
    def test_ps_quote(self, value: str, quoted: str) -> None:
        """Single quotes, typographic ones too, are doubled inside single quotes."""
        assert ps_quote(value) == quoted


class TestManualSteps:
    """Causes this toolkit only diagnoses get concrete steps and who takes them."""

    def test_ip_blocklist_is_the_senders_job(self) -> None:
        """The sender's admin delists the IP at the portal or by mail."""
        diagnosis = _one(
            "550 5.7.1 Service unavailable; Client host [203.0.113.10] blocked using Blocklist 1"
        )
        steps = " ".join(diagnosis.fix.steps)
        assert diagnosis.cause == "ip-blocklist"
        assert diagnosis.fix.command is None
        assert not diagnosis.automatable
        assert diagnosis.fix.steps[0].startswith("Sender's email admin")
        assert "203.0.113.10" in steps
        assert "https://sender.office.com" in steps
        assert "delist@microsoft.com" in steps

    def test_domain_dns_checks_the_recipients_domain(self) -> None:
        """An MX/relay problem: check-domain on the recipient's domain."""
        diagnosis = _one("550 5.7.1 Unable to relay", recipient="bob@northwind.example")
        assert any(
            "invoke check-domain --domain northwind.example" in s for s in diagnosis.fix.steps
        )

    def test_spf_checks_the_senders_domain(self) -> None:
        """5.7.23 is the sender's SPF: check-domain on the sender's domain, at the registrar."""
        diagnosis = _one(
            "550 5.7.23 The message was rejected because of Sender Policy Framework violation",
            recipient="ops@northwind.example",
            sender="harry@fabrikam.com",
        )
        steps = " ".join(diagnosis.fix.steps)
        assert diagnosis.cause == "domain-dns"
        assert "invoke check-domain --domain fabrikam.com" in steps
        assert "registrar" in steps

    def test_transport_rule_reports_the_rule_text(self) -> None:
        """The rule's text is reported; the rule is found by the recipient (SentTo), never by
        matching RejectMessageReasonText, which the usual TRANSPORT.RULES.RejectMessage
        diagnostic can never equal (exchange.md §9)."""
        diagnosis = _one("550 5.7.950 Payroll does not accept mail from outside")
        steps = " ".join(diagnosis.fix.steps)
        assert diagnosis.cause == "transport-rule"
        assert "'Payroll does not accept mail from outside'" in steps
        assert "RejectMessageReasonText -eq" not in steps
        assert "$_.SentTo -contains 'rcpt@contoso.com'" in steps
        assert "--check" in steps
        assert "does not guess" in steps

    def test_leaver_rule_is_recognised(self) -> None:
        """The toolkit's own leaver rule is named as such, with the way back."""
        diagnosis = _one(
            "550 5.7.1 The mailbox rcpt@contoso.com is no longer in use: this person has left"
            " the organisation. Please contact the organisation by other means."
        )
        steps = " ".join(diagnosis.fix.steps)
        assert (diagnosis.cause, diagnosis.confidence) == ("transport-rule", "high")
        assert "leaver rule ('Block mail to leaver rcpt@contoso.com'" in steps
        assert "Remove-TransportRule -Identity 'Block mail to leaver rcpt@contoso.com'" in steps

    @pytest.mark.parametrize(
        "line",
        [
            "550 5.7.501 Access denied, spam abuse detected",
            "550 5.7.703 Your message can't be delivered because messages to x are blocked by"
            " your organization using Tenant Allow Block List.",
            "550 5.7.705 Access denied, tenant has exceeded threshold",
            "550 5.7.750 Service unavailable. Client blocked from sending from unregistered"
            " domains",
            "530 5.7.57 SMTP; Client was not authenticated to send anonymous mail during MAIL FROM",
            "550 5.7.64 TenantAttribution; Relay Access Denied",
        ],
    )
    def test_steps_say_who(self, line: str) -> None:
        """Every diagnose-only cause names who must act."""
        diagnosis = _one(line)
        assert diagnosis.fix.command is None
        assert not diagnosis.automatable
        assert diagnosis.fix.steps
        assert any(word in diagnosis.fix.steps[0] for word in ("admin", "Owner"))

    def test_unknown_says_so_with_the_evidence(self) -> None:
        """An unmatched NDR is unknown, low, and shows what was found."""
        diagnosis = _one("550 5.7.1 Go away")
        assert (diagnosis.cause, diagnosis.confidence) == ("unknown", "low")
        assert diagnosis.fix.steps[0].startswith("No documented 5.7.x cause matches")
        assert any("'550 5.7.1 Go away'" in step for step in diagnosis.fix.steps)

    def test_unknown_outside_5_7_says_so(self) -> None:
        """A 5.1.x NDR is unknown and named as outside the toolkit's scope."""
        diagnosis = _one("550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found")
        assert diagnosis.cause == "unknown"
        assert diagnosis.fix.steps[0].startswith("This is a 5.1.10 NDR, not a 5.7.x one")


class TestDiagnose:
    """diagnose() over a report."""

    def test_one_diagnosis_per_failure(self) -> None:
        """Two failures give two diagnoses, in order, sharing the sender."""
        failures = tuple(
            NdrFailure(recipient=r, status=s, smtp_code=550, diagnostic=t, evidence=f"block {i}")
            for i, (r, s, t) in enumerate(
                [
                    ("g@contoso.com", "5.7.133", "RESOLVER.RST.SenderNotAuthenticatedForGroup"),
                    ("m@contoso.com", "5.7.134", "RESOLVER.RST.SenderNotAuthenticatedForMailbox"),
                ]
            )
        )
        diagnoses = diagnose(NdrReport(failures=failures, sender="s@fabrikam.com"))
        assert [(d.recipient, d.cause) for d in diagnoses] == [
            ("g@contoso.com", "group-auth"),
            ("m@contoso.com", "recipient-auth"),
        ]
        assert {d.sender for d in diagnoses} == {"s@fabrikam.com"}

    def test_bad_recipient_kind(self) -> None:
        """An unknown recipient kind is refused, naming the good ones."""
        with pytest.raises(ValueError, match="use one of public-folder, group, mailbox"):
            diagnose(NdrReport(failures=()), recipient_kind="shared-mailbox")

    def test_evidence_says_what_and_where(self) -> None:
        """Evidence quotes the reply, where it was found and the row it matched."""
        diagnosis = _one("550 5.7.1 RESOLVER.RST.NotAuthorized; not authorized")
        assert diagnosis.evidence.startswith(
            "'550 5.7.1 RESOLVER.RST.NotAuthorized; not authorized' in the test input;"
        )
        assert "row 'not-authorized'" in diagnosis.evidence


JSON_KEYS = {
    "status",
    "cause",
    "confidence",
    "evidence",
    "recipient",
    "sender",
    "automatable",
    "fix",
}


class TestRendering:
    """Text for people, JSON for programs."""

    def test_json_for_one_is_one_document(self) -> None:
        """One diagnosis renders as one document with the agreed keys."""
        document = render_json([_one(AUTH_REQUIRED, kind="group")])
        assert set(document) == JSON_KEYS
        assert document["fix"] == {
            "command": "invoke open-group-to-external --group rcpt@contoso.com",
            "steps": list(_one(AUTH_REQUIRED, kind="group").fix.steps),
        }
        assert (document["cause"], document["confidence"], document["automatable"]) == (
            "group-auth",
            "high",
            True,
        )
        assert json.loads(json.dumps(document)) == document

    def test_json_for_several_is_a_list(self) -> None:
        """Several diagnoses render as {"diagnoses": [...]}."""
        document = render_json([_one(AUTH_REQUIRED), _one("550 5.7.1 Go away")])
        assert list(document) == ["diagnoses"]
        items = document["diagnoses"]
        assert isinstance(items, list)
        assert [set(item) for item in items if isinstance(item, dict)] == [JSON_KEYS, JSON_KEYS]

    def test_text_shows_found_where_cause_and_fix(self) -> None:
        """The text names the reply, where it was, the cause and confidence, and the fix."""
        text = render_text([_one(AUTH_REQUIRED, kind="public-folder")])
        assert "found:      550 5.7.1 RESOLVER.RST.AuthRequired; authentication required" in text
        assert "where:      test input" in text
        assert "cause:      public-folder-auth (confidence: high)" in text
        assert "fix:        invoke fix-public-folder --folder rcpt@contoso.com" in text

    def test_text_for_manual_steps(self) -> None:
        """Without a command, the text says so and numbers the steps."""
        text = render_text([_one("550 5.7.501 Access denied, spam abuse detected")])
        assert "fix:        not automated; steps below" in text
        assert "    1. Sender's email admin" in text

    def test_text_flags_placeholders(self) -> None:
        """A command with placeholders says they must be filled in."""
        text = render_text([_one("550 5.7.1 RESOLVER.RST.NotAuthorized; x", sender=None)])
        assert "--sender SENDER  (fill in the placeholders first)" in text
