"""The one lifecycle of every change: read -> plan -> preview -> apply -> verify.

The engine alone applies.  Dry-run is one early return after the same
preparation, so a preview is exactly what a real run would do.  Every step is
an audit event of the run.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Literal

from remediations.actions import Action
from remediations.audit import AuditLog, AuditUnwritable
from remediations.budget import RetryBudget
from remediations.errors import (
    ApplyFailed,
    InputError,
    RemediationError,
    TransportError,
    VerifyMismatch,
)
from remediations.exchange.cmdlet import Cmdlet, Transport
from remediations.interrupts import Interrupted, deferred, interruptible, pending
from remediations.plan import Change, Plan, render_value, where_it_runs
from remediations.progress import Progress

__all__ = [
    "Outcome",
    "OutcomeKind",
    "VerifyWait",
    "Writers",
    "apply_and_verify",
    "describe_changes",
    "interrupted",
    "log_plan",
    "new_run_id",
    "prepare",
    "run_action",
    "unrecorded",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyWait:
    """How long verification waits for replication (the ``verify.wait_seconds`` setting).

    Exchange Online answers a read from a replica that may not yet hold a write
    made a moment before; a verify read that does not show the change is read again
    after ``first_delay`` seconds, doubling up to ``max_delay``, until ``seconds``
    have passed: only then is it a mismatch.  ``seconds=0`` reads once.
    """

    seconds: float = 60.0
    first_delay: float = 0.5
    max_delay: float = 8.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True, slots=True, kw_only=True)
class Writers:
    """How a plan's writes go out (the ``fleet.concurrency`` setting).

    Changes to different objects are sent by up to ``concurrency`` workers at once;
    the changes of one object keep their order, in one worker (contact, then list,
    then authentication), and consecutive ``Set-*`` of one object that touch different
    parameters go as one call.  Objects a plan creates (``New-*``) are made before any
    other change.  ``budget`` is the run's one :class:`RetryBudget`: a throttling
    answer to any worker pauses them all, and a spent budget stops the run cleanly.
    ``concurrency=1`` sends every change in plan order, one by one, as before.
    """

    concurrency: int = 1
    budget: RetryBudget | None = None
    #: where a long apply shows how far it got (a bar on a terminal), or None
    progress: Progress | None = None


OutcomeKind = Literal[
    "no-change", "planned", "applied", "failed", "refused", "cancelled", "interrupted"
]
#: Errors that end a run wherever they happen; never a refusal or an ordinary failure.
STOPPERS = (Interrupted, AuditUnwritable)
ChangeStatus = Literal["planned", "applied", "verified", "failed", "not-applied"]


def new_run_id() -> str:
    """A fresh run id (sortable enough to read, unique enough to trust)."""
    return uuid.uuid4().hex[:12]


@dataclass(slots=True, kw_only=True)
class Outcome:
    """What a run did; ``to_json`` is the ``--json`` document."""

    run_id: str
    action: str
    dry_run: bool
    tenant: str
    transport: str
    outcome: OutcomeKind = "planned"
    plan: Plan | None = None
    status: dict[int, ChangeStatus] = field(default_factory=dict)
    error: str | None = None
    exit_code: int = 0
    #: each planned change's audit fields, worked out once per plan (the plan's changes, them)
    _fields: tuple[tuple[Change, ...], list[dict[str, Any]]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def change_fields(self, plan: Plan) -> list[dict[str, Any]]:
        """The audit fields of each of ``plan``'s changes (the same ones every event of a
        change carries: worked out once, not once per event)."""
        if self._fields is None or self._fields[0] is not plan.changes:
            self._fields = (plan.changes, [_change_fields(c) for c in plan.changes])
        return self._fields[1]

    @property
    def applied(self) -> tuple[Change, ...]:
        """The changes that reached the tenant."""
        return self._with("applied", "verified")

    @property
    def not_applied(self) -> tuple[Change, ...]:
        """The planned changes that did not reach the tenant."""
        return self._with("planned", "failed", "not-applied")

    def _with(self, *states: str) -> tuple[Change, ...]:
        if self.plan is None:
            return ()
        return tuple(c for i, c in enumerate(self.plan.changes) if self.status.get(i) in states)

    def to_json(self) -> dict[str, Any]:
        """One JSON document for ``--json``."""
        changes = self.plan.changes if self.plan else ()
        return {
            "run_id": self.run_id,
            "action": self.action,
            "dry_run": self.dry_run,
            "tenant": self.tenant,
            "transport": self.transport,
            "outcome": self.outcome,
            "changes": [
                {**c.to_json(), "status": self.status.get(i, "planned")}
                for i, c in enumerate(changes)
            ],
            "notes": list(self.plan.notes) if self.plan else [],
            "error": self.error,
        }


def run_action(
    action: Action,
    wish: Any,
    *,
    transport: Transport,
    audit: AuditLog,
    dry_run: bool,
    run_id: str | None = None,
    preview: Callable[[Plan], None] = lambda plan: None,
    confirm: Callable[[Plan], bool] = lambda plan: True,
    verify_wait: VerifyWait | None = None,
    writers: Writers | None = None,
) -> Outcome:
    """Run one action through the whole lifecycle, logging each step.

    Returns the outcome; input errors and refusals are logged and re-raised
    (exit 2), apply and verify failures are logged, recorded on the outcome
    and raised as ``ApplyFailed`` / ``VerifyMismatch`` carrying it (exit 1).
    SIGINT/SIGTERM never cut a cmdlet in half: the run stops after the one in
    flight, logs ``run-end`` with outcome ``interrupted`` and raises
    ``Interrupted`` (exit 130/143).  An audit log that cannot be written stops
    the run before the next change (``ApplyFailed``, exit 1).
    """
    outcome = Outcome(
        run_id=run_id or new_run_id(),
        action=action.name,
        dry_run=dry_run,
        tenant=transport.tenant,
        transport=transport.name,
    )
    log = audit.bind(run_id=outcome.run_id, action=action.name, dry_run=dry_run)
    with interruptible():
        try:
            _run(action, wish, outcome, transport, log, preview, confirm, verify_wait, writers)
        except Interrupted as exc:
            raise interrupted(outcome, log, exc, end_event="run-end") from None
        except AuditUnwritable as exc:
            raise unrecorded(outcome, exc) from None
    return outcome


def _run(
    action: Action,
    wish: Any,
    outcome: Outcome,
    transport: Transport,
    log: AuditLog,
    preview: Callable[[Plan], None],
    confirm: Callable[[Plan], bool],
    verify_wait: VerifyWait | None = None,
    writers: Writers | None = None,
) -> None:
    log.event("run-start", wish=wish_json(wish))
    try:
        plan = prepare(action, wish, transport)
    except STOPPERS:
        raise
    except RemediationError as exc:
        outcome.outcome = "refused" if isinstance(exc, InputError) else "failed"
        outcome.error = str(exc)
        outcome.exit_code = exc.exit_code
        log.event("run-end", outcome=outcome.outcome, error=str(exc))
        exc.outcome = outcome
        raise
    log_plan(plan, outcome, log)
    preview(plan)
    if plan.is_noop or outcome.dry_run:
        outcome.outcome = "no-change" if plan.is_noop else "planned"
        log.event("run-end", outcome=outcome.outcome)
        return
    if not confirm(plan):
        outcome.outcome = "cancelled"
        log.event("run-end", outcome="cancelled")
        return
    apply_and_verify(
        action, wish, plan, outcome, transport, log, verify_wait=verify_wait, writers=writers
    )
    log.event("run-end", outcome="applied")


def interrupted(
    outcome: Outcome, log: AuditLog, exc: Interrupted, *, end_event: str
) -> Interrupted:
    """End a run stopped by a signal: record what was and was not applied, exit 130/143."""
    message = _interrupted_message(exc.signal_name, outcome.applied, outcome.not_applied)
    outcome.outcome = "interrupted"
    outcome.error = message
    outcome.exit_code = exc.exit_code
    try:
        log.event(
            end_event,
            outcome="interrupted",
            error=message,
            signal=exc.signal_name,
            applied=[c.to_json() for c in outcome.applied],
            not_applied=[c.to_json() for c in outcome.not_applied],
        )
    except AuditUnwritable as unwritable:
        message += f" The audit log could not record the interruption ({unwritable.reason})."
        outcome.error = message
    err = Interrupted(exc.signum, message)
    err.outcome = outcome
    return err


def _interrupted_message(
    signal_name: str, applied: tuple[Change, ...], not_applied: tuple[Change, ...]
) -> str:
    if not applied and not not_applied:
        return f"Interrupted ({signal_name}) before anything was applied: nothing changed."
    return (
        f"Interrupted ({signal_name}). Changed: {describe_changes(applied)}. "
        f"Not changed: {describe_changes(not_applied)}. Run the same command again to finish."
    )


def unrecorded(outcome: Outcome, exc: AuditUnwritable) -> ApplyFailed:
    """End a run whose audit log cannot be written: say what reached the tenant (exit 1)."""
    applied = outcome.applied
    not_applied = outcome.not_applied
    message = unrecorded_message(exc, applied, not_applied)
    outcome.outcome = "failed"
    outcome.error = message
    outcome.exit_code = 1
    err = ApplyFailed(message, applied=applied, not_applied=not_applied, cause=exc)
    err.outcome = outcome
    return err


def unrecorded_message(
    exc: AuditUnwritable, applied: tuple[Change, ...], not_applied: tuple[Change, ...]
) -> str:
    """The log failed: what reached the tenant (the log may lack it) and what did not."""
    if not applied:
        return (
            f"Stopped because {exc}; nothing reached the tenant. Make the log writable, "
            "then run the same command again."
        )
    return (
        f"Stopped because {exc}, so it may not record all that reached the tenant. "
        f"Changed: {describe_changes(applied)}. Not changed: {describe_changes(not_applied)}. "
        "Make the log writable, then run the same command again to finish."
    )


def prepare(action: Action, wish: Any, transport: Transport) -> Plan:
    """Read the live state and plan: the first half of every run, dry or not."""
    return action.plan(action.read(transport, wish), wish)


def log_plan(plan: Plan, outcome: Outcome, log: AuditLog) -> None:
    """Record a plan on the outcome and as one audit event per change and note."""
    outcome.plan = plan
    items: list[tuple[str, dict[str, Any]]] = []
    for index, fields in enumerate(outcome.change_fields(plan)):
        outcome.status[index] = "planned"
        items.append(("change-planned", {"outcome": "planned", **fields}))
    items.extend(("note", {"note": note}) for note in plan.notes)
    _log_all(log, items)


#: from this many events on, a run's events of one kind are written with one fsync
LOG_BATCH_AT = 20


def _log_all(log: AuditLog, items: list[tuple[str, dict[str, Any]]]) -> None:
    """Log events in order: a long list as one durable append, a short one line by line."""
    if len(items) >= LOG_BATCH_AT:
        log.events(items)
        return
    for event, fields in items:
        log.event(event, **fields)


def apply_and_verify(
    action: Action,
    wish: Any,
    plan: Plan,
    outcome: Outcome,
    transport: Transport,
    log: AuditLog,
    *,
    end_event: str = "run-end",
    verify_wait: VerifyWait | None = None,
    writers: Writers | None = None,
) -> None:
    """Apply the plan's cmdlets in order, then read again and check every change.

    ``end_event`` names the event a failure ends with (a playbook step: "step-end");
    ``verify_wait`` how long a read that does not yet show the change is retried
    (default: :class:`VerifyWait`, 60 seconds); ``writers`` how many objects are
    written at once (default: one change at a time, in plan order).

    Raises:
        ApplyFailed: a write failed; the outcome says what was and was not changed.
        VerifyMismatch: the tenant does not hold what the plan said.
    """
    writers = writers or Writers()
    objects = {c.target.lower() for c in plan.changes if not c.cmdlet.name.startswith("New-")}
    progress = writers.progress
    if progress is not None:
        progress.start("Applying", len(plan.changes))
    try:
        if writers.concurrency > 1 and len(objects) > 1:
            _ConcurrentApply(plan, outcome, transport, log, end_event, writers).run()
        else:
            _apply(plan, outcome, transport, log, end_event, progress)
    finally:
        if progress is not None:
            progress.stop()
    _verify(action, wish, plan, outcome, transport, log, end_event, verify_wait or VerifyWait())
    outcome.outcome = "applied"


def _apply(
    plan: Plan,
    outcome: Outcome,
    transport: Transport,
    log: AuditLog,
    end_event: str,
    progress: Progress | None = None,
) -> None:
    """Announce, send and record each change; a signal waits for the cmdlet in flight."""
    every = outcome.change_fields(plan)
    for index, change in enumerate(plan.changes):
        signum = pending()
        if signum is not None:
            raise Interrupted(signum)
        with deferred():
            fields = every[index]
            log.event("change-applying", outcome="applying", **fields)
            try:
                transport.send(change.cmdlet)
            except TransportError as exc:
                outcome.status[index] = "failed"
                for later in range(index + 1, len(plan.changes)):
                    outcome.status[later] = "not-applied"
                log.event("change-failed", outcome="failed", error=str(exc), **fields)
                raise _fail(outcome, log, exc, end_event) from exc
            outcome.status[index] = "applied"
            log.event("change-applied", outcome="applied", **fields)
            if progress is not None:
                progress.advance()


class _ConcurrentApply:
    """The plan's writes by up to ``writers.concurrency`` workers, one object per worker.

    The changes are announced ahead of the workers, durably, by one announcer thread
    (:class:`_Ahead`): a window of about two sends per worker, one fsync each, so a
    worker rarely waits on the disk and every change is on disk before it is sent.
    A signal (noted, never acted on in a worker) or a failure stops workers from
    starting more; the cmdlets in flight finish; each change announced but never sent
    is closed by a ``change-not-sent`` event (outcome ``not-applied``); then the run
    ends saying what was and was not changed.  A crash leaves the announcements open,
    which rollback and resume read as "may have been applied".
    """

    def __init__(
        self,
        plan: Plan,
        outcome: Outcome,
        transport: Transport,
        log: AuditLog,
        end_event: str,
        writers: Writers,
    ) -> None:
        self.plan = plan
        self.outcome = outcome
        self.transport = transport
        self.log = log
        self.end_event = end_event
        self.writers = writers
        self.stop = threading.Event()
        self.failure: TransportError | None = None
        self.fatal: BaseException | None = None
        self._lock = threading.Lock()
        changes = plan.changes
        creates = [i for i, c in enumerate(changes) if c.cmdlet.name.startswith("New-")]
        rest = [i for i, c in enumerate(changes) if not c.cmdlet.name.startswith("New-")]
        #: per phase, per object: its sends (changes joined into one cmdlet), in plan order
        self.phases = [_lanes(changes, phase) for phase in (creates, rest) if phase]
        units = self._units()
        for position, unit in enumerate(units):
            unit.position = position
        self.fields = outcome.change_fields(plan)
        self._sent = [False] * len(units)
        self._ahead = _Ahead(
            log,
            len(units),
            lambda position: self._announcement(units[position]),
            window=2 * writers.concurrency,
            low=writers.concurrency,
        )

    def run(self) -> None:
        with deferred():
            self._ahead.start()
            try:
                for phase in self.phases:
                    if not self.stop.is_set():
                        self._phase(phase)
            finally:
                announced, queued = self._ahead.close()
            if self.fatal is None:
                closing = queued + [
                    ("change-not-sent", {"outcome": "not-applied", **self.fields[i]})
                    for unit in self._units()
                    if unit.position < announced and not self._sent[unit.position]
                    for i in unit.group
                ]
                try:
                    _log_all(self.log, closing)  # before anything else
                except BaseException as exc:  # the log could not be written
                    self.fatal = exc
            for index in range(len(self.plan.changes)):
                if self.outcome.status.get(index) == "planned":
                    self.outcome.status[index] = "not-applied"
            if self.fatal is not None:
                raise self.fatal
            if self.failure is not None:
                raise _fail(self.outcome, self.log, self.failure, self.end_event) from self.failure

    def _announcement(self, unit: _Unit) -> list[tuple[str, dict[str, Any]]]:
        return [
            ("change-applying", {"outcome": "applying", **self.fields[i], **unit.extra})
            for i in unit.group
        ]

    def _units(self) -> list[_Unit]:
        return [unit for phase in self.phases for lane in phase for unit in lane]

    def _phase(self, lanes: list[list[_Unit]]) -> None:
        workers = min(self.writers.concurrency, len(lanes))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="writer") as pool:
            futures: list[Future[None]] = [pool.submit(self._lane, lane) for lane in lanes]
            waiting = set(futures)
            while waiting:
                done, waiting = wait(waiting, timeout=0.05, return_when=FIRST_EXCEPTION)
                if pending() is not None:
                    self.stop.set()  # Ctrl-C: finish what is in flight, start nothing more
                for future in done:
                    exc = future.exception()
                    if exc is not None and self.fatal is None:
                        self.fatal = exc  # the log could not be written, or a bug
                        self.stop.set()

    def _lane(self, lane: list[_Unit]) -> None:
        for unit in lane:
            if self.stop.is_set():
                return
            self._send(unit)

    def _send(self, unit: _Unit) -> None:
        if pending() is not None:  # Ctrl-C noted: start nothing more
            self.stop.set()
        if self.stop.is_set():
            return
        if not self._ahead.wait_for(unit.position):  # announced, durably, before it is sent
            return
        self._sent[unit.position] = True
        try:
            if self.writers.budget is not None:
                self.writers.budget.gate()
            self.transport.send(unit.cmdlet)
        except TransportError as exc:
            with self._lock:
                self.stop.set()
                if self.failure is None:
                    self.failure = exc
                for index in unit.group:
                    self.outcome.status[index] = "failed"
            self._ahead.queue(
                [
                    ("change-failed", {"outcome": "failed", "error": str(exc), **self.fields[i]})
                    for i in unit.group
                ]
            )
            return
        with self._lock:
            for index in unit.group:
                self.outcome.status[index] = "applied"
        # recorded after it was sent; on disk with the next window of announcements or
        # at the end of the apply: a crash before that leaves the "change-applying", which
        # rollback and resume already read as "may have been applied"
        self._ahead.queue(
            [("change-applied", {"outcome": "applied", **self.fields[i]}) for i in unit.group]
        )
        if self.writers.progress is not None:
            self.writers.progress.advance(len(unit.group))


@dataclass(slots=True)
class _Unit:
    """One send: the changes (plan indexes) of one object joined into one cmdlet."""

    position: int
    group: list[int]
    cmdlet: Cmdlet
    extra: dict[str, Any]


def _lanes(changes: tuple[Change, ...], indexes: list[int]) -> list[list[_Unit]]:
    """The sends of these changes, per object (in plan order), numbered from 0 across calls."""
    lanes: dict[str, list[int]] = {}
    for index in indexes:
        lanes.setdefault(changes[index].target.lower(), []).append(index)
    out: list[list[_Unit]] = []
    for lane in lanes.values():
        units: list[_Unit] = []
        position = 0
        while position < len(lane):
            group = [lane[position]]
            cmdlet = changes[lane[position]].cmdlet
            while position + len(group) < len(lane):
                joined = _join(cmdlet, changes[lane[position + len(group)]].cmdlet)
                if joined is None:
                    break
                cmdlet = joined
                group.append(lane[position + len(group)])
            position += len(group)
            extra = {"sent_as": cmdlet.to_json()} if len(group) > 1 else {}
            units.append(_Unit(-1, group, cmdlet, extra))
        out.append(units)
    return out


class _Ahead:
    """Announce the sends ahead of the workers, in windows, one append and fsync each.

    ``announcement(p)`` gives the events of send ``p`` (of ``total``, in the order
    workers take them);
    a thread keeps at least ``low`` sends announced beyond the furthest one taken,
    appending the next ``window`` (with every outcome queued since) in one durable
    write. :meth:`wait_for` returns once send ``p`` is on disk; :meth:`close` stops the
    thread and returns how many sends were announced and the outcomes still queued.
    """

    def __init__(
        self,
        log: AuditLog,
        total: int,
        announcement: Callable[[int], list[tuple[str, dict[str, Any]]]],
        *,
        window: int,
        low: int,
    ) -> None:
        self.log = log
        self.total = total
        self.announcement = announcement
        self.window = max(window, 1)
        self.low = max(low, 1)
        self.announced = 0
        self.taken = 0
        self._queued: list[tuple[str, dict[str, Any]]] = []
        self._closed = False
        self._error: BaseException | None = None
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._loop, name="announcer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wait_for(self, position: int) -> bool:
        """Wait until send ``position`` is announced on disk: False if it never will be."""
        with self._cond:
            if position + 1 > self.taken:
                self.taken = position + 1
                if self.announced - self.taken < self.low:
                    self._cond.notify_all()
            while position >= self.announced and not self._closed:
                if self._error is not None:
                    raise self._error
                self._cond.wait()
            if self._error is not None and position >= self.announced:
                raise self._error
            return position < self.announced

    def queue(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        """Queue outcome events; the next window (or the close) puts them on disk."""
        with self._cond:
            self._queued.extend(items)

    def close(self) -> tuple[int, list[tuple[str, dict[str, Any]]]]:
        """Stop announcing; (sends announced, outcome events not yet written)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join()
        with self._cond:
            queued, self._queued = self._queued, []
            return self.announced, queued

    def _loop(self) -> None:
        total = self.total
        while True:
            with self._cond:
                while not self._closed and (
                    self.announced >= total or self.announced - self.taken >= self.low
                ):
                    self._cond.wait()
                if self._closed:
                    return
                upto = min(total, max(self.taken, self.announced) + self.window)
                batch, self._queued = self._queued, []
            for position in range(self.announced, upto):
                batch.extend(self.announcement(position))
            try:
                self.log.events(batch)
            except BaseException as exc:  # the log could not be written: stop every worker
                with self._cond:
                    self._error = exc
                    self._closed = True
                    self._cond.notify_all()
                return
            with self._cond:
                self.announced = upto
                self._cond.notify_all()


def _join(first: Cmdlet, second: Cmdlet) -> Cmdlet | None:
    """Two Set-* of one object as one call, when they set different parameters."""
    if first.name != second.name or not first.name.startswith("Set-"):
        return None
    if str(first.get("Identity")).lower() != str(second.get("Identity")).lower():
        return None
    have = {name.lower(): value for name, value in first.params}
    extra = []
    for name, value in second.params:
        if name.lower() in have:
            if have[name.lower()] != value and name.lower() != "identity":
                return None
            continue
        extra.append((name, value))
    return Cmdlet(first.name, (*first.params, *extra))


def _fail(
    outcome: Outcome, log: AuditLog, exc: TransportError, end_event: str = "run-end"
) -> ApplyFailed:
    applied = outcome.applied
    not_applied = outcome.not_applied
    done = "; ".join(_describe(c) for c in applied) or "nothing"
    left = "; ".join(_describe(c) for c in not_applied) or "nothing"
    message = (
        f"Failed while applying: {exc} Changed: {done}. Not changed: {left}. "
        "Run the same command again to finish."
    )
    outcome.outcome = "failed"
    outcome.error = message
    outcome.exit_code = 1
    log.event(
        end_event,
        outcome="failed",
        error=str(exc),
        applied=[c.to_json() for c in applied],
        not_applied=[c.to_json() for c in not_applied],
    )
    err = ApplyFailed(message, applied=applied, not_applied=not_applied, cause=exc)
    err.outcome = outcome
    return err


def _verify(
    action: Action,
    wish: Any,
    plan: Plan,
    outcome: Outcome,
    transport: Transport,
    log: AuditLog,
    end_event: str = "run-end",
    wait: VerifyWait | None = None,
) -> None:
    wait = wait or VerifyWait()
    deadline = wait.clock() + wait.seconds
    delay = wait.first_delay
    attempt = 1
    while True:
        try:
            after = action.read(transport, wish)
        except TransportError as exc:
            raise _fail(outcome, log, exc, end_event) from exc
        mismatches = [
            (change, actual)
            for change in plan.changes
            if (actual := after.value(change.target, change.attribute)) != change.after
        ]
        remaining = action.plan(after, wish)
        settled = not mismatches and remaining.is_noop
        if settled or wait.clock() + delay > deadline:
            break
        log.event("verify-wait", attempt=attempt, seconds=delay, pending=len(mismatches))
        wait.sleep(delay)
        delay = min(delay * 2, wait.max_delay)
        attempt += 1
    missing = {id(change) for change, _ in mismatches}
    verified: list[tuple[str, dict[str, Any]]] = []
    every = outcome.change_fields(plan)
    for index, change in enumerate(plan.changes):
        if id(change) not in missing:
            outcome.status[index] = "verified"
            verified.append(("change-verified", {"outcome": "verified", **every[index]}))
    _log_all(log, verified)
    for change, actual in mismatches:
        log.event(
            "verify-failed", outcome="mismatch", actual=_plain(actual), **_change_fields(change)
        )
    if mismatches or not remaining.is_noop:
        detail = (
            "; ".join(
                f"{c.target} {c.attribute} is {render_value(a)}, expected {render_value(c.after)}"
                for c, a in mismatches
            )
            or "a fresh plan still has changes"
        )
        message = f"Applied, but the tenant does not hold what was planned: {detail}."
        outcome.outcome = "failed"
        outcome.error = message
        outcome.exit_code = 1
        log.event(end_event, outcome="failed", error=message)
        err = VerifyMismatch(
            message,
            expected=[c.to_json() for c, _ in mismatches],
            actual=[_plain(a) for _, a in mismatches],
        )
        err.outcome = outcome
        raise err


def _describe(change: Change) -> str:
    return f"{change.target} {change.attribute} -> {render_value(change.after)}"


def describe_changes(changes: tuple[Change, ...]) -> str:
    """The changes for one sentence, or "nothing"."""
    return "; ".join(_describe(c) for c in changes) or "nothing"


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _change_fields(change: Change) -> dict[str, Any]:
    return {
        "target": change.target,
        "attribute": change.attribute,
        "before": _plain(change.before),
        "after": _plain(change.after),
        "cmdlets": [change.cmdlet.to_json()],
        "powershell": change.cmdlet.to_powershell(),
        **where_it_runs(change.cmdlet),
    }


def wish_json(wish: Any) -> dict[str, Any]:
    import dataclasses

    if dataclasses.is_dataclass(wish) and not isinstance(wish, type):
        return dataclasses.asdict(wish)
    return dict(wish)
