"""``diagnose --ndr DIR|MBOX``: a postmaster mailbox of bounces in one command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

from remediations.cli import playbooks_dir
from remediations.errors import ExitStatus
from remediations.terminal import STDERR, STDOUT

__all__ = ["diagnose_mailbox_task", "diagnose_trace_task"]


def diagnose_mailbox_task(
    config: Any,
    path: Path,
    *,
    as_json: bool = False,
    check: bool = False,
    fix: bool = False,
    out: TextIO = STDOUT,
    err: TextIO = STDERR,
) -> int:
    """Stream every message of a directory of ``.eml`` files or an mbox file; print counts
    by cause, the recipients and senders per cause, and the fixes (0; 2 on bad input)."""
    from remediations.diagnose.batch import PlaybookTable, diagnose_messages, iter_messages

    if check or fix:
        flag = "--check" if check else "--fix"
        err.write(
            f"{flag} takes one bounce, and --ndr {str(path)!r} is a mailbox of them; run it on "
            "one .eml file, or leave out the flag to see the fix for every cause.\n"
        )
        return ExitStatus.BAD_INPUT
    table = PlaybookTable.load(playbooks_dir(config))
    try:
        report = diagnose_messages(str(path), iter_messages(path))
    except (OSError, ValueError) as exc:
        err.write(f"--ndr {str(path)!r}: could not read the mailbox: {exc}\n")
        return ExitStatus.FAILED
    if as_json:
        out.write(json.dumps(report.to_json(table), indent=2) + "\n")
    else:
        out.write(report.render_text(table))
    return ExitStatus.OK


def diagnose_trace_task(
    config: Any,
    path: str | None,
    *,
    as_json: bool = False,
    out: TextIO = STDOUT,
    err: TextIO = STDERR,
) -> int:
    """``diagnose.trace PATH.csv``: every failed message of a message-trace export, counted
    by cause, with the top recipients and senders and the fix for each (0; 2 bad input)."""
    from remediations.diagnose.batch import PlaybookTable
    from remediations.diagnose.trace import read_trace
    from remediations.errors import InputError

    if not path or not Path(path).is_file():
        err.write(
            f"{'PATH ' + repr(path) + ' is no file' if path else 'PATH is required'}; give "
            "a message-trace export as CSV (Get-MessageTraceV2 ... | Export-Csv).\n"
        )
        return ExitStatus.BAD_INPUT
    try:
        report = read_trace(Path(path))
    except InputError as exc:
        err.write(f"{exc}\n")
        return exc.exit_code
    except OSError as exc:
        err.write(f"{path!r}: could not read the trace: {exc}\n")
        return ExitStatus.FAILED
    table = PlaybookTable.load(playbooks_dir(config))
    if as_json:
        out.write(json.dumps(report.to_json(table), indent=2) + "\n")
    else:
        out.write(report.render_text(table))
    return ExitStatus.OK
