"""Message-trace triage: classify every failed row of a message-trace export.

A message trace exported as CSV (``Get-MessageTraceV2 | Export-Csv``, with the
detail of each failure next to it, or the Exchange admin center's reports) is
read row by row with :mod:`csv`, in constant memory: only the tallies are kept.
A failed row is one whose ``Status`` is ``Failed`` or whose ``recipient_status``
holds the ``Fail`` event.  Its SMTP reply (from the ``Detail`` or
``recipient_status`` column, see the facts table) is classified with the same
rules as ``diagnose``; a row without one stays ``unknown`` and the report says
how to read its reason.  Columns are matched by name, without case, spaces or
underscores.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from remediations.diagnose.batch import (
    CauseTally,
    PlaybookTable,
    causes_json,
    render_causes,
    tally_of,
)
from remediations.diagnose.classify import AUTOMATED, Diagnosis, diagnose
from remediations.diagnose.ndr import NdrFailure, NdrReport, split_reply
from remediations.errors import InputError
from remediations.exchange import facts

__all__ = ["TraceReport", "read_trace"]

# An SMTP reply inside a longer text: "550 5.7.1 ..." up to the end of its field.
_REPLY = re.compile(r"\b[45]\d\d[ -][245]\.\d{1,3}\.\d{1,3}\b[^}\]]*")
# How many distinct replies keep their cause for reuse.
_CACHE = 4096


def _norm(name: str) -> str:
    return re.sub(r"[\s_]", "", name).lower()


@dataclass(slots=True)
class TraceReport:
    """The tallies of a trace: rows read, failed rows by cause."""

    source: str
    rows: int = 0
    failed: int = 0
    no_reply: int = 0
    causes: dict[str, CauseTally] = field(default_factory=dict)

    def to_json(self, table: PlaybookTable) -> dict[str, Any]:
        """The whole report as one JSON document."""
        return {
            "source": self.source,
            "rows": self.rows,
            "failed": self.failed,
            "failed_without_reply": self.no_reply,
            "causes": causes_json(self.causes, table),
        }

    def render_text(self, table: PlaybookTable) -> str:
        """Counts by cause, the top recipients and senders, then the fixes."""
        lines = [
            f"{self.source}: {self.rows} row{'' if self.rows == 1 else 's'}, {self.failed} "
            f"failed deliver{'y' if self.failed == 1 else 'ies'} under {len(self.causes)} "
            f"cause{'' if len(self.causes) == 1 else 's'}."
        ]
        if self.no_reply:
            lines.append(
                f"{self.no_reply} failed "
                f"{'row carries' if self.no_reply == 1 else 'rows carry'} no SMTP "
                f"reply (a summary export): read the reason with {facts.TRACE_DETAIL_CMDLET} "
                "-MessageTraceId ID -RecipientAddress ADDRESS, or export the detail with the trace."
            )
        lines.extend(render_causes(self.causes, table))
        return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class _Columns:
    sender: int | None
    recipient: int | None
    status: int | None
    recipient_status: int | None
    reasons: tuple[int, ...]

    @classmethod
    def of(cls, header: Sequence[str], where: str) -> _Columns:
        index = {_norm(name): i for i, name in enumerate(header)}

        def first(names: Sequence[str]) -> int | None:
            return next((index[_norm(n)] for n in names if _norm(n) in index), None)

        columns = cls(
            sender=first(facts.TRACE_SENDER_COLUMNS),
            recipient=first(facts.TRACE_RECIPIENT_COLUMNS),
            status=first((facts.TRACE_STATUS_COLUMN,)),
            recipient_status=first((facts.TRACE_RECIPIENT_STATUS_COLUMN,)),
            reasons=tuple(index[_norm(n)] for n in facts.TRACE_REASON_COLUMNS if _norm(n) in index),
        )
        if columns.status is None and columns.recipient_status is None:
            raise InputError(
                f"{where} has neither a {facts.TRACE_STATUS_COLUMN} nor a "
                f"{facts.TRACE_RECIPIENT_STATUS_COLUMN} column; give a message-trace export "
                "(Get-MessageTraceV2 ... | Export-Csv, or a report from the admin center)."
            )
        return columns


def _cell(row: Sequence[str], index: int | None) -> str:
    return row[index].strip() if index is not None and index < len(row) else ""


_FAILED = facts.TRACE_FAILED_STATUS.lower()
_FAIL = facts.TRACE_FAIL_EVENT.lower()


def _failed_recipients(row: Sequence[str], columns: _Columns) -> list[str]:
    """The recipients this row reports as failed (the row's own, or from recipient_status)."""
    if columns.status is not None and _cell(row, columns.status).lower() == _FAILED:
        return [_cell(row, columns.recipient)]
    if columns.recipient_status is None:
        return []
    found = []
    for part in _cell(row, columns.recipient_status).split(";"):
        address, sep, events = part.partition("##")
        said = {e.strip().split(" ", 1)[0].lower() for e in events.split(",")}
        if sep and _FAIL in said:
            found.append(address.strip() or _cell(row, columns.recipient))
    return found


def _reply(row: Sequence[str], columns: _Columns) -> str:
    """The SMTP reply a row carries, or "" when it has none."""
    for index in columns.reasons:
        text = _cell(row, index)
        if not text:
            continue
        field_at = text.find(facts.TRACE_REPLY_FIELD)
        if field_at >= 0:
            text = text[field_at + len(facts.TRACE_REPLY_FIELD) :]
        found = _REPLY.search(text)
        if found:
            return found.group(0).strip().rstrip(";").strip()
    return ""


@lru_cache(maxsize=_CACHE)
def _cause(reply: str) -> tuple[str, bool]:
    """The cause of a reply (it depends on the reply alone), and whether its fix names the
    sender (then it is one fix per recipient and sender, else one per recipient)."""
    item = _diagnosis("", "", reply)
    slots = AUTOMATED.get(item.cause, ("", ()))[1]
    return item.cause, any(source == "sender" for _, source in slots)


def _diagnosis(recipient: str, sender: str, reply: str) -> Diagnosis:
    code, status, text = split_reply(reply)
    failure = NdrFailure(
        recipient=recipient or None,
        status=status,
        smtp_code=code,
        diagnostic=text,
        evidence="message trace",
    )
    return diagnose(NdrReport(failures=(failure,), sender=sender or None))[0]


def read_trace(path: Path) -> TraceReport:
    """Stream a message-trace CSV and tally its failed rows by cause.

    Raises:
        InputError: the file is empty or is no message-trace export (exit 2).
        OSError: the file cannot be read.
    """
    report = TraceReport(source=str(path))
    where = f"{path}"
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header:
            raise InputError(f"{where} is empty; give a message-trace export with its header.")
        columns = _Columns.of(header, where)
        for row in reader:
            if not row:
                continue
            report.rows += 1
            failed = _failed_recipients(row, columns)
            if not failed:
                continue
            reply = _reply(row, columns)
            sender = _cell(row, columns.sender)
            cause, by_sender = _cause(reply)
            tally = tally_of(report.causes, cause)
            for recipient in failed:
                report.failed += 1
                if not reply:
                    report.no_reply += 1
                key = (recipient, sender if by_sender else "")
                if key in tally.seen:
                    tally.count(recipient, sender)
                else:
                    # The first failure of its kind: the full diagnosis, for its fix.
                    tally.seen.add(key)
                    tally.add(_diagnosis(recipient, sender, reply))
    return report
