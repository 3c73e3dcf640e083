"""Rollback: the inverse of every change a run applied, as an audited run of its own.

The changes come from the run's audit events: each ``change-applied`` (and a
``change-applying`` with no outcome after it, as a run cut off mid-cmdlet
leaves; one closed by ``change-not-sent`` never reached the tenant) with its
target, attribute, before, after and cmdlet.  The live state comes from the
run's own action reading again with the run's own wish, so a rollback reads
exactly what the run read.  Each change is undone, newest first,
only where the object still holds what the run left; anywhere else the change
is left alone and a note says why.  The inverse of each cmdlet:

- ``New-X`` (a contact, a rule) -> ``Remove-X -Identity <name> -Confirm:$false``;
- ``Enable-X`` <-> ``Disable-X``;
- ``Set-X -Attr @{Add=..; Remove=..}`` -> the same with Add and Remove swapped;
- ``Set-X -Attr <value>`` -> ``Set-X -Attr <before>`` (other parameters kept).

- ``Set-MgUserLicense -RemoveLicenses <skus>`` -> ``-AddLicenses <skus>`` (the same
  SKUs assigned again, every service plan on: plans disabled before are not known).

Anything else (a removed object) has no inverse here and is named in a note.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from remediations.audit.log import read_events
from remediations.errors import InputError
from remediations.exchange.cmdlet import AddRemove, Cmdlet
from remediations.plan import Change, Plan, Snapshot, Value, render_value

__all__ = ["RollbackAction", "RollbackWish", "applied_changes", "inverse_cmdlet", "load_run"]


@dataclass(frozen=True, slots=True)
class RollbackWish:
    """Undo the changes of run ``run_id``."""

    run_id: str


def load_run(path: Path, run_id: str) -> list[dict[str, Any]]:
    """The events of one run (one streamed pass); bad input if there are none."""
    events = [e for e in read_events(path) if e.get("run_id") == run_id]
    if not events:
        raise InputError(
            f"No run {run_id!r} in the audit log {path}; `invoke audit.runs` lists the runs."
        )
    return events


def applied_changes(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The changes that reached (or may have reached) the tenant, in the order applied."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for event in events:
        name = event.get("event")
        key = (str(event.get("target")), str(event.get("attribute")))
        if name == "change-applying":
            found[key] = dict(event)
        elif name in ("change-failed", "change-not-sent"):
            found.pop(key, None)
    return list(found.values())


def _value(value: Any) -> Value:
    """A logged (JSON) value as a plan value: lists as tuples."""
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    if value is None or isinstance(value, str | bool | int):
        return value
    return str(value)


def _same(left: Any, right: Any) -> bool:
    """Equal as the log would record them (tuples and lists alike; lists in any order)."""

    def plain(value: Any) -> Any:
        if isinstance(value, list | tuple):
            return sorted(str(v).lower() for v in value)
        return value

    return json.dumps(plain(left), sort_keys=True) == json.dumps(plain(right), sort_keys=True)


def inverse_cmdlet(change: Mapping[str, Any]) -> Cmdlet | str:
    """The cmdlet that undoes a logged change, or why there is none."""
    cmdlets = change.get("cmdlets") or []
    if not cmdlets:
        return "the log holds no cmdlet for it"
    logged = Cmdlet.from_json(cmdlets[0])  # the log sorts parameters: Identity first again
    sent = Cmdlet(logged.name, tuple(sorted(logged.params, key=lambda p: p[0] != "Identity")))
    verb, _, noun = sent.name.partition("-")
    if sent.name.lower() == "set-mguserlicense":  # give back what was taken, take what was given
        wire = cmdlets[0]["parameters"]
        return Cmdlet.of(
            sent.name,
            UserId=str(sent.get("UserId")),
            AddLicenses=tuple(str(v) for v in wire.get("RemoveLicenses") or ()),
            RemoveLicenses=tuple(str(v) for v in wire.get("AddLicenses") or ()),
        )
    if verb == "New":
        identity = sent.get("Name") or change.get("target")
        return Cmdlet.of(f"Remove-{noun}", Identity=str(identity), Confirm=False)
    if verb in ("Enable", "Disable"):
        other = "Disable" if verb == "Enable" else "Enable"
        return Cmdlet(f"{other}-{noun}", sent.params)
    attribute = str(change.get("attribute")).lower()
    if verb == "Set" and any(name.lower() == attribute for name, _ in sent.params):
        params = []
        for name, value in sent.params:
            if name.lower() != attribute:
                params.append((name, value))
                continue
            wire = cmdlets[0]["parameters"][name]
            if isinstance(wire, Mapping):  # @{Add=..; Remove=..}: swap
                swapped = AddRemove(
                    add=tuple(str(v) for v in wire.get("Remove", ())),
                    remove=tuple(str(v) for v in wire.get("Add", ())),
                )
                params.append((name, swapped))
            else:
                params.append((name, _value(change.get("before"))))
        return Cmdlet(sent.name, tuple(params))
    return f"{sent.name} has no inverse this toolkit can send"


class RollbackAction:
    """Undo a run: read as the run read, plan the inverse of what it left in place."""

    name: ClassVar[str] = "rollback"
    summary: ClassVar[str] = "undo the changes a run applied"
    wish_type: ClassVar[type[Any]] = RollbackWish

    def __init__(self, original: Any, original_wish: Any, changes: list[dict[str, Any]]) -> None:
        self.original = original
        self.original_wish = original_wish
        self.changes = changes
        #: the objects the last plan left alone: target, attribute, reason (for the log)
        self.refusals: list[dict[str, str]] = []

    def read(self, transport: Any, wish: RollbackWish) -> Snapshot:
        snapshot: Snapshot = self.original.read(transport, self.original_wish)
        return snapshot

    def plan(self, before: Snapshot, wish: RollbackWish) -> Plan:
        changes: list[Change] = []
        notes: list[str] = []
        refusals: list[dict[str, str]] = []

        def refuse(target: str, attribute: str, reason: str) -> None:
            notes.append(reason)
            refusals.append({"target": target, "attribute": attribute, "reason": reason})

        kept: list[tuple[str, str, Value]] = []  # changes left alone: what still refers to what
        for logged in reversed(self.changes):
            target, attribute = str(logged["target"]), str(logged["attribute"])
            now = before.value(target, attribute)
            left, was = logged.get("after"), logged.get("before")
            if _same(now, was):
                continue  # already as before the run (or the change never landed)
            if not _same(now, left):
                refuse(
                    target,
                    attribute,
                    f"Not undone: {target} {attribute} is {render_value(_value(now))} now, not "
                    f"{render_value(_value(left))} as run {wish.run_id} left it; it was changed "
                    "since, so it is left as it is.",
                )
                kept.append((target, attribute, _value(now)))
                continue
            inverse = inverse_cmdlet(logged)
            users = [
                f"{t} {a}"
                for t, a, v in kept
                if isinstance(v, tuple) and target.lower() in (x.lower() for x in v)
            ]
            if users and not isinstance(inverse, str) and inverse.name.startswith("Remove-"):
                refuse(
                    target,
                    attribute,
                    f"Not undone: {target} {attribute}: {', '.join(users)} still lists it, and "
                    "removing it would change that list too; it is left as it is.",
                )
                continue
            if isinstance(inverse, str):
                refuse(target, attribute, f"Not undone: {target} {attribute}: {inverse}.")
                continue
            changes.append(
                Change(
                    target=target,
                    attribute=attribute,
                    before=_value(now),
                    after=_value(was),
                    cmdlet=inverse,
                    why=f"undoes run {wish.run_id}",
                )
            )
        self.refusals = refusals
        return Plan(action=self.name, changes=tuple(changes), notes=tuple(notes))
