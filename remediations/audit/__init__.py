"""The audit log: append-only, hash-chained JSON lines, written only by this package."""

from remediations.audit.log import (
    AUDIT_FILE,
    DAMAGED_EVENT,
    AuditFile,
    AuditLog,
    AuditSetupError,
    AuditUnwritable,
    ChainError,
    ChainReport,
    check_chain,
    read_events,
    redact,
    verify_chain,
)

__all__ = [
    "AUDIT_FILE",
    "DAMAGED_EVENT",
    "AuditFile",
    "AuditLog",
    "AuditSetupError",
    "AuditUnwritable",
    "ChainError",
    "ChainReport",
    "check_chain",
    "read_events",
    "redact",
    "verify_chain",
]
