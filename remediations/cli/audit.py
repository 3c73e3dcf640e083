"""Audit-log tasks: verify the hash chain, and that it still holds a recorded head.

Damaged lines (a write cut short by a crash, closed off by the next append) are
listed, not hidden; they do not break the chain, since it goes on from the last
good line.  Any other line that is not a chained event is tampering (exit 1).
The chain alone cannot show that its end was cut off: the head each run prints
(event count and hash, kept in the ticket) can, with ``--head`` / ``--count``.
With ``audit.key_file`` set, every line's HMAC is checked too, so a chain
recomputed by someone without the key is found.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any, TextIO

from remediations.cli import (
    settings_from,
)
from remediations.errors import InputError

__all__ = ["audit_verify_task"]

_HASH = re.compile(r"[0-9a-f]{12,64}")


def audit_verify_task(
    config: Any,
    *,
    head: str | None = None,
    count: int | None = None,
    as_json: bool = False,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """``audit.verify [--head HASH] [--count N] [--json]``: check the chain and its end.

    Exit 0 when intact (and holding the head asked for), 1 when tampered with or
    cut short, 2 for bad input (a malformed hash, an unreadable log or key).
    """
    from remediations.audit import AUDIT_FILE, ChainError, check_chain, read_key

    settings = settings_from(config)
    path = settings.audit_dir / AUDIT_FILE
    doc: dict[str, Any] = {"log": str(path), "intact": False, "events": 0, "head": None}

    def bad(message: str, code: int) -> int:
        if as_json:
            out.write(json.dumps({**doc, "error": message}, indent=2) + "\n")
        err.write(message + "\n")
        return code

    try:
        wanted = _wanted_hash(head)
        if count is not None and count < 1:
            raise InputError(f"--count must be a positive number of events, not {count}.")
        key = read_key(settings.audit_key_file) if settings.audit_key_file else None
    except InputError as exc:
        return bad(str(exc), 2)
    if path.is_dir():
        return bad(f"The audit log {path} is a folder, not a file; move it away.", 2)
    if not path.exists():
        if wanted is None and count is None:
            out.write(
                json.dumps({**doc, "intact": True}, indent=2) + "\n"
                if as_json
                else f"No audit log at {path} yet.\n"
            )
            return 0
        return bad(f"No audit log at {path}: the head asked for is not there (removed?).", 1)
    try:
        report = check_chain(path, key=key, find=wanted)
    except ChainError as exc:
        doc["broken_at_line"] = exc.line
        return bad(f"The audit log {path} has been tampered with: {exc}.", 1)
    except OSError as exc:
        return bad(f"The audit log {path} cannot be read ({exc.strerror or exc}).", 2)
    doc.update(
        events=report.count,
        head=report.head.to_json() if report.head else None,
        keyed=report.keyed,
        damaged=[{"line": line, "reason": reason} for line, reason in report.damaged],
    )
    problem = _anchor_problem(report, wanted, count, path)
    if problem is not None:
        return bad(problem, 1)
    doc["intact"] = True
    if wanted is not None or count is not None:
        doc["anchored_at"] = report.found or count
    if as_json:
        out.write(json.dumps(doc, indent=2) + "\n")
        return 0
    sealed = ", every HMAC matches the key" if report.keyed else ""
    out.write(f"{path}: {report.count} events, hash chain intact{sealed}.\n")
    if report.head is not None:
        out.write(f"  Head now: {report.head}.\n")
    if wanted is not None:
        after = report.count - (report.found or 0)
        out.write(
            f"  Holds the head {wanted} at event {report.found}"
            f" ({after} event{'s' if after != 1 else ''} written after it).\n"
        )
    elif count is not None:
        out.write(f"  Holds at least the {count} events asked for.\n")
    for line, reason in report.damaged:
        out.write(f"  line {line} is damaged: {reason}.\n")
    return 0


def _wanted_hash(head: str | None) -> str | None:
    if head is None:
        return None
    wanted = head.strip().lower()
    if not _HASH.fullmatch(wanted):
        raise InputError(
            f"--head {head!r} is not a chain hash; give the hash a run printed "
            "(64 hex digits, or at least its first 12)."
        )
    return wanted


def _anchor_problem(report: Any, wanted: str | None, count: int | None, path: Path) -> str | None:
    """Why the log does not hold the head asked for (None when it does)."""
    have = report.count
    now = f"the log now ends at {report.head}" if report.head else "the log is empty"
    if count is not None and have < count:
        missing = f"event {count}" if have + 1 == count else f"events {have + 1} to {count}"
        return (
            f"The audit log {path} has been cut short: the head recorded event {count}, "
            f"but {now}; {missing} were removed from the end."
        )
    if wanted is None:
        return None
    if report.found is None:
        where = f"event {count}" if count is not None else "any event"
        return (
            f"The audit log {path} does not hold the head {wanted} at {where}: the lines "
            f"up to it were removed or rewritten and the chain recomputed ({now})."
        )
    if count is not None and report.found != count:
        return (
            f"The audit log {path} holds the head {wanted} at event {report.found}, not at "
            f"event {count}: lines before it were removed or inserted and the chain "
            "recomputed."
        )
    return None


# --- playbooks ----------------------------------------------------------------------
