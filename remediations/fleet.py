"""Many targets in one run: a targets file, one plan for all, reads answered in batches.

``--targets-file PATH`` names the targets of a remediation: one identity a line
(blank lines and ``#`` comments skipped), or a CSV whose header names the task's
flags (``recipient,sender``).  :class:`FleetAction` wraps the action: it reads
every target, plans each, and merges the plans into one (a contact two targets
need is created once; two senders added to one list become one change).

:class:`BatchedReads` sits behind the transport boundary, so the sandbox and the
admin API get it alike: a per-target ``Get-X -Identity`` is answered from one
``Get-X -ResultSize Unlimited`` listing (paged by the transport), and every other
read is sent once per pass.  A look-up the listing cannot answer for certain
(several objects, or none, answer to the identity) goes to the tenant as it
would have, so its error is exactly the tenant's.  Each read pass (the plan,
each verification) starts a fresh one: nothing read before a write is trusted
after it.
"""

from __future__ import annotations

import csv
import dataclasses
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from remediations.errors import CmdletError, InputError, TransportError
from remediations.exchange.cmdlet import AddRemove, Cmdlet, CmdletResult, ParamValue, Transport
from remediations.plan import Change, Plan, Snapshot, render_value

__all__ = [
    "BATCH_AT",
    "LISTABLE",
    "BatchedReads",
    "FleetAction",
    "FleetTarget",
    "FleetWish",
    "combine_changes",
    "fleet_from_json",
    "read_targets_file",
    "target_field",
]

#: from this many targets on, a run's reads go through :class:`BatchedReads`
BATCH_AT = 20

#: the Get-* cmdlets whose per-identity reads a listing of the same cmdlet answers
LISTABLE = frozenset(
    {
        "Get-Recipient",
        "Get-DistributionGroup",
        "Get-UnifiedGroup",
        "Get-Mailbox",
        "Get-MailUser",
        "Get-MailContact",
        "Get-MailPublicFolder",
    }
)


@dataclass(frozen=True, slots=True)
class FleetTarget:
    """One target of a fleet run: where it came from (``targets.csv line 4``) and its wish."""

    label: str
    wish: Any


@dataclass(frozen=True, slots=True)
class FleetWish:
    """Every target of one run, in the file's order (duplicates dropped)."""

    source: str
    targets: tuple[FleetTarget, ...]


def target_field(action: Any) -> str:
    """The flag a line of a plain targets file fills: the wish's first field."""
    return dataclasses.fields(action.wish_type)[0].name


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


_TRUE = frozenset({"true", "yes", "1", "$true"})
_FALSE = frozenset({"false", "no", "0", "$false"})


def read_targets_file(path: str, action: Any, values: Mapping[str, Any]) -> FleetWish:
    """The wish of a fleet run: every line of ``path`` over the flags given (``values``).

    Raises:
        InputError: the file cannot be read, names no target, or a line is bad; the
            sentence names the file and the line (exit 2, nothing read from the tenant).
    """
    field = target_field(action)
    if values.get(field) is not None:
        raise InputError(f"--targets-file and {_flag(field)} both name targets; give one of them.")
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(
            f"--targets-file {path} is not UTF-8 text; save it as UTF-8 with one "
            f"{_flag(field)[2:]} a line."
        ) from None
    except OSError as exc:
        raise InputError(
            f"--targets-file {path} cannot be read ({exc.strerror or exc}); give a text file "
            f"with one {_flag(field)[2:]} a line, or a CSV whose header names the flags."
        ) from None
    fields = {f.name: f for f in dataclasses.fields(action.wish_type)}
    hints = typing.get_type_hints(action.wish_type)
    base = {k: v for k, v in values.items() if v is not None}
    header: list[str] | None = None
    seen: set[Any] = set()
    targets: list[FleetTarget] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        label = f"{path} line {number}"
        if header is None and not targets:
            header = _header(line, fields, field, path, number, action.name)
            if header:
                continue
        row = _csv_row(line, header, hints, label) if header else {field: line}
        wish = _wish(action, {**base, **row}, label)
        if wish in seen:
            continue
        seen.add(wish)
        targets.append(FleetTarget(label=label, wish=wish))
    if not targets:
        raise InputError(
            f"--targets-file {path} names no target; write one {_flag(field)[2:]} a line "
            "(blank lines and # comments are skipped)."
        )
    return FleetWish(source=path, targets=tuple(targets))


def _header(
    line: str, fields: Mapping[str, Any], field: str, path: str, number: int, name: str
) -> list[str]:
    """The CSV header if the first line is one (it names the target flag), else []."""
    cells = [_column(c) for c in next(csv.reader([line]))]
    if field not in cells:
        return []
    for cell in cells:
        if cell not in fields:
            raise InputError(
                f"--targets-file {path} line {number}: column {cell!r} is not a flag of {name}; "
                f"name columns after its flags ({', '.join(_flag(f)[2:] for f in fields)})."
            )
    if len(set(cells)) != len(cells):
        raise InputError(
            f"--targets-file {path} line {number}: a column is named twice; name each flag once."
        )
    return cells


def _column(cell: str) -> str:
    return cell.strip().lstrip("-").lower().replace("-", "_")


def _csv_row(line: str, header: list[str], hints: Mapping[str, Any], label: str) -> dict[str, Any]:
    cells = next(csv.reader([line]))
    if len(cells) != len(header):
        raise InputError(
            f"--targets-file {label} has {len(cells)} fields; the header names {len(header)} "
            f"({', '.join(header)}): quote a value that holds a comma."
        )
    row: dict[str, Any] = {}
    for name, cell in zip(header, cells, strict=True):
        value = cell.strip()
        if not value:
            continue  # an empty cell: the flag given on the command line, or the default
        if hints.get(name) is bool:
            lowered = value.lower()
            if lowered not in _TRUE | _FALSE:
                raise InputError(
                    f"--targets-file {label}: {name} is {value!r}; give true or false."
                )
            row[name] = lowered in _TRUE
        else:
            row[name] = value
    return row


def _wish(action: Any, values: Mapping[str, Any], label: str) -> Any:
    from remediations.actions import parse_wish

    try:
        return parse_wish(action, values)
    except InputError as exc:
        raise _at(f"--targets-file {label}", exc) from None


def _at(label: str, exc: InputError) -> InputError:
    """The same error, naming the target's file and line first."""
    message = f"{label}: {exc}"
    try:
        return type(exc)(message)
    except TypeError:  # pragma: no cover - every InputError takes its message alone
        return InputError(message)


def fleet_from_json(action: Any, doc: Mapping[str, Any]) -> tuple[Any, Any] | None:
    """A fleet run's action and wish again, from its recorded wish (None: not a fleet's).

    ``plan.apply`` and ``rollback`` rebuild the wish a run recorded in ``run-start``.
    """
    if set(doc) != {"source", "targets"}:
        return None
    from remediations.actions import parse_wish

    targets = []
    for entry in doc["targets"]:
        given = {k: v for k, v in (entry.get("wish") or {}).items() if v is not None}
        wish = parse_wish(action, given, source=str(entry.get("label", "")))
        targets.append(FleetTarget(label=str(entry.get("label", "")), wish=wish))
    return FleetAction(action), FleetWish(source=str(doc["source"]), targets=tuple(targets))


class FleetAction:
    """One action over many targets: every target read, planned, and merged into one plan.

    A target's refusal or unknown identity stops the whole run before anything is
    applied (exit 2), naming the target's line.
    """

    summary: ClassVar[str] = "many targets of one remediation"

    def __init__(self, inner: Any, *, batch_at: int = BATCH_AT, progress: Any = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.wish_type = inner.wish_type
        self.batch_at = batch_at
        #: a :class:`remediations.progress.Progress` each read pass reports to, or None
        self.progress = progress

    def read(self, transport: Transport, wish: FleetWish) -> Snapshot:
        """Read every target; from ``batch_at`` targets on, through one fresh batch."""
        reader: Transport = (
            BatchedReads(transport) if len(wish.targets) >= self.batch_at else transport
        )
        parts = []
        values: dict[tuple[str, str], Any] = {}
        if self.progress is not None:
            self.progress.start("Reading", len(wish.targets))
        try:
            for target in wish.targets:
                try:
                    part = self.inner.read(reader, target.wish)
                except InputError as exc:
                    raise _at(target.label, exc) from None
                parts.append(part)
                values.update(part.values)
                if self.progress is not None:
                    self.progress.advance()
        finally:
            if self.progress is not None:
                self.progress.stop()
        return Snapshot(values=values, facts={"parts": tuple(parts)})

    def plan(self, before: Snapshot, wish: FleetWish) -> Plan:
        """Each target's plan, merged: order kept, shared changes made once."""
        merged = _Merged()
        for target, part in zip(wish.targets, before.facts["parts"], strict=True):
            try:
                plan = self.inner.plan(part, target.wish)
            except InputError as exc:
                raise _at(target.label, exc) from None
            merged.add(target.label, plan)
        # An object a target needs created (a sender's mail contact) is created before any
        # change, so a list merged from two targets never names one not made yet.
        creates = [c for c in merged.changes if c.cmdlet.name.startswith("New-")]
        others = [c for c in merged.changes if not c.cmdlet.name.startswith("New-")]
        return Plan(action=self.name, changes=(*creates, *others), notes=tuple(merged.notes))


class _Merged:
    def __init__(self) -> None:
        self.changes: list[Change] = []
        self.notes: list[str] = []
        self._at: dict[tuple[str, str], tuple[int, str]] = {}
        self._notes: set[str] = set()

    def add(self, label: str, plan: Plan) -> None:
        for change in plan.changes:
            key = (change.target.lower(), change.attribute)
            if key not in self._at:
                self._at[key] = (len(self.changes), label)
                self.changes.append(change)
                continue
            index, first_label = self._at[key]
            earlier = self.changes[index]
            if earlier == change:
                continue
            combined = _combine(earlier, change)
            if combined is None:
                raise InputError(
                    f"{first_label} and {label} both change {change.target} "
                    f"{change.attribute} (to {render_value(earlier.after)} and to "
                    f"{render_value(change.after)}); keep one of those lines."
                )
            self.changes[index] = combined
        for note in plan.notes:
            if note not in self._notes:
                self._notes.add(note)
                self.notes.append(note)


def _union(*lists: Iterable[str]) -> tuple[str, ...]:
    out: dict[str, str] = {}
    for values in lists:
        for value in values:
            out.setdefault(value.lower(), value)
    return tuple(sorted(out.values(), key=str.lower))


def combine_changes(first: Change, second: Change) -> Change | None:
    """Two targets' changes to one list as one change, or None when they cannot be one
    (a playbook's ``for_each`` step merges its entries' plans with it, as a fleet run does)."""
    return _combine(first, second)


def _combine(first: Change, second: Change) -> Change | None:
    """Two additions to one list as one change (Add/Remove merged, or the whole list)."""
    if not (
        isinstance(first.after, tuple)
        and isinstance(second.after, tuple)
        and first.before == second.before
        and first.cmdlet.name == second.cmdlet.name
        and len(first.cmdlet.params) == len(second.cmdlet.params)
    ):
        return None
    after = _union(first.after, second.after)
    params: list[tuple[str, ParamValue]] = []
    for (name, a), (other, b) in zip(first.cmdlet.params, second.cmdlet.params, strict=True):
        if name != other:
            return None
        if isinstance(a, AddRemove) and isinstance(b, AddRemove):
            if set(map(str.lower, a.remove)) & set(map(str.lower, b.add)) or set(
                map(str.lower, b.remove)
            ) & set(map(str.lower, a.add)):
                return None
            params.append(
                (name, AddRemove(add=_union(a.add, b.add), remove=_union(a.remove, b.remove)))
            )
        elif a == first.after and b == second.after:
            params.append((name, after))
        elif a == b:
            params.append((name, a))
        else:
            return None
    return dataclasses.replace(first, after=after, cmdlet=Cmdlet(first.cmdlet.name, tuple(params)))


# --- batched reads --------------------------------------------------------------------

_STRONG = ("Guid", "Name", "FolderPath")
_BY_ADDRESS = ("Alias", "PrimarySmtpAddress")
_WEAK = (
    "Guid",
    "Name",
    "FolderPath",
    "Alias",
    "PrimarySmtpAddress",
    "DisplayName",
    "Identity",
    "ExternalDirectoryObjectId",
    "DistinguishedName",
)


def _norm(identity: str) -> str:
    text = identity.strip()
    if text.lower().startswith("smtp:"):
        text = text[5:]
    return text.lower()


def _addresses(obj: Mapping[str, Any]) -> Iterable[str]:
    for address in obj.get("EmailAddresses") or ():
        prefix, sep, rest = str(address).partition(":")
        yield (rest if sep and prefix.lower() == "smtp" else str(address)).lower()


class _Index:
    """The objects of one listing by every identity Exchange resolves for its cmdlet.

    ``answer`` gives an object only when the identity is certainly that one's: one
    object has it as a name, Guid, path or address, and no other object has it as
    any identity property at all; else None (the tenant is asked).
    """

    def __init__(self, objects: Iterable[Mapping[str, Any]], *, by_address: bool) -> None:
        self.strong: dict[str, list[Mapping[str, Any]]] = {}
        self.weak: dict[str, set[int]] = {}
        for obj in objects:
            strong = {str(obj[n]).lower() for n in _STRONG if obj.get(n)}
            if by_address:
                strong.update(str(obj[n]).lower() for n in _BY_ADDRESS if obj.get(n))
                strong.update(a for a in _addresses(obj) if "@" in a)
                if obj.get("RecipientTypeDetails") == "GroupMailbox" and obj.get("DisplayName"):
                    strong.add(str(obj["DisplayName"]).lower())
            weak = {str(obj[n]).lower() for n in _WEAK if obj.get(n)}
            weak.update(_addresses(obj))
            for key in strong:
                self.strong.setdefault(key, []).append(obj)
            for key in weak | strong:
                self.weak.setdefault(key, set()).add(id(obj))

    def answer(self, identity: str) -> Mapping[str, Any] | None:
        key = _norm(identity)
        found = self.strong.get(key, ())
        if len(found) != 1 or self.weak.get(key) != {id(found[0])}:
            return None
        return found[0]


class BatchedReads:
    """A read-through layer over any transport, for one pass of reads over many targets.

    ``Get-X -Identity I`` (and nothing else) is answered from one
    ``Get-X -ResultSize Unlimited`` listing when the listing names exactly one object
    for ``I``; any other read is sent once and its answer (or its ``CmdletError``)
    given again to the same read.  Writes go straight through and end the pass's
    cache: nothing read before a write answers a read after it.
    """

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.name = inner.name
        self.tenant = inner.tenant
        self._answers: dict[Cmdlet, CmdletResult | CmdletError] = {}
        self._indexes: dict[str, _Index | None] = {}

    def send(self, cmdlet: Cmdlet) -> CmdletResult:
        """Answer a read from the pass's listings or earlier answers; send the rest."""
        if cmdlet.is_write:
            self._answers.clear()
            self._indexes.clear()
            return self.inner.send(cmdlet)
        identity = cmdlet.get("Identity")
        if (
            cmdlet.name in LISTABLE
            and isinstance(identity, str)
            and len(cmdlet.params) == 1
            and (index := self._index(cmdlet.name)) is not None
            and (found := index.answer(identity)) is not None
        ):
            return CmdletResult(objects=(found,))
        return self._once(cmdlet)

    def _once(self, cmdlet: Cmdlet) -> CmdletResult:
        known = self._answers.get(cmdlet)
        if known is None:
            try:
                known = self.inner.send(cmdlet)
            except CmdletError as exc:
                known = exc
            self._answers[cmdlet] = known
        if isinstance(known, CmdletError):
            raise known.with_traceback(None)
        return known

    def _index(self, name: str) -> _Index | None:
        if name not in self._indexes:
            try:
                listing = self._once(Cmdlet.of(name, ResultSize="Unlimited"))
            except CmdletError as exc:
                if exc.category in ("NotFound", "Ambiguous", "PermissionDenied"):
                    raise
                listing = None  # a tenant that cannot list this way: read one by one
            except TransportError:
                raise
            self._indexes[name] = (
                None
                if listing is None
                else _Index(listing.objects, by_address=name != "Get-MailPublicFolder")
            )
        return self._indexes[name]

    def close(self) -> None:
        """The pass ends; the inner transport stays open (the run owns it)."""
        self._answers.clear()
        self._indexes.clear()
