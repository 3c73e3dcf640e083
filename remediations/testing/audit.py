"""A captured audit log: the real log, with every event kept in memory as written.

:class:`CapturedAudit` is an :class:`~remediations.audit.AuditLog` (same pipeline: UTC
time, redaction, numbering, hash chain, optional HMAC, the file on disk) whose writer
also keeps each line it appended, parsed, in :attr:`CapturedAudit.events`.  A test reads
what a run recorded without reading the file back, and :meth:`CapturedAudit.check`
verifies the chain on disk and that the file holds exactly the captured events::

    from remediations.testing import CapturedAudit

    audit = CapturedAudit(tmp_path / "audit-logs")
    run_action(action, wish, transport=sandbox, audit=audit.log, dry_run=False)
    assert audit.names()[-1] == "run-end"
    audit.check()
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from remediations.audit import (
    DAMAGED_EVENT,
    AuditFile,
    AuditLog,
    ChainReport,
    check_chain,
    read_events,
)

__all__ = ["CapturedAudit"]

#: The clock of a captured log unless one is given: a fixed instant, so events compare.
FIXED_TIME = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


class _CapturingFile(AuditFile):
    """The real audit file; every line it writes is also parsed into ``captured``."""

    __slots__ = ("captured",)

    def __init__(self, path: Path, captured: list[dict[str, Any]]) -> None:
        super().__init__(path)
        self.captured = captured

    def _write_all(self, fd: int, data: bytes) -> None:
        super()._write_all(fd, data)
        for line in data.splitlines():
            if line.strip():
                self.captured.append(json.loads(line))


class CapturedAudit:
    """An audit log in ``directory`` whose events are also kept in :attr:`events`."""

    def __init__(
        self,
        directory: Path,
        *,
        clock: Callable[[], datetime] = lambda: FIXED_TIME,
        context: Mapping[str, Any] | None = None,
        key: bytes | None = None,
    ) -> None:
        #: every line written, in order, as written (with seq, prev, hash, mac)
        self.events: list[dict[str, Any]] = []
        self.key = key
        self.log = AuditLog(
            directory,
            clock=clock,
            context=context if context is not None else {"actor": "tester"},
            sink=lambda path: _CapturingFile(path, self.events),
            key=key,
        )
        self.path = self.log.path

    def names(self) -> list[str]:
        """The events' names, in order."""
        return [str(event["event"]) for event in self.events]

    def of(self, name: str) -> list[dict[str, Any]]:
        """The events called ``name``."""
        return [event for event in self.events if event["event"] == name]

    def check(self) -> ChainReport:
        """The chain on disk is intact and holds exactly the captured events.

        Raises :class:`~remediations.audit.ChainError` if the file was tampered with,
        ``AssertionError`` if it holds other events than were written here.
        """
        report = check_chain(self.path, key=self.key)
        on_disk = list(read_events(self.path))
        written = [event for event in self.events if event["event"] != DAMAGED_EVENT]
        assert on_disk == written, "the audit file holds other events than were written"
        return report
