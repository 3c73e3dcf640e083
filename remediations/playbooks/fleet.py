"""A ``for_each`` step over many entries as one fleet step.

From :data:`FLEET_AT` entries on, the entries of a ``for_each`` step are the targets
of one run of their action, as ``--targets-file`` makes them for a task
(:mod:`remediations.fleet`): every entry is read in one pass through
:class:`~remediations.fleet.BatchedReads` (a few listings answer every per-entry
read), planned, and the plans merged into one (a mail contact several entries need
is created once; two additions to one list are one change; objects created come
first).  The engine applies the merged plan with the run's writers and verifies it
by reading every entry again in one batched pass.

Each entry keeps its step id (``2.1``, ``2.2``...): its share of the merged plan is
the changes it was the first to need, so the preview, the audit events (each change
event names its entry's step and its own target), ``--resume``, saved plans and
rollback see the entries as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from remediations.engine import STOPPERS
from remediations.errors import InputError, Refused, RemediationError, TransportError
from remediations.exchange.cmdlet import Transport
from remediations.fleet import BATCH_AT, BatchedReads, combine_changes
from remediations.plan import Change, Plan, Snapshot, render_value
from remediations.playbooks.binding import BoundStep
from remediations.progress import Progress

__all__ = ["FLEET_AT", "EntryFailed", "FleetPlan", "FleetStep", "runs_as_fleet"]

#: from this many entries on, a ``for_each`` step runs as one fleet step
FLEET_AT = BATCH_AT


def runs_as_fleet(entries: Sequence[BoundStep], fleet_at: int | None) -> bool:
    """Whether these entries (every entry of one ``for_each`` step) run as one fleet step.

    Every action ``--targets-file`` takes runs as a fleet; an action may opt out with a
    class attribute ``fleet = False``.
    """
    if fleet_at is None or len(entries) < max(fleet_at, 1):
        return False
    return all(getattr(e.action, "fleet", True) is not False for e in entries)


class EntryFailed(Exception):
    """Reading or planning one entry failed: ``index`` (in the step's entries) and why."""

    def __init__(self, index: int, error: RemediationError) -> None:
        super().__init__(str(error))
        self.index = index
        self.error = error


@dataclass(frozen=True, slots=True)
class FleetPlan:
    """The step's merged plan (what is applied) and each entry's share of it.

    ``owner[i]`` is the index of the entry whose share holds ``plan.changes[i]``;
    ``shares[e]`` holds entry ``e``'s changes in the merged plan's order.
    """

    plan: Plan
    owner: tuple[int, ...]
    shares: tuple[Plan, ...]

    def share_index(self) -> dict[int, tuple[int, int]]:
        """Merged index -> (entry, index within the entry's share)."""
        out: dict[int, tuple[int, int]] = {}
        counts = [0] * len(self.shares)
        for index, entry in enumerate(self.owner):
            out[index] = (entry, counts[entry])
            counts[entry] += 1
        return out


class FleetStep:
    """The entries of one ``for_each`` step as one action over many targets.

    ``read`` and ``plan`` have the shape of an action's, so the engine's apply and
    verification take it as they take a :class:`~remediations.fleet.FleetAction`
    (the wish is not used: the entries carry their own).  Each entry is read and
    planned by its own action (a recording or pinned one for saved plans), which is
    told its share of the merged plan.
    """

    summary: ClassVar[str] = "every entry of a for_each step"

    def __init__(
        self,
        entries: Sequence[BoundStep],
        *,
        batch_at: int = BATCH_AT,
        progress: Progress | None = None,
    ) -> None:
        self.entries = tuple(entries)
        self.name = self.entries[0].step.action
        self.wish_type = self.entries[0].action.wish_type
        self.batch_at = batch_at
        #: where each read pass shows how far it got (a bar on a terminal), or None
        self.progress = progress

    # --- the action's shape, for the engine ------------------------------------------

    def read(self, transport: Transport, wish: Any = None) -> Snapshot:
        """Read every entry in one pass (batched from ``batch_at`` entries on)."""
        try:
            parts = self._read_all(transport)
        except EntryFailed as exc:
            raise exc.error from None
        values: dict[tuple[str, str], Any] = {}
        for part in parts:
            values.update(part.values)
        return Snapshot(values=values, facts={"parts": tuple(parts)})

    def plan(self, before: Snapshot, wish: Any = None) -> Plan:
        """The merged plan of every entry, from what :meth:`read` gave."""
        try:
            return self.merge(before.facts["parts"]).plan
        except EntryFailed as exc:
            raise exc.error from None

    # --- for the runner -------------------------------------------------------------

    def prepare(self, transport: Transport) -> FleetPlan:
        """Read every entry and plan the step as a whole.

        Raises:
            EntryFailed: an entry cannot be read or planned (its index and the error).
        """
        return self.merge(self._read_all(transport))

    def refusals(self, transport: Transport) -> None:
        """Judge every entry's refusals against ``transport`` (the live tenant).

        Only a refusal (or a failed read) counts: on the live tenant an entry may well
        name an object an earlier step creates.

        Raises:
            EntryFailed: an entry is refused, or the tenant could not be read.
        """
        reader = self._reader(transport)
        try:
            for index, entry in enumerate(self.entries):
                try:
                    _bare(entry.action).plan(entry.action.read(reader, entry.wish), entry.wish)
                except STOPPERS:
                    raise
                except (Refused, TransportError) as exc:
                    raise EntryFailed(index, exc) from exc
                except InputError:
                    continue
        finally:
            _close(reader, transport)

    def merge(self, parts: Sequence[Snapshot]) -> FleetPlan:
        """Plan each entry and merge the plans: each change once, in its first entry's share.

        Raises:
            EntryFailed: an entry cannot be planned, or two entries change one attribute
                in ways that cannot be one change.
        """
        changes: list[Change] = []
        owner: list[int] = []
        at: dict[tuple[str, str], int] = {}
        notes: list[list[str]] = [[] for _ in self.entries]
        seen_notes: set[str] = set()
        for index, (entry, part) in enumerate(zip(self.entries, parts, strict=True)):
            try:
                own = _bare(entry.action).plan(part, entry.wish)
            except STOPPERS:
                raise
            except RemediationError as exc:
                raise EntryFailed(index, exc) from exc
            for change in own.changes:
                key = (change.target.lower(), change.attribute)
                if key not in at:
                    at[key] = len(changes)
                    changes.append(change)
                    owner.append(index)
                    continue
                earlier = changes[at[key]]
                if earlier == change:
                    continue  # the same change an earlier entry needs: made once, by it
                combined = combine_changes(earlier, change)
                if combined is None:
                    first = self.entries[owner[at[key]]]
                    raise EntryFailed(
                        index,
                        InputError(
                            f"it and step {first.id} both change {change.target} "
                            f"{change.attribute} (to {render_value(earlier.after)} and to "
                            f"{render_value(change.after)}); keep one of those entries"
                        ),
                    )
                changes[at[key]] = combined
            for note in own.notes:
                if note not in seen_notes:
                    seen_notes.add(note)
                    notes[index].append(note)
        # Objects an entry needs created come first, so a list merged from two entries
        # never names one not made yet (the order within each object is kept).
        order = sorted(range(len(changes)), key=lambda i: not _creates(changes[i]))
        merged = tuple(changes[i] for i in order)
        owners = tuple(owner[i] for i in order)
        shares = tuple(
            Plan(
                action=entry.step.action,
                changes=tuple(c for c, o in zip(merged, owners, strict=True) if o == index),
                notes=tuple(notes[index]),
            )
            for index, entry in enumerate(self.entries)
        )
        for index, (entry, share) in enumerate(zip(self.entries, shares, strict=True)):
            told = getattr(entry.action, "planned", None)
            if told is not None:
                try:
                    told(share)
                except STOPPERS:
                    raise
                except RemediationError as exc:
                    raise EntryFailed(index, exc) from exc
        plan = Plan(
            action=self.name,
            changes=merged,
            notes=tuple(n for entry_notes in notes for n in entry_notes),
        )
        return FleetPlan(plan=plan, owner=owners, shares=shares)

    # --- reading ----------------------------------------------------------------------

    def _reader(self, transport: Transport) -> Transport:
        return BatchedReads(transport) if len(self.entries) >= self.batch_at else transport

    def _read_all(self, transport: Transport) -> list[Snapshot]:
        reader = self._reader(transport)
        parts: list[Snapshot] = []
        if self.progress is not None:
            self.progress.start("Reading", len(self.entries))
        try:
            for index, entry in enumerate(self.entries):
                try:
                    parts.append(entry.action.read(reader, entry.wish))
                except STOPPERS:
                    raise
                except RemediationError as exc:
                    raise EntryFailed(index, exc) from exc
                if self.progress is not None:
                    self.progress.advance()
        finally:
            _close(reader, transport)
            if self.progress is not None:
                self.progress.stop()
        return parts


def _bare(action: Any) -> Any:
    """The action itself, without a recording or pinned wrapper (told its share later)."""
    if getattr(action, "planned", None) is not None and getattr(action, "inner", None) is not None:
        return action.inner
    return action


def _creates(change: Change) -> bool:
    return change.cmdlet.name.startswith("New-")


def _close(reader: Transport, transport: Transport) -> None:
    if reader is not transport and isinstance(reader, BatchedReads):
        reader.close()
