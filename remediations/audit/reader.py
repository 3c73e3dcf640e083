"""Reading the audit log by run: one summary a run, or one run's events.

Both read the file once, line by line (``read_events``): memory grows with the
number of runs kept (a summary each), never with the number of events, so a
log of a million events is read in constant memory per run.  A run is every
event with its ``run_id``; a playbook's steps carry the playbook run's id.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from remediations.audit.log import read_events
from remediations.errors import InputError

__all__ = [
    "END_EVENTS",
    "REFUSAL_EVENTS",
    "RunFilter",
    "RunSummary",
    "parse_since",
    "run_events",
    "summarize_runs",
]

#: The events that record a refusal: a saved plan not applied, an object rollback left alone.
REFUSAL_EVENTS = frozenset({"plan-refused", "rollback-refused"})
#: The events that close a run, with its outcome.
END_EVENTS = frozenset({"run-end", "playbook-end"})
_START_EVENTS = frozenset({"run-start", "playbook-start"})


@dataclass(slots=True)
class RunSummary:
    """One run as ``audit.runs`` lists it."""

    run_id: str
    started: str
    actor: str = ""
    tenant: str = ""
    transport: str = ""
    target_name: str = ""
    ticket: str = ""
    action: str = ""
    playbook: str = ""
    dry_run: bool = False
    outcome: str = "unfinished"
    ended: str = ""
    applied: int = 0
    planned: int = 0
    events: int = 0
    head: dict[str, Any] | None = None
    links: dict[str, str] = field(default_factory=dict)
    #: the reasons of ``plan-refused`` / ``rollback-refused`` events, in order
    refusals: list[str] = field(default_factory=list)

    @property
    def what(self) -> str:
        """The playbook, else the action."""
        return f"playbook {self.playbook}" if self.playbook else self.action

    @property
    def changes(self) -> int:
        """Changes applied (a dry run: changes planned)."""
        return self.planned if self.dry_run else self.applied

    def take(self, event: Mapping[str, Any]) -> None:
        """Fold one of the run's events into the summary."""
        self.events += 1
        name = event.get("event")
        for attribute in ("actor", "tenant", "transport", "target_name", "ticket"):
            if not getattr(self, attribute) and event.get(attribute):
                setattr(self, attribute, str(event[attribute]))
        if name in _START_EVENTS or self.events == 1:
            if event.get("playbook"):
                self.playbook = str(event["playbook"])
            elif event.get("action") and not self.action:
                self.action = str(event["action"])
            self.dry_run = bool(event.get("dry_run"))
        if self.events == 1 and name not in _START_EVENTS | END_EVENTS:
            # a run of one event (sandbox.reset's sandbox-replaced): that event is its end
            self.outcome = str(event.get("outcome") or name)
            self.ended = str(event.get("time") or "")
        if name in REFUSAL_EVENTS:
            self.refusals.append(str(event.get("reason") or ""))
        if name == "change-applied":
            self.applied += 1
        elif name == "change-planned":
            self.planned += 1
        if name in END_EVENTS and (name == "playbook-end" or not self.playbook):
            self.outcome = str(event.get("outcome") or "unknown")
            self.ended = str(event.get("time") or "")
            if isinstance(event.get("seq"), int):
                self.head = {"count": event["seq"], "hash": event.get("hash")}
        for key in ("plan_hash", "saved_plan", "rollback_of", "resume_of"):
            if event.get(key) and key not in self.links:
                self.links[key] = str(event[key])

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "started": self.started,
            "ended": self.ended or None,
            "actor": self.actor,
            "tenant": self.tenant,
            "transport": self.transport,
            "target": self.target_name or None,
            "ticket": self.ticket,
            "action": self.action or None,
            "playbook": self.playbook or None,
            "dry_run": self.dry_run,
            "outcome": self.outcome,
            "changes": self.changes,
            "events": self.events,
            "chain_head": self.head,
            "refusals": list(self.refusals),
            **self.links,
        }


def parse_since(raw: str) -> datetime:
    """``--since``: a date (``2026-11-30``) or a time (``2026-11-30T14:00``, UTC unless given)."""
    try:
        value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"--since {raw!r} is not a date; give one like 2026-11-30 or 2026-11-30T14:00 (UTC)."
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _when(stamp: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class RunFilter:
    """Which runs to list; every given criterion must hold."""

    since: datetime | None = None
    target: str = ""
    actor: str = ""
    ticket: str = ""
    #: a saved plan's hash (or its first 12+ digits): runs that saved or applied it
    plan: str = ""

    def admits_start(self, started: str) -> bool:
        """Whether a run that started then can be listed (checked once, at its first event)."""
        if self.since is None:
            return True
        when = _when(started)
        return when is not None and when >= self.since

    def admits(self, run: RunSummary) -> bool:
        target = self.target.lower()
        names = (run.target_name.lower(), run.tenant.lower(), run.transport.lower())
        if target and target not in names:
            return False
        if self.actor and self.actor.lower() != run.actor.lower():
            return False
        if self.plan and not any(
            run.links.get(k, "").startswith(self.plan) for k in ("plan_hash", "saved_plan")
        ):
            return False
        return not self.ticket or self.ticket.lower() in run.ticket.lower()


def summarize_runs(
    path: Path, run_filter: RunFilter | None = None, *, damaged: list[int] | None = None
) -> list[RunSummary]:
    """One summary per run, in the order the runs started, filtered; one pass over the file."""
    chosen = run_filter or RunFilter()
    runs: dict[str, RunSummary] = {}
    skipped: set[str] = set()  # runs started before --since: remembered by id only
    for event in read_events(path, damaged=damaged):
        run_id = event.get("run_id")
        if not isinstance(run_id, str) or run_id in skipped:
            continue
        run = runs.get(run_id)
        if run is None:
            started = str(event.get("time") or "")
            if not chosen.admits_start(started):
                skipped.add(run_id)
                continue
            run = runs[run_id] = RunSummary(run_id=run_id, started=started)
        run.take(event)
    return [run for run in runs.values() if chosen.admits(run)]


def run_events(path: Path, run_id: str) -> Iterator[dict[str, Any]]:
    """The events of one run, in order (streamed)."""
    for event in read_events(path):
        if event.get("run_id") == run_id:
            yield event


def summarize(run_id: str, events: Iterable[Mapping[str, Any]]) -> RunSummary | None:
    """The summary of one run's events (None if there are none)."""
    run: RunSummary | None = None
    for event in events:
        if run is None:
            run = RunSummary(run_id=run_id, started=str(event.get("time") or ""))
        run.take(event)
    return run
