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
from pathlib import Path
from typing import Any, TextIO

from remediations.cli import (
    settings_from,
)
from remediations.errors import ExitStatus, InputError
from remediations.terminal import STDERR, STDOUT, printable

__all__ = [
    "audit_report_task",
    "audit_runs_task",
    "audit_show_task",
    "audit_verify_task",
    "render_run",
]

_HASH = re.compile(r"[0-9a-f]{12,64}")


def audit_verify_task(
    config: Any,
    *,
    head: str | None = None,
    count: int | None = None,
    as_json: bool = False,
    out: TextIO = STDOUT,
    err: TextIO = STDERR,
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
        return bad(str(exc), ExitStatus.BAD_INPUT)
    if path.is_dir():
        return bad(
            f"The audit log {path} is a folder, not a file; move it away.", ExitStatus.BAD_INPUT
        )
    if not path.exists():
        if wanted is None and count is None:
            out.write(
                json.dumps({**doc, "intact": True}, indent=2) + "\n"
                if as_json
                else f"No audit log at {path} yet.\n"
            )
            return ExitStatus.OK
        return bad(
            f"No audit log at {path}: the head asked for is not there (removed?).",
            ExitStatus.FAILED,
        )
    try:
        report = check_chain(path, key=key, find=wanted)
    except ChainError as exc:
        doc["broken_at_line"] = exc.line
        return bad(f"The audit log {path} has been tampered with: {exc}.", ExitStatus.FAILED)
    except OSError as exc:
        return bad(
            f"The audit log {path} cannot be read ({exc.strerror or exc}).", ExitStatus.BAD_INPUT
        )
    doc.update(
        events=report.count,
        head=report.head.to_json() if report.head else None,
        keyed=report.keyed,
        damaged=[{"line": line, "reason": reason} for line, reason in report.damaged],
    )
    problem = _anchor_problem(report, wanted, count, path)
    if problem is not None:
        return bad(problem, ExitStatus.FAILED)
    doc["intact"] = True
    if wanted is not None or count is not None:
        doc["anchored_at"] = report.found or count
    if as_json:
        out.write(json.dumps(doc, indent=2) + "\n")
        return ExitStatus.OK
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
    return ExitStatus.OK


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


def _log_path(config: Any) -> Path:
    from remediations.audit import AUDIT_FILE

    return Path(settings_from(config).audit_dir) / AUDIT_FILE


def audit_runs_task(
    config: Any,
    *,
    since: str = "",
    target: str = "",
    actor: str = "",
    ticket: str = "",
    as_json: bool = False,
    out: TextIO = STDOUT,
    err: TextIO = STDERR,
) -> int:
    """``audit.runs``: a line per run (id, time, actor, target, ticket, what, outcome, changes)."""
    from remediations.audit.reader import RunFilter, parse_since, summarize_runs

    path = _log_path(config)
    try:
        chosen = RunFilter(
            since=parse_since(since) if since else None, target=target, actor=actor, ticket=ticket
        )
    except InputError as exc:
        err.write(f"{exc}\n")
        return ExitStatus.BAD_INPUT
    if path.is_dir():
        err.write(f"The audit log {path} is a folder, not a file; move it away.\n")
        return ExitStatus.BAD_INPUT
    try:
        runs = summarize_runs(path, chosen)
    except OSError as exc:
        err.write(f"The audit log {path} cannot be read ({exc.strerror or exc}).\n")
        return ExitStatus.BAD_INPUT
    if as_json:
        out.write(json.dumps([run.to_json() for run in runs], indent=2) + "\n")
        return ExitStatus.OK
    if not runs:
        out.write(f"No runs in {path} match.\n" if path.exists() else f"No audit log at {path}.\n")
        return ExitStatus.OK
    rows = [("RUN", "STARTED", "ACTOR", "TARGET", "TICKET", "WHAT", "OUTCOME", "CHANGES")]
    for run in runs:
        what = run.what + (" (dry run)" if run.dry_run else "")
        where = f"{run.tenant} ({run.transport})" if run.transport else run.tenant
        started = run.started[:19].replace("T", " ")
        ticket = run.ticket or "-"
        rows.append(
            (run.run_id, started, run.actor, where, ticket, what, run.outcome, str(run.changes))
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        out.write(printable("  ".join([*cells, row[-1]]), one_line=True) + "\n")
    return ExitStatus.OK


def audit_show_task(
    config: Any,
    run_id: str,
    *,
    as_json: bool = False,
    out: TextIO = STDOUT,
    err: TextIO = STDERR,
) -> int:
    """``audit.show RUN_ID``: the run's events, readable (or ``--json``)."""
    from remediations.audit.reader import run_events, summarize

    path = _log_path(config)
    wanted = run_id.strip()
    if path.is_dir():
        err.write(f"The audit log {path} is a folder, not a file; move it away.\n")
        return ExitStatus.BAD_INPUT
    try:
        events = list(run_events(path, wanted)) if wanted else []
    except OSError as exc:
        err.write(f"The audit log {path} cannot be read ({exc.strerror or exc}).\n")
        return ExitStatus.BAD_INPUT
    run = summarize(wanted, events)
    if run is None:
        err.write(
            printable(
                f"No run {wanted!r} in the audit log {path}; `invoke audit.runs` lists the runs.\n"
            )
        )
        return ExitStatus.BAD_INPUT
    if as_json:
        out.write(json.dumps({"run": run.to_json(), "events": events}, indent=2) + "\n")
        return ExitStatus.OK
    out.write(printable(render_run(run, events)))
    return ExitStatus.OK


def _value(value: Any) -> str:
    """A logged value for people (as the preview shows it)."""
    from remediations.plan import render_value

    return render_value(tuple(str(v) for v in value) if isinstance(value, list) else value)


def render_run(run: Any, events: list[dict[str, Any]]) -> str:
    """A run for people: who, where, what, then each event in order."""
    what = run.what + (" (dry run)" if run.dry_run else "")
    lines = [
        f"Run {run.run_id}: {what}",
        f"  actor {run.actor}, {run.tenant} ({run.transport}), ticket {run.ticket or '-'}",
        f"  started {run.started}, ended {run.ended or '(no end recorded)'}",
        f"  outcome {run.outcome}, {run.changes} change{'s' if run.changes != 1 else ''}"
        + (" planned" if run.dry_run else " applied"),
    ]
    if run.head:
        lines.append(f"  chain head at its end: event {run.head['count']}, hash {run.head['hash']}")
    for key, value in run.links.items():
        lines.append(f"  {key.replace('_', ' ')}: {value}")
    lines.append("")
    for event in events:
        name = str(event.get("event"))
        stamp = str(event.get("time") or "")
        step = f"[{event['step']}] " if event.get("step") else ""
        head = f"{stamp}  {step}{name}"
        if event.get("target") is not None and event.get("attribute") is not None:
            change = (
                f"{event['target']} {event['attribute']}: "
                f"{_value(event.get('before'))} -> {_value(event.get('after'))}"
            )
            lines.append(f"{head}  {change}")
            if name in ("change-planned", "change-applying") and event.get("powershell"):
                lines.append(f"      {event['powershell']}")
            if name == "verify-failed":
                lines.append(f"      the tenant holds {_value(event.get('actual'))}")
        elif name == "run-start":
            wish = ", ".join(f"{k}={v}" for k, v in (event.get("wish") or {}).items())
            lines.append(f"{head}  {event.get('action')} {wish}".rstrip())
        elif name == "playbook-start":
            params = ", ".join(f"{k}={v}" for k, v in (event.get("parameters") or {}).items())
            lines.append(f"{head}  {event.get('playbook')} {params}".rstrip())
        elif name == "note":
            lines.append(f"{head}  {event.get('note')}")
        else:
            outcome = event.get("outcome")
            lines.append(f"{head}  {outcome}" if outcome else head)
        if event.get("error"):
            lines.append(f"      error: {event['error']}")
    return "\n".join(lines) + "\n"


def audit_report_task(
    config: Any,
    run_id: str,
    *,
    fmt: str = "md",
    output: str = "",
    out: TextIO = STDOUT,
    err: TextIO = STDERR,
) -> int:
    """``audit.report RUN_ID [--format md|html] [--output PATH]``: a report a reviewer signs."""
    from remediations.audit.reader import run_events
    from remediations.audit.report import build_report, render_html, render_markdown

    if fmt not in ("md", "html"):
        err.write(f"--format {fmt!r} is not a report format; give md or html.\n")
        return ExitStatus.BAD_INPUT
    path = _log_path(config)
    wanted = run_id.strip()
    if path.is_dir():
        err.write(f"The audit log {path} is a folder, not a file; move it away.\n")
        return ExitStatus.BAD_INPUT
    try:
        events = list(run_events(path, wanted)) if wanted else []
    except OSError as exc:
        err.write(f"The audit log {path} cannot be read ({exc.strerror or exc}).\n")
        return ExitStatus.BAD_INPUT
    if not events:
        err.write(
            printable(
                f"No run {wanted!r} in the audit log {path}; `invoke audit.runs` lists the runs.\n"
            )
        )
        return ExitStatus.BAD_INPUT
    report = build_report(wanted, events)
    text = render_html(report) if fmt == "html" else render_markdown(report)
    if not output:
        out.write(printable(text))
        return ExitStatus.OK
    target = Path(output)
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        err.write(
            f"--output {target} cannot be written ({exc.strerror or exc}); give a path in a "
            "writable folder.\n"
        )
        return ExitStatus.BAD_INPUT
    out.write(f"Report on run {wanted} written to {target}.\n")
    return ExitStatus.OK
