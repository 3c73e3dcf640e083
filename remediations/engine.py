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
    for index, change in enumerate(plan.changes):
        outcome.status[index] = "planned"
        items.append(("change-planned", {"outcome": "planned", **_change_fields(change)}))
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
    for index, change in enumerate(plan.changes):
        signum = pending()
        if signum is not None:
            raise Interrupted(signum)
        with deferred():
            fields = _change_fields(change)
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

    Every audit event is written by this run's one log, one at a time, each change
    announced before it is sent and recorded after; a signal (noted, never acted on in
    a worker) or a failure stops workers from starting more, the cmdlets in flight
    finish, then the run ends saying what was and was not changed.
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
        self._commit = _GroupCommit(log)

    def run(self) -> None:
        creates = [i for i, c in enumerate(self.plan.changes) if c.cmdlet.name.startswith("New-")]
        rest = [i for i, c in enumerate(self.plan.changes) if not c.cmdlet.name.startswith("New-")]
        with deferred():
            for phase in (creates, rest):
                if phase and not self.stop.is_set():
                    self._phase(phase)
            if self.fatal is None:
                try:
                    self._commit.flush()  # the outcomes still queued, before anything else
                except BaseException as exc:  # the log could not be written
                    self.fatal = exc
            for index in range(len(self.plan.changes)):
                if self.outcome.status.get(index) == "planned":
                    self.outcome.status[index] = "not-applied"
            if self.fatal is not None:
                raise self.fatal
            if self.failure is not None:
                raise _fail(self.outcome, self.log, self.failure, self.end_event) from self.failure

    def _phase(self, indexes: list[int]) -> None:
        lanes: dict[str, list[int]] = {}
        for index in indexes:
            lanes.setdefault(self.plan.changes[index].target.lower(), []).append(index)
        workers = min(self.writers.concurrency, len(lanes))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="writer") as pool:
            futures: list[Future[None]] = [pool.submit(self._lane, lane) for lane in lanes.values()]
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

    def _lane(self, lane: list[int]) -> None:
        position = 0
        while position < len(lane) and not self.stop.is_set():
            group = [lane[position]]
            cmdlet = self.plan.changes[lane[position]].cmdlet
            while position + len(group) < len(lane):
                joined = _join(cmdlet, self.plan.changes[lane[position + len(group)]].cmdlet)
                if joined is None:
                    break
                cmdlet = joined
                group.append(lane[position + len(group)])
            position += len(group)
            self._send(group, cmdlet)

    def _send(self, group: list[int], cmdlet: Cmdlet) -> None:
        changes = [self.plan.changes[i] for i in group]
        extra = {"sent_as": cmdlet.to_json()} if len(group) > 1 else {}
        if pending() is not None:  # Ctrl-C noted: start nothing more
            self.stop.set()
        if self.stop.is_set():
            return
        # announced, durably, before it is sent (one fsync for every worker waiting)
        self._commit.write(
            [
                ("change-applying", {"outcome": "applying", **_change_fields(c), **extra})
                for c in changes
            ]
        )
        try:
            if self.writers.budget is not None:
                self.writers.budget.gate()
            self.transport.send(cmdlet)
        except TransportError as exc:
            with self._lock:
                self.stop.set()
                if self.failure is None:
                    self.failure = exc
                for index in group:
                    self.outcome.status[index] = "failed"
            self._commit.queue(
                [
                    ("change-failed", {"outcome": "failed", "error": str(exc), **_change_fields(c)})
                    for c in changes
                ]
            )
            return
        with self._lock:
            for index in group:
                self.outcome.status[index] = "applied"
        # recorded after it was sent; on disk with the next announcement (any worker's) or
        # at the end of the apply: a crash before that leaves the "change-applying", which
        # rollback and resume already read as "may have been applied"
        self._commit.queue(
            [("change-applied", {"outcome": "applied", **_change_fields(c)}) for c in changes]
        )
        if self.writers.progress is not None:
            self.writers.progress.advance(len(group))


class _GroupCommit:
    """Concurrent workers' events, each durable before ``write`` returns, fsynced together.

    A worker queues its events, then whoever holds the flush turn appends everything
    queued so far as one write and one fsync; a worker whose events that append
    carried returns at once.  The log's order is the order events were queued.
    :meth:`queue` adds events without waiting: the next :meth:`write` or :meth:`flush`
    carries them to disk.
    """

    def __init__(self, log: AuditLog) -> None:
        self.log = log
        self._queue: list[tuple[str, dict[str, Any]]] = []
        self._queued = 0
        self._flushed = 0
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self._turn = threading.Lock()

    def queue(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        """Queue ``items`` in order; the next write or flush puts them on disk."""
        with self._lock:
            self._queue.extend(items)
            self._queued += 1

    def flush(self) -> None:
        """Return once everything queued so far is on disk."""
        self.write([])

    def write(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        """Queue ``items`` and return once they (and all queued before) are on disk."""
        with self._lock:
            self._queue.extend(items)
            self._queued += 1
            ticket = self._queued
        with self._turn:
            if self._error is not None:
                raise self._error
            if self._flushed >= ticket:
                return
            with self._lock:
                batch, self._queue = self._queue, []
                upto = self._queued
            if not batch:
                self._flushed = upto
                return
            try:
                if len(batch) == 1:
                    self.log.event(batch[0][0], **batch[0][1])
                else:
                    self.log.events(batch)
            except BaseException as exc:
                self._error = exc
                raise
            self._flushed = upto


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
    for index, change in enumerate(plan.changes):
        if id(change) not in missing:
            outcome.status[index] = "verified"
            verified.append(("change-verified", {"outcome": "verified", **_change_fields(change)}))
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
