"""The sandbox tenant's file: an SQLite database (WAL mode), one transaction per cmdlet.

A write cmdlet takes the write lock for its whole read-modify-write
(``BEGIN IMMEDIATE``), so two runs against one sandbox take turns (each waits
up to :data:`BUSY_TIMEOUT_S`) and neither overwrites the other's change; a read
sees what was committed when it started, never a run's own memory.

Writes are made durable by group commit: a transaction commits into the
write-ahead log without waiting for the disk (``PRAGMA synchronous = NORMAL``),
leaves the lock, then waits until an fsync of the log that began after its
commit has finished.  Writers that commit while one fsync is under way are
covered together by the next, so concurrent writers share the cost of the disk
instead of paying it one after another under the lock; each still returns only
once its own write is on disk (what ``synchronous = FULL`` gives, one fsync a
commit).  The
schema is :mod:`remediations.sandbox.state`'s.  Tenant files (YAML/JSON) stay
the human format: :func:`write_store` fills a store from one, and
``sandbox.export`` writes one back.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from remediations.errors import InputError
from remediations.sandbox.state import SCHEMA_VERSION, SandboxState, new_connection

__all__ = [
    "APPLICATION_ID",
    "BUSY_TIMEOUT_S",
    "TenantStore",
    "check_location",
    "document",
    "load_state",
    "open_store",
    "save_state",
    "tenant_hash",
    "write_store",
]

#: ``PRAGMA application_id`` of a sandbox store ("NDR5"): tells it from any other SQLite file
APPLICATION_ID = 0x4E445235
#: how long a cmdlet waits for another run's write to finish before it gives up
BUSY_TIMEOUT_S = 30.0
#: the log's data (and its length) to disk, as SQLite syncs it (fdatasync where there is one)
_datasync = getattr(os, "fdatasync", os.fsync)
_SQLITE_MAGIC = b"SQLite format 3\x00"
_REWRITE = "run 'invoke sandbox.reset' or 'invoke sandbox.load FILE' to write a new one"


class TenantStore:
    """One sandbox store (a file, or a copy in memory) and its transactions."""

    def __init__(self, conn: sqlite3.Connection, path: Path | None = None) -> None:
        self.conn = conn
        self.path = path
        # One connection, one transaction at a time: threads of one process take turns
        # here (loopback servers answer from threads), processes at SQLite's lock.
        self._lock = threading.RLock()
        #: write transactions committed, and how many of them an fsync has made durable
        self._committed = 0
        self._durable = 0
        #: held by the one thread whose fsync is under way (group commit)
        self._sync_turn = threading.Lock()
        self._wal: int | None = None
        self._file = path.resolve() if path is not None else None
        #: fsyncs of the write-ahead log so far (a group commit covers several writes)
        self.syncs = 0

    @contextlib.contextmanager
    def transaction(self, *, write: bool) -> Iterator[SandboxState]:
        """The committed state at the start; a write holds the write lock to the end.

        A write returns once it is durable (see the module's note on group commit).
        """
        if not write:
            with self._lock, self._begin(write=False) as state:
                yield state
            return
        with self._lock:
            with self._begin(write=True) as state:
                yield state
            self._committed += 1
            ticket = self._committed
        self._sync(ticket)

    def _sync(self, ticket: int) -> None:
        """Return once commit number ``ticket`` is on disk: one fsync covers every commit
        made before it began, so a writer finding its commit covered returns at once."""
        if self._file is None:
            return  # a copy in memory: nothing to make durable
        with self._sync_turn:
            if self._durable >= ticket:
                return
            upto = self._committed  # every commit counted here has finished its COMMIT
            try:
                if self._wal is None:
                    self._wal = _open_log(self._file)
                _datasync(self._wal)
            except OSError as exc:
                from remediations.errors import BackendUnavailable

                raise BackendUnavailable(
                    f"The sandbox tenant {self.path} could not be written to disk "
                    f"({exc.strerror or exc}); the last change may not have been kept."
                ) from None
            self.syncs += 1
            self._durable = upto

    @contextlib.contextmanager
    def _begin(self, *, write: bool) -> Iterator[SandboxState]:
        try:
            self.conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        except sqlite3.OperationalError as exc:
            raise self._error(exc) from None
        try:
            state = SandboxState(self.conn)
            yield state
            if write:
                state.flush()
            self.conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            self._rollback()
            raise self._error(exc) from None
        except BaseException:
            self._rollback()
            raise

    def snapshot(self) -> SandboxState:
        """The committed state, read as it is used (outside any transaction)."""
        return SandboxState(self.conn)

    def copy(self) -> TenantStore:
        """A copy of the committed tenant in memory (SQLite's backup API)."""
        conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        self.conn.backup(conn)
        return TenantStore(conn)

    def close(self) -> None:
        """Close the database connection (every write is already durable)."""
        with self._sync_turn:
            if self._wal is not None:
                os.close(self._wal)
                self._wal = None
        self.conn.close()

    def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.execute("ROLLBACK")

    def _error(self, exc: sqlite3.Error) -> Exception:
        from remediations.errors import BackendUnavailable

        where = self.path or "the in-memory sandbox"
        if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
            return BackendUnavailable(
                f"The sandbox tenant {where} stayed locked by another run for "
                f"{BUSY_TIMEOUT_S:.0f} s; try again when it has finished."
            )
        return InputError(f"The sandbox tenant file {where} is damaged ({exc}); {_REWRITE}.")


def _open_log(database: Path) -> int:
    """A descriptor to sync a commit with: the write-ahead log, or (no log: the database is
    not in WAL mode, and commits write the file itself) the database file."""
    try:
        return os.open(str(database) + "-wal", os.O_RDONLY)
    except FileNotFoundError:
        return os.open(database, os.O_RDONLY)


def check_location(path: Path) -> None:
    """A sandbox path that is a folder, or lies under a file, is bad input."""
    if path.is_dir():
        raise InputError(
            f"The sandbox path {path} is a folder; set sandbox.path (INVOKE_SANDBOX_PATH) "
            "to a file name such as .sandbox/tenant.db."
        )
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise InputError(
                f"The sandbox path {path} lies under {parent}, which is a file, not a folder; "
                "set sandbox.path (INVOKE_SANDBOX_PATH) to a file in a folder."
            )


def open_store(path: Path) -> TenantStore:
    """Open the sandbox store at ``path``; anything else there is bad input, never "empty"."""
    check_location(path)
    try:
        with path.open("rb") as handle:
            head = handle.read(len(_SQLITE_MAGIC))
    except FileNotFoundError:
        raise InputError(
            f"No sandbox tenant at {path}; run 'invoke sandbox.reset' to create the demo "
            "tenant, or set sandbox.path (INVOKE_SANDBOX_PATH) to an existing file."
        ) from None
    except OSError as exc:
        raise InputError(f"Cannot read the sandbox tenant file {path}: {exc.strerror}.") from None
    if head != _SQLITE_MAGIC:
        if head.lstrip()[:1] == b"{":
            raise InputError(
                f"The sandbox tenant file {path} is a JSON tenant of an earlier version; the "
                f"sandbox now keeps its tenant in a database: {_REWRITE}."
            )
        raise InputError(f"The sandbox tenant file {path} is not a sandbox store; {_REWRITE}.")
    try:
        conn = sqlite3.connect(
            path.resolve().as_uri() + "?mode=rw",
            uri=True,
            timeout=BUSY_TIMEOUT_S,
            isolation_level=None,
            check_same_thread=False,
        )
    except sqlite3.Error as exc:
        raise InputError(f"Cannot open the sandbox tenant file {path} ({exc}).") from None
    try:
        (app,) = conn.execute("PRAGMA application_id").fetchone()
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        if app != APPLICATION_ID:
            raise InputError(
                f"The sandbox tenant file {path} is an SQLite database but not a sandbox "
                f"store; {_REWRITE}."
            )
        if version != SCHEMA_VERSION:
            raise InputError(
                f"The sandbox tenant file {path} has store schema {version}, not "
                f"{SCHEMA_VERSION}; {_REWRITE}."
            )
        conn.execute("PRAGMA journal_mode = WAL")
        # commits are made durable by TenantStore's group commit (an fsync of the log
        # each writer waits for), not one fsync each under the lock
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("SELECT count(*) FROM meta WHERE key = 'organization'").fetchone()
        conn.execute("SELECT max(n) FROM objects").fetchone()  # O(log n), not a count
    except InputError:
        conn.close()
        raise
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise InputError(
            f"The sandbox tenant file {path} is damaged ({exc}); {_REWRITE}."
        ) from None
    return TenantStore(conn, path)


def write_store(state: SandboxState, path: Path) -> None:
    """Replace the tenant at ``path`` with ``state``'s, in one step.

    An existing store is overwritten through SQLite (other runs see the old
    tenant or the new one, never a mix); any other file there (an old JSON
    tenant, a damaged store) is replaced by a new file.
    """
    check_location(path)
    state.flush()
    source = state.conn
    source.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    try:
        target = open_store(path)
    except InputError:
        target = None
    if target is not None:
        try:
            source.backup(target.conn)
            target.conn.execute("PRAGMA journal_mode = WAL")
        except sqlite3.DatabaseError:
            target.close()
        else:
            target.close()
            return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise InputError(f"Cannot write the sandbox tenant file {path}: {exc.strerror}.") from None
    os.close(fd)
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            source.backup(conn)
            conn.execute("PRAGMA journal_mode = WAL")
        finally:
            conn.close()
        for stale in ("-wal", "-shm"):
            Path(str(path) + stale).unlink(missing_ok=True)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def document(state: SandboxState, *, journal: bool = True) -> dict[str, Any]:
    """The whole tenant as one JSON-able mapping, with Exchange's property names."""
    doc: dict[str, Any] = {k: v for k, v in state.data.items() if k != "transport_rules"}
    doc["schema"] = SCHEMA_VERSION
    doc["recipients"] = state.recipients
    doc["users"] = state.users
    doc["transport_rules"] = state.transport_rules
    if journal:
        doc["journal"] = state.journal_entries()
    return doc


def tenant_hash(state: SandboxState) -> str:
    """A SHA-256 of the tenant (without its journal): equal tenants, equal hashes.

    The hash of ``json.dumps(document(state, journal=False), sort_keys=True,
    separators=(",", ":"))``, fed a recipient at a time from the rows (which
    are stored in that very form), so a tenant of 50,000 recipients is neither
    parsed nor held whole in memory to be hashed.
    """
    rest: dict[str, Any] = {k: v for k, v in state.data.items() if k != "transport_rules"}
    rest["schema"] = SCHEMA_VERSION
    rest["transport_rules"] = state.transport_rules
    streamed = {"recipients": "recipient", "users": "user"}
    digest = hashlib.sha256(b"{")
    for index, key in enumerate(sorted([*rest, *streamed])):
        digest.update(("," if index else "").encode() + json.dumps(key).encode() + b":")
        if key in streamed:
            digest.update(b"[")
            for n, text in enumerate(state.canonical_rows(streamed[key])):
                digest.update((b"," if n else b"") + text.encode("utf-8"))
            digest.update(b"]")
        else:
            value = json.dumps(rest[key], sort_keys=True, separators=(",", ":"))
            digest.update(value.encode("utf-8"))
    digest.update(b"}")
    return digest.hexdigest()


def in_memory(state: SandboxState) -> TenantStore:
    """A store over an in-memory state (as built from a tenant file)."""
    state.flush()
    return TenantStore(state.conn)


def empty_store() -> TenantStore:
    """An empty in-memory store with the schema (for tests and benchmarks)."""
    return TenantStore(new_connection())


def load_state(path: Path) -> SandboxState:
    """The committed tenant in the store at ``path``; a missing or bad file is an error."""
    return open_store(path).snapshot()


def save_state(state: SandboxState, path: Path) -> None:
    """Write the whole tenant to the store at ``path``, replacing what was there."""
    write_store(state, path)
