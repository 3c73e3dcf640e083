"""Audit-log tasks: verify the hash chain."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from remediations.cli import (
    settings_from,
)

__all__ = ["audit_verify_task"]


def audit_verify_task(config: Any, *, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """``audit.verify``: check the hash chain of the audit log."""
    from remediations.audit import AUDIT_FILE, ChainError, verify_chain

    path = settings_from(config).audit_dir / AUDIT_FILE
    if not path.exists():
        out.write(f"No audit log at {path} yet.\n")
        return 0
    try:
        count = verify_chain(path)
    except ChainError as exc:
        err.write(f"The audit log {path} has been tampered with: {exc}.\n")
        return 1
    out.write(f"{path}: {count} events, hash chain intact.\n")
    return 0


# --- playbooks ----------------------------------------------------------------------
