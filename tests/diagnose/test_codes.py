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


# Bounces as Exchange Online writes them, each with the cause and confidence written by
# hand from the design table and exchange.md (not computed from the code table): high
# only when the status code and the text agree on a row whose cause needs nothing more
# (no recipient kind to settle, no tenant read to confirm).
# (id, status given apart or None, diagnostic line, expected cause, expected confidence)
CASES: list[tuple[str, str | None, str, str, str]] = [
    # 5.7.1 AuthRequired: the public folder reading until the recipient's kind is known
    ("auth-required", "5.7.1",
     "550 5.7.1 RESOLVER.RST.AuthRequired; authentication required [Stage: CreateMessage]",
     "public-folder-auth", "medium"),
    ("not-authorized-to-group", "5.7.1",
     "550 5.7.1 RESOLVER.RST.NotAuthorizedToGroup; not authorized to send to the "
     "distribution list", "restricted-recipient", "high"),
    ("not-authorized", "5.7.1", "550 5.7.1 RESOLVER.RST.NotAuthorized; not authorized",
     "restricted-recipient", "high"),
    ("blocklist", "5.7.1",
     "550 5.7.1 Service unavailable; Client host [203.0.113.5] blocked using Blocklist 1; To "
     "request removal from this list please forward this message to delist@microsoft.com",
     "ip-blocklist", "high"),
    ("transport-rule-5.7.1", "5.7.1",
     "550 5.7.1 TRANSPORT.RULES.RejectMessage; the message was rejected by organization policy",
     "transport-rule", "high"),
    ("leaver-rule", "5.7.1",
     "550 5.7.1 The mailbox jordan.lee@contoso.com is no longer in use: this person has left "
     "the organisation. Please contact the organisation by other means.",
     "transport-rule", "high"),
    ("transport-rule-custom", "5.7.950", "550 5.7.950 Delivery not authorized, message refused",
     "transport-rule", "high"),
    ("relay-5.7.54", "5.7.54",
     "550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain", "relay-denied", "high"),
    ("relay-5.7.1", "5.7.1", "530 5.7.1 Client was not authenticated", "relay-denied", "high"),
    # 5.7.12 depends on the recipient's kind too: group is the likeliest, not certain
    ("sender-authenticated", "5.7.12",
     "550 5.7.12 RESOLVER.RST.SenderAuthenticated; Delivery restriction check failed as sender "
     "not authenticated", "group-auth", "medium"),
    ("spf", "5.7.23",
     "550 5.7.23 The message was rejected because of Sender Policy Framework violation",
     "domain-dns", "high"),
    ("anonymous-submission", "5.7.57",
     "530 5.7.57 SMTP; Client was not authenticated to send anonymous mail during MAIL FROM",
     "relay-denied", "high"),
    ("tenant-attribution", "5.7.64", "550 5.7.64 TenantAttribution; Relay Access Denied",
     "relay-denied", "high"),
    ("allowed-senders", "5.7.124", "550 5.7.124 Sender not in allowed-senders list",
     "restricted-recipient", "high"),
    # 5.7.129 is also a plain accept list: the disabled account needs --check to confirm
    ("restricted-to-recipients", "5.7.129",
     "550 5.7.129 RESOLVER.RST.RestrictedToRecipientsPermission", "disabled-account", "medium"),
    ("group-not-authenticated", "5.7.133",
     "550 5.7.133 RESOLVER.RST.SenderNotAuthenticatedForGroup; authentication required; "
     "Delivery restriction check failed because the sender was not authenticated when sending "
     "to this group", "group-auth", "high"),
    ("unified-group-agent", "5.7.193",
     "550 5.7.193 UnifiedGroupAgent; Delivery failed because the sender isn't a group member or "
     "external senders aren't permitted to send to this group.", "group-auth", "high"),
    ("mailbox-not-authenticated", "5.7.134",
     "550 5.7.134 RESOLVER.RST.SenderNotAuthenticatedForMailbox", "recipient-auth", "high"),
    ("public-folder-not-authenticated", "5.7.135",
     "550 5.7.135 Sender was not authenticated for public folder", "public-folder-auth", "high"),
    ("mail-user-not-authenticated", "5.7.136", "550 5.7.136 Sender was not authenticated",
     "recipient-auth", "high"),
    ("banned-sender", "5.7.501", "550 5.7.501 Access denied, spam abuse detected",
     "banned-sender", "high"),
    ("banned-sending-ip-511", "5.7.511",
     "550 5.7.511 Access denied, banned sender[198.51.100.7]. To request removal from this "
     "list, forward this message to delist@microsoft.com.", "ip-blocklist", "high"),
    ("banned-sending-ip", "5.7.606",
     "550 5.7.606 Access denied, banned sending IP [198.51.100.222]. To request removal from "
     "this list please visit https://sender.office.com/ and follow the directions.",
     "ip-blocklist", "high"),
    ("tenant-allow-block-list", "5.7.703",
     "550 5.7.703 Your message can't be delivered because one or more recipients are blocked "
     "by your organization's tenant recipient block policy.", "tenant-blocked", "high"),
    ("tenant-threshold", "5.7.705", "550 5.7.705 Access denied, tenant has exceeded threshold",
     "tenant-blocked", "high"),
    ("tenant-ip-not-accepted", "5.7.708",
     "550 5.7.708 Access denied, traffic not accepted from this IP", "tenant-blocked", "high"),
    ("unregistered-domain", "5.7.750",
     "550 5.7.750 Service unavailable. Client blocked from sending from unregistered domains",
     "unregistered-domain", "high"),
    # over 5,000 members is read from the tenant: medium until --check
    ("large-group-size", "5.2.3",
     "550 5.2.3 RESOLVER.RST.RecipSizeLimit.DL; message length exceeds administrative limit",
     "large-group-moderation", "medium"),
    # the text alone (no status code anywhere): never more than medium
    ("text-alone-not-authorized", None, "RESOLVER.RST.NotAuthorized; not authorized",
     "restricted-recipient", "medium"),
    ("text-alone-unified-group", None,
     "UnifiedGroupAgent; Delivery failed because the sender isn't a group member",
     "group-auth", "medium"),
    ("text-alone-spf", None,
     "The message was rejected because of Sender Policy Framework violation",
     "domain-dns", "medium"),
    # a specific code with a text nobody documented: the code's cause, medium (below)
    # 5.7.1 alone means a dozen things; 5.7.1 AuthRequired text under another code: the text
    ("bare-5.7.1", "5.7.1", "550 5.7.1 Message rejected", "unknown", "low"),
    ("nothing-documented", None, "550 5.0.0 something else entirely", "unknown", "low"),
    ("text-beats-code", "5.7.133", "550 5.7.133 RESOLVER.RST.NotAuthorized; not authorized",
     "restricted-recipient", "medium"),
]  # fmt: skip

# Codes specific enough to name a cause with no known text (exchange.md, the NDR
# articles), each written by hand; the cause comes at medium confidence.
CODE_ALONE = {
    "5.7.12": "group-auth",
    "5.7.23": "domain-dns",
    "5.7.54": "relay-denied",
    "5.7.57": "relay-denied",
    "5.7.64": "relay-denied",
    "5.7.124": "restricted-recipient",
    "5.7.129": "disabled-account",
    "5.7.133": "group-auth",
    "5.7.134": "recipient-auth",
    "5.7.135": "public-folder-auth",
    "5.7.136": "recipient-auth",
    "5.7.193": "group-auth",
    "5.7.501": "banned-sender",
    "5.7.511": "ip-blocklist",
    "5.7.606": "ip-blocklist",
    "5.7.649": "ip-blocklist",
    "5.7.703": "tenant-blocked",
    "5.7.705": "tenant-blocked",
    "5.7.708": "tenant-blocked",
    "5.7.750": "unregistered-domain",
    "5.7.900": "transport-rule",
    "5.7.950": "transport-rule",
    "5.7.999": "transport-rule",
}
CASES += [
    (f"code-alone-{status}", status, "text nobody documented", cause, "medium")
    for status, cause in CODE_ALONE.items()
]


class TestRules:
    """Bounces as written give the cause and confidence written down by hand."""

    @pytest.mark.parametrize(
        ("status", "line", "cause", "confidence"),
        [case[1:] for case in CASES],
        ids=[case[0] for case in CASES],
    )
    def test_a_bounce_gives_its_cause(
        self, status: str | None, line: str, cause: str, confidence: str
    ) -> None:
        """The status code and diagnostic line give the expected cause and confidence."""
        match = lookup(status=status, diagnostic=line)
        assert (match.cause, match.confidence) == (cause, confidence)

    @pytest.mark.parametrize(
        ("line", "cause"),
        [(c[2], c[3]) for c in CASES if c[1] is not None and c[2].startswith(("550 ", "530 "))],
        ids=[c[0] for c in CASES if c[1] is not None and c[2].startswith(("550 ", "530 "))],
    )
    def test_the_text_without_any_code_is_never_certain(self, line: str, cause: str) -> None:
        """The same bounce with its reply and status code cut off: same cause, at most medium."""
        text = re.sub(r"^\d{3} \d\.\d{1,3}\.\d{1,3} ", "", line)
        match = lookup(status=None, diagnostic=text)
        if cause == "unknown":
            assert match.confidence != "high"
        else:
            assert (match.cause, match.confidence) == (cause, "medium")

    def test_every_row_is_met_by_a_case(self) -> None:
        """Each row of the table is what some hand-written case matched (a new row needs one)."""
        met = {
            match.rule.name
            for _, status, line, _, _ in CASES
            if (match := lookup(status=status, diagnostic=line)).rule is not None
        }
        assert met == {rule.name for rule in RULES}

    @pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.name)
    def test_example_status_is_one_of_the_rows_codes(self, rule: CodeRule) -> None:
        """A row's example carries a status code that the row covers."""
        assert rule.covers(_status_of(rule))

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
