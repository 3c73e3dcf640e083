"""The audit log as a structlog pipeline: context, UTC time, redaction, JSON, hash chain.

One JSON object a line in ``<audit dir>/audit.jsonl``.  Each line carries
``prev`` (the hash of the line before it) and ``hash`` (sha256 of ``prev`` and
the line's own canonical JSON), so an edited, inserted or deleted line breaks
the chain and :func:`verify_chain` says where.  Lines are appended under an
exclusive lock, written whole (short writes retried) and fsynced before the run
goes on: nothing is lost if the process dies after a change, and two runs at
once still make one chain.  A line that cannot be written raises
:class:`AuditUnwritable`, and the engine stops before the next change.
"""

from __future__ import annotations

import bisect
import errno
import fcntl
import functools
import hashlib
import hmac
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from remediations.audit._structlog import structlog
from remediations.errors import ChainError, InputError, RemediationError
from remediations.interrupts import deferred

if TYPE_CHECKING:
    from structlog.typing import EventDict

__all__ = [
    "AUDIT_FILE",
    "DAMAGED_EVENT",
    "AuditFile",
    "AuditLog",
    "AuditSetupError",
    "AuditUnwritable",
    "ChainError",
    "ChainReport",
    "Head",
    "check_chain",
    "read_events",
    "read_key",
    "redact",
    "verify_chain",
]

AUDIT_FILE = "audit.jsonl"
#: an append's bytes (and the file's new length) to disk; fdatasync where there is one
_datasync = getattr(os, "fdatasync", os.fsync)
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


def _mac(key: bytes, digest: str) -> str:
    """The keyed seal of a line: HMAC-SHA256 of its chain hash (which covers all before it)."""
    return hmac.new(key, digest.encode("ascii"), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Head:
    """The end of the chain: how many events it holds and the hash of the last one.

    Recorded in a ticket, it lets ``audit.verify --head HASH --count N`` prove
    later that nothing was cut off the end (the chain alone cannot).
    """

    count: int
    hash: str

    def __str__(self) -> str:
        return f"event {self.count}, hash {self.hash}"

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "hash": self.hash}


def read_key(path: Path) -> bytes:
    """The operators' secret for the keyed chain (``audit.key_file``); bad input if unusable."""
    try:
        key = path.read_bytes().strip()
    except OSError as exc:
        raise AuditSetupError(
            f"The audit key file {path} cannot be read ({exc.strerror or exc}); set "
            "audit.key_file (INVOKE_AUDIT_KEY_FILE) to a readable file holding the key."
        ) from None
    if not key:
        raise AuditSetupError(
            f"The audit key file {path} is empty; put a long random secret in it "
            "(for example: head -c 32 /dev/urandom | base64)."
        )
    return key


_SECRET_KEY = re.compile("|".join(re.escape(word) for word in _SECRET_WORDS))
#: values with nothing inside them to redact (a key names a secret, a value never does)
_LEAVES = (str, int, float, bool, type(None))


@functools.lru_cache(maxsize=4096)
def _names_secret(key: str) -> bool:
    """Whether a key names a secret (field names repeat: the answer is remembered)."""
    lowered = key.lower()
    return lowered not in ("hash", "prev") and _SECRET_KEY.search(lowered) is not None


def redact(value: Any, key: str = "") -> Any:
    """Replace the value of any key that names a secret, at any depth."""
    if key and _names_secret(key):
        return REDACTED
    if type(value) in _LEAVES:
        return value
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, key) for v in value]
    return value


class AuditUnwritable(RemediationError):
    """The audit log could not record an event: the run stops before the next change."""

    def __init__(self, path: Path, error: OSError) -> None:
        self.path = path
        self.reason = error.strerror or str(error)
        super().__init__(f"the audit log {path} could not be written ({self.reason})")


class AuditSetupError(InputError):
    """The audit folder or file cannot be used at all; nothing was run."""


#: The marker written after a damaged line when the next append closes it off.
DAMAGED_EVENT = "damaged-line"


class AuditFile:
    """structlog's logger end: append one event to the file, chained and durable.

    Each append writes the whole line (looping on short writes) and fsyncs it
    before returning; a write that fails is cut back off the file and raised as
    :class:`AuditUnwritable`.  A last line left unfinished by a crash (cut short,
    or complete but without its newline) is closed off on the next append and
    followed by a ``damaged-line`` marker, so the chain goes on from the last
    good line and :func:`check_chain` reports the damage instead of calling the
    log tampered with.
    """

    __slots__ = ("_batch", "head", "key", "path")

    def __init__(self, path: Path) -> None:
        self.path = path
        #: The operators' secret: when set, every line also carries an HMAC (``mac``).
        self.key: bytes | None = None
        #: The chain's head after this writer's last append.
        self.head: Head | None = None
        #: events gathered by :meth:`AuditLog.events`, appended together
        self._batch: list[dict[str, Any]] | None = None

    def check(self) -> None:
        """Bad input if the folder or file cannot hold the log (one sentence, exit 2)."""
        folder = self.path.parent
        for parent in (folder, *folder.parents):
            if parent.exists():
                if not parent.is_dir():
                    raise AuditSetupError(
                        f"The audit folder {folder} cannot be created: {parent} is a file, "
                        "not a folder; set audit.dir (INVOKE_AUDIT_DIR) to a folder."
                    )
                break
        if self.path.is_dir():
            raise AuditSetupError(
                f"The audit log {self.path} is a folder; move it away so the log can be a "
                "file there, or set audit.dir (INVOKE_AUDIT_DIR) to another folder."
            )
        try:
            folder.mkdir(parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640))
        except OSError as exc:
            raise AuditSetupError(
                f"The audit log {self.path} cannot be written ({exc.strerror or exc}); make "
                "the folder and file writable, or set audit.dir (INVOKE_AUDIT_DIR) to a "
                "folder that is."
            ) from None

    def msg(self, **event: Any) -> Head | None:
        if self._batch is not None:
            self._batch.append(event)
            return self.head
        with deferred():
            return self._append(event)

    info = msg

    def append_many(self, events: list[dict[str, Any]]) -> Head | None:
        """Append several events as one write and one fsync (all or none of them)."""
        if not events:
            return self.head
        with deferred():
            return self._append(*events)

    def _append(self, *events: dict[str, Any]) -> Head:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o640)
        except OSError as exc:
            raise AuditUnwritable(self.path, exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.lseek(fd, 0, os.SEEK_END)
            prev, seq, damage, pad = _tail(fd, size)
            parts = [b"\n"] if pad else []
            if damage is not None:
                marker = {
                    "event": DAMAGED_EVENT,
                    "time": events[0].get("time"),
                    "reason": damage.reason,
                    "damaged_sha256": hashlib.sha256(damage.line).hexdigest(),
                    "damaged_bytes": len(damage.line),
                }
                parts.append(b"" if damage.newline else b"\n")
                seq += 1
                marker_line, prev = _chained_line(marker, prev, seq, self.key)
                parts.append(marker_line)
            digest = prev
            for event in events:
                seq += 1
                line, digest = _chained_line(event, digest, seq, self.key)
                parts.append(line)
            data = b"".join(parts)
            try:
                self._write_all(fd, data)
            except OSError as exc:
                _cut_back(fd, size)
                raise AuditUnwritable(self.path, exc) from None
        finally:
            os.close(fd)  # closing releases the lock
        self.head = Head(seq, digest)
        return self.head

    def _write_all(self, fd: int, data: bytes) -> None:
        """Write every byte (a short write is retried with the rest), then sync them to disk."""
        view = memoryview(data)
        while view:
            written = self._write(fd, view)
            if written <= 0:  # pragma: no cover - os.write raises instead
                raise OSError(errno.EIO, "the write made no progress")
            view = view[written:]
        _datasync(fd)

    def _write(self, fd: int, data: memoryview) -> int:
        """One ``write(2)``: it may write less than asked."""
        return os.write(fd, data)


#: the members that seal a line, in the order canonical JSON puts them
_SEAL_ORDER = ("hash", "mac", "prev")
_SEALS = frozenset(_SEAL_ORDER)


def _chained_line(
    event: Mapping[str, Any], prev: str, seq: int, key: bytes | None
) -> tuple[bytes, str]:
    """The line for an event: numbered (``seq``), chained (``prev``, ``hash``), sealed (``mac``).

    The line is ``_canonical`` of the event with ``seq``, ``prev``, ``hash`` (and
    ``mac``); the hash covers ``_canonical`` of the event with ``seq`` alone.  The
    event is encoded once, in the slices of its keys the sealing members fall
    between, and both texts are joined from those slices in key order: exactly what
    ``json.dumps(sort_keys=True)`` writes.
    """
    numbered = {**event, "seq": seq}
    if not _SEALS.isdisjoint(numbered):  # an event naming a seal itself: the plain way
        digest = _chain_hash(prev, _canonical(numbered))
        sealed: dict[str, Any] = {**numbered, "prev": prev, "hash": digest}
        if key is not None:
            sealed["mac"] = _mac(key, digest)
        return (_canonical(sealed) + "\n").encode("utf-8"), digest
    slices: list[dict[str, Any]] = [{}, {}, {}, {}]  # keys < hash < mac < prev < keys
    for name, value in numbered.items():
        slices[bisect.bisect(_SEAL_ORDER, name)][name] = value
    texts = [_canonical(part)[1:-1] for part in slices]
    digest = _chain_hash(prev, "{" + ",".join(t for t in texts if t) + "}")
    seals = [
        f'"hash":"{digest}"',
        f'"mac":"{_mac(key, digest)}"' if key is not None else "",
        f'"prev":"{prev}"',
    ]
    joined = [texts[0], seals[0], texts[1], seals[1], texts[2], seals[2], texts[3]]
    line = "{" + ",".join(t for t in joined if t) + "}\n"
    return line.encode("utf-8"), digest


def _cut_back(fd: int, size: int) -> None:
    """Remove what a failed append left (best effort: the disk may be gone too)."""
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    except OSError:
        pass


def _parse(line: bytes) -> dict[str, Any] | None:
    """One audit event, or None when the line is not one (damaged)."""
    try:
        event = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(event, dict) or not isinstance(event.get("hash"), str):
        return None
    return event


class _Damage:
    """A last line the next append must close off and mark."""

    __slots__ = ("line", "newline", "reason")

    def __init__(self, line: bytes, *, newline: bool, reason: str) -> None:
        self.line = line  # without its newline
        self.newline = newline  # whether it already ends with one
        self.reason = reason


def _tail(fd: int, size: int) -> tuple[str, int, _Damage | None, bool]:
    """Where the next line chains from: the last good line's hash and number.

    Also the damaged last line to close off (if any), and whether a newline must
    come first (the file ends in blank space without one: whitespace, not damage).
    Reads backwards from the end only as far as the last good line.
    """
    if size == 0:
        return GENESIS, 0, None, False
    ends_in_newline = os.pread(fd, 1, size - 1) == b"\n"
    content_end = _content_end(fd, size)
    if content_end == 0:  # only blank space
        return GENESIS, 0, None, not ends_in_newline
    cut = os.pread(fd, size - content_end, content_end).find(b"\n")
    newline = cut >= 0
    end = content_end + cut if newline else size
    pad = newline and not ends_in_newline
    data = b""
    pos = end
    damage: _Damage | None = None
    while True:
        step = min(4096, pos)
        pos -= step
        data = os.pread(fd, step, pos) + data
        lines = data.split(b"\n")
        complete = lines if pos == 0 else lines[1:]  # the first may be cut by the block
        for index in range(len(complete) - 1, -1, -1):
            if not complete[index].strip():
                continue  # a blank line is whitespace
            event = _parse(complete[index])
            last = damage is None and index == len(complete) - 1
            if event is not None:
                if last and not newline:
                    damage = _Damage(complete[index], newline=False, reason=NO_NEWLINE)
                return str(event["hash"]), _seq_of(fd, size, event), damage, pad
            if last:
                reason = UNFINISHED if not newline else NOT_AN_EVENT
                damage = _Damage(complete[index], newline=newline, reason=reason)
        if pos == 0:
            return GENESIS, 0, damage, pad


def _content_end(fd: int, size: int) -> int:
    """The offset just after the file's last byte that is not blank space (0: none)."""
    pos = size
    while pos > 0:
        step = min(4096, pos)
        block = os.pread(fd, step, pos - step)
        stripped = block.rstrip()
        if stripped:
            return pos - step + len(stripped)
        pos -= step
    return 0


def _seq_of(fd: int, size: int, event: Mapping[str, Any]) -> int:
    """The number of the last good line: its ``seq``, else (a log from before numbering) counted."""
    seq = event.get("seq")
    if isinstance(seq, int) and not isinstance(seq, bool):
        return seq
    count = 0
    with os.fdopen(os.dup(fd), "rb") as handle:
        handle.seek(0)
        remaining = size
        for raw in handle:
            remaining -= len(raw)
            if remaining < 0:
                break
            if _parse(raw.rstrip(b"\n")) is not None:
                count += 1
    return count


NO_NEWLINE = "the last line had no newline"
UNFINISHED = "an unfinished write (the line is cut short)"
NOT_AN_EVENT = "not an audit event"


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
        sink: the file writer (tests pass one from ``remediations.testing.full_disk``
            that fails at a chosen append, as a full disk would).
    """

    def __init__(
        self,
        directory: Path,
        *,
        clock: Clock,
        context: Mapping[str, Any],
        sink: Callable[[Path], AuditFile] = AuditFile,
        key: bytes | None = None,
    ) -> None:
        self.path = directory / AUDIT_FILE
        self._file = sink(self.path)
        self._file.key = key
        self._logger = structlog.wrap_logger(
            self._file,
            processors=[_StampUtc(clock), _redact, _pass_dict],
            context_class=dict,
            cache_logger_on_first_use=False,
        ).bind(**context)

    def check(self) -> None:
        """Raise :class:`AuditSetupError` (bad input) if the log cannot be written at all."""
        self._file.check()

    def bind(self, **context: Any) -> AuditLog:
        """A log whose events also carry ``context`` (run id, action, ticket...)."""
        clone = object.__new__(AuditLog)
        clone.path = self.path
        clone._file = self._file
        clone._logger = self._logger.bind(**context)
        return clone

    @property
    def head(self) -> Head | None:
        """The chain's head after this log's last append (None before the first)."""
        return self._file.head

    def event(self, event: str, **fields: Any) -> Head:
        """Append one event, durably; every event carries every standard field.

        Returns the chain's head: the line just written (its number and hash).

        Raises:
            AuditUnwritable: the line did not reach the disk (nothing of it is left).
        """
        for key in STANDARD_FIELDS:
            fields.setdefault(key, None)
        head: Head = self._logger.info(event, **fields)
        return head

    def events(self, items: list[tuple[str, dict[str, Any]]]) -> Head | None:
        """Append several events durably with one write and one fsync, in order.

        The same lines :meth:`event` would write one by one (a plan's thousands of
        ``change-planned`` events, or the announcements of concurrent writers), all
        reaching the disk before this returns, or none of them.

        Raises:
            AuditUnwritable: the lines did not reach the disk (nothing of them is left).
        """
        batch: list[dict[str, Any]] = []
        self._file._batch = batch
        try:
            for event, fields in items:
                for key in STANDARD_FIELDS:
                    fields.setdefault(key, None)
                self._logger.info(event, **fields)
        finally:
            self._file._batch = None
        return self._file.append_many(batch)


def _lines(path: Path) -> Iterator[tuple[int, bytes, bool]]:
    """(number, line without newline, whether it had one) for every line of a file."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            yield number, raw.rstrip(b"\n"), raw.endswith(b"\n")


def read_events(path: Path, *, damaged: list[int] | None = None) -> Iterator[dict[str, Any]]:
    """Every event of an audit file, in order.

    A damaged line (cut short by a crash, not JSON) is skipped, never fatal; its
    number is added to ``damaged`` when a list is given.  ``damaged-line``
    markers are bookkeeping of the log itself and are skipped too.
    """
    if not path.is_file():
        return
    for number, line, _ in _lines(path):
        if not line.strip():
            continue
        event = _parse(line)
        if event is None:
            if damaged is not None:
                damaged.append(number)
            continue
        if event.get("event") != DAMAGED_EVENT:
            yield event


@dataclass(frozen=True, slots=True)
class ChainReport:
    """An intact chain: how many events, its head, the damaged lines it closed off.

    ``found`` is the number of the event whose hash is the one asked for
    (``check_chain(..., find=HASH)``), None when no event has it; ``keyed`` says
    whether every line's HMAC was checked.
    """

    count: int
    damaged: tuple[tuple[int, str], ...] = ()
    head: Head | None = None
    found: int | None = None
    keyed: bool = False


def check_chain(path: Path, *, key: bytes | None = None, find: str | None = None) -> ChainReport:
    """Check every line's chain; report damaged lines; raise ChainError if tampered with.

    A damaged line followed by the ``damaged-line`` marker that closed it off is
    reported, not an error: the chain goes on from the last good line.  An
    unfinished last line (the next append will close it off) is reported too.
    Blank lines are whitespace.  With ``key``, every line must carry the HMAC
    that key gives: a chain recomputed by someone without the key fails.  With
    ``find`` (a hash, or a prefix of at least 12 hex digits), the report says
    which event has it.  One pass, constant memory.
    """
    prev = GENESIS
    count = 0
    found: int | None = None
    damaged: list[tuple[int, str]] = []
    held: tuple[int, bytes, bool] | None = None  # a bad line waiting for its marker
    for number, line, newline in _lines(path):
        if not line.strip():
            continue  # blank space, not an event
        if held is None:
            sealed = _sealed_as_written(line, prev, count + 1)
            if sealed is not None:
                stored_hash, stored_mac = sealed
                if key is not None:
                    _check_mac(number, key, stored_hash, stored_mac)
                if not newline:
                    damaged.append((number, f"{NO_NEWLINE}; the next run closes it off"))
                prev = stored_hash
                count += 1
                if find is not None and found is None and stored_hash.startswith(find):
                    found = count
                continue
        event = _parse(line)
        if held is not None:
            held_number, held_line, _ = held
            if (
                event is None
                or event.get("event") != DAMAGED_EVENT
                or event.get("damaged_sha256") != hashlib.sha256(held_line).hexdigest()
            ):
                raise ChainError(held_number, "not an audit event")
            damaged.append((held_number, f"{event.get('reason')}; closed off"))
            held = None
        if event is None:
            held = (number, line, newline)
            continue
        stored_prev = event.pop("prev", None)
        stored_hash = event.pop("hash")
        stored_mac = event.pop("mac", None)
        if stored_prev != prev:
            raise ChainError(number, "does not follow the line before it (deleted or moved)")
        if not _hashes_as_written(line, prev, stored_hash, stored_mac) and (
            _chain_hash(prev, _canonical(event)) != stored_hash
        ):
            raise ChainError(number, "was changed after it was written")
        seq = event.get("seq")
        if seq is not None and seq != count + 1:
            raise ChainError(
                number, f"is numbered event {seq} but is event {count + 1} (lines removed)"
            )
        if key is not None:
            _check_mac(number, key, stored_hash, stored_mac)
        if event.get("event") == DAMAGED_EVENT and event.get("reason") == NO_NEWLINE:
            damaged.append((number - 1, f"{NO_NEWLINE}; closed off"))
        if not newline:
            damaged.append((number, f"{NO_NEWLINE}; the next run closes it off"))
        prev = stored_hash
        count += 1
        if find is not None and found is None and stored_hash.startswith(find):
            found = count
    if held is not None:
        held_number, _, newline = held
        if newline:
            raise ChainError(held_number, "not an audit event")
        damaged.append((held_number, f"{UNFINISHED}; the next run closes it off"))
    return ChainReport(
        count=count,
        damaged=tuple(damaged),
        head=Head(count, prev) if count else None,
        found=found,
        keyed=key is not None,
    )


def _check_mac(number: int, key: bytes, digest: str, mac: Any) -> None:
    """Raise ChainError unless the line's HMAC is the one ``key`` gives for its hash."""
    if mac is None:
        raise ChainError(
            number, "carries no HMAC: written without the key, or the chain was recomputed"
        )
    if not hmac.compare_digest(str(mac), _mac(key, digest)):
        raise ChainError(
            number,
            "has an HMAC the key does not give: the chain was recomputed without "
            "the key, or the key is not this log's",
        )


_HASH_MEMBER = b'"hash":"'
_MAC_MEMBER = b'"mac":"'
_SEQ_MEMBER = b'"seq":'
_DIGEST_LENGTH = 64


def _member_value(line: bytes, member: bytes) -> str | None:
    """The 64-hex-digit value of a member found exactly once in the line, else None."""
    at = line.find(member)
    if at < 0 or line.find(member, at + 1) >= 0:
        return None
    start = at + len(member)
    end = start + _DIGEST_LENGTH
    if line[end : end + 1] != b'"':
        return None
    return line[start:end].decode("ascii", "replace")


def _sealed_as_written(line: bytes, prev: str, seq: int) -> tuple[str, str | None] | None:
    """``(hash, mac)`` of an ordinary event line that is exactly as written, with no JSON parse.

    The fast path of :func:`check_chain`, for the common case: the line follows
    ``prev``, is numbered ``seq``, is not a ``damaged-line`` marker, and its
    text without the ``prev``/``hash``/``mac`` members hashes to its ``hash``
    (which proves it is the canonical text the writer hashed).  None sends the
    line to the full check, which decides and names what is wrong.  Canonical
    JSON escapes every quote inside a string, so a member's text cannot occur
    inside a value; a member found twice (a nested key) also takes the full check.
    """
    digest = _member_value(line, _HASH_MEMBER)
    if digest is None or b'"event":"%s"' % DAMAGED_EVENT.encode() in line:
        return None
    at = line.find(_SEQ_MEMBER)
    if at < 0 or line.find(_SEQ_MEMBER, at + 1) >= 0:
        return None
    number = b"%d" % seq
    after = at + len(_SEQ_MEMBER)
    if line[after : after + len(number)] != number or line[
        after + len(number) : after + len(number) + 1
    ] not in (b",", b"}"):
        return None
    mac = _member_value(line, _MAC_MEMBER) if _MAC_MEMBER in line else None
    if mac is None and _MAC_MEMBER in line:
        return None
    if not _hashes_as_written(line, prev, digest, mac):
        return None
    return digest, mac


def _without(line: bytes, member: bytes) -> bytes | None:
    """The line without one member (and the comma beside it); None unless it is there once."""
    at = line.find(member)
    if at < 0 or line.find(member, at + 1) >= 0:
        return None
    end = at + len(member)
    if line[at - 1 : at] == b",":
        return line[: at - 1] + line[end:]
    if line[end : end + 1] == b",":
        return line[:at] + line[end + 1 :]
    return line[:at] + line[end:]


def _hashes_as_written(line: bytes, prev: str, digest: str, mac: Any) -> bool:
    """Whether the line, as it lies in the file, hashes to ``digest`` (the fast check).

    A line is written as the canonical JSON of its event with ``prev``, ``hash``
    (and ``mac``) added, so taking those three members out of the text gives
    back the very text that was hashed, with no JSON written again.  A match
    proves the line is what was written (the hash covers the rest of it, and
    each member is found exactly once); anything else (a line re-spaced or
    re-ordered by hand, a member written twice) returns False, and the caller
    decides from the event's canonical form, as before.
    """
    body = _without(line, b'"hash":"%s"' % digest.encode())
    if body is not None:
        body = _without(body, b'"prev":"%s"' % prev.encode())
    if body is not None and mac is not None:
        body = _without(body, b'"mac":"%s"' % mac.encode()) if isinstance(mac, str) else None
    return (
        body is not None and hashlib.sha256(b"%s\n%s" % (prev.encode(), body)).hexdigest() == digest
    )


def verify_chain(path: Path) -> int:
    """Check every line's chain; return the number of events, or raise ChainError."""
    return check_chain(path).count
