"""The code table: each documented row, the sandbox's rejection texts, status ranges."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from remediations.diagnose.ndr import split_reply
from remediations.ndr import codes
from remediations.ndr.codes import (
    CAUSES,
    RECIPIENT_KINDS,
    RULES,
    SANDBOX_REJECTIONS,
    CodeRule,
    StatusRange,
    lookup,
    transport_rule_rejection,
)


def _status_of(rule: CodeRule) -> str | None:
    return split_reply(rule.example)[1]


class TestRules:
    """Each row's documented text points at the row's cause."""

    @pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.name)
    def test_documented_line_gives_the_rows_cause(self, rule: CodeRule) -> None:
        """The row's documented diagnostic line, status and text, gives its cause."""
        _, status, text = split_reply(rule.example)
        match = lookup(status=status, diagnostic=text)
        assert match.rule is rule
        assert match.cause == rule.cause
        assert match.confidence == ("medium" if rule.by_kind or rule.needs_check else "high")

    @pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.name)
    def test_example_status_is_one_of_the_rows_codes(self, rule: CodeRule) -> None:
        """A row's example carries a status code that the row covers."""
        assert rule.covers(_status_of(rule))

    @pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.name)
    def test_text_alone_gives_the_cause_with_medium_confidence(self, rule: CodeRule) -> None:
        """The documented text without its status code still points at the cause."""
        _, _, text = split_reply(rule.example)
        match = lookup(status=None, diagnostic=text)
        assert match.cause == rule.cause
        assert match.confidence == "medium"

    @pytest.mark.parametrize("rule", [r for r in RULES if r.code_alone], ids=lambda rule: rule.name)
    def test_code_alone_gives_the_cause_with_medium_confidence(self, rule: CodeRule) -> None:
        """For rows whose code is specific, the code without a known text is enough (medium)."""
        match = lookup(status=_status_of(rule), diagnostic="text nobody documented")
        assert match.cause == rule.cause
        assert match.confidence == "medium"

    def test_bare_5_7_1_is_unknown(self) -> None:
        """5.7.1 alone means a dozen things: unknown, low confidence."""
        match = lookup(status="5.7.1", diagnostic="Message rejected")
        assert (match.cause, match.confidence, match.rule) == ("unknown", "low", None)

    def test_every_cause_of_a_row_is_a_design_cause(self) -> None:
        """Rows only name the design's cause ids."""
        causes = {rule.cause for rule in RULES} | {
            cause for rule in RULES for _, cause in rule.by_kind
        }
        assert causes <= set(CAUSES)

    def test_row_names_are_unique(self) -> None:
        """Row names identify rows."""
        names = [rule.name for rule in RULES]
        assert len(names) == len(set(names))


class TestRecipientKind:
    """5.7.1 AuthRequired depends on what the recipient is."""

    @pytest.mark.parametrize(
        ("kind", "cause"),
        [
            ("public-folder", "public-folder-auth"),
            ("group", "group-auth"),
            ("mailbox", "recipient-auth"),
        ],
    )
    def test_kind_settles_auth_required(self, kind: codes.RecipientKind, cause: str) -> None:
        """With the recipient's kind known, the cause is certain."""
        match = lookup(
            status="5.7.1",
            diagnostic="RESOLVER.RST.AuthRequired; authentication required",
            recipient_kind=kind,
        )
        assert (match.cause, match.confidence, match.caveats) == (cause, "high", ())

    def test_without_kind_says_check_will_confirm(self) -> None:
        """Without the kind: the public folder reading, medium, and --check named."""
        match = lookup(
            status="5.7.1", diagnostic="RESOLVER.RST.AuthRequired; authentication required"
        )
        assert (match.cause, match.confidence) == ("public-folder-auth", "medium")
        assert any("--check" in caveat and "group-auth" in caveat for caveat in match.caveats)

    def test_kind_does_not_override_a_specific_code(self) -> None:
        """5.7.133 is a group's, whatever the hint says."""
        match = lookup(
            status="5.7.133",
            diagnostic="RESOLVER.RST.SenderNotAuthenticatedForGroup; authentication required",
            recipient_kind="mailbox",
        )
        assert match.cause == "group-auth"

    def test_kinds_are_the_three_documented(self) -> None:
        """The hint takes exactly public-folder, group and mailbox."""
        assert RECIPIENT_KINDS == ("public-folder", "group", "mailbox")


class TestStatusRange:
    """Enhanced status code ranges."""

    @pytest.mark.parametrize(
        ("span", "status", "inside"),
        [
            ("5.7.1", "5.7.1", True),
            ("5.7.1", "5.7.12", False),
            ("5.7.900-5.7.999", "5.7.950", True),
            ("5.7.900-5.7.999", "5.7.9", False),
            ("5.7.606-5.7.649", "5.7.649", True),
            ("5.7.606-5.7.649", "5.7.650", False),
            ("5.7.1", "not a code", False),
        ],
    )
    def test_contains(self, span: str, status: str, inside: bool) -> None:
        """A range holds the codes between its ends, inclusive, compared as numbers."""
        assert (status in StatusRange.parse(span)) is inside

    @pytest.mark.parametrize("text", ["5.7", "5.7.9-5.7.1", "x.y.z", ""])
    def test_parse_rejects_nonsense(self, text: str) -> None:
        """A malformed or reversed range is refused."""
        with pytest.raises(ValueError, match="enhanced status code"):
            StatusRange.parse(text)

    def test_renders_as_written(self) -> None:
        """A range prints the way the table writes it."""
        assert [str(StatusRange.parse(s)) for s in ("5.7.1", "5.7.501-5.7.503")] == [
            "5.7.1",
            "5.7.501-5.7.503",
        ]


# The cause each sandbox rejection must be diagnosed as, written from the design table.
SANDBOX_CAUSES: dict[str, tuple[codes.RecipientKind | None, str]] = {
    "public-folder-auth": ("public-folder", "public-folder-auth"),
    "group-auth": (None, "group-auth"),
    "unified-group-auth": (None, "group-auth"),
    "mailbox-auth": (None, "recipient-auth"),
    "mail-user-auth": (None, "recipient-auth"),
    "not-authorized": (None, "restricted-recipient"),
    "group-not-authorized": (None, "restricted-recipient"),
    "allowed-senders": (None, "restricted-recipient"),
    # 5.7.124 is a delivery restriction, never moderation (exchange.md §9).
    "large-group-members": (None, "restricted-recipient"),
    "large-group-size": (None, "large-group-moderation"),
    "disabled-account": (None, "disabled-account"),
    "transport-rule": (None, "transport-rule"),
    "ip-blocklist": (None, "ip-blocklist"),
    "relay-denied": (None, "relay-denied"),
    "recipient-not-found": (None, "unknown"),  # 5.1.10 is not a 5.7.x cause
    "recipient-not-found-edge": (None, "unknown"),  # nor is 5.4.1
}


class TestSandboxRejections:
    """The texts the sandbox writes into NDRs."""

    def test_every_rejection_has_an_expected_cause(self) -> None:
        """The table below and SANDBOX_REJECTIONS list the same rejections."""
        assert set(SANDBOX_REJECTIONS) == set(SANDBOX_CAUSES)

    @pytest.mark.parametrize("name", sorted(SANDBOX_CAUSES))
    def test_rejection_is_diagnosed_as_its_cause(self, name: str) -> None:
        """What the sandbox emits for a cause is diagnosed as that cause."""
        rejection = SANDBOX_REJECTIONS[name]
        if rejection.placeholders:
            rejection = rejection.fill(ip="192.0.2.10")
        kind, cause = SANDBOX_CAUSES[name]
        match = lookup(
            status=rejection.status, diagnostic=rejection.diagnostic, recipient_kind=kind
        )
        assert match.cause == cause

    def test_public_folder_text_is_the_articles(self) -> None:
        """The public folder rejection is the line the 5.7.1 article quotes."""
        assert SANDBOX_REJECTIONS["public-folder-auth"].line == (
            "550 5.7.1 RESOLVER.RST.AuthRequired; authentication required [Stage: CreateMessage]"
        )

    def test_disabled_account_user_text_is_the_articles(self) -> None:
        """The 5.7.129 user text starts with the article's sentence."""
        assert SANDBOX_REJECTIONS["disabled-account"].human_text.startswith(
            "Your message couldn't be delivered to the recipient because you don't have"
            " permission to send to it."
        )

    def test_ip_blocklist_needs_the_ip(self) -> None:
        """The blocklist text names the IP, which the caller fills in."""
        blocked = SANDBOX_REJECTIONS["ip-blocklist"].fill(ip="198.51.100.7")
        assert "Client host [198.51.100.7] blocked using Blocklist 1" in blocked.diagnostic
        assert not blocked.placeholders

    def test_fill_refuses_wrong_values(self) -> None:
        """Filling with a missing or an unknown placeholder is an error."""
        with pytest.raises(ValueError, match="needs exactly the values"):
            SANDBOX_REJECTIONS["ip-blocklist"].fill(host="x")

    def test_transport_rule_defaults(self) -> None:
        """A rule that sets no code rejects with 5.7.1 TRANSPORT.RULES.RejectMessage
        (exchange.md §9), its own text, if any, in the human-readable part."""
        rejection = transport_rule_rejection(text="No mail to Payroll")
        assert rejection.line == (
            "550 5.7.1 TRANSPORT.RULES.RejectMessage; the message was rejected by"
            " organization policy"
        )
        assert "No mail to Payroll" in rejection.human_text

    def test_transport_rule_code_without_text_gets_the_default_text(self) -> None:
        """A rule that sets only a code answers with New-TransportRule's default text."""
        rejection = transport_rule_rejection(status="5.7.900")
        assert rejection.line == "550 5.7.900 Delivery not authorized, message refused"

    @pytest.mark.parametrize(
        ("key", "line"),
        [
            (
                "unified-group-auth",
                "550 5.7.193 UnifiedGroupAgent; Delivery failed because the sender isn't a group"
                " member or external senders aren't permitted to send to this group.",
            ),
            ("relay-denied", "550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain"),
            (
                "recipient-not-found-edge",
                "550 5.4.1 Recipient address rejected: Access denied. AS(201806281)",
            ),
        ],
    )
    def test_rejections_are_exchange_onlines_own(self, key: str, line: str) -> None:
        """The lines exchange.md §9 checked against Microsoft's NDR articles."""
        assert SANDBOX_REJECTIONS[key].line == line

    def test_transport_rule_takes_the_rules_settings(self) -> None:
        """A rule's own status and text are used as they are."""
        rejection = transport_rule_rejection(status="5.7.950", text="No mail to Payroll")
        assert rejection.line == "550 5.7.950 No mail to Payroll"

    @pytest.mark.parametrize("status", ["5.7.2", "5.7.899", "4.7.950"])
    def test_transport_rule_refuses_other_statuses(self, status: str) -> None:
        """New-TransportRule accepts only 5.7.1 or 5.7.900-5.7.999."""
        with pytest.raises(ValueError, match=r"use 5\.7\.1 or one from 5\.7\.900"):
            transport_rule_rejection(status=status)


def test_unconfirmed_texts_are_marked() -> None:
    """Texts that exchange.md marks unconfirmed carry a '# unconfirmed:' comment."""
    source = Path(codes.__file__).read_text(encoding="utf-8")
    marked = source.count("# unconfirmed:")
    for needle in ("NotAuthorizedToGroup", "5.7.124", "5.7.135", "5.7.136", "RecipSizeLimit"):
        nearby = [m.start() for m in re.finditer(re.escape(needle), source)]
        assert any("# unconfirmed:" in source[max(0, i - 400) : i] for i in nearby), needle
    assert marked >= 10
