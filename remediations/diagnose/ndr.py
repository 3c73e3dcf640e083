"""Read a non-delivery report (NDR) in any of the forms people hand us.

:func:`parse_ndr` accepts

* a whole message (.eml): an RFC 3464 ``multipart/report;
  report-type=delivery-status`` with its ``message/delivery-status`` part, or
  a bounce whose only text is the human-readable body;
* the text of a bounce pasted from a mail client: Exchange Online's
  "Diagnostic information for administrators" section, Exchange Server's
  ``#550 5.7.1 ... ##`` form, RFC 3464 fields, or a Postfix/Sendmail bounce
  (``<user@example.com>: host ... said: 550 5.7.1 ...``);
* one diagnostic line, e.g. ``550 5.7.1 RESOLVER.RST.AuthRequired; authentication required``.

The original message that an NDR carries (a ``message/rfc822`` or
``text/rfc822-headers`` part, or the "Original message headers:" section of a
pasted body) is read for its sender and subject only: status lines inside it
are never taken for the report's.

Errors: :class:`~remediations.errors.NotAnNdr` (an ``InputError``, so a ``ValueError``,
exit 2) when the input holds no NDR.
"""

from __future__ import annotations

import email
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from email import policy as _policies
from email.message import EmailMessage, Message
from email.utils import parseaddr
from html.parser import HTMLParser

from remediations.errors import NotAnNdr
from remediations.ndr.codes import enhanced_status


class _Policy(_policies.EmailPolicy):
    """``policy.default``, without parsing every header the parser and we look at.

    The header registry builds a parse tree for each header fetched (the
    parser itself fetches Content-Type several times a part): most of the
    time of reading an NDR.  A header of plain ASCII without encoded words
    reads as its unfolded text, which is what ``str()`` of the parsed header
    gives for it (the only use made of headers here); any other header is
    parsed as ``policy.default`` parses it.
    """

    def header_fetch_parse(self, name: str, value: str) -> str:
        if hasattr(value, "name") or "=?" in value or not value.isascii():
            return super().header_fetch_parse(name, value)  # type: ignore[no-any-return]
        return value.replace("\r", "").replace("\n", "")  # unfolded, as the default does


policy = _Policy()

__all__ = ["NdrFailure", "NdrReport", "NotAnNdr", "parse_ndr", "split_reply"]

_EXPECTED = (
    "expected a non-delivery report: a .eml file, the text of a bounce message, or one"
    " diagnostic line such as '550 5.7.1 RESOLVER.RST.AuthRequired; authentication required'"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class NdrFailure:
    """One recipient that the NDR reports as failed.

    Attributes:
        recipient: the failed recipient's address, if the NDR names it.
        status: the enhanced status code, e.g. ``"5.7.1"``.
        smtp_code: the SMTP reply code, e.g. 550.
        diagnostic: the reply text after the SMTP code and enhanced status.
        remote_mta: the host that rejected the message, if another than the reporter.
        evidence: where in the input this was found.
    """

    recipient: str | None
    status: str | None
    smtp_code: int | None
    diagnostic: str
    remote_mta: str | None = None
    evidence: str

    @property
    def reply(self) -> str:
        """The SMTP reply as one line: ``550 5.7.1 <diagnostic>``."""
        return " ".join(str(p) for p in (self.smtp_code, self.status, self.diagnostic) if p)


@dataclass(frozen=True, slots=True, kw_only=True)
class NdrReport:
    """What an NDR says: the failed recipients and about which message.

    Attributes:
        failures: one per failed recipient, in the NDR's order.
        sender: the original message's sender, if found.
        reporting_mta: the host that wrote the NDR, if named.
        subject: the original message's subject, if found.
    """

    failures: tuple[NdrFailure, ...]
    sender: str | None = None
    reporting_mta: str | None = None
    subject: str | None = None


def parse_ndr(raw: str | bytes) -> NdrReport:
    """Read an NDR from a message, a pasted bounce text or one diagnostic line.

    Args:
        raw: the input, as text or as the bytes of a message file.

    Returns:
        The report, with at least one failure.

    Raises:
        NotAnNdr: the input is empty, or holds no failed delivery.
    """
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    text = text.lstrip("\ufeff")
    if not text.strip():
        msg = f"The input is empty; {_EXPECTED}."
        raise NotAnNdr(msg)
    if _looks_like_message(text):
        if isinstance(raw, bytes):
            message = email.message_from_bytes(raw.lstrip(b"\xef\xbb\xbf"), policy=policy)
        else:
            message = email.message_from_string(text, policy=policy)
        assert isinstance(message, EmailMessage)  # an EmailPolicy builds EmailMessage
        return _parse_message(message)
    found = _parse_text(text, where="pasted text")
    if not found.failures:
        msg = f"No failed delivery was found in the text; {_EXPECTED}."
        raise NotAnNdr(msg)
    return NdrReport(
        failures=tuple(found.failures),
        sender=_first(found.original_sender, found.ndr_to),
        reporting_mta=found.reporting_mta,
        subject=found.original_subject,
    )


# -- replies -------------------------------------------------------------------------------

_REPLY = re.compile(
    r"""^(?:(?P<code>[245]\d\d)(?:[ -]+|$))?
        (?:(?P<status>[245]\.\d{1,3}\.\d{1,3})(?![\d.]*\d)\s*)?
        (?P<text>.*)$""",
    re.VERBOSE | re.DOTALL,
)
# Exchange's prefixes: "<xxxxxxxx> #5.7.1 smtp;550 5.7.1 ..." (the 5.7.1 article) and
# "<host #5.7.1 smtp;550 5.7.1 ...>" (Exchange 2007-2013).
_EXCHANGE_PREFIX = re.compile(
    r"^<(?P<host>[^>#]*?)\s*(?P<close>>)?\s*#\s*(?P<status>[245]\.\d{1,3}\.\d{1,3})\s+smtp;\s*",
    re.IGNORECASE,
)
_TYPE_PREFIX = re.compile(r"^\s*(?:smtp|x-[\w-]+|[\w-]+)\s*;\s*", re.IGNORECASE)


def split_reply(reply: str) -> tuple[int | None, str | None, str]:
    """Split an SMTP reply into (reply code, enhanced status, text).

    ``"smtp;550 5.7.1 RESOLVER.RST.NotAuthorized; not authorized"`` gives
    ``(550, "5.7.1", "RESOLVER.RST.NotAuthorized; not authorized")``. A leading
    diagnostic type (``smtp;``) and Exchange's ``<host> #5.7.1 smtp;`` prefix are dropped.
    """
    reply = reply.strip()
    prefix = _EXCHANGE_PREFIX.match(reply)
    fallback_status = None
    if prefix is not None:
        fallback_status = prefix.group("status")
        reply = reply[prefix.end() :]
        if prefix.group("close") is None:
            reply = reply.removesuffix(">").rstrip()
    elif not re.match(r"^[245]\d\d\b", reply):
        reply = _TYPE_PREFIX.sub("", reply, count=1)
    found = _REPLY.match(reply)
    assert found is not None  # every part of the pattern is optional
    code = found.group("code")
    status = found.group("status")
    if status is not None:
        status = enhanced_status(status)
    text = found.group("text").strip()
    return (int(code) if code else None), (status or fallback_status), text


def _is_failure_reply(code: int | None, status: str | None) -> bool:
    return (code is not None and code >= 500) or (status is not None and status.startswith("5."))


# -- messages ------------------------------------------------------------------------------

_HEADER_LINE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*:")
_MESSAGE_HEADERS = frozenset(
    {
        "from",
        "to",
        "subject",
        "date",
        "content-type",
        "mime-version",
        "received",
        "return-path",
        "message-id",
        "delivered-to",
        "x-ms-exchange-message-is-ndr",
    }
)


def _looks_like_message(text: str) -> bool:
    """Tell a message (headers, blank line, body) from pasted text."""
    head, blank, _ = text.lstrip().replace("\r\n", "\n").partition("\n\n")
    lines = head.split("\n")
    if not blank or not _HEADER_LINE.match(lines[0]):
        return False
    if not all(_HEADER_LINE.match(line) or line[:1] in " \t" for line in lines):
        return False
    names = {line.split(":", 1)[0].lower() for line in lines if _HEADER_LINE.match(line)}
    return bool(names & _MESSAGE_HEADERS)


@dataclass(slots=True)
class _Parts:
    """A message's own parts, the embedded original kept apart."""

    delivery_status: list[EmailMessage] = field(default_factory=list)
    texts: list[EmailMessage] = field(default_factory=list)
    originals: list[Message] = field(default_factory=list)


def _collect(part: EmailMessage, into: _Parts) -> None:
    """Sort the parts, never descending into the original message an NDR carries."""
    kind = part.get_content_type()
    if kind in {"message/delivery-status", "message/global-delivery-status"}:
        into.delivery_status.append(part)
    elif kind in {"message/rfc822", "message/global"}:
        inner = part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            into.originals.append(inner[0])
    elif kind in {"text/rfc822-headers", "message/global-headers"}:
        into.originals.append(email.message_from_string(_text_of(part).lstrip(), policy=policy))
    elif part.is_multipart():
        for sub in part.iter_parts():
            if isinstance(sub, EmailMessage):
                _collect(sub, into)
    elif kind in {"text/plain", "text/html"}:
        into.texts.append(part)


def _text_of(part: EmailMessage) -> str:
    try:
        content = part.get_content()
    except (LookupError, UnicodeError):
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else ""
    return content if isinstance(content, str) else ""


def _parse_message(message: EmailMessage) -> NdrReport:
    parts = _Parts()
    _collect(message, parts)
    texts = _readable_texts(message, parts.texts)
    human = [_parse_text(text, where=where) for where, text in texts]

    failures: list[NdrFailure] = []
    not_failed: list[str] = []
    reporting_mta = postfix_sender = None
    for ds in parts.delivery_status:
        found = _parse_delivery_status(ds, human)
        failures.extend(found.failures)
        not_failed.extend(found.not_failed)
        reporting_mta = reporting_mta or found.reporting_mta
        postfix_sender = postfix_sender or found.sender
    if not failures and not not_failed:
        failures = [f for h in human for f in h.failures]
    if not failures and not parts.delivery_status:
        forwarded = _forwarded_ndr(parts.originals)
        if forwarded is not None:
            return forwarded
    if not failures:
        subject = str(message.get("Subject", "") or "(no subject)")
        if not_failed:
            msg = (
                f"The delivery report {subject!r} has no failed recipient (only"
                f" {', '.join(sorted(set(not_failed)))}); {_EXPECTED}."
            )
        else:
            msg = f"The message {subject!r} holds no delivery failure; {_EXPECTED}."
        raise NotAnNdr(msg)

    original_from = original_subject = None
    for original in parts.originals:
        original_from = original_from or _address(original.get("From"))
        original_subject = original_subject or _header(original, "Subject")
    for h in human:
        original_from = original_from or h.original_sender
        original_subject = original_subject or h.original_subject
        reporting_mta = reporting_mta or h.reporting_mta
    ndr_subject = _header(message, "Subject")
    if original_subject is None and ndr_subject is not None:
        stripped = re.sub(r"^(?:Undeliverable|Undelivered)\s*:\s*", "", ndr_subject, flags=re.I)
        original_subject = stripped if stripped != ndr_subject else None
    return NdrReport(
        failures=tuple(_unique(failures)),
        sender=_first(original_from, postfix_sender, _address(message.get("To"))),
        reporting_mta=reporting_mta,
        subject=original_subject,
    )


def _forwarded_ndr(attached: Sequence[Message]) -> NdrReport | None:
    """Read an NDR that someone forwarded as an attachment (the outer mail is not one)."""
    for inner in attached:
        if not isinstance(inner, EmailMessage) or inner.get_content_type() != "multipart/report":
            continue
        try:
            report = _parse_message(inner)
        except NotAnNdr:
            continue
        failures = tuple(
            replace(f, evidence=f"attached message/rfc822 (a forwarded NDR), {f.evidence}")
            for f in report.failures
        )
        return replace(report, failures=failures)
    return None


def _readable_texts(message: EmailMessage, parts: Sequence[EmailMessage]) -> list[tuple[str, str]]:
    def where(part: EmailMessage) -> str:
        return "message body" if part is message else f"{part.get_content_type()} part"

    plain = [(where(p), _text_of(p)) for p in parts if p.get_content_subtype() == "plain"]
    if plain:
        return plain
    return [(where(p), _html_to_text(_text_of(p))) for p in parts]


@dataclass(slots=True)
class _Found:
    failures: list[NdrFailure] = field(default_factory=list)
    not_failed: list[str] = field(default_factory=list)
    reporting_mta: str | None = None
    sender: str | None = None


def _field(block: Message, name: str) -> str | None:
    """Return a field's value, a fold (line break and indent) read as one space."""
    wanted = name.lower()
    for key, value in block.raw_items():
        if key.lower() == wanted:
            text = re.sub(r"\r?\n[ \t]+", " ", str(value)).strip()
            return text or None
    return None


def _typed_value(value: str | None) -> str | None:
    """Drop the type of an RFC 3464 field (``rfc822;``, ``dns;``) and any angle brackets."""
    if value is None:
        return None
    _, semicolon, rest = value.partition(";")
    bare = (rest if semicolon else value).strip().strip("<>").strip()
    return bare or None


def _parse_delivery_status(part: EmailMessage, human: Sequence[_Text]) -> _Found:
    payload = part.get_payload()
    if isinstance(payload, list):
        blocks = [b for b in payload if isinstance(b, Message)]
    else:
        blocks = _field_blocks(str(payload))
    return _read_blocks(blocks, where="message/delivery-status part", human=human)


def _field_blocks(text: str) -> list[Message]:
    paragraphs = re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n").strip())
    return [email.message_from_string(p.strip() + "\n", policy=policy) for p in paragraphs]


def _read_blocks(blocks: Sequence[Message], *, where: str, human: Sequence[_Text]) -> _Found:
    found = _Found()
    number = 0
    for block in blocks:
        if block.get("Final-Recipient") is None and block.get("Original-Recipient") is None:
            found.reporting_mta = found.reporting_mta or _typed_value(
                _field(block, "Reporting-MTA")
            )
            found.sender = found.sender or _typed_value(_field(block, "X-Postfix-Sender"))
            continue
        number += 1
        recipient = _typed_value(_field(block, "Final-Recipient")) or _typed_value(
            _field(block, "Original-Recipient")
        )
        action = (_field(block, "Action") or "").lower().split(" ")[0]
        status = enhanced_status(_field(block, "Status") or "")
        if action and action != "failed":
            found.not_failed.append(f"Action: {action}")
            continue
        if not action and not (status or "").startswith("5."):
            continue
        evidence = f"{where}, recipient block {number}"
        diagnostic_code = _field(block, "Diagnostic-Code")
        code: int | None = None
        text = ""
        if diagnostic_code is not None:
            code, reply_status, text = split_reply(diagnostic_code)
            status = status or reply_status
            evidence += ", Diagnostic-Code"
        else:
            from_human = _human_failure(human, recipient)
            if from_human is not None:
                code, text = from_human.smtp_code, from_human.diagnostic
                status = status or from_human.status
                evidence += f", Status; diagnostic text from the {from_human.evidence}"
            else:
                evidence += ", Status (no Diagnostic-Code)"
        found.failures.append(
            NdrFailure(
                recipient=recipient,
                status=status,
                smtp_code=code,
                diagnostic=text,
                remote_mta=_typed_value(_field(block, "Remote-MTA")),
                evidence=evidence,
            )
        )
    return found


def _human_failure(human: Sequence[_Text], recipient: str | None) -> NdrFailure | None:
    candidates = [f for h in human for f in h.failures]
    for failure in candidates:
        if recipient and failure.recipient and failure.recipient.lower() == recipient.lower():
            return failure
    return candidates[0] if len(candidates) == 1 else None


# -- text ----------------------------------------------------------------------------------

# Where a pasted bounce starts quoting the original message.
_ORIGINAL_START = re.compile(
    r"""^\s*(?:
        original\ message\ headers:?
      | -+\s*original\ message\s*-*
      | -+\s*this\ is\ a\ copy\ of\ the\ message.*
      | -+\s*below\ this\ line\ is\ a\ copy\ of\ the\ message.*
      | -+\s*original\ message\ follows\s*-*
      | content-type:\s*(?:message/rfc822|text/rfc822-headers|message/global)\b.*
      | content-description:\s*undelivered\ message.*
    )\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
_EXO_REPLY = re.compile(
    r"Remote Server(?: at (?P<host>[^\s(']+)(?: \([^)]*\))?)? returned '(?P<reply>.*)'",
    re.IGNORECASE,
)
_EXO_REPLY_START = re.compile(r"Remote Server(?: at [^']*)? returned '", re.IGNORECASE)
# Exchange 2010: "[host] #550 5.7.1 text ##"; Exchange 2007: "#< #5.7.1 smtp;550 ...> #SMTP#".
_EXCHANGE_HASH_REPLY = re.compile(
    r"^\s*(?:(?P<host>[^\s#]+)\s+)?#(?P<reply>[245]\d\d[ -].*?)\s*##\s*$"
    r"|^\s*#<\s*#(?P<status>[245]\.\d{1,3}\.\d{1,3})\s+smtp;(?P<reply2>.*?)>\s*#SMTP#\s*$",
    re.IGNORECASE,
)
_GENERATING_SERVER = re.compile(r"^\s*Generating server:\s*(?P<host>\S+)", re.IGNORECASE)
_RECEIVING_SERVER = re.compile(r"^\s*Receiving server:\s*(?P<host>[^\s(]+)", re.IGNORECASE)
_MAIL_SYSTEM = re.compile(r"This is the mail system at host (?P<host>[^\s.]+(?:\.[^\s.]+)*)\.?")
_ADDRESS_LINE = re.compile(r"^\s*(?:[^<>@]*<)?(?P<addr>[^\s<>@'\"(),;:]+@[^\s<>@'\"(),;:]+?)>?\s*$")
_BOUNCE_ENTRY = re.compile(
    r"^<(?P<addr>[^\s<>@]+@[^\s<>@]+)>(?:\s*\(expanded from [^)]*\))?:?\s*(?P<rest>.*)$"
)
_HOST_SAID = re.compile(
    r"host (?P<host>[^\s\[]+)(?:\[[^\]]*\])? said:\s*(?P<reply>.*?)"
    r"(?:\s*\(in reply to [^)]*\))?\s*$",
    re.IGNORECASE,
)
_REASON = re.compile(r"\(reason:\s*(?P<reply>.*)\)\s*$", re.IGNORECASE)
_REPLY_IN_TEXT = re.compile(r"\b[245]\d\d[ -][245]\.\d{1,3}\.\d{1,3}\b|\b5\d\d\s")
_LABEL = re.compile(r"^\s*(?:Diagnostic-Code|Remote Server returned)\s*:?\s*", re.IGNORECASE)


@dataclass(slots=True)
class _Text:
    """What a bounce text says."""

    failures: list[NdrFailure] = field(default_factory=list)
    reporting_mta: str | None = None
    original_sender: str | None = None
    original_subject: str | None = None
    ndr_to: str | None = None


def _parse_text(text: str, *, where: str) -> _Text:
    """Read a bounce text: a pasted body, a message's human part, or one line."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cut = next((i for i, line in enumerate(lines) if _ORIGINAL_START.match(line)), len(lines))
    head, original = lines[:cut], lines[cut + 1 :]
    found = _Text()
    for line in head:
        server = _GENERATING_SERVER.match(line) or _MAIL_SYSTEM.search(line)
        if server is not None and found.reporting_mta is None:
            found.reporting_mta = server.group("host")
        to = re.match(r"^\s*To:\s*(?P<to>.+)$", line, re.IGNORECASE)
        if to and found.ndr_to is None:
            found.ndr_to = _address(to.group("to"))
    fields = _text_field_blocks(head, where)
    found.reporting_mta = found.reporting_mta or fields.reporting_mta
    found.ndr_to = found.ndr_to or fields.sender
    found.failures = (
        _exchange_replies(head, where)
        or fields.failures
        or _bounce_entries(head, where)
        or _single_reply(head, where)
    )
    if original:
        headers = _original_headers(original)
        found.original_sender = _address(headers.get("From"))
        found.original_subject = _header(headers, "Subject")
    return found


def _joined_lines(lines: Sequence[str]) -> Iterator[tuple[int, str]]:
    """Yield (index, line), joining an Exchange reply that a mail client wrapped."""
    index = 0
    while index < len(lines):
        line, start = lines[index], index
        if _EXO_REPLY_START.search(line) and not _EXO_REPLY.search(line):
            while index + 1 < len(lines) and lines[index + 1].strip():
                index += 1
                line = f"{line.rstrip()} {lines[index].strip()}"
                if _EXO_REPLY.search(line):
                    break
        yield start, line
        index += 1


def _exchange_replies(lines: Sequence[str], where: str) -> list[NdrFailure]:
    failures: list[NdrFailure] = []
    replies: dict[int, str | None] = {}  # reply line -> its recipient
    for index, line in _joined_lines(lines):
        exo = _EXO_REPLY.search(line)
        hashed = None if exo else _EXCHANGE_HASH_REPLY.match(line)
        if exo is None and hashed is None:
            continue
        if exo is not None:
            reply, host, form = exo.group("reply"), exo.group("host"), '"Remote Server returned"'
        else:
            assert hashed is not None  # one of the two matched
            reply = hashed.group("reply") or hashed.group("reply2")
            host, form = hashed.group("host"), 'Exchange "#... ##"'
            if hashed.group("status"):
                reply = f"<> #{hashed.group('status')} smtp;{reply}"
        code, status, diagnostic = split_reply(reply)
        prefix = _EXCHANGE_PREFIX.match(reply.strip())
        if host is None and prefix is not None and "." in prefix.group("host"):
            host = prefix.group("host")
        if not _is_failure_reply(code, status):
            continue
        recipient, receiving = _recipient_before(lines, index, replies)
        replies[index] = recipient
        failures.append(
            NdrFailure(
                recipient=recipient,
                status=status,
                smtp_code=code,
                diagnostic=diagnostic,
                remote_mta=host or receiving,
                evidence=f"{where}, {form} line {index + 1}",
            )
        )
    return _unique(failures)


def _recipient_before(
    lines: Sequence[str], index: int, replies: Mapping[int, str | None]
) -> tuple[str | None, str | None]:
    """Find the recipient (and any "Receiving server") named just above a reply line.

    A reply right under another one (a retry line) belongs to the same recipient.
    """
    recipient = receiving = None
    for back in range(index - 1, max(-1, index - 8), -1):
        line = lines[back]
        if back in replies:
            recipient = recipient or replies[back]
            break
        if _GENERATING_SERVER.match(line):
            break
        server = _RECEIVING_SERVER.match(line)
        if server and receiving is None:
            receiving = server.group("host")
        address = _ADDRESS_LINE.match(line)
        if address and recipient is None:
            recipient = address.group("addr")
    return recipient, receiving


def _text_field_blocks(lines: Sequence[str], where: str) -> _Found:
    """Read RFC 3464 fields pasted as text (Final-Recipient:, Action:, Status:, ...)."""
    if not any(re.match(r"^\s*Final-Recipient\s*:", line, re.IGNORECASE) for line in lines):
        return _Found()
    text = "\n".join(line.strip() if _HEADER_LINE.match(line.strip()) else line for line in lines)
    blocks = [b for b in _field_blocks(text) if b.keys()]
    return _read_blocks(blocks, where=f"{where}, delivery-status fields", human=())


def _bounce_entries(lines: Sequence[str], where: str) -> list[NdrFailure]:
    """Read Postfix (``<addr>: host x said: 550 ...``) and Sendmail (``(reason: ...)``) entries."""
    failures: list[NdrFailure] = []
    index = 0
    while index < len(lines):
        entry = _BOUNCE_ENTRY.match(lines[index])
        start = index
        index += 1
        if entry is None:
            continue
        parts = [entry.group("rest")]
        while index < len(lines) and lines[index][:1] in {" ", "\t"} and lines[index].strip():
            parts.append(lines[index].strip())
            index += 1
        body = " ".join(p for p in parts if p)
        host = None
        reason = _REASON.search(body)
        said = _HOST_SAID.search(body)
        if reason is not None:
            reply = reason.group("reply")
        elif said is not None:
            reply, host = said.group("reply"), said.group("host")
        else:
            first = _REPLY_IN_TEXT.search(body)
            if first is None:
                continue
            reply = re.sub(r"\s*\(in reply to [^)]*\)\s*$", "", body[first.start() :])
        code, status, diagnostic = split_reply(reply)
        if not _is_failure_reply(code, status):
            continue
        failures.append(
            NdrFailure(
                recipient=entry.group("addr"),
                status=status,
                smtp_code=code,
                diagnostic=diagnostic,
                remote_mta=host,
                evidence=f"{where}, bounce entry for <{entry.group('addr')}> line {start + 1}",
            )
        )
    return _unique(failures)


def _single_reply(lines: Sequence[str], where: str) -> list[NdrFailure]:
    """Read one diagnostic line (a mail client may have wrapped it over a few lines)."""
    paragraph = "\n".join(lines).strip()
    if not paragraph or re.search(r"\n[ \t]*\n", paragraph):
        return []
    kept = [line.strip() for line in paragraph.split("\n")]
    reply = _LABEL.sub("", " ".join(kept)).strip().strip("'").strip()
    if not re.match(r"^(?:[\w-]+;\s*)?(?:#\s*)?(?:[245]\d\d[ -]|[245]\.\d{1,3}\.\d{1,3}\b)", reply):
        return []
    reply = reply.lstrip("#").strip()
    code, status, diagnostic = split_reply(reply)
    if not _is_failure_reply(code, status):
        return []
    what = "single diagnostic line" if len(kept) == 1 else f"diagnostic text ({len(kept)} lines)"
    return [
        NdrFailure(
            recipient=None,
            status=status,
            smtp_code=code,
            diagnostic=diagnostic,
            evidence=f"{where}, {what}",
        )
    ]


def _original_headers(lines: Sequence[str]) -> Message:
    """Parse the header block of the quoted original (From, Subject)."""
    body = list(lines)
    while body and not body[0].strip():
        body.pop(0)
    block: list[str] = []
    for line in body:
        if not line.strip():
            break
        if _HEADER_LINE.match(line) or (block and line[:1] in {" ", "\t"}):
            block.append(line)
    return email.message_from_string("\n".join(block) + "\n\n", policy=policy)


# -- small helpers -------------------------------------------------------------------------


def _address(value: object) -> str | None:
    if value is None:
        return None
    _, address = parseaddr(str(value))
    return address if "@" in address else None


def _header(message: Message, name: str) -> str | None:
    value = message.get(name)
    text = " ".join(str(value).split()) if value is not None else ""
    return text or None


def _first(*values: str | None) -> str | None:
    return next((v for v in values if v), None)


def _unique(failures: Sequence[NdrFailure]) -> list[NdrFailure]:
    seen: set[tuple[str | None, str | None, str]] = set()
    kept: list[NdrFailure] = []
    for failure in failures:
        key = (
            failure.recipient.lower() if failure.recipient else None,
            failure.status,
            failure.diagnostic,
        )
        if key not in seen:
            seen.add(key)
            kept.append(failure)
    return kept


class _TextOnly(HTMLParser):
    _BREAKS = frozenset({"br", "p", "div", "tr", "li", "table", "h1", "h2", "h3", "pre"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"style", "script", "head"}:
            self._skip += 1
        elif tag in self._BREAKS:
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in {"style", "script", "head"}:
            self._skip = max(0, self._skip - 1)
        elif tag in self._BREAKS:
            self.chunks.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.chunks.append(data)


def _html_to_text(html: str) -> str:
    parser = _TextOnly()
    parser.feed(html)
    parser.close()
    return "".join(parser.chunks)
