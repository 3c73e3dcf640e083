"""Saved plans: approve a plan by its hash, apply exactly it, refuse it when stale.

A dry run with ``--save-plan PATH`` writes one JSON document: the action and
its wish, the tenant and transport it was made for, the changes (with their
PowerShell), and a fingerprint (sha256, with the value) of every object
attribute and planning fact the action read.  The plan's hash is the sha256 of
that document's canonical JSON; a reviewer approves the hash.

``plan.apply`` runs the action through the engine as always, pinned to the
plan (:class:`PinnedAction`): its first read must find every fingerprint
unchanged, and planning from it must give exactly the saved changes; otherwise
the run is refused (exit 1) naming what moved.  Every event of the run carries
``plan_hash``, so the audit log links the approved hash to the run that
applied it, and a plan already applied by a run is refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from remediations.audit.log import read_events
from remediations.errors import InputError, RemediationError
from remediations.plan import Plan, Snapshot

__all__ = [
    "PLAN_FORMAT",
    "PinnedAction",
    "PlanRefused",
    "RecordingAction",
    "SavedPlan",
    "applied_by",
    "load_plan",
    "make_plan",
    "write_plan",
]

PLAN_FORMAT = "remediations-plan/1"


class PlanRefused(RemediationError):
    """A saved plan that must not be applied (stale, applied before, another target)."""

    exit_code = 1


def _plain(value: Any) -> Any:
    """A read value or fact as plain JSON (dataclasses as objects, tuples as lists)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(_plain(v) for v in value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _sha(value: Any) -> str:
    return hashlib.sha256(_canonical(value).encode("utf-8")).hexdigest()


def fingerprint(snapshot: Snapshot) -> list[dict[str, Any]]:
    """Every attribute and planning fact read: its value and the value's sha256."""
    items = [
        {"target": target, "attribute": attribute, "value": _plain(value)}
        for (target, attribute), value in sorted(snapshot.values.items())
    ]
    items.extend(
        {"target": "(planning fact)", "attribute": name, "value": _plain(value)}
        for name, value in sorted(snapshot.facts.items())
    )
    return [{**item, "sha256": _sha(item["value"])} for item in items]


def make_plan(
    *,
    action: str,
    wish: Mapping[str, Any],
    snapshot: Snapshot,
    plan: Plan,
    tenant: str,
    transport: str,
    made_by: str,
    made_at: str,
    run_id: str,
    ticket: str,
) -> dict[str, Any]:
    """The saved plan's document (without its hash)."""
    return {
        "format": PLAN_FORMAT,
        "action": action,
        "wish": _plain(wish),
        "tenant": tenant,
        "transport": transport,
        "made_by": made_by,
        "made_at": made_at,
        "dry_run_id": run_id,
        "ticket": ticket,
        "changes": [change.to_json() for change in plan.changes],
        "notes": list(plan.notes),
        "read": fingerprint(snapshot),
    }


def plan_hash(doc: Mapping[str, Any]) -> str:
    """The hash a reviewer approves: sha256 of the document without its ``hash``."""
    return _sha({k: v for k, v in doc.items() if k != "hash"})


def write_plan(path: Path, doc: Mapping[str, Any]) -> str:
    """Write the plan (with its hash) to ``path``; return the hash."""
    digest = plan_hash(doc)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({**doc, "hash": digest}, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise InputError(
            f"--save-plan {path} cannot be written ({exc.strerror or exc}); give a path in a "
            "writable folder."
        ) from None
    return digest


@dataclasses.dataclass(frozen=True, slots=True)
class SavedPlan:
    """A plan read back from its file, its hash checked."""

    path: Path
    doc: Mapping[str, Any]
    hash: str

    @property
    def action(self) -> str:
        return str(self.doc["action"])

    def moved(self, snapshot: Snapshot) -> list[str]:
        """What the action reads now that differs from when the plan was made."""
        now = {(i["target"], i["attribute"]): i for i in fingerprint(snapshot)}
        then = {(i["target"], i["attribute"]): i for i in self.doc["read"]}
        moved = []
        for key in sorted(then.keys() | now.keys()):
            old, new = then.get(key), now.get(key)
            if old is not None and new is not None and old["sha256"] == new["sha256"]:
                continue
            was = _shown(old["value"]) if old else "(not read)"
            is_ = _shown(new["value"]) if new else "(not read)"
            moved.append(f"{key[0]} {key[1]}: was {was} when planned, is {is_} now")
        return moved


def _shown(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) if value else "(empty)"
    return json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value


def load_plan(path: Path) -> SavedPlan:
    """Read a saved plan; bad input if unreadable, refused if edited since it was saved."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(
            f"The plan file {path} cannot be read ({exc.strerror or exc}); give the path "
            "--save-plan wrote."
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InputError(
            f"The plan file {path} is not a saved plan (not JSON); give the path --save-plan wrote."
        ) from None
    needed = ("format", "action", "wish", "tenant", "transport", "changes", "read", "hash")
    if (
        not isinstance(doc, dict)
        or doc.get("format") != PLAN_FORMAT
        or any(k not in doc for k in needed)
    ):
        raise InputError(
            f"The plan file {path} is not a saved plan ({PLAN_FORMAT}); give the path "
            "--save-plan wrote."
        )
    digest = plan_hash(doc)
    if doc["hash"] != digest:
        raise PlanRefused(
            f"Not applied: the plan file {path} was changed after it was saved (its content "
            f"hashes to {digest}, not to the recorded {doc['hash']}); save a new plan."
        )
    return SavedPlan(path=path, doc=doc, hash=digest)


def applied_by(audit_path: Path, digest: str) -> str | None:
    """The run that applied changes under this plan hash, if any (one pass over the log)."""
    for event in read_events(audit_path):
        if event.get("plan_hash") == digest and event.get("event") == "change-applied":
            return str(event.get("run_id"))
    return None


class RecordingAction:
    """An action that keeps the first snapshot it reads (for ``--save-plan``)."""

    summary: ClassVar[str] = ""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.wish_type = inner.wish_type
        self.snapshot: Snapshot | None = None

    def read(self, transport: Any, wish: Any) -> Snapshot:
        snapshot: Snapshot = self.inner.read(transport, wish)
        if self.snapshot is None:
            self.snapshot = snapshot
        return snapshot

    def plan(self, before: Snapshot, wish: Any) -> Plan:
        plan: Plan = self.inner.plan(before, wish)
        return plan


class PinnedAction(RecordingAction):
    """An action pinned to a saved plan: refuses when the tenant moved or the plan differs."""

    def __init__(self, inner: Any, saved: SavedPlan) -> None:
        super().__init__(inner)
        self.saved = saved
        self._planned = False

    def read(self, transport: Any, wish: Any) -> Snapshot:
        first = self.snapshot is None
        snapshot = super().read(transport, wish)
        if first:
            moved = self.saved.moved(snapshot)
            if moved:
                raise PlanRefused(
                    f"Not applied: the tenant changed since plan {self.saved.hash[:12]} was "
                    f"made: {'; '.join(moved)}. Save a new plan with --dry-run --save-plan."
                )
        return snapshot

    def plan(self, before: Snapshot, wish: Any) -> Plan:
        plan = super().plan(before, wish)
        if not self._planned:
            self._planned = True
            now = json.loads(json.dumps([change.to_json() for change in plan.changes]))
            if now != list(self.saved.doc["changes"]):
                raise PlanRefused(
                    f"Not applied: planning now gives other changes than plan "
                    f"{self.saved.hash[:12]} holds; save a new plan with --dry-run --save-plan."
                )
        return plan
