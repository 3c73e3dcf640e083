"""Running a playbook: plan every step, preview the whole, then apply step by step.

Planning happens on ``planning_copy()`` (``Target.planning_copy``: a fork of
the sandbox, or for a real tenant a :class:`~remediations.sandbox.planning.PlanningCopy`
that reads the tenant once and keeps planned writes in memory): step 1 is
planned on the copy and its cmdlets are sent to the copy, so step 2 is planned
against the state step 1 would leave, and so on; the copy is never saved.  A
caller that passes no copy gets every step planned against the live state, and
the preview says so.

Applying plans each step again against the live tenant (``prepare``), applies
it and verifies it (``apply_and_verify``) before the next one starts.  A
failure stops the run; the outcome says which steps were verified, which one
failed and which were not started, and ``--resume RUN_ID`` continues it with
the parameters its audit log holds.

A ``for_each`` step of at least ``FLEET_AT`` entries is planned, applied and
verified as one fleet step (:mod:`remediations.playbooks.fleet`): one batched read
pass per phase, one merged plan, the run's writers; each entry keeps its step id,
its share of the plan, its events and its status.

Every step's refusals are also judged against the live tenant while planning,
so a guard cannot be slipped past because an earlier step of the same run made
the target look eligible.

SIGINT/SIGTERM stop the run after the cmdlet in flight: the step ends
``interrupted``, ``playbook-end`` says what was and was not applied, exit
130/143; a plain rerun or ``--resume`` finishes it.  An audit log that cannot be
written stops the run before the next change (exit 1).

Audit events of a run (all with run_id, playbook, playbook_version and dry_run):
``playbook-start`` (with the parameters, recorded once), per step ``step-planned``
(+ the engine's ``change-planned``/``note``), then per step ``change-applying``,
``change-applied``, ``change-verified`` and ``step-end``, and ``playbook-end``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from remediations.audit import AuditLog, AuditUnwritable, read_events
from remediations.engine import (
    STOPPERS,
    Outcome,
    VerifyWait,
    Writers,
    apply_and_verify,
    log_plan,
    new_run_id,
    prepare,
    unrecorded_message,
)
from remediations.errors import (
    ApplyFailed,
    InputError,
    Refused,
    RemediationError,
    TransportError,
    VerifyMismatch,
)
from remediations.exchange.cmdlet import Transport
from remediations.interrupts import Interrupted, interruptible
from remediations.plan import Change, Plan, render_value
from remediations.playbooks.binding import BoundPlaybook, BoundStep, bind_parameters
from remediations.playbooks.fleet import FLEET_AT, EntryFailed, FleetPlan, FleetStep, runs_as_fleet
from remediations.playbooks.schema import Playbook, PlaybookError
from remediations.progress import Progress

__all__ = [
    "PlaybookFailed",
    "PlaybookOutcome",
    "PriorRun",
    "StepResult",
    "StepStatus",
    "find_run",
    "resume_parameters",
    "run_playbook",
]

#: "applied": an entry of a fleet step whose changes all reached the tenant, when the step
#: stopped before verifying them
StepStatus = Literal["planned", "ok", "verified", "applied", "failed", "interrupted", "not-started"]
RunOutcome = Literal[
    "planned", "no-change", "applied", "failed", "refused", "cancelled", "interrupted"
]

NOT_PLANNED_AHEAD = (
    "This tenant cannot be copied, so every step was planned against its live state: a "
    "step's plan may change once the steps before it are applied. Each step is planned "
    "again just before it is applied."
)


class PlaybookFailed(RemediationError):
    """A playbook run stopped at a step; ``outcome`` says what was and was not done."""


@dataclass(slots=True, kw_only=True)
class StepResult:
    """What happened to one step: its plan, status and the engine's per-change record."""

    bound: BoundStep
    record: Outcome
    plan: Plan | None = None
    status: StepStatus = "planned"
    error: str | None = None
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        """The step in the ``--json`` document."""
        changes = self.plan.changes if self.plan else ()
        return {
            **self.bound.to_json(),
            "status": self.status,
            "changes": [
                {**c.to_json(), "status": self.record.status.get(i, "planned")}
                for i, c in enumerate(changes)
            ],
            "notes": list(self.plan.notes) if self.plan else [],
            "note": self.note,
            "error": self.error,
        }


@dataclass(slots=True, kw_only=True)
class PlaybookOutcome:
    """What a playbook run did; ``to_json`` is the ``--json`` document."""

    run_id: str
    playbook: str
    version: str
    path: str
    parameters: dict[str, Any]
    dry_run: bool
    tenant: str
    transport: str
    steps: list[StepResult]
    planned_ahead: bool = True
    resume_of: str | None = None
    outcome: RunOutcome = "planned"
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    exit_code: int = 0

    def ids(self, *statuses: StepStatus) -> list[str]:
        """The ids of the steps in any of these statuses, in order."""
        return [r.bound.id for r in self.steps if r.status in statuses]

    @property
    def change_count(self) -> int:
        """How many changes the plan holds, over all steps."""
        return sum(len(r.plan.changes) for r in self.steps if r.plan)

    def to_json(self) -> dict[str, Any]:
        """One JSON document for ``--json``."""
        return {
            "run_id": self.run_id,
            "playbook": self.playbook,
            "version": self.version,
            "path": self.path,
            "parameters": self.parameters,
            "dry_run": self.dry_run,
            "tenant": self.tenant,
            "transport": self.transport,
            "planned_ahead": self.planned_ahead,
            "resume_of": self.resume_of,
            "outcome": self.outcome,
            "steps": [r.to_json() for r in self.steps],
            "notes": list(self.notes),
            "error": self.error,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class PriorRun:
    """A playbook run as its audit log tells it, for ``--resume``."""

    run_id: str
    playbook: str
    version: str
    parameters: Mapping[str, Any]
    verified: frozenset[str]
    outcome: str | None
    dry_run: bool


def find_run(audit_file: Path, run_id: str) -> PriorRun:
    """Read one playbook run back from the audit log.

    Raises:
        InputError: no playbook run has that id in this log.
    """
    start: dict[str, Any] | None = None
    verified: set[str] = set()
    end: str | None = None
    for event in read_events(audit_file):
        if event.get("run_id") != run_id:
            continue
        name = event.get("event")
        if name == "playbook-start":
            start = event
        elif name == "step-end" and event.get("outcome") == "verified":
            verified.add(str(event.get("step")))
        elif name == "playbook-end":
            end = str(event.get("outcome"))
    if start is None:
        raise InputError(
            f"--resume {run_id!r}: no playbook run has that id in the audit log {audit_file}; "
            "give the run id printed at the end of the run (it is also in the log's run_id)."
        )
    return PriorRun(
        run_id=run_id,
        playbook=str(start.get("playbook")),
        version=str(start.get("playbook_version")),
        parameters=dict(start.get("parameters") or {}),
        verified=frozenset(verified),
        outcome=end,
        dry_run=bool(start.get("dry_run")),
    )


def resume_parameters(
    playbook: Playbook, prior: PriorRun, given: Mapping[str, Any]
) -> dict[str, Any]:
    """The parameters to resume ``prior`` with: its own; any given ones must agree.

    Raises:
        InputError: another playbook's run, a changed playbook, or different parameters.
    """
    if prior.playbook != playbook.name:
        raise InputError(
            f"--resume {prior.run_id!r} is a run of the playbook {prior.playbook!r}, not "
            f"{playbook.name!r}; run 'invoke playbook.run {prior.playbook} --resume "
            f"{prior.run_id}'."
        )
    if prior.version != playbook.version:
        raise InputError(
            f"--resume {prior.run_id!r}: the playbook {playbook.name} has changed since that "
            f"run (version {prior.version}, now {playbook.version}); run it afresh without "
            "--resume (every step is idempotent, so a new run finishes the work)."
        )
    recorded = dict(prior.parameters)
    if given:
        theirs = bind_parameters(playbook, recorded)
        mine = bind_parameters(playbook, {**recorded, **given})
        differ = sorted(k for k in mine if mine[k] != theirs.get(k))
        if differ:
            key = differ[0]
            raise InputError(
                f"--resume {prior.run_id!r} ran with {key}={_show(theirs.get(key))}, not "
                f"{_show(mine[key])}; leave out --param to resume with the recorded values, "
                "or start a new run without --resume."
            )
    return recorded


def _show(value: Any) -> str:
    if isinstance(value, tuple | list):
        return ",".join(str(v) for v in value)
    return render_value(value) if isinstance(value, bool) else str(value)


def run_playbook(
    bound: BoundPlaybook,
    *,
    transport: Transport,
    audit: AuditLog,
    dry_run: bool,
    run_id: str | None = None,
    resume: PriorRun | None = None,
    preview: Callable[[PlaybookOutcome], None] = lambda outcome: None,
    confirm: Callable[[PlaybookOutcome], bool] = lambda outcome: True,
    planning_copy: Callable[[], Transport] | None = None,
    verify_wait: VerifyWait | None = None,
    writers: Writers | None = None,
    fleet_at: int | None = FLEET_AT,
) -> PlaybookOutcome:
    """Plan every step, preview the whole plan, then apply and verify step by step.

    ``planning_copy`` gives an in-memory copy of the target to plan ahead on (None: plan
    each step against the live state); ``verify_wait`` how long each step's verification
    waits for replication; ``writers`` how a fleet step's writes go out (the run's
    ``fleet.concurrency`` and retry budget; default one at a time).  A ``for_each`` step
    of at least ``fleet_at`` entries runs as one fleet step
    (:mod:`remediations.playbooks.fleet`); None runs every entry on its own.

    Returns:
        The outcome: ``planned`` (dry run), ``no-change``, ``applied`` or ``cancelled``.

    Raises:
        PlaybookError: a step cannot be planned (bad input or refused); nothing changed.
        PlaybookFailed: planning could not read the tenant, or a step failed while
            applying; ``exc.outcome`` says which steps were verified, failed, not started.
    """
    playbook = bound.playbook
    run_id = run_id or new_run_id()
    outcome = PlaybookOutcome(
        run_id=run_id,
        playbook=playbook.name,
        version=playbook.version,
        path=playbook.source,
        parameters=bound.parameters_json(),
        dry_run=dry_run,
        tenant=transport.tenant,
        transport=transport.name,
        resume_of=resume.run_id if resume else None,
        steps=[
            StepResult(
                bound=step,
                record=Outcome(
                    run_id=run_id,
                    action=step.step.action,
                    dry_run=dry_run,
                    tenant=transport.tenant,
                    transport=transport.name,
                ),
            )
            for step in bound.steps
        ],
    )
    # The parameters are recorded once, at the start: an event of a step carries its own
    # inputs only, so an event's size does not grow with the number of targets.
    log = audit.bind(
        run_id=run_id,
        playbook=playbook.name,
        playbook_version=playbook.version,
        dry_run=dry_run,
    )
    units = _units(outcome.steps, fleet_at, writers.progress if writers else None)
    with interruptible():
        try:
            _run(
                outcome,
                units,
                bound,
                transport,
                log,
                resume,
                preview,
                confirm,
                planning_copy,
                verify_wait,
                writers,
            )
        except Interrupted as exc:
            raise _interrupted(outcome, log, exc) from None
        except AuditUnwritable as exc:
            raise _unrecorded(outcome, exc) from None
    return outcome


@dataclass(slots=True)
class _Unit:
    """What is planned and applied as one: one step, or every entry of a fleet step."""

    start: int
    count: int = 1
    fleet: FleetStep | None = None
    planned: FleetPlan | None = None


def _units(
    steps: list[StepResult], fleet_at: int | None, progress: Progress | None = None
) -> list[_Unit]:
    """The run's steps in order, the entries of each large ``for_each`` step as one unit."""
    units: list[_Unit] = []
    index = 0
    while index < len(steps):
        step = steps[index].bound.step
        end = index + 1
        if step.for_each is not None:
            while end < len(steps) and steps[end].bound.step is step:
                end += 1
        entries = [r.bound for r in steps[index:end]]
        if step.for_each is not None and runs_as_fleet(entries, fleet_at):
            fleet = FleetStep(entries, progress=progress)
            units.append(_Unit(start=index, count=end - index, fleet=fleet))
        else:
            units.extend(_Unit(start=i) for i in range(index, end))
        index = end
    return units


def _run(
    outcome: PlaybookOutcome,
    units: list[_Unit],
    bound: BoundPlaybook,
    transport: Transport,
    log: AuditLog,
    resume: PriorRun | None,
    preview: Callable[[PlaybookOutcome], None],
    confirm: Callable[[PlaybookOutcome], bool],
    planning_copy: Callable[[], Transport] | None = None,
    verify_wait: VerifyWait | None = None,
    writers: Writers | None = None,
) -> None:
    log.event(
        "playbook-start",
        parameters=outcome.parameters,
        path=bound.playbook.source,
        steps=[r.bound.id for r in outcome.steps],
        resume_of=outcome.resume_of,
    )
    _plan_all(outcome, units, transport, log, planning_copy)
    if resume is not None:
        _credit_prior(outcome, resume)
    preview(outcome)
    if outcome.dry_run or outcome.change_count == 0:
        outcome.outcome = "planned" if outcome.change_count else "no-change"
        log.event("playbook-end", outcome=outcome.outcome, **_summary(outcome))
        return
    if not confirm(outcome):
        outcome.outcome = "cancelled"
        log.event("playbook-end", outcome="cancelled", **_summary(outcome))
        return
    for unit in units:
        if unit.fleet is None:
            _apply_step(outcome, unit.start, outcome.steps[unit.start], transport, log, verify_wait)
        else:
            _apply_fleet(outcome, unit, transport, log, verify_wait, writers)
    if resume is not None:
        _credit_prior(outcome, resume)
    outcome.outcome = "applied" if outcome.ids("verified") else "no-change"
    log.event("playbook-end", outcome=outcome.outcome, **_summary(outcome))


def _changed(outcome: PlaybookOutcome) -> tuple[tuple[Change, ...], tuple[Change, ...]]:
    """Every change that reached the tenant in this run, and every one that did not."""
    applied: list[Change] = []
    left: list[Change] = []
    for result in outcome.steps:
        if result.plan is None:
            continue
        record = result.record
        for index, change in enumerate(result.plan.changes):
            if record.status.get(index) in ("applied", "verified"):
                applied.append(change)
            elif result.status != "ok":
                left.append(change)
    return tuple(applied), tuple(left)


def _current_step(outcome: PlaybookOutcome) -> StepResult | None:
    """The step being applied when the run stopped (the first not yet done)."""
    for result in outcome.steps:
        if result.status == "planned":
            return result
    return None


def _interrupted(outcome: PlaybookOutcome, log: AuditLog, exc: Interrupted) -> Interrupted:
    """End a playbook run stopped by a signal: what changed, what did not, how to finish."""
    applied, left = _changed(outcome)
    current = _current_step(outcome)
    if current is not None:
        current.status = "interrupted"
        current.error = f"interrupted by {exc.signal_name}"
        after = outcome.steps[outcome.steps.index(current) + 1 :]
        for later in after:
            if later.status == "planned":
                later.status = "not-started"
    if applied:
        message = (
            f"Playbook {outcome.playbook} interrupted ({exc.signal_name})"
            + (f" at {current.bound.label}" if current is not None else "")
            + f". Changed: {_describe_many(applied)}. Not changed: {_describe_many(left)}. "
            "Run the same command again to finish (or: invoke playbook.run "
            f"{_resume_hint(outcome)})."
        )
    else:
        message = (
            f"Playbook {outcome.playbook} interrupted ({exc.signal_name}) before anything "
            "was applied: nothing changed."
        )
    outcome.outcome = "interrupted"
    outcome.error = message
    outcome.exit_code = exc.exit_code
    try:
        if current is not None:
            _step_log(log, current, "apply").event(
                "step-end", outcome="interrupted", error=current.error
            )
        log.event(
            "playbook-end",
            outcome="interrupted",
            error=message,
            signal=exc.signal_name,
            applied=[c.to_json() for c in applied],
            not_applied=[c.to_json() for c in left],
            **_summary(outcome),
        )
    except AuditUnwritable as unwritable:
        message += f" The audit log could not record the interruption ({unwritable.reason})."
        outcome.error = message
    err = Interrupted(exc.signum, message)
    err.outcome = outcome
    return err


def _unrecorded(outcome: PlaybookOutcome, exc: AuditUnwritable) -> PlaybookFailed:
    """End a playbook run whose audit log cannot be written (exit 1)."""
    applied, left = _changed(outcome)
    message = f"Playbook {outcome.playbook}: " + unrecorded_message(exc, applied, left)
    current = _current_step(outcome)
    if current is not None:
        current.status = "failed"
        current.error = str(exc)
        for later in outcome.steps[outcome.steps.index(current) + 1 :]:
            if later.status == "planned":
                later.status = "not-started"
    outcome.outcome = "failed"
    outcome.error = message
    outcome.exit_code = 1
    err = PlaybookFailed(message)
    err.outcome = outcome
    return err


def _step_log(log: AuditLog, result: StepResult, phase: str) -> AuditLog:
    step = result.bound
    return log.bind(step=step.id, step_name=step.step.name, action=step.step.action, phase=phase)


def _plan_all(
    outcome: PlaybookOutcome,
    units: list[_Unit],
    transport: Transport,
    log: AuditLog,
    planning_copy: Callable[[], Transport] | None = None,
) -> None:
    """Plan every step before any is applied, on a copy of the tenant when there is one."""
    outcome.planned_ahead = planning_copy is not None
    planner: Transport = planning_copy() if planning_copy is not None else transport
    if not outcome.planned_ahead:
        outcome.notes.append(NOT_PLANNED_AHEAD)
    try:
        # Until a planned change is made on the copy, the copy shows the live state: a
        # fleet step planned on it needs no second pass over the live tenant for refusals.
        copied = False
        for unit in units:
            if unit.fleet is not None:
                judge = planner is not transport and copied
                _plan_fleet(outcome, unit, planner, transport if judge else planner, log)
                copied = copied or bool(unit.planned and unit.planned.plan.changes)
                continue
            index = unit.start
            result = outcome.steps[index]
            step = result.bound
            slog = _step_log(log, result, "plan")
            try:
                plan = prepare(step.action, step.wish, planner)
                if planner is not transport:
                    _live_refusal(step, transport)
            except STOPPERS:
                raise
            except RemediationError as exc:
                raise _refuse(outcome, index, log, exc) from exc
            result.plan = plan
            result.status = "planned" if plan.changes else "ok"
            slog.event("step-planned", **step.to_json(), changes=len(plan.changes))
            log_plan(plan, result.record, slog)
            if not outcome.planned_ahead:
                continue
            copied = copied or bool(plan.changes)
            for change in plan.changes:
                try:
                    planner.send(change.cmdlet)
                except TransportError as exc:
                    raise _refuse(outcome, index, log, exc) from exc
    finally:
        if planner is not transport:
            planner.close()


def _plan_fleet(
    outcome: PlaybookOutcome,
    unit: _Unit,
    planner: Transport,
    transport: Transport,
    log: AuditLog,
) -> None:
    """Plan every entry of a fleet step at once: one batched read pass, one merged plan.

    ``transport`` is the live tenant whose refusals are judged too (``planner`` itself
    when the copy holds no planned change yet: it then shows the live state).
    """
    assert unit.fleet is not None
    try:
        planned = unit.fleet.prepare(planner)
        if planner is not transport:
            unit.fleet.refusals(transport)
    except EntryFailed as exc:
        raise _refuse(outcome, unit.start + exc.index, log, exc.error) from exc.error
    unit.planned = planned
    batch = _Batch(log)
    for result, share in zip(_results(outcome, unit), planned.shares, strict=True):
        result.plan = share
        result.status = "planned" if share.changes else "ok"
        slog = batch.step(result, "plan")
        slog.event("step-planned", **result.bound.to_json(), changes=len(share.changes))
        log_plan(share, result.record, slog)
    batch.flush()
    if not outcome.planned_ahead:
        return
    for change, owner in zip(planned.plan.changes, planned.owner, strict=True):
        try:
            planner.send(change.cmdlet)
        except TransportError as exc:
            raise _refuse(outcome, unit.start + owner, log, exc) from exc


def _results(outcome: PlaybookOutcome, unit: _Unit) -> list[StepResult]:
    return outcome.steps[unit.start : unit.start + unit.count]


class _Batch:
    """Events of many entries of a fleet step, written with one append (one fsync).

    ``step(result, phase)`` gives a log for one entry, as :func:`_step_log` does; its
    events are kept until :meth:`flush`.
    """

    def __init__(self, log: AuditLog) -> None:
        self.log = log
        self.items: list[tuple[str, dict[str, Any]]] = []

    def step(self, result: StepResult, phase: str) -> AuditLog:
        step = result.bound
        fields = {"step": step.id, "step_name": step.step.name, "action": step.step.action,
                  "phase": phase}  # fmt: skip
        return cast(AuditLog, _Buffered(self.items, fields))

    def flush(self) -> None:
        items, self.items = self.items, []
        if len(items) == 1:
            self.log.event(items[0][0], **items[0][1])
        elif items:
            self.log.events(items)


class _Buffered:
    """The two methods of an audit log the engine's ``log_plan`` uses, into a list."""

    def __init__(self, items: list[tuple[str, dict[str, Any]]], fields: dict[str, Any]) -> None:
        self.items = items
        self.fields = fields

    def event(self, event: str, **fields: Any) -> None:
        self.items.append((event, {**self.fields, **fields}))

    def events(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        for event, fields in items:
            self.event(event, **fields)


class _EntryLog:
    """A fleet step's log for the engine: each change event carries its own entry's step.

    The engine logs a change with its target and attribute; the entry whose share
    holds that change is found by them (one change per attribute of an object in a
    merged plan).  An event of the whole step (``verify-wait``, a failure's
    ``step-end``) carries the step's number.
    """

    def __init__(self, log: AuditLog, owners: Mapping[tuple[str, str], str], step: str) -> None:
        self.log = log
        self.owners = owners
        self.whole = step

    def _fields(self, fields: dict[str, Any]) -> dict[str, Any]:
        key = (str(fields.get("target") or "").lower(), str(fields.get("attribute") or ""))
        return {"step": self.owners.get(key, self.whole), **fields}

    def event(self, event: str, **fields: Any) -> Any:
        return self.log.event(event, **self._fields(fields))

    def events(self, items: list[tuple[str, dict[str, Any]]]) -> Any:
        return self.log.events([(event, self._fields(fields)) for event, fields in items])


def _live_refusal(step: BoundStep, transport: Transport) -> None:
    """Judge the step's refusals against the live tenant too.

    The copy shows the state earlier steps would leave; a guard must not be
    passed because one of them made the target look eligible (a leaver's
    license removed by step 1 must not let step 2 treat an active account as
    gone).  Only a refusal counts here: on the live tenant a step may well
    name an object an earlier step creates.
    """
    try:
        prepare(step.action, step.wish, transport)
    except Refused:
        raise
    except TransportError:
        raise
    except InputError:
        return


def _refuse(
    outcome: PlaybookOutcome, index: int, log: AuditLog, exc: RemediationError
) -> RemediationError:
    """A step could not be planned: nothing was applied; say which step and why."""
    result = outcome.steps[index]
    result.status = "failed"
    result.error = str(exc)
    for later in outcome.steps[index + 1 :]:
        later.status = "not-started"
    message = f"{outcome.playbook}: {result.bound.label} cannot be planned: {exc}"
    message = message.rstrip(".") + ". Nothing was changed."
    outcome.error = message
    outcome.exit_code = exc.exit_code
    if isinstance(exc, InputError):
        outcome.outcome = "refused"
        err: RemediationError = PlaybookError([message])
    else:
        outcome.outcome = "failed"
        err = PlaybookFailed(message)
    log.event("playbook-end", outcome=outcome.outcome, error=message, **_summary(outcome))
    err.outcome = outcome
    return err


def _credit_prior(outcome: PlaybookOutcome, prior: PriorRun) -> None:
    for result in outcome.steps:
        if result.status == "ok" and result.bound.id in prior.verified:
            result.note = f"applied by run {prior.run_id}"


def _apply_step(
    outcome: PlaybookOutcome,
    index: int,
    result: StepResult,
    transport: Transport,
    log: AuditLog,
    verify_wait: VerifyWait | None = None,
) -> None:
    """Plan one step again on the live tenant, apply it and verify it."""
    step = result.bound
    slog = _step_log(log, result, "apply")
    record = result.record
    try:
        live = prepare(step.action, step.wish, transport)
    except STOPPERS:
        raise
    except RemediationError as exc:
        raise _stop(outcome, index, slog, log, str(exc)) from exc
    previewed = result.plan.changes if result.plan else ()
    if live.changes != previewed:
        if outcome.planned_ahead:
            raise _stop(
                outcome,
                index,
                slog,
                log,
                "the tenant changed since the preview: this step would now "
                f"{_describe_all(live.changes) or 'change nothing'} instead of "
                f"{_describe_all(previewed) or 'nothing'}; none of it was applied",
            )
        record.status.clear()
        log_plan(live, record, slog)
        result.plan = live
    else:
        record.plan = live
        record.status = dict.fromkeys(range(len(live.changes)), "planned")
    if live.is_noop:
        result.status = "ok"
        slog.event("step-end", outcome="ok")
        return
    try:
        apply_and_verify(
            step.action,
            step.wish,
            live,
            record,
            transport,
            slog,
            end_event="step-end",
            verify_wait=verify_wait,
        )
    except ApplyFailed as exc:
        done = _describe_all(record.applied) or "nothing"
        left = _describe_all(record.not_applied) or "nothing"
        detail = f"{exc.cause or exc} Changed: {done}. Not changed: {left}"
        raise _stop(outcome, index, None, log, detail) from exc
    except VerifyMismatch as exc:
        raise _stop(outcome, index, None, log, str(exc).rstrip(".")) from exc
    result.status = "verified"
    slog.event("step-end", outcome="verified", changes=len(live.changes))


def _apply_fleet(
    outcome: PlaybookOutcome,
    unit: _Unit,
    transport: Transport,
    log: AuditLog,
    verify_wait: VerifyWait | None = None,
    writers: Writers | None = None,
) -> None:
    """Plan a fleet step again on the live tenant (one batched pass), apply the merged plan
    with the run's writers, and verify it (one batched pass) before the next step."""
    fleet = unit.fleet
    assert fleet is not None
    results = _results(outcome, unit)
    try:
        live = fleet.prepare(transport)
    except EntryFailed as exc:
        _not_started(results)
        index = unit.start + exc.index
        slog = _step_log(log, outcome.steps[index], "apply")
        raise _stop(outcome, index, slog, log, str(exc.error)) from exc.error
    previewed = [r.plan.changes if r.plan else () for r in results]
    moved = {i for i, share in enumerate(live.shares) if share.changes != previewed[i]}
    if moved and outcome.planned_ahead:
        first = min(moved)
        _not_started(results)
        raise _stop(
            outcome,
            unit.start + first,
            _step_log(log, results[first], "apply"),
            log,
            "the tenant changed since the preview: this step would now "
            f"{_describe_all(live.shares[first].changes) or 'change nothing'} instead of "
            f"{_describe_all(previewed[first]) or 'nothing'}; none of the step's entries "
            "was applied",
        )
    batch = _Batch(log)
    for index, (result, share) in enumerate(zip(results, live.shares, strict=True)):
        if index in moved:
            result.record.status.clear()
            log_plan(share, result.record, batch.step(result, "apply"))
            result.plan = share
        else:
            result.record.plan = share
            result.record.status = dict.fromkeys(range(len(share.changes)), "planned")
        if share.is_noop:
            result.status = "ok"
            batch.step(result, "apply").event("step-end", outcome="ok")
    batch.flush()
    if live.plan.is_noop:
        return
    record = Outcome(
        run_id=outcome.run_id,
        action=fleet.name,
        dry_run=False,
        tenant=outcome.tenant,
        transport=outcome.transport,
    )
    record.plan = live.plan
    record.status = dict.fromkeys(range(len(live.plan.changes)), "planned")
    owners = {
        (c.target.lower(), c.attribute): results[o].bound.id
        for c, o in zip(live.plan.changes, live.owner, strict=True)
    }
    step = results[0].bound.step
    base = log.bind(step_name=step.name, action=step.action, phase="apply")
    entry_log = cast(AuditLog, _EntryLog(base, owners, str(step.number)))
    try:
        apply_and_verify(
            cast(Any, fleet),  # an action's read and plan, over every entry
            None,
            live.plan,
            record,
            transport,
            entry_log,
            end_event="step-end",
            verify_wait=verify_wait,
            writers=writers,
        )
    except ApplyFailed as exc:
        first = _settle(results, live, record, log)
        done = _describe_many(record.applied)
        left = _describe_many(record.not_applied)
        detail = f"{exc.cause or exc} Changed: {done}. Not changed: {left}"
        raise _stop(
            outcome, unit.start + first, None, log, detail, settled=unit.count - 1 - first
        ) from exc
    except STOPPERS:
        _settle(results, live, record, None)  # the run's end says what changed
        raise
    except VerifyMismatch as exc:
        first = _settle(results, live, record, log)
        raise _stop(
            outcome,
            unit.start + first,
            None,
            log,
            str(exc).rstrip("."),
            settled=unit.count - 1 - first,
        ) from exc
    finally:
        for merged, (entry, index) in live.share_index().items():
            results[entry].record.status[index] = record.status.get(merged, "planned")
    for result in results:
        if result.status == "planned":
            result.status = "verified"
            count = len(result.plan.changes) if result.plan else 0
            batch.step(result, "apply").event("step-end", outcome="verified", changes=count)
    batch.flush()


def _not_started(results: list[StepResult]) -> None:
    for result in results:
        if result.status == "planned":
            result.status = "not-started"


def _settle(
    results: list[StepResult], live: FleetPlan, record: Outcome, log: AuditLog | None
) -> int:
    """After a fleet step failed: each entry's status from its changes' (the engine's record);
    the entries verified are logged so (``log``; None: the log is not written, the run is
    stopping).  Returns the index of the entry the step stopped at (the first whose change
    failed, else the first left half done)."""
    statuses: dict[int, list[str]] = {}
    for merged, (entry, _index) in live.share_index().items():
        statuses.setdefault(entry, []).append(record.status.get(merged, "planned"))
    failed: list[int] = []
    partial: list[int] = []
    batch = _Batch(log) if log is not None else None
    for entry, result in enumerate(results):
        mine = statuses.get(entry)
        if not mine:
            continue
        if all(status == "verified" for status in mine):
            result.status = "verified"
            if batch is not None:
                slog = batch.step(result, "apply")
                slog.event("step-end", outcome="verified", changes=len(mine))
        elif all(status in ("applied", "verified") for status in mine):
            result.status = "applied"
        elif "failed" in mine:
            result.status = "failed"
            failed.append(entry)
        elif any(status in ("applied", "verified") for status in mine):
            result.status = "failed"
            partial.append(entry)
        else:
            result.status = "not-started"
    if batch is None:
        return (failed or partial or [0])[0]
    batch.flush()
    stopped = (failed or partial or [_first_unverified(results)])[0]
    results[stopped].status = "failed"
    return stopped


def _first_unverified(results: list[StepResult]) -> int:
    return next((e for e, r in enumerate(results) if r.status != "verified"), 0)


def _describe_many(changes: tuple[Change, ...]) -> str:
    """Changes for one sentence; a long list as its count and first few."""
    if len(changes) <= LONG_CHANGES:
        return _describe_all(changes) or "nothing"
    first = _describe_all(changes[:FIRST_CHANGES])
    return (
        f"{len(changes):,} changes ({first}; and {len(changes) - FIRST_CHANGES:,} more: "
        "each change is in --json and the audit log)"
    )


#: a run that stops with more changes than this applied (or not) names the first
#: FIRST_CHANGES of them, then counts the rest
LONG_CHANGES = 20
FIRST_CHANGES = 5


def _stop(
    outcome: PlaybookOutcome,
    index: int,
    slog: AuditLog | None,
    log: AuditLog,
    detail: str,
    *,
    settled: int = 0,
) -> PlaybookFailed:
    """End the run at a failed step: say what was done, what failed, what did not start.

    ``settled``: how many steps after ``index`` (entries of the same fleet step) already
    have their final status.
    """
    result = outcome.steps[index]
    result.status = "failed"
    result.error = detail
    if slog is not None:  # the engine logs step-end itself when apply or verify fails
        slog.event("step-end", outcome="failed", error=detail)
    for later in outcome.steps[index + 1 + settled :]:
        later.status = "not-started"
    parts = [
        f"Playbook {outcome.playbook} stopped at {result.bound.label} "
        f"({result.bound.step.action}): {detail.rstrip('.')}."
    ]
    verified = outcome.ids("verified")
    ok = outcome.ids("ok")
    not_started = outcome.ids("not-started")
    parts.append(f"Applied and verified: {_steps(verified)}.")
    applied = outcome.ids("applied")
    if applied:
        parts.append(f"Applied, not verified: {_steps(applied)}.")
    if ok:
        parts.append(f"Already as wished: {_steps(ok)}.")
    parts.append(f"Not started: {_steps(not_started)}.")
    parts.append(f"To finish, run: invoke playbook.run {_resume_hint(outcome)}")
    message = " ".join(parts)
    outcome.outcome = "failed"
    outcome.error = message
    outcome.exit_code = 1
    log.event("playbook-end", outcome="failed", error=message, **_summary(outcome))
    err = PlaybookFailed(message)
    err.outcome = outcome
    return err


def _resume_hint(outcome: PlaybookOutcome) -> str:
    return f"{outcome.playbook} --resume {outcome.run_id}"


def _steps(ids: list[str]) -> str:
    if not ids:
        return "none"
    shown = ids if len(ids) <= _RANGES_FROM else _ranges(ids)
    return ("step " if len(ids) == 1 else "steps ") + ", ".join(shown)


#: a longer list of step ids is written with ranges of entries (1.1-1.30)
_RANGES_FROM = 10


def _ranges(ids: list[str]) -> list[str]:
    """``1.1, 1.2, 1.3, 1.5, 2`` as ``1.1-1.3, 1.5, 2``."""
    out: list[list[str]] = []
    for step in ids:
        head, _, number = step.rpartition(".")
        if out and number.isdigit() and head:
            last = out[-1][-1]
            last_head, _, last_number = last.rpartition(".")
            if last_head == head and last_number.isdigit() and int(last_number) + 1 == int(number):
                out[-1].append(step)
                continue
        out.append([step])
    return [run[0] if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in out]


def _summary(outcome: PlaybookOutcome) -> dict[str, Any]:
    """The step ids by status for ``playbook-end``; a long list with ranges of entries
    (``1.1-1.1000``), so the event does not grow with a fleet step's entries."""

    def ids(status: StepStatus) -> list[str]:
        found = outcome.ids(status)
        return found if len(found) <= _RANGES_FROM else _ranges(found)

    applied = ids("applied")  # entries of a fleet step stopped before verifying
    return {
        **({"applied_unverified": applied} if applied else {}),
        "verified": ids("verified"),
        "ok": ids("ok"),
        "failed": ids("failed"),
        "not_started": ids("not-started"),
        "planned": ids("planned"),
    }


def _describe_all(changes: tuple[Change, ...]) -> str:
    return "; ".join(f"{c.target} {c.attribute} -> {render_value(c.after)}" for c in changes)
