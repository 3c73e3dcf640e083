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

A playbook's plan (``playbook.run --dry-run --save-plan``) holds every step's
changes in order (each with its ``step``), what each step read (each with its
``step``: on the sandbox, step 2 reads the planning copy step 1 left), and the
playbook's name and version (the hash of its file).  ``plan.apply`` binds the
same playbook to the same parameters and pins every step (:class:`PinnedStep`).

A refused plan leaves a ``plan-refused`` event (the reason, what moved) in the
run that tried to apply it, so the log says who tried which hash and why not.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from remediations.audit.log import read_events
from remediations.errors import ExitStatus, InputError
from remediations.plan import Plan, Snapshot

__all__ = [
    "PLAN_FORMAT",
    "PinnedAction",
    "PinnedStep",
    "PlanRefused",
    "RecordingAction",
    "SavedPlan",
    "applied_by",
    "load_plan",
    "make_plan",
    "make_playbook_plan",
    "moved_since",
    "write_plan",
]

PLAN_FORMAT = "remediations-plan/1"


class PlanRefused(InputError):
    """A saved plan that must not be applied (stale, applied before, another target).

    A refusal (the run's outcome is ``refused``), but exit status 1, not 2: the
    input is well formed, the tenant or the log says no.
    """

    exit_code = ExitStatus.FAILED


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


def make_playbook_plan(
    *,
    outcome: Any,
    read: Mapping[str, Snapshot | None],
    made_by: str,
    made_at: str,
    ticket: str,
) -> dict[str, Any]:
    """A playbook run's saved plan: every step's changes in order, what each step read.

    ``outcome`` is the dry run's :class:`~remediations.playbooks.runner.PlaybookOutcome`;
    ``read`` the first snapshot each step read, by step id.
    """
    changes: list[dict[str, Any]] = []
    reads: list[dict[str, Any]] = []
    notes = list(outcome.notes)
    steps = []
    for result in outcome.steps:
        step = result.bound.id
        steps.append(_plain(result.bound.to_json()))
        plan = result.plan
        if plan is not None:
            changes.extend({"step": step, **c.to_json()} for c in plan.changes)
            notes.extend(f"step {step}: {note}" for note in plan.notes)
        snapshot = read.get(step)
        if snapshot is not None:
            reads.extend({"step": step, **item} for item in fingerprint(snapshot))
    return {
        "format": PLAN_FORMAT,
        "action": "playbook.run",
        "playbook": {"name": outcome.playbook, "version": outcome.version},
        "wish": _plain(outcome.parameters),
        "tenant": outcome.tenant,
        "transport": outcome.transport,
        "made_by": made_by,
        "made_at": made_at,
        "dry_run_id": outcome.run_id,
        "ticket": ticket,
        "planned_ahead": outcome.planned_ahead,
        "steps": steps,
        "changes": changes,
        "notes": notes,
        "read": reads,
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
    """A plan read back from its file; ``hash`` is what its content hashes to now."""

    path: Path
    doc: Mapping[str, Any]
    hash: str

    @property
    def action(self) -> str:
        return str(self.doc["action"])

    @property
    def recorded_hash(self) -> str:
        """The hash written in the file (the one a reviewer approved)."""
        return str(self.doc["hash"])

    @property
    def edited(self) -> bool:
        """Whether the content no longer hashes to the recorded hash."""
        return self.recorded_hash != self.hash

    @property
    def playbook(self) -> Mapping[str, Any] | None:
        """A playbook plan's ``{name, version}``; None for a single action's plan."""
        value = self.doc.get("playbook")
        return value if isinstance(value, Mapping) else None

    def moved(self, snapshot: Snapshot) -> list[str]:
        """What the action reads now that differs from when the plan was made."""
        return moved_since(self.doc["read"], snapshot)

    def step_read(self, step: str) -> list[Mapping[str, Any]]:
        """What one step of a playbook plan read."""
        return [i for i in self.doc["read"] if str(i.get("step")) == step]

    def step_changes(self, step: str) -> list[dict[str, Any]]:
        """One step's saved changes (without their ``step`` key), in order."""
        return [
            {k: v for k, v in c.items() if k != "step"}
            for c in self.doc["changes"]
            if str(c.get("step")) == step
        ]


def moved_since(read: list[Mapping[str, Any]], snapshot: Snapshot) -> list[str]:
    """Each object attribute (or planning fact) read then whose value differs now."""
    now = {(i["target"], i["attribute"]): i for i in fingerprint(snapshot)}
    then = {(i["target"], i["attribute"]): i for i in read}
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


def load_plan(path: Path, *, check_hash: bool = True) -> SavedPlan:
    """Read a saved plan; bad input if unreadable, refused if edited since it was saved.

    With ``check_hash=False`` an edited plan is returned (``edited`` is true), so the
    refusal can be recorded in the audit log.
    """
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
    saved = SavedPlan(path=path, doc=doc, hash=plan_hash(doc))
    if check_hash and saved.edited:
        raise PlanRefused(edited_reason(saved))
    return saved


def edited_reason(saved: SavedPlan) -> str:
    """Why an edited plan is refused."""
    return (
        f"Not applied: the plan file {saved.path} was changed after it was saved (its content "
        f"hashes to {saved.hash}, not to the recorded {saved.recorded_hash}); save a new plan."
    )


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
        self.planned(plan)
        return plan

    def planned(self, plan: Plan) -> None:
        """A plan made for this action: its own, or its share of a playbook's fleet step
        (a change an earlier entry of the step also needs is that entry's)."""


def _changes_json(plan: Plan) -> list[Any]:
    return list(json.loads(json.dumps([change.to_json() for change in plan.changes])))


class PinnedAction(RecordingAction):
    """An action pinned to a saved plan: refuses when the tenant moved or the plan differs.

    ``log`` (the run's audit log, bound to its run id) records each refusal as a
    ``plan-refused`` event before the run ends.
    """

    def __init__(self, inner: Any, saved: SavedPlan, log: Any = None) -> None:
        super().__init__(inner)
        self.saved = saved
        self.log = log
        self._planned = False
        self.read_then: list[Mapping[str, Any]] = list(saved.doc["read"])
        self.changes_then: list[Any] = list(saved.doc["changes"])
        self.where = ""
        self.refused = False

    def refuse(self, reason: str, **fields: Any) -> PlanRefused:
        """The refusal, recorded in the run's log."""
        self.refused = True
        if self.log is not None:
            self.log.event("plan-refused", reason=reason, **fields)
        return PlanRefused(reason)

    def read(self, transport: Any, wish: Any) -> Snapshot:
        first = self.snapshot is None
        snapshot = super().read(transport, wish)
        if first:
            moved = moved_since(self.read_then, snapshot)
            if moved:
                raise self.refuse(
                    f"Not applied: the tenant changed since plan {self.saved.hash[:12]} was "
                    f"made{self.where}: {'; '.join(moved)}. Save a new plan with --dry-run "
                    "--save-plan.",
                    moved=moved,
                )
        return snapshot

    def planned(self, plan: Plan) -> None:
        if not self._planned:
            self._planned = True
            if _changes_json(plan) != self.changes_then:
                raise self.refuse(
                    f"Not applied: planning now gives other changes than plan "
                    f"{self.saved.hash[:12]} holds{self.where}; save a new plan with --dry-run "
                    "--save-plan."
                )


class PinnedStep(PinnedAction):
    """One step of a playbook plan, pinned to what that step read and planned.

    Its first read and plan (while the playbook is planned) must match the step's
    saved read and changes.  Without a planning copy (a real tenant) each step is
    planned again on the live tenant just before it is applied, after the steps
    before it: that plan may hold fewer changes than the saved one (an earlier step
    already made them) but never one the saved plan does not hold.
    """

    def __init__(
        self, inner: Any, saved: SavedPlan, step: str, *, planned_ahead: bool, log: Any = None
    ) -> None:
        super().__init__(inner, saved, log)
        self.step = step
        self.planned_ahead = planned_ahead
        self.read_then = saved.step_read(step)
        self.changes_then = saved.step_changes(step)
        self.where = f" (step {step})"
        self._plans = 0

    def planned(self, plan: Plan) -> None:
        super().planned(plan)
        self._plans += 1
        if not self.planned_ahead and self._plans == 2:  # the plan made just before applying
            extra = [c for c in _changes_json(plan) if c not in self.changes_then]
            if extra:
                shown = "; ".join(f"{c['target']} {c['attribute']}" for c in extra)
                raise self.refuse(
                    f"Not applied: step {self.step} would now change {shown}, which plan "
                    f"{self.saved.hash[:12]} does not hold; save a new plan with --dry-run "
                    "--save-plan."
                )
