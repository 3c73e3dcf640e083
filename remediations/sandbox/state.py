"""The sandbox tenant's state: rows of an SQLite database, read and written per cmdlet.

Recipients are handed out as plain dicts with Exchange's own property names;
every reference to another recipient (accept lists, moderators, members, a
rule's SentTo) is that recipient's Guid, as Exchange stores a link, so
renaming or re-addressing a recipient keeps its links.

Behind the dicts: one row per recipient, user and transport rule
(``objects``), group members one row each (``members``), and an index of
every identity key (``keys``: Guid, name, alias, display name, folder path,
every SMTP address, lower-cased, each with its object's row number), so a
look-up by identity reads the rows it names instead of every recipient.  A
:class:`SandboxState` remembers each row as it read it;
:meth:`SandboxState.flush` writes back only the rows whose dict changed.
The file, its locking and its transactions are
:mod:`remediations.sandbox.store`'s.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = ["SCHEMA_VERSION", "SandboxState"]

#: the store's schema (``PRAGMA user_version``); 1 was the single JSON document, 2 named
#: each index key's object by kind and Guid (twice the size of a key naming its row)
SCHEMA_VERSION = 3

GROUP_TYPES = frozenset(
    {
        "MailUniversalDistributionGroup",
        "MailUniversalSecurityGroup",
        "MailNonUniversalGroup",
        "RoomList",
    }
)
MAILBOX_TYPES = frozenset({"UserMailbox", "SharedMailbox", "RoomMailbox", "EquipmentMailbox"})
ALL_GROUP_TYPES = GROUP_TYPES | {"GroupMailbox", "DynamicDistributionGroup"}
INDIVIDUAL_TYPES = MAILBOX_TYPES | {"MailUser", "GuestMailUser", "MailContact"}

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE objects (
    n INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE UNIQUE INDEX objects_by_id ON objects (kind, id);
CREATE TABLE keys (key TEXT NOT NULL, field TEXT NOT NULL, n INTEGER NOT NULL);
CREATE INDEX keys_by_key ON keys (key);
CREATE INDEX keys_by_object ON keys (n);
CREATE TABLE members (
    n INTEGER PRIMARY KEY,
    group_id TEXT NOT NULL,
    member_id TEXT NOT NULL,
    UNIQUE (group_id, member_id)
);
CREATE INDEX members_by_member ON members (member_id);
CREATE TABLE journal (n INTEGER PRIMARY KEY, entry TEXT NOT NULL);
"""
#: the indexes a bulk load drops and builds again after its rows (name -> DDL, as in SCHEMA)
_BULK_INDEXES = {
    line.split(" ON ")[0].split()[-1]: line.rstrip(";")
    for line in SCHEMA.splitlines()
    if line.startswith(("CREATE INDEX", "CREATE UNIQUE INDEX"))
}

#: identity fields a recipient answers to as an Exchange -Identity (DisplayName and the
#: directory id, ExternalDirectoryObjectId, are indexed too, for the look-ups that use them)
IDENTITY_FIELDS = ("guid", "name", "alias", "folder", "smtp")

_RECIPIENT, _USER, _RULE = "recipient", "user", "rule"
_ID_KEY = {_RECIPIENT: "Guid", _USER: "Id", _RULE: "Guid"}


# one encoder for every row (json.dumps would build one per call: a third of its time)
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def _dumps(value: Any) -> str:
    """``json.dumps(value, sort_keys=True, separators=(",", ":"))``: a row's stored form."""
    return _ENCODER.encode(value)


def new_connection() -> sqlite3.Connection:
    """An empty in-memory store with the schema (for building and for forks)."""
    # "": SQLite's private temporary database, on disk beyond a small page cache, so a
    # tenant of 50,000 recipients being built does not also sit whole in memory.
    conn = sqlite3.connect("", isolation_level=None, check_same_thread=False)
    # private and thrown away on error: no fsync, the rollback journal in memory
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA journal_mode = MEMORY")
    conn.execute("PRAGMA cache_size = -16000")
    conn.executescript(SCHEMA)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return conn


def smtp_addresses(recipient: dict[str, Any]) -> Iterator[str]:
    """Every SMTP address a recipient answers to (lower case)."""
    for proxy in recipient.get("EmailAddresses", ()):
        kind, _, addr = str(proxy).partition(":")
        if kind.lower() == "smtp":
            yield addr.lower()
    external = recipient.get("ExternalEmailAddress")
    if external:
        yield str(external).partition(":")[2].lower()


def _lower(value: Any) -> str:
    """``str(value).lower()``, the very string when it is lower case already (most keys
    are: Guids, aliases, addresses), so that a large load holds one copy, not two."""
    text = str(value)
    low = text.lower()
    return text if low == text else low


def _index_keys(kind: str, obj: dict[str, Any]) -> set[tuple[str, str]]:
    """(key, field) pairs an object is found by."""
    if kind == _RECIPIENT:
        keys = {(_lower(obj["Guid"]), "guid"), (_lower(obj["Name"]), "name")}
        for field, prop in (
            ("alias", "Alias"),
            ("display", "DisplayName"),
            ("folder", "FolderPath"),
            ("directory", "ExternalDirectoryObjectId"),
        ):
            if obj.get(prop):
                keys.add((_lower(obj[prop]), field))
        keys.update((address, "smtp") for address in smtp_addresses(obj))
        return keys
    if kind == _USER:
        return {
            (_lower(obj[prop]), field)
            for field, prop in (("id", "Id"), ("upn", "UserPrincipalName"), ("mail", "Mail"))
            if obj.get(prop)
        }
    return set()


#: every field of the index (a bulk load keeps a field as its position here)
_FIELDS = ("guid", "name", "alias", "display", "folder", "directory", "smtp", "id", "upn", "mail")
_FIELD_NO = {field: number for number, field in enumerate(_FIELDS)}


def _entries(found: int | list[int] | None) -> Iterator[tuple[int, str]]:
    """(order, field) of each entry a key has in a bulk load's index."""
    for entry in () if found is None else (found,) if isinstance(found, int) else found:
        yield entry >> 4, _FIELDS[entry & 15]


class _Rows(list[dict[str, Any]]):
    """A list of recipients or users whose append/extend/remove reach the store."""

    def __init__(self, state: SandboxState, kind: str, rows: list[dict[str, Any]]) -> None:
        super().__init__(rows)
        self._state = state
        self._kind = kind

    def append(self, obj: dict[str, Any]) -> None:
        self._state._insert(self._kind, obj)
        super().append(obj)

    def extend(self, objs: Iterable[dict[str, Any]]) -> None:
        for obj in objs:
            self.append(obj)

    def remove(self, obj: dict[str, Any]) -> None:
        super().remove(obj)
        if self._kind == _RECIPIENT:
            self._state.remove_recipient(str(obj["Guid"]))
        else:
            self._state._delete(self._kind, str(obj[_ID_KEY[self._kind]]))


class SandboxState:
    """The simulated organisation, read from its store row by row as it is used.

    ``data`` holds the tenant's settings (organisation, domains, DNS,
    connectors...) and its ``transport_rules``; recipients and users are read
    when asked for, by identity through the index.  Changes to any dict handed
    out are written back by :meth:`flush`.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._objects: dict[str, dict[str, dict[str, Any]]] = {_RECIPIENT: {}, _USER: {}}
        self._seen: dict[tuple[str, str], str] = {}
        self._all: set[str] = set()
        # while loading (:meth:`bulk`): the index in memory and the new rows in order;
        # key -> one entry or a list of them, an entry being order * 16 + field number
        # (one small int per key: 400,000 keys at 50,000 recipients)
        self._bulk: dict[str, int | list[int]] | None = None
        self._pending: list[tuple[str, str]] = []
        rows = conn.execute("SELECT key, value FROM meta").fetchall()
        self.data: dict[str, Any] = {key: json.loads(value) for key, value in rows}
        rules = [
            body
            for (body,) in conn.execute(
                "SELECT body FROM objects WHERE kind = ? ORDER BY n", (_RULE,)
            )
        ]
        self.data["transport_rules"] = [json.loads(body) for body in rules]
        # each setting as read, in its stored form (every row is written by _dumps, and
        # _dumps of a list is its items' joined), so only what changes is encoded again
        self._meta_seen: dict[str, str] = dict(rows)
        self._meta_seen["transport_rules"] = "[" + ",".join(rules) + "]"

    @classmethod
    def new(cls, settings: dict[str, Any]) -> SandboxState:
        """A new tenant in memory with these settings and no objects."""
        conn = new_connection()
        conn.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?)",
            [(k, _dumps(v)) for k, v in settings.items() if k != "transport_rules"],
        )
        return cls(conn)

    # --- plain accessors -------------------------------------------------------
    @property
    def organization(self) -> str:
        """The organisation's name, e.g. ``contoso.com``."""
        return str(self.data["organization"])

    @property
    def server(self) -> str:
        """The server name Exchange puts in its error texts."""
        return str(self.data["server"])

    @property
    def recipients(self) -> list[dict[str, Any]]:
        """Every recipient, in a stable order (reads them all: not for look-ups).

        ``append``/``remove`` on the list add or remove a recipient, as
        :meth:`add_recipient`/:meth:`remove_recipient` do.
        """
        return self._load_all(_RECIPIENT)

    @property
    def transport_rules(self) -> list[dict[str, Any]]:
        """The mail-flow rules, in priority order."""
        rules: list[dict[str, Any]] = self.data["transport_rules"]
        rules.sort(key=lambda r: r["Priority"])
        return rules

    @property
    def users(self) -> list[dict[str, Any]]:
        """The directory's users (Entra ID), with licenses (reads them all)."""
        return self._load_all(_USER)

    @property
    def accepted_domains(self) -> list[dict[str, Any]]:
        """The accepted domains."""
        return self.data["accepted_domains"]  # type: ignore[no-any-return]

    # --- look-ups through the index ----------------------------------------------
    def find(self, key: str, fields: Iterable[str] = IDENTITY_FIELDS) -> list[dict[str, Any]]:
        """Recipients with ``key`` (any case) as one of ``fields``, in their stable order."""
        if self._bulk is not None:
            return self._bulk_find(key.lower(), _RECIPIENT, tuple(fields))
        rows = self.conn.execute(
            "SELECT DISTINCT o.n, o.id FROM keys k JOIN objects o ON o.n = k.n "
            "WHERE k.key = ? AND o.kind = ? AND k.field IN (SELECT value FROM json_each(?)) "
            "ORDER BY o.n",
            (key.lower(), _RECIPIENT, json.dumps(list(fields))),
        ).fetchall()
        return [rec for _, guid in rows if (rec := self.by_guid(guid)) is not None]

    def find_user(self, key: str) -> dict[str, Any] | None:
        """The directory user whose Id, UPN or mail is ``key`` (any case)."""
        if self._bulk is not None:
            low = key.lower()
            found = self._bulk_find(low, _USER, ("id",)) or self._bulk_find(low, _USER, ("upn",))
            return found[0] if found else None
        row = self.conn.execute(
            "SELECT o.id FROM keys k JOIN objects o ON o.n = k.n "
            "WHERE k.key = ? AND o.kind = ? AND k.field IN ('id', 'upn') "
            "ORDER BY k.field LIMIT 1",
            (key.lower(), _USER),
        ).fetchone()
        return self._get(_USER, row[0]) if row else None

    def by_guid(self, guid: str) -> dict[str, Any] | None:
        """The recipient with this Guid, if any."""
        return self._get(_RECIPIENT, guid)

    def member_of(self, guid: str) -> list[str]:
        """The Guids of the groups that list this recipient as a member (by index)."""
        if self._bulk is not None:
            return [
                oid
                for kind, oid in self._pending
                if guid in self._objects[kind][oid].get("Members", ())
            ]
        rows = self.conn.execute(
            "SELECT group_id FROM members WHERE member_id = ? ORDER BY n", (guid,)
        ).fetchall()
        return [g for (g,) in rows]

    def recipients_of(self, types: Iterable[str]) -> list[dict[str, Any]]:
        """The recipients whose RecipientTypeDetails is one of ``types``, in their stable order.

        Chosen by SQLite from the rows (``json_extract``), so a listing of folders
        in a tenant of mailboxes parses the folders only.
        """
        wanted = sorted(set(types))
        if _RECIPIENT in self._all:
            return [r for r in self.recipients if r["RecipientTypeDetails"] in wanted]
        rows = self.conn.execute(
            "SELECT id, body FROM objects WHERE kind = ? AND "
            "json_extract(body, '$.RecipientTypeDetails') IN (SELECT value FROM json_each(?)) "
            "ORDER BY n",
            (_RECIPIENT, json.dumps(wanted)),
        ).fetchall()
        cache = self._objects[_RECIPIENT]
        return [cache.get(oid) or self._remember(_RECIPIENT, oid, body) for oid, body in rows]

    def referring(self, guid: str) -> list[dict[str, Any]]:
        """The recipients that name this Guid anywhere (lists, members), by one search of
        the rows in SQLite, not by reading every recipient."""
        rows = self.conn.execute(
            "SELECT id FROM objects WHERE kind = ? AND instr(body, ?) > 0 "
            "UNION SELECT group_id FROM members WHERE member_id = ?",
            (_RECIPIENT, guid, guid),
        ).fetchall()
        ids = {oid for (oid,) in rows} | {
            oid
            for oid, obj in self._objects[_RECIPIENT].items()
            if any(isinstance(v, list) and guid in v for v in obj.values())
        }
        found = [self.by_guid(oid) for oid in ids if oid != guid]
        return [r for r in found if r is not None]

    def count(self) -> int:
        """How many recipients the tenant has (without reading them)."""
        (n,) = self.conn.execute(
            "SELECT count(*) FROM objects WHERE kind = ?", (_RECIPIENT,)
        ).fetchone()
        return int(n)

    def canonical_rows(self, kind: str) -> Iterator[str]:
        """Each recipient's (``"recipient"``) or user's (``"user"``) dict as ``_dumps``
        writes it, in the stable order, without keeping them: a row as stored is that
        text already (a group's with its members added back)."""
        cache = self._objects[kind]
        rows = self.conn.execute("SELECT id, body FROM objects WHERE kind = ? ORDER BY n", (kind,))
        for oid, body in rows:
            obj = cache.get(oid)
            if obj is not None:
                yield _dumps(obj)
            elif '"__group__":true' in body:
                group: dict[str, Any] = json.loads(body)
                group.pop("__group__")
                group["Members"] = [
                    m
                    for (m,) in self.conn.execute(
                        "SELECT member_id FROM members WHERE group_id = ? ORDER BY n", (oid,)
                    )
                ]
                yield _dumps(group)
            else:
                yield body

    def invalidate(self) -> None:
        """Kept for callers of the former in-memory state: indexes are always current."""

    def is_internal(self, address: str) -> bool:
        """Whether the address's domain is one of the organisation's accepted domains."""
        domain = address.rpartition("@")[2].lower()
        return any(d["DomainName"].lower() == domain for d in self.accepted_domains)

    def addresses_of(self, recipient: dict[str, Any]) -> Iterator[str]:
        """Every SMTP address a recipient answers to (lower case)."""
        return smtp_addresses(recipient)

    # --- adds and removes -----------------------------------------------------------
    def add_recipient(self, rec: dict[str, Any]) -> None:
        """Add a new recipient (indexed at once)."""
        self._insert(_RECIPIENT, rec)

    def remove_recipient(self, guid: str) -> None:
        """Remove a recipient and its index keys and memberships."""
        self._delete(_RECIPIENT, guid)
        self.conn.execute("DELETE FROM members WHERE group_id = ? OR member_id = ?", (guid, guid))

    def add_user(self, user: dict[str, Any]) -> None:
        """Add a new directory user (indexed at once)."""
        self._insert(_USER, user)

    def journal(self, entry: dict[str, Any]) -> None:
        """Record one write cmdlet, in order, so tests can see exactly what was sent."""
        self.conn.execute("INSERT INTO journal (entry) VALUES (?)", (_dumps(entry),))

    def journal_entries(self) -> list[dict[str, Any]]:
        """Every write cmdlet recorded, oldest first."""
        return [
            json.loads(entry)
            for (entry,) in self.conn.execute("SELECT entry FROM journal ORDER BY n")
        ]

    # --- loading many objects at once ---------------------------------------------------
    @contextlib.contextmanager
    def bulk(self) -> Iterator[None]:
        """Add many objects at once (a tenant file's load) to a state that has none yet.

        Objects added meanwhile stay in memory, found through an index kept in
        memory; at the end every row, index key and membership is written in a
        few ``executemany`` calls, from the objects as they are then.  An
        exception writes nothing.
        """
        self._bulk = {}
        self._pending = []
        try:
            yield
            self._write_pending()
        finally:
            self._bulk = None
            self._pending = []

    def _bulk_find(self, key: str, kind: str, fields: tuple[str, ...]) -> list[dict[str, Any]]:
        assert self._bulk is not None
        found = self._bulk.get(key)
        if found is None:  # most look-ups of a load: the check that a name is new
            return []
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        for order, field in _entries(found):
            if field in fields:
                found_kind, oid = self._pending[order]
                if found_kind == kind and oid not in seen:
                    seen.add(oid)
                    out.append(self._objects[kind][oid])
        return out

    def _write_pending(self) -> None:
        assert self._bulk is not None
        objects = self._objects
        # The secondary indexes are built once, after the rows (a sort, not 300,000 inserts).
        for name in _BULK_INDEXES:
            self.conn.execute(f"DROP INDEX IF EXISTS {name}")
        # Rows are made as SQLite takes them (generators, no lists of 50,000 rows), and
        # each dict is let go once written: later reads come from the rows (a cache of
        # every object would only make every flush compare them all).
        self.conn.executemany(
            "INSERT OR IGNORE INTO members (group_id, member_id) VALUES (?, ?)",
            (
                (oid, member)
                for kind, oid in self._pending
                for member in objects[kind][oid].get("Members", ())
            ),
        )

        (first,) = self.conn.execute("SELECT coalesce(max(n), 0) + 1 FROM objects").fetchone()

        def rows() -> Iterator[tuple[int, str, str, str]]:
            for order, (kind, oid) in enumerate(self._pending):
                yield first + order, kind, oid, self._body(objects[kind].pop(oid))

        self.conn.executemany("INSERT INTO objects (n, kind, id, body) VALUES (?, ?, ?, ?)", rows())
        # The index keys are those the load was answered from (identities do not change
        # while a file loads: only links are added).
        bulk = self._bulk

        def keys() -> Iterator[tuple[str, str, int]]:
            for key in list(bulk):
                found = bulk.pop(key)
                if isinstance(found, int):  # most keys name one object (no generator each)
                    yield key, _FIELDS[found & 15], first + (found >> 4)
                else:
                    for order, field in _entries(found):
                        yield key, field, first + order

        self.conn.executemany("INSERT INTO keys (key, field, n) VALUES (?, ?, ?)", keys())
        for ddl in _BULK_INDEXES.values():
            self.conn.execute(ddl)

    # --- writing back ------------------------------------------------------------------
    def flush(self) -> None:
        """Write back every row whose dict changed since it was read (and only those)."""
        if self._bulk is not None:
            raise RuntimeError("flush() inside bulk(): the rows are written when it ends")
        for kind, objects in self._objects.items():
            for oid, obj in objects.items():
                body = _dumps(obj)
                if self._seen.get((kind, oid)) != body:
                    self._write(kind, oid, obj)
                    self._seen[(kind, oid)] = body
        self._flush_rules()
        for key, value in self.data.items():
            if key == "transport_rules":
                continue
            body = _dumps(value)
            if self._meta_seen.get(key) != body:
                self.conn.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (key, body),
                )
                self._meta_seen[key] = body

    def _flush_rules(self) -> None:
        rules: list[dict[str, Any]] = self.data["transport_rules"]
        body = _dumps(rules)
        if self._meta_seen.get("transport_rules") == body:
            return
        rows = self.conn.execute("SELECT id, body FROM objects WHERE kind = ?", (_RULE,))
        old: dict[str, str] = dict(rows.fetchall())
        for rule in rules:
            new = _dumps(rule)
            if old.pop(rule["Guid"], None) != new:
                self.conn.execute(
                    "INSERT INTO objects (kind, id, body) VALUES (?, ?, ?) "
                    "ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body",
                    (_RULE, rule["Guid"], new),
                )
        for oid in old:
            self.conn.execute("DELETE FROM objects WHERE kind = ? AND id = ?", (_RULE, oid))
        self._meta_seen["transport_rules"] = body

    # --- rows ---------------------------------------------------------------------------
    def _get(self, kind: str, oid: str) -> dict[str, Any] | None:
        cached = self._objects[kind].get(oid)
        if cached is not None:
            return cached
        row = self.conn.execute(
            "SELECT body FROM objects WHERE kind = ? AND id = ?", (kind, oid)
        ).fetchone()
        if row is None:
            return None
        return self._remember(kind, oid, row[0])

    def _remember(self, kind: str, oid: str, body: str) -> dict[str, Any]:
        obj: dict[str, Any] = json.loads(body)
        if obj.pop("__group__", False):
            obj["Members"] = [
                m
                for (m,) in self.conn.execute(
                    "SELECT member_id FROM members WHERE group_id = ? ORDER BY n", (oid,)
                )
            ]
            body = _dumps(obj)
        # A row's body is _dumps of its dict (a group's without its members), so it is
        # what flush compares against: no second serialisation per row read.
        self._objects[kind][oid] = obj
        self._seen[(kind, oid)] = body
        return obj

    def _load_all(self, kind: str) -> list[dict[str, Any]]:
        cache = self._objects[kind]
        rows = self.conn.execute(
            "SELECT id, body FROM objects WHERE kind = ? ORDER BY n", (kind,)
        ).fetchall()
        if kind not in self._all:
            members: dict[str, list[str]] = {}
            if kind == _RECIPIENT:
                for group, member in self.conn.execute(
                    "SELECT group_id, member_id FROM members ORDER BY n"
                ):
                    members.setdefault(group, []).append(member)
            for oid, body in rows:
                if oid in cache:
                    continue
                obj = json.loads(body)
                if obj.pop("__group__", False):
                    obj["Members"] = members.get(oid, [])
                    body = _dumps(obj)
                cache[oid] = obj
                self._seen[(kind, oid)] = body
            self._all.add(kind)
        return _Rows(self, kind, [cache[oid] for oid, _ in rows if oid in cache])

    def _body(self, obj: dict[str, Any]) -> str:
        if "Members" not in obj:
            return _dumps(obj)
        return _dumps({**{k: v for k, v in obj.items() if k != "Members"}, "__group__": True})

    def _insert(self, kind: str, obj: dict[str, Any]) -> None:
        oid = str(obj[_ID_KEY[kind]])
        if self._bulk is not None:
            self._objects[kind][oid] = obj
            order = len(self._pending)
            self._pending.append((kind, oid))
            bulk = self._bulk
            for key, field in _index_keys(kind, obj):
                entry = order << 4 | _FIELD_NO[field]
                found = bulk.get(key)
                if found is None:
                    bulk[key] = entry
                elif isinstance(found, int):
                    bulk[key] = [found, entry]
                else:
                    found.append(entry)
            return
        seen = _dumps(obj)
        body = seen if "Members" not in obj else self._body(obj)
        n = self.conn.execute(
            "INSERT INTO objects (kind, id, body) VALUES (?, ?, ?)", (kind, oid, body)
        ).lastrowid
        self.conn.executemany(
            "INSERT INTO keys (key, field, n) VALUES (?, ?, ?)",
            [(key, field, n) for key, field in sorted(_index_keys(kind, obj))],
        )
        self._write_members(oid, [], list(obj.get("Members", ())))
        self._objects[kind][oid] = obj
        self._seen[(kind, oid)] = seen

    def _write(self, kind: str, oid: str, obj: dict[str, Any]) -> None:
        old = json.loads(self._seen[(kind, oid)])
        self.conn.execute(
            "UPDATE objects SET body = ? WHERE kind = ? AND id = ?", (self._body(obj), kind, oid)
        )
        if _index_keys(kind, old) != _index_keys(kind, obj):
            self._reindex(kind, oid, obj)
        self._write_members(oid, list(old.get("Members", ())), list(obj.get("Members", ())))

    def _delete(self, kind: str, oid: str) -> None:
        self.conn.execute(
            "DELETE FROM keys WHERE n = (SELECT n FROM objects WHERE kind = ? AND id = ?)",
            (kind, oid),
        )
        self.conn.execute("DELETE FROM objects WHERE kind = ? AND id = ?", (kind, oid))
        self._objects[kind].pop(oid, None)
        self._seen.pop((kind, oid), None)

    def _reindex(self, kind: str, oid: str, obj: dict[str, Any]) -> None:
        (n,) = self.conn.execute(
            "SELECT n FROM objects WHERE kind = ? AND id = ?", (kind, oid)
        ).fetchone()
        self.conn.execute("DELETE FROM keys WHERE n = ?", (n,))
        self.conn.executemany(
            "INSERT INTO keys (key, field, n) VALUES (?, ?, ?)",
            [(key, field, n) for key, field in sorted(_index_keys(kind, obj))],
        )

    def _write_members(self, group: str, old: list[str], new: list[str]) -> None:
        if old == new:
            return
        kept = set(new)
        gone = [m for m in old if m not in kept]
        self.conn.executemany(
            "DELETE FROM members WHERE group_id = ? AND member_id = ?", [(group, m) for m in gone]
        )
        had = set(old)
        self.conn.executemany(
            "INSERT OR IGNORE INTO members (group_id, member_id) VALUES (?, ?)",
            [(group, m) for m in new if m not in had],
        )
