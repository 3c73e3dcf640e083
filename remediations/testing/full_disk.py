"""Test helpers shipped with the package: real faults, injected where a test needs them.

:class:`FullDisk` is an audit file on a disk that fills up at a chosen append:
that append's ``write(2)`` writes part of the line and returns short, and the
next one fails with the error a full disk (``ENOSPC``) or ``ulimit -f``
(``EFBIG``) gives.  Until then every write is short too (a few bytes at a
time), so the loop that finishes a line is exercised on every append.
Everything else is the real :class:`~remediations.audit.AuditFile`.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

from remediations.audit import AuditFile

__all__ = ["FullDisk", "full_disk_at"]


class FullDisk(AuditFile):
    """An audit file whose disk is full from the ``fail_at``-th append on (1-based)."""

    __slots__ = ("appends", "chunk", "error", "fail_at", "writes")

    def __init__(
        self, path: Path, *, fail_at: int, error: int = errno.ENOSPC, chunk: int = 97
    ) -> None:
        super().__init__(path)
        self.fail_at = fail_at
        self.error = error
        self.chunk = chunk
        self.appends = 0
        self.writes = 0

    def _write_all(self, fd: int, data: bytes) -> None:
        self.appends += 1
        self.writes = 0
        super()._write_all(fd, data)

    def _write(self, fd: int, data: memoryview) -> int:
        self.writes += 1
        if self.appends < self.fail_at:
            return os.write(fd, data[: self.chunk])
        if self.appends == self.fail_at and self.writes == 1:
            return os.write(fd, data[: max(1, len(data) // 2)])
        raise OSError(self.error, os.strerror(self.error))


def full_disk_at(append: int, *, error: int = errno.ENOSPC) -> Callable[[Path], FullDisk]:
    """A sink for ``AuditLog(sink=...)``: the disk fills at the given append (1-based)."""
    return lambda path: FullDisk(path, fail_at=append, error=error)
