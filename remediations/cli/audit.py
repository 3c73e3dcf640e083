"""Audit-log tasks: verify the hash chain.

Damaged lines (a write cut short by a crash, closed off by the next append) are
listed, not hidden; they do not break the chain, since it goes on from the last
good line.  Any other line that is not a chained event is tampering (exit 1).
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from remediations.cli import (
    settings_from,
)

__all__ = ["audit_verify_task"]


def audit_verify_task(config: Any, *, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """``audit.verify``: check the hash chain of the audit log."""
    from remediations.audit import AUDIT_FILE, ChainError, check_chain

    path = settings_from(config).audit_dir / AUDIT_FILE
    if path.is_dir():
        err.write(f"The audit log {path} is a folder, not a file; move it away.\n")
        return 2
    if not path.exists():
        out.write(f"No audit log at {path} yet.\n")
        return 0
    try:
        report = check_chain(path)
    except ChainError as exc:
        err.write(f"The audit log {path} has been tampered with: {exc}.\n")
        return 1
    except OSError as exc:
        err.write(f"The audit log {path} cannot be read ({exc.strerror or exc}).\n")
        return 2
    out.write(f"{path}: {report.count} events, hash chain intact.\n")
    for line, reason in report.damaged:
        out.write(f"  line {line} is damaged: {reason}.\n")
    return 0


# --- playbooks ----------------------------------------------------------------------
