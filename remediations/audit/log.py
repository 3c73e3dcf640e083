"""The audit log as a structlog pipeline: context, UTC time, redaction, JSON, hash chain.

One JSON object a line in ``<audit dir>/audit.jsonl``.  Each line carries
``prev`` (the hash of the line before it) and ``hash`` (sha256 of ``prev`` and
the line's own canonical JSON), so an edited, inserted or deleted line breaks
the chain and :func:`verify_chain` says where.  Lines are appended under an
exclusive lock and fsynced before the run goes on: nothing is lost if the
process dies after a change, and two runs at once still make one chain.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog
from structlog.typing import EventDict

__all__ = ["AUDIT_FILE", "AuditLog", "ChainError", "read_events", "redact", "verify_chain"]

AUDIT_FILE = "audit.jsonl"
GENESIS = "0" * 64
_SECRET_WORDS = (
    "password",
    "secret",
    "token",
    "credential",
    "authorization",
    "cookie",
    "apikey",
    "private_key",
)
REDACTED = "[redacted]"
#: Fields every event has (null where they do not apply), so a reviewer's query
#: never has to guess whether a key is missing or empty.
STANDARD_FIELDS = ("target", "attribute", "before", "after", "cmdlets", "outcome", "error")

Clock = Callable[[], datetime]


def _canonical(event: Mapping[str, Any]) -> str:
    return json.dumps(event, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _chain_hash(prev: str, body: str) -> str:
    return hashlib.sha256((prev + "\n" + body).encode("utf-8")).hexdigest()


def redact(value: Any, key: str = "") -> Any:
    """Replace the value of any key that names a secret, at any depth."""
    lowered = key.lower()
    if any(word in lowered for word in _SECRET_WORDS) and lowered not in ("hash", "prev"):
        return REDACTED
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, key) for v in value]
    return value


class _ChainedFile:
    """structlog's logger end: append one event to the file, chained and durable."""

    __slots__ = ("path",)

    def __init__(self, path: Path) -> None:
        self.path = path

    def msg(self, **event: Any) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            prev = _last_hash(fd)
            body = _canonical(event)
            line = _canonical({**event, "prev": prev, "hash": _chain_hash(prev, body)})
            os.write(fd, (line + "\n").encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)  # closing releases the lock

    info = msg


def _last_hash(fd: int) -> str:
    size = os.lseek(fd, 0, os.SEEK_END)
    if size == 0:
        return GENESIS
    block = 4096
    data = b""
    pos = size
    while pos > 0:
        step = min(block, pos)
        pos -= step
        data = os.pread(fd, step, pos) + data
        lines = data.rstrip(b"\n").split(b"\n")
        if len(lines) > 1 or pos == 0:
            return str(json.loads(lines[-1])["hash"])
    return GENESIS  # pragma: no cover - loop always returns


class _StampUtc:
    __slots__ = ("clock",)

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def __call__(self, _logger: Any, _name: str, event: EventDict) -> EventDict:
        event["time"] = self.clock().isoformat().replace("+00:00", "Z")
        return event


def _redact(_logger: Any, _name: str, event: EventDict) -> EventDict:
    return {k: redact(v, k) for k, v in event.items()}


def _pass_dict(_logger: Any, _name: str, event: EventDict) -> EventDict:
    return event


class AuditLog:
    """Writes the events of runs; the only writer of the audit log.

    Args:
        directory: where ``audit.jsonl`` lives.
        clock: returns an aware UTC datetime (injected so tests can fix time).
        context: fields every event carries (actor, tenant, transport).
    """

    def __init__(self, directory: Path, *, clock: Clock, context: Mapping[str, Any]) -> None:
        self.path = directory / AUDIT_FILE
        self._logger = structlog.wrap_logger(
            _ChainedFile(self.path),
            processors=[_StampUtc(clock), _redact, _pass_dict],
            context_class=dict,
            cache_logger_on_first_use=False,
        ).bind(**context)

    def bind(self, **context: Any) -> AuditLog:
        """A log whose events also carry ``context`` (run id, action, ticket...)."""
        clone = object.__new__(AuditLog)
        clone.path = self.path
        clone._logger = self._logger.bind(**context)
        return clone

    def event(self, event: str, **fields: Any) -> None:
        """Append one event, durably; every event carries every standard field."""
        for key in STANDARD_FIELDS:
            fields.setdefault(key, None)
        self._logger.info(event, **fields)


def read_events(path: Path) -> Iterator[dict[str, Any]]:
    """Every event of an audit file, in order."""
    if not path.exists():
        return
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


class ChainError(Exception):
    """The audit log's hash chain is broken at a line."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line


def verify_chain(path: Path) -> int:
    """Check every line's chain; return the number of lines, or raise ChainError."""
    prev = GENESIS
    count = 0
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                event = json.loads(line)
                stored_prev = event.pop("prev")
                stored_hash = event.pop("hash")
            except (json.JSONDecodeError, KeyError, AttributeError):
                raise ChainError(number, "not an audit event") from None
            if stored_prev != prev:
                raise ChainError(number, "does not follow the line before it (deleted or moved)")
            if _chain_hash(prev, _canonical(event)) != stored_hash:
                raise ChainError(number, "was changed after it was written")
            prev = stored_hash
            count += 1
    return count
