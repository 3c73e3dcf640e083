"""The documented 5.7.x NDR codes and texts, and the cause each one points to.

Two tables live here, both from ``shared/reference/exchange.md`` §5.1 and §9
(§9, checked against Microsoft's NDR articles, overrides §5.1) and the "causes
and their fixes" table of ``shared/DESIGN.md``:

* :data:`RULES`: what a bounce says (enhanced status code and diagnostic text)
  -> which cause id it points to. :func:`lookup` applies it.
* :data:`SANDBOX_REJECTIONS`: the exact SMTP reply and user text an Exchange
  Online tenant emits for each in-tenant cause, for the sandbox mail flow to
  write real-format NDRs with.

Every text that the reference does not confirm carries a ``# unconfirmed:``
comment, so that ``grep -n "# unconfirmed:"`` lists them in one place; every
row names its source.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Literal, get_args

from remediations.exchange import facts

__all__ = [
    "CAUSES",
    "RECIPIENT_KINDS",
    "RULES",
    "SANDBOX_REJECTIONS",
    "TRANSPORT_RULE_DIAGNOSTIC",
    "Cause",
    "CodeMatch",
    "CodeRule",
    "Confidence",
    "RecipientKind",
    "Rejection",
    "StatusRange",
    "enhanced_status",
    "lookup",
    "transport_rule_rejection",
]

Cause = Literal[
    "public-folder-auth",
    "group-auth",
    "recipient-auth",
    "restricted-recipient",
    "large-group-moderation",
    "disabled-account",
    "transport-rule",
    "ip-blocklist",
    "banned-sender",
    "tenant-blocked",
    "unregistered-domain",
    "domain-dns",
    "relay-denied",
    "hybrid-connector",
    "unknown",
]
CAUSES: tuple[Cause, ...] = get_args(Cause)

Confidence = Literal["high", "medium", "low"]

RecipientKind = Literal["public-folder", "group", "mailbox"]
RECIPIENT_KINDS: tuple[RecipientKind, ...] = get_args(RecipientKind)

_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.]*\d)")


def enhanced_status(text: str) -> str | None:
    """Return the first RFC 3463 enhanced status code in ``text`` (``"5.7.1"``), or None."""
    found = _STATUS.search(text)
    if found is None:
        return None
    return ".".join(str(int(group)) for group in found.groups())


def _triple(status: str) -> tuple[int, int, int] | None:
    found = _STATUS.fullmatch(status.strip())
    if found is None:
        return None
    klass, subject, detail = (int(group) for group in found.groups())
    return klass, subject, detail


@dataclass(frozen=True, slots=True)
class StatusRange:
    """An inclusive range of enhanced status codes, e.g. 5.7.900-5.7.999 or just 5.7.1."""

    first: tuple[int, int, int]
    last: tuple[int, int, int]

    @classmethod
    def parse(cls, text: str) -> StatusRange:
        """Read ``"5.7.1"`` or ``"5.7.606-5.7.649"``.

        Raises:
            ValueError: ``text`` is not a status code or a range of them.
        """
        low, _, high = text.partition("-")
        first = _triple(low)
        last = _triple(high) if high else first
        if first is None or last is None or last < first:
            msg = f"{text!r} is not an enhanced status code or range such as '5.7.900-5.7.999'"
            raise ValueError(msg)
        return cls(first, last)

    def __contains__(self, status: object) -> bool:
        """Tell whether the status code string ``status`` lies in the range."""
        if not isinstance(status, str):
            return False
        code = _triple(status)
        return code is not None and self.first <= code <= self.last

    def __str__(self) -> str:
        """Render as ``5.7.1`` or ``5.7.606-5.7.649``."""
        first = ".".join(map(str, self.first))
        if self.first == self.last:
            return first
        return f"{first}-{'.'.join(map(str, self.last))}"


@dataclass(frozen=True, slots=True, kw_only=True)
class CodeRule:
    """One row of the table: status codes and a text pattern that point at a cause.

    Attributes:
        name: stable row id (test ids, evidence).
        statuses: the enhanced status codes the row covers.
        text: pattern searched in the diagnostic text (case-insensitive).
        cause: the cause the row points to.
        by_kind: a different cause when the recipient's kind is known
            (5.7.1 AuthRequired is a public folder's, a group's or a mailbox's).
        code_alone: the status code by itself points at this cause
            (False for 5.7.1, which means a dozen things).
        needs_check: why the tenant must be read to be sure; caps the
            confidence at medium.
        example: the documented diagnostic line.
        source: where the example is documented.
    """

    name: str
    statuses: tuple[StatusRange, ...]
    text: re.Pattern[str]
    cause: Cause
    by_kind: tuple[tuple[RecipientKind, Cause], ...] = ()
    code_alone: bool = True
    needs_check: str | None = None
    example: str
    source: str

    def covers(self, status: str | None) -> bool:
        """Tell whether ``status`` is one of the row's codes."""
        return status is not None and any(status in span for span in self.statuses)


def _rule(
    name: str,
    statuses: str,
    text: str,
    cause: Cause,
    *,
    example: str,
    source: str,
    by_kind: Mapping[RecipientKind, Cause] | None = None,
    code_alone: bool = True,
    needs_check: str | None = None,
) -> CodeRule:
    return CodeRule(
        name=name,
        statuses=tuple(StatusRange.parse(part.strip()) for part in statuses.split(",")),
        text=re.compile(text, re.IGNORECASE),
        cause=cause,
        by_kind=tuple((by_kind or {}).items()),
        code_alone=code_alone,
        needs_check=needs_check,
        example=example,
        source=source,
    )


_S51 = "exchange.md §5.1"
_S9 = "exchange.md §9"
_KIND_CHECK = (
    "the NDR does not say whether the recipient is a public folder, a group or a mailbox; "
    "diagnose --check reads the tenant to confirm"
)

# Order matters only to break ties between rows that match equally well:
# more specific rows come first.
RULES: tuple[CodeRule, ...] = (
    _rule(
        "auth-required",
        "5.7.1",
        r"RESOLVER\.RST\.AuthRequired",
        "public-folder-auth",
        by_kind={
            "public-folder": "public-folder-auth",
            "group": "group-auth",
            "mailbox": "recipient-auth",
        },
        code_alone=False,
        example=(
            "550 5.7.1 RESOLVER.RST.AuthRequired; authentication required [Stage: CreateMessage]"
        ),
        source=f"{_S51}; 5.7.1 article (mail-enabled public folder)",
    ),
    _rule(
        # unconfirmed: NotAuthorizedToGroup is an on-premises constant; its use in EXO is not
        # confirmed (exchange.md §5.1).
        "not-authorized-to-group",
        "5.7.1",
        r"RESOLVER\.RST\.NotAuthorizedToGroup|not authorized to send to the distribution list",
        "restricted-recipient",
        code_alone=False,
        example=(
            "550 5.7.1 RESOLVER.RST.NotAuthorizedToGroup; "
            "not authorized to send to the distribution list"
        ),
        source=f"{_S51} (decompiled Exchange SmtpResponse constants)",
    ),
    _rule(
        "not-authorized",
        "5.7.1",
        r"RESOLVER\.RST\.NotAuthorized\b",
        "restricted-recipient",
        code_alone=False,
        example="550 5.7.1 RESOLVER.RST.NotAuthorized; not authorized",
        source=_S51,
    ),
    _rule(
        "blocklist",
        "5.7.1",
        r"blocked using Blocklist|delist@(?:messaging\.)?microsoft\.com",
        "ip-blocklist",
        code_alone=False,
        example=(
            "550 5.7.1 Service unavailable; Client host [203.0.113.5] blocked using Blocklist 1;"
            " To request removal from this list please forward this message to"
            " delist@microsoft.com"
        ),
        source=f"{_S51}; 5.7.1 article",
    ),
    _rule(
        "transport-rule-5.7.1",
        "5.7.1",
        r"TRANSPORT\.RULES\.RejectMessage|Delivery not authorized|rejected by organization policy",
        "transport-rule",
        code_alone=False,
        example=(
            "550 5.7.1 TRANSPORT.RULES.RejectMessage; the message was rejected by organization"
            " policy"
        ),
        source=f"{_S9} (transport-rule rejections); New-TransportRule RejectMessageReasonText",
    ),
    _rule(
        # The toolkit's own leaver rule (block-delicensed-user): its name is "Block mail to
        # leaver <address>" and it rejects with 5.7.1 and this text of its own.
        "leaver-rule",
        "5.7.1",
        r"is no longer in use: this person has left the organi[sz]ation",
        "transport-rule",
        code_alone=False,
        example=(
            "550 5.7.1 The mailbox jordan.lee@contoso.com is no longer in use: this person has"
            " left the organisation. Please contact the organisation by other means."
        ),
        source="this toolkit's block-delicensed-user rule (Block mail to leaver <address>)",
    ),
    _rule(
        "transport-rule-custom",
        "5.7.900-5.7.999",
        r"TRANSPORT\.RULES\.RejectMessage|Delivery not authorized",
        "transport-rule",
        example="550 5.7.950 Delivery not authorized, message refused",
        source=f"{_S51}, {_S9}; New-TransportRule RejectMessageEnhancedStatusCode 5.7.900-5.7.999",
    ),
    _rule(
        "relay-5.7.54",
        "5.7.54",
        r"Unable to relay",
        "relay-denied",
        example="550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain",
        source=f"{_S9} (relay)",
    ),
    _rule(
        "relay-5.7.1",
        "5.7.1",
        r"Unable to relay|Relay(?:ing)? (?:access )?denied|Client was not authenticated",
        "relay-denied",
        code_alone=False,
        example="530 5.7.1 Client was not authenticated",
        source=_S51,
    ),
    _rule(
        "sender-authenticated",
        "5.7.12",
        r"RESOLVER\.RST\.SenderAuthenticated|Sender was not authenticated by organization",
        "group-auth",
        by_kind={
            "public-folder": "public-folder-auth",
            "group": "group-auth",
            "mailbox": "recipient-auth",
        },
        example=(
            "550 5.7.12 RESOLVER.RST.SenderAuthenticated; "
            "Delivery restriction check failed as sender not authenticated"
        ),
        source=f"{_S51} (KB 3028012)",
    ),
    _rule(
        "spf",
        "5.7.23",
        r"Sender Policy Framework|\bSPF\b",
        "domain-dns",
        example="550 5.7.23 The message was rejected because of Sender Policy Framework violation",
        source=_S51,
    ),
    _rule(
        "anonymous-submission",
        "5.7.57",
        r"Client was not authenticated to send anonymous mail",
        "relay-denied",
        example=(
            "530 5.7.57 SMTP; Client was not authenticated to send anonymous mail during MAIL FROM"
        ),
        source=_S51,
    ),
    _rule(
        "tenant-attribution",
        "5.7.64",
        r"TenantAttribution",
        "relay-denied",
        example="550 5.7.64 TenantAttribution; Relay Access Denied",
        source=_S51,
    ),
    _rule(
        # A delivery restriction, never moderation (a moderation hold gives no NDR): the
        # sender is not on the group's allowed senders, or the group accepts only members.
        # unconfirmed: the NDR table gives only the text; the 5.7.124 RESOLVER name is not known.
        "allowed-senders",
        "5.7.124",
        r"not in allowed[- ]senders list|SenderNotInAllowedSenders",
        "restricted-recipient",
        example="550 5.7.124 Sender not in allowed-senders list",
        source=f"{_S51} (NDR table); {_S9} (5.7.124 is a delivery restriction)",
    ),
    _rule(
        "restricted-to-recipients",
        "5.7.129",
        r"RESOLVER\.RST\.RestrictedToRecipientsPermission|"
        r"don't have permission to send to it",
        "disabled-account",
        needs_check=(
            "5.7.129 also means a plain accept list; diagnose --check reads whether the"
            " recipient's on-premises account is disabled"
        ),
        example="550 5.7.129 RESOLVER.RST.RestrictedToRecipientsPermission",
        source=f"{_S51}; 5.7.1 article (disabled on-premises account)",
    ),
    _rule(
        "group-not-authenticated",
        "5.7.133",
        r"SenderNotAuthenticatedForGroup|not authenticated when sending to this group",
        "group-auth",
        example=(
            "550 5.7.133 RESOLVER.RST.SenderNotAuthenticatedForGroup; authentication required;"
            " Delivery restriction check failed because the sender was not authenticated when"
            " sending to this group"
        ),
        source=f"{_S51} (hybrid Microsoft 365 groups article)",
    ),
    _rule(
        "unified-group-agent",
        "5.7.193",
        r"UnifiedGroupAgent|external senders aren't permitted to send to this group",
        "group-auth",
        example=(
            "550 5.7.193 UnifiedGroupAgent; Delivery failed because the sender isn't a group"
            " member or external senders aren't permitted to send to this group."
        ),
        source=f"{_S9} (NDR 550 5.7.193 for external senders to a Microsoft 365 group)",
    ),
    _rule(
        # unconfirmed: the 5.7.134 RESOLVER name appears only in a third-party bounce guide.
        "mailbox-not-authenticated",
        "5.7.134",
        r"SenderNotAuthenticatedForMailbox|Sender was not authenticated for mailbox",
        "recipient-auth",
        example="550 5.7.134 RESOLVER.RST.SenderNotAuthenticatedForMailbox",
        source=f"{_S51} (NDR table; third-party guide for the RESOLVER name)",
    ),
    _rule(
        # unconfirmed: the 5.7.13/5.7.135 RESOLVER name is not known (exchange.md §6.5).
        "public-folder-not-authenticated",
        "5.7.13, 5.7.135",
        r"SenderNotAuthenticatedForPublicFolder|Sender was not authenticated for public folder",
        "public-folder-auth",
        example="550 5.7.135 Sender was not authenticated for public folder",
        source=f"{_S51} (NDR table)",
    ),
    _rule(
        # unconfirmed: the 5.7.136 RESOLVER name is not known (exchange.md §6.5).
        "mail-user-not-authenticated",
        "5.7.136",
        r"SenderNotAuthenticatedForMailUser|Sender was not authenticated\s*(?:$|[.;'\"])",
        "recipient-auth",
        example="550 5.7.136 Sender was not authenticated",
        source=f"{_S51} (NDR table)",
    ),
    _rule(
        # "banned sender" also ends 5.7.511 (a banned sending IP): the code settles which.
        "banned-sender",
        "5.7.501-5.7.503",
        r"spam abuse detected|banned sender",
        "banned-sender",
        example="550 5.7.501 Access denied, spam abuse detected",
        source=_S51,
    ),
    _rule(
        "banned-sending-ip-511",
        "5.7.511",
        r"banned sender|delist@(?:messaging\.)?microsoft\.com",
        "ip-blocklist",
        example=(
            "550 5.7.511 Access denied, banned sender[198.51.100.7]. To request removal from"
            " this list, forward this message to delist@microsoft.com."
        ),
        source=f"{_S9} (5.7.511: the sending IP is banned; delisting through Microsoft)",
    ),
    _rule(
        "banned-sending-ip",
        "5.7.606-5.7.649",
        r"banned sending IP",
        "ip-blocklist",
        example=(
            "550 5.7.606 Access denied, banned sending IP [198.51.100.222]. To request removal"
            " from this list please visit https://sender.office.com/ and follow the directions."
            " For more information please go to  http://go.microsoft.com/fwlink/?LinkID=526655"
            " (AS16012609)"
        ),
        source=f"{_S51} (sisimai rhost-exchangeonline-01.eml)",
    ),
    _rule(
        "tenant-allow-block-list",
        "5.7.703",
        r"Tenant Allow Block List|tenant recipient block policy",
        "tenant-blocked",
        example=(
            "550 5.7.703 Your message can't be delivered because one or more recipients are"
            " blocked by your organization's tenant recipient block policy."
        ),
        source=f"{_S9} (current wording); {_S51} (earlier wording, Tenant Allow Block List)",
    ),
    _rule(
        "tenant-threshold",
        "5.7.705",
        r"tenant has exceeded threshold",
        "tenant-blocked",
        example="550 5.7.705 Access denied, tenant has exceeded threshold",
        source=_S51,
    ),
    _rule(
        "tenant-ip-not-accepted",
        "5.7.708",
        r"traffic not accepted from this IP",
        "tenant-blocked",
        example="550 5.7.708 Access denied, traffic not accepted from this IP",
        source=_S51,
    ),
    _rule(
        "unregistered-domain",
        "5.7.750",
        r"unregistered domains?",
        "unregistered-domain",
        example=(
            "550 5.7.750 Service unavailable. Client blocked from sending from unregistered domains"
        ),
        source=_S51,
    ),
    _rule(
        # unconfirmed: that Exchange Online answers a too-large message to a group over 5,000
        # members with this constant is an assumption; the text is the on-premises
        # MessageTooLargeForDistributionList constant (decompiled SmtpResponse), and the NDR table
        # documents the plain RESOLVER.RST.RecipSizeLimit for one recipient.
        "large-group-size",
        "5.2.3",
        r"RESOLVER\.RST\.RecipSizeLimit\.DL",
        "large-group-moderation",
        code_alone=False,
        needs_check="diagnose --check reads the group's size (over 5,000 members)",
        example=(
            "550 5.2.3 RESOLVER.RST.RecipSizeLimit.DL; message length exceeds administrative limit"
        ),
        source="decompiled Exchange SmtpResponse constants; 5.7.1 article (large groups)",
    ),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class CodeMatch:
    """What the table says about one status code and diagnostic text.

    Attributes:
        cause: the cause id (``"unknown"`` when no row matches).
        confidence: high when code and text match a row whose cause is certain,
            medium when only one of them matches or the tenant must confirm,
            low when nothing matches.
        rule: the matching row, or None.
        reason: one sentence saying what matched.
        caveats: what would change the answer, and how to confirm it.
    """

    cause: Cause
    confidence: Confidence
    rule: CodeRule | None
    reason: str
    caveats: tuple[str, ...] = ()


def lookup(
    *,
    status: str | None,
    diagnostic: str,
    recipient_kind: RecipientKind | None = None,
) -> CodeMatch:
    """Find the cause that a status code and diagnostic text point to.

    Args:
        status: the enhanced status code (``"5.7.1"``), if known. A status code
            inside ``diagnostic`` counts too.
        diagnostic: the diagnostic text (the SMTP reply).
        recipient_kind: the recipient's kind, if known; it settles rows such
            as 5.7.1 AuthRequired whose cause depends on it.

    Returns:
        The best matching row's cause, or ``unknown`` with low confidence.
    """
    return _lookup(status, diagnostic, recipient_kind)


# A postmaster mailbox repeats the same few replies thousands of times: each distinct
# (status, text, kind) is looked up once.  CodeMatch is frozen, so sharing it is safe.
@functools.lru_cache(maxsize=4096)
def _lookup(status: str | None, diagnostic: str, recipient_kind: RecipientKind | None) -> CodeMatch:
    statuses = {s for s in (status, enhanced_status(diagnostic)) if s is not None}
    # each status read once, not once per row and range
    codes = [code for code in map(_triple, statuses) if code is not None]
    best: tuple[int, CodeRule, re.Match[str] | None] | None = None
    for rule in RULES:
        code_hit = any(span.first <= code <= span.last for span in rule.statuses for code in codes)
        text_hit = rule.text.search(diagnostic)
        # Code and text beat text alone, which beats code alone: a RESOLVER text is
        # more specific than a status code when the two disagree.
        score = 3 if code_hit and text_hit else 2 if text_hit else int(code_hit and rule.code_alone)
        if score and (best is None or score > best[0]):
            best = (score, rule, text_hit)
    if best is None:
        shown = status or "no status code"
        return CodeMatch(
            cause="unknown",
            confidence="low",
            rule=None,
            reason=f"no documented 5.7.x row matches {shown} with this diagnostic text",
        )
    score, rule, text_hit = best
    caveats: list[str] = []
    cause = rule.cause
    certain = score == 3
    if rule.by_kind:
        if recipient_kind is None:
            certain = False
            others = ", ".join(f"{kind}: {other}" for kind, other in rule.by_kind if other != cause)
            caveats.append(f"{_KIND_CHECK} (if it is another kind: {others})")
        else:
            cause = dict(rule.by_kind).get(recipient_kind, cause)
    if rule.needs_check is not None:
        certain = False
        caveats.append(rule.needs_check)
    matched = (
        [f"status {next(s for s in sorted(statuses) if rule.covers(s))}"] if score != 2 else []
    )
    if text_hit is not None:
        matched.append(f"text {text_hit.group(0)!r}")
    return CodeMatch(
        cause=cause,
        confidence="high" if certain else "medium",
        rule=rule,
        reason=f"{' and '.join(matched)} match row {rule.name!r} ({rule.source})",
        caveats=tuple(caveats),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Rejection:
    """The SMTP reply and user text a tenant sends back for one rejected recipient.

    ``diagnostic`` is the reply text after the SMTP code and enhanced status.
    Texts may hold ``{name}`` placeholders (e.g. ``{ip}``); :meth:`fill` sets them.
    """

    smtp_code: int
    status: str
    diagnostic: str
    human_text: str

    @property
    def line(self) -> str:
        """The SMTP reply as one line: ``550 5.7.1 <diagnostic>``."""
        return f"{self.smtp_code} {self.status} {self.diagnostic}"

    @property
    def placeholders(self) -> frozenset[str]:
        """The ``{name}`` placeholders still in the texts."""
        return frozenset(re.findall(r"\{(\w+)\}", self.diagnostic + self.human_text))

    def fill(self, **values: str) -> Rejection:
        """Return a copy with each ``{name}`` placeholder replaced.

        Raises:
            ValueError: a placeholder is left without a value, or a value names
                no placeholder.
        """
        wanted = self.placeholders
        if set(values) != wanted:
            msg = f"this rejection needs exactly the values {sorted(wanted)}, got {sorted(values)}"
            raise ValueError(msg)
        diagnostic, human_text = self.diagnostic, self.human_text
        for name, value in values.items():
            diagnostic = diagnostic.replace(f"{{{name}}}", value)
            human_text = human_text.replace(f"{{{name}}}", value)
        return replace(self, diagnostic=diagnostic, human_text=human_text)


# New-TransportRule's defaults live in the facts table.
_TRANSPORT_RULE_DEFAULT_STATUS = facts.DEFAULT_REJECT_CODE
_TRANSPORT_RULE_DEFAULT_TEXT = facts.DEFAULT_REJECT_TEXT
# exchange.md §9: the usual diagnostic of a transport-rule rejection.
TRANSPORT_RULE_DIAGNOSTIC = (
    "TRANSPORT.RULES.RejectMessage; the message was rejected by organization policy"
)
_TRANSPORT_RULE_STATUSES = (StatusRange.parse("5.7.1"), StatusRange.parse("5.7.900-5.7.999"))


def transport_rule_rejection(*, status: str | None = None, text: str | None = None) -> Rejection:
    """The rejection a mail flow rule with RejectMessage* settings produces (exchange.md §9).

    A rule that sets its own code (RejectMessageEnhancedStatusCode 5.7.900-5.7.999)
    answers with that code and its own text (``Delivery not authorized, message
    refused`` when it sets none); otherwise (no code, or 5.7.1, which is what
    Get-TransportRule shows for a rule that set only a text) the diagnostic is
    ``5.7.1 TRANSPORT.RULES.RejectMessage; the message was rejected by organization
    policy`` and the rule's text, if any, is in the human-readable part.

    Raises:
        ValueError: ``status`` is neither 5.7.1 nor within 5.7.900-5.7.999
            (the values New-TransportRule accepts).
    """
    if status is not None and not any(status in span for span in _TRANSPORT_RULE_STATUSES):
        msg = f"reject status {status!r} is not allowed; use 5.7.1 or one from 5.7.900 to 5.7.999"
        raise ValueError(msg)
    # unconfirmed: that a rule which sets 5.7.1 itself answers with the generic diagnostic
    # (Get-TransportRule cannot tell it from a rule that set only a text).
    if status is not None and status != _TRANSPORT_RULE_DEFAULT_STATUS:
        reason = text or _TRANSPORT_RULE_DEFAULT_TEXT
        diagnostic = reason
    else:
        status = _TRANSPORT_RULE_DEFAULT_STATUS
        reason = text or "it was rejected by organization policy"
        diagnostic = TRANSPORT_RULE_DIAGNOSTIC
    return Rejection(
        smtp_code=550,
        status=status,
        diagnostic=diagnostic,
        # unconfirmed: Exchange Online's user text for a rule rejection; it carries the rule text.
        human_text=(
            "Your message wasn't delivered because the recipient's organization doesn't accept"
            f" it: {reason}"
        ),
    )


SANDBOX_REJECTIONS: Mapping[str, Rejection] = MappingProxyType(
    {
        "public-folder-auth": Rejection(
            smtp_code=550,
            status="5.7.1",
            diagnostic=(
                "RESOLVER.RST.AuthRequired; authentication required [Stage: CreateMessage]"
            ),
            # unconfirmed: user text (the article quotes only the administrator line).
            human_text=(
                "Your message couldn't be delivered because this public folder accepts messages"
                " only from authenticated senders in its organization."
            ),
        ),
        "group-auth": Rejection(
            smtp_code=550,
            status="5.7.133",
            diagnostic=(
                "RESOLVER.RST.SenderNotAuthenticatedForGroup; authentication required;"
                " Delivery restriction check failed because the sender was not authenticated"
                " when sending to this group"
            ),
            # unconfirmed: user text.
            human_text=(
                "Your message couldn't be delivered because the group only accepts messages from"
                " people in its organization or on its allowed senders list, and your email"
                " address isn't on the list."
            ),
        ),
        "unified-group-auth": Rejection(
            smtp_code=550,
            status="5.7.193",
            # exchange.md §9: NDR 550 5.7.193 for external senders to a Microsoft 365 group.
            diagnostic=(
                "UnifiedGroupAgent; Delivery failed because the sender isn't a group member or"
                " external senders aren't permitted to send to this group."
            ),
            # unconfirmed: user text.
            human_text=(
                "Your message couldn't be delivered because this Microsoft 365 group doesn't"
                " accept messages from people outside its organization."
            ),
        ),
        "mail-user-auth": Rejection(
            smtp_code=550,
            status="5.7.136",
            # unconfirmed: the NDR table gives only "Sender was not authenticated"; the RESOLVER
            # name in front of it is not known (exchange.md §6.5).
            diagnostic="Sender was not authenticated",
            # unconfirmed: user text.
            human_text=(
                "Your message couldn't be delivered because the recipient only accepts messages"
                " from authenticated senders in its organization."
            ),
        ),
        "mailbox-auth": Rejection(
            smtp_code=550,
            status="5.7.134",
            # unconfirmed: the RESOLVER name comes from a third-party guide; the sentence after it
            # is modelled on 5.7.133's.
            diagnostic=(
                "RESOLVER.RST.SenderNotAuthenticatedForMailbox; authentication required;"
                " Delivery restriction check failed because the sender was not authenticated"
                " when sending to this mailbox"
            ),
            # unconfirmed: user text.
            human_text=(
                "Your message couldn't be delivered because the recipient only accepts messages"
                " from authenticated senders in its organization."
            ),
        ),
        "not-authorized": Rejection(
            smtp_code=550,
            status="5.7.1",
            diagnostic="RESOLVER.RST.NotAuthorized; not authorized",
            # unconfirmed: user text.
            human_text=(
                "Your message couldn't be delivered because the recipient accepts messages only"
                " from senders on its allowed senders list, and your email address isn't on it."
            ),
        ),
        "group-not-authorized": Rejection(
            smtp_code=550,
            status="5.7.1",
            # unconfirmed: on-premises constant; its use in Exchange Online is not confirmed.
            diagnostic=(
                "RESOLVER.RST.NotAuthorizedToGroup; not authorized to send to the distribution list"
            ),
            # unconfirmed: user text.
            human_text=(
                "Your message couldn't be delivered because you don't have permission to send to"
                " this group. Ask the group's owner to add you to its allowed senders list."
            ),
        ),
        "allowed-senders": Rejection(
            smtp_code=550,
            status="5.7.124",
            # unconfirmed: the NDR table's text; the RESOLVER name in front of it is not known.
            diagnostic="Sender not in allowed-senders list",
            # unconfirmed: user text.
            human_text=(
                "Your message couldn't be delivered because you aren't on the group's allowed"
                " senders list. Ask the group's owner to add you to it."
            ),
        ),
        "large-group-members": Rejection(
            smtp_code=550,
            status="5.7.124",
            # unconfirmed: 5.7.124 for a members-only group; the diagnostic is the NDR table's
            # 5.7.124 text (the article gives no separate text for members-only groups).
            diagnostic="Sender not in allowed-senders list",
            # unconfirmed: user text.
            human_text=(
                "Your message couldn't be delivered because this group has more than 5,000"
                " members and accepts messages only from its members. Join the group, or ask"
                " its owner or moderator to approve your message."
            ),
        ),
        "large-group-size": Rejection(
            smtp_code=550,
            status="5.2.3",
            # unconfirmed: on-premises MessageTooLargeForDistributionList constant; that Exchange
            # Online sends it for groups over 5,000 members is an assumption.
            diagnostic=(
                "RESOLVER.RST.RecipSizeLimit.DL; message length exceeds administrative limit"
            ),
            # unconfirmed: user text.
            human_text=(
                "Your message couldn't be delivered because it's too large for this group, which"
                " has more than 5,000 members. Send it again without large attachments."
            ),
        ),
        "disabled-account": Rejection(
            smtp_code=550,
            status="5.7.129",
            diagnostic="RESOLVER.RST.RestrictedToRecipientsPermission",
            # The 5.7.1 article's text.
            human_text=(
                "Your message couldn't be delivered to the recipient because you don't have"
                " permission to send to it. Ask the recipient's email admin to add you to the"
                " accept list for the recipient. For more information, see DSN 5.7.129 Errors"
                " in Exchange Online and Microsoft 365 or Office 365."
            ),
        ),
        "transport-rule": transport_rule_rejection(),
        "relay-denied": Rejection(
            smtp_code=550,
            status="5.7.54",
            # exchange.md §9: Exchange Online's relay refusal.
            diagnostic="SMTP; Unable to relay recipient in non-accepted domain",
            # unconfirmed: user text.
            human_text=(
                "Your message couldn't be delivered because the recipient's domain isn't one the"
                " receiving organization accepts mail for."
            ),
        ),
        "recipient-not-found": Rejection(
            smtp_code=550,
            status="5.1.10",
            # The NDR table: recipient not found by SMTP address lookup.
            diagnostic="RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
            # unconfirmed: user text.
            human_text="Your message couldn't be delivered because the recipient's address wasn't"
            " found.",
        ),
        "recipient-not-found-edge": Rejection(
            smtp_code=550,
            status="5.4.1",
            # exchange.md §9: directory-based edge blocking refuses an outside sender's message
            # to an address no recipient has, at SMTP time (the sender's server writes the NDR).
            diagnostic="Recipient address rejected: Access denied. AS(201806281)",
            # unconfirmed: user text (written by the sender's server, which varies).
            human_text="Your message couldn't be delivered because the recipient's organization"
            " says the address doesn't exist.",
        ),
        "ip-blocklist": Rejection(
            # unconfirmed: the SMTP code; the article quotes the line from "5.7.1" on.
            smtp_code=550,
            status="5.7.1",
            diagnostic=(
                "Service unavailable; Client host [{ip}] blocked using Blocklist 1; To request"
                " removal from this list please forward this message to delist@microsoft.com"
            ),
            # unconfirmed: user text.
            human_text=(
                "Your message couldn't be delivered because the IP address it was sent from,"
                " {ip}, is on Microsoft's blocklist. Your email admin can request removal at"
                " https://sender.office.com."
            ),
        ),
    }
)
