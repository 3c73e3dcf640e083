"""A postmaster mailbox in one pass: a directory of ``.eml`` files or an mbox file.

Messages are streamed one at a time (``os.scandir`` for a directory, the standard
``mailbox`` module for an mbox file); each is parsed and diagnosed with the same
rules as a single ``diagnose --ndr``, and only the tallies are kept: failures by
cause, the recipients and senders per cause, and one fix command per cause and
recipient (deduplicated; a fix that names a sender, such as
``add-allowed-sender``, is one per recipient and sender).  The playbooks that
answer each cause come from a table built once, not from loading every playbook
per bounce.
"""

from __future__ import annotations

import mailbox
import os
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from remediations.diagnose.classify import Diagnosis, diagnose
from remediations.diagnose.ndr import NotAnNdr, parse_ndr

__all__ = [
    "BatchReport",
    "CauseTally",
    "PlaybookTable",
    "causes_json",
    "diagnose_messages",
    "is_mailbox_source",
    "iter_messages",
    "render_causes",
    "tally_of",
]

# How many recipients and senders per cause the text report names (--json: all).
TOP = 10
# How many files that hold no NDR are named (the count is always complete).
NAMED_SKIPS = 20


def is_mailbox_source(path: Path) -> bool:
    """Whether ``path`` is a directory or an mbox file (it starts with a ``From `` line)."""
    if path.is_dir():
        return True
    if not path.is_file():
        return False
    with path.open("rb") as handle:
        return handle.read(5) == b"From "


def iter_messages(path: Path) -> Iterator[tuple[str, bytes]]:
    """(name, raw message) for every ``.eml`` file of a directory (sorted by name) or every
    message of an mbox file, one at a time."""
    if path.is_dir():
        with os.scandir(path) as entries:
            names = sorted(
                e.name for e in entries if e.is_file() and e.name.lower().endswith(".eml")
            )
        for name in names:
            yield name, (path / name).read_bytes()
        return
    box = mailbox.mbox(path, create=False)
    try:
        for number, key in enumerate(box.iterkeys(), start=1):
            yield f"{path.name} message {number}", box.get_bytes(key)
    finally:
        box.close()


@dataclass(frozen=True, slots=True)
class PlaybookTable:
    """cause -> the playbooks that answer it, with their required parameters; built once."""

    by_cause: Mapping[str, tuple[tuple[str, tuple[str, ...]], ...]]

    @classmethod
    def load(cls, directory: Path) -> PlaybookTable:
        """Load every playbook of ``directory`` once (invalid ones are left out)."""
        from remediations.playbooks.library import list_playbooks
        from remediations.playbooks.schema import Playbook

        table: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        for _, found in list_playbooks(directory):
            if not isinstance(found, Playbook):
                continue
            required = tuple(p.name for p in found.parameters if p.required)
            for cause in found.causes:
                table.setdefault(cause, []).append((found.name, required))
        return cls({cause: tuple(runs) for cause, runs in table.items()})

    def names(self, cause: str) -> tuple[str, ...]:
        """The playbooks that answer ``cause``."""
        return tuple(name for name, _ in self.by_cause.get(cause, ()))

    def runs(self, cause: str, *, recipient: str | None, sender: str | None) -> list[str]:
        """``invoke playbook.run`` lines, parameters filled from the bounce as
        ``suggest_runs`` fills them (an unknown one stays an upper-case placeholder)."""
        from remediations.playbooks.library import run_command

        return [
            run_command(name, required, recipient=recipient, sender=sender)
            for name, required in self.by_cause.get(cause, ())
        ]


@dataclass(slots=True)
class CauseTally:
    """What one cause adds up to over the mailbox."""

    cause: str
    failures: int = 0
    recipients: Counter[str] = field(default_factory=Counter)
    senders: Counter[str] = field(default_factory=Counter)
    # (recipient, command) -> the first diagnosis with that fix, in input order.
    fixes: dict[tuple[str, str], Diagnosis] = field(default_factory=dict)
    steps: tuple[str, ...] = ()
    # The (recipient, sender) keys whose fix is already recorded (see ``count``).
    seen: set[tuple[str, str]] = field(default_factory=set)

    def count(self, recipient: str | None, sender: str | None) -> None:
        """Count one failure without its diagnosis (its fix is recorded already)."""
        self.failures += 1
        self.recipients[recipient or "(not named)"] += 1
        self.senders[sender or "(not named)"] += 1

    def add(self, item: Diagnosis) -> None:
        """Count one failure and keep its fix if it is a new one."""
        self.count(item.recipient, item.sender)
        if item.fix.command is not None:
            self.fixes.setdefault((item.recipient or "", item.fix.command), item)
        elif not self.steps:
            self.steps = item.fix.steps


@dataclass(slots=True)
class BatchReport:
    """The tallies of a mailbox: messages read, failures by cause, what was skipped."""

    source: str
    messages: int = 0
    ndrs: int = 0
    skipped: int = 0
    skipped_names: list[str] = field(default_factory=list)
    causes: dict[str, CauseTally] = field(default_factory=dict)

    @property
    def failures(self) -> int:
        """Every failed delivery found."""
        return sum(t.failures for t in self.causes.values())

    def to_json(self, table: PlaybookTable) -> dict[str, Any]:
        """The whole report as one JSON document."""
        return {
            "source": self.source,
            "messages": self.messages,
            "ndrs": self.ndrs,
            "not_ndrs": {"count": self.skipped, "first": self.skipped_names},
            "failures": self.failures,
            "causes": causes_json(self.causes, table),
        }

    def render_text(self, table: PlaybookTable) -> str:
        """Counts by cause, the top recipients and senders, then the fixes."""
        lines = [
            f"{self.source}: {_count(self.messages, 'message')}, {_count(self.ndrs, 'NDR')}, "
            f"{_count(self.failures, 'failed delivery', 'failed deliveries')} under "
            f"{_count(len(self.causes), 'cause')}."
        ]
        if self.skipped:
            named = ", ".join(self.skipped_names)
            more = " ..." if self.skipped > len(self.skipped_names) else ""
            lines.append(f"Not an NDR ({self.skipped}): {named}{more}")
        lines.extend(render_causes(self.causes, table))
        return "\n".join(lines) + "\n"


def ordered(causes: Mapping[str, CauseTally]) -> list[CauseTally]:
    """The causes, most failures first (ties by name)."""
    return sorted(causes.values(), key=lambda t: (-t.failures, t.cause))


def causes_json(causes: Mapping[str, CauseTally], table: PlaybookTable) -> list[dict[str, Any]]:
    """Every cause with all its recipients, senders, fixes and playbooks (``--json``)."""
    return [
        {
            "cause": t.cause,
            "failures": t.failures,
            "recipients": dict(t.recipients.most_common()),
            "senders": dict(t.senders.most_common()),
            "fixes": [
                {
                    "recipient": item.recipient,
                    "command": command,
                    "automatable": item.automatable,
                    "playbooks": table.runs(t.cause, recipient=item.recipient, sender=item.sender),
                }
                for (_, command), item in t.fixes.items()
            ],
            "steps": list(t.steps),
            "playbooks": list(table.names(t.cause)),
        }
        for t in ordered(causes)
    ]


def render_causes(causes: Mapping[str, CauseTally], table: PlaybookTable) -> list[str]:
    """One block per cause: the count, the top recipients and senders, the fixes."""
    lines: list[str] = []
    for t in ordered(causes):
        lines.append("")
        lines.append(f"{t.cause}: {_count(t.failures, 'failure')}")
        lines.append(f"  recipients: {_top(t.recipients)}")
        lines.append(f"  senders:    {_top(t.senders)}")
        for (_, command), item in t.fixes.items():
            ready = "" if item.automatable else "  (fill in the placeholders first)"
            lines.append(f"  fix:        {command}{ready}")
        if not t.fixes:
            lines.append("  fix:        not automated; steps:")
            lines.extend(f"    {n}. {step}" for n, step in enumerate(t.steps, 1))
        names = table.names(t.cause)
        if names:
            lines.append(f"  playbooks:  {', '.join(names)} (invoke playbook.show NAME)")
    return lines


def _count(n: int, one: str, many: str = "") -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _top(counts: Counter[str]) -> str:
    shown = ", ".join(f"{name} ({n})" for name, n in counts.most_common(TOP))
    rest = len(counts) - TOP
    return f"{shown}, and {rest} more" if rest > 0 else shown


def tally_of(causes: dict[str, CauseTally], cause: str) -> CauseTally:
    """The tally of one cause, started when first seen."""
    tally = causes.get(cause)
    if tally is None:
        tally = causes[cause] = CauseTally(cause)
    return tally


def diagnose_messages(source: str, messages: Iterator[tuple[str, bytes]]) -> BatchReport:
    """Parse and diagnose every message; keep the tallies only."""
    report = BatchReport(source=source)
    for name, raw in messages:
        report.messages += 1
        try:
            parsed = parse_ndr(raw)
        except NotAnNdr:
            report.skipped += 1
            if len(report.skipped_names) < NAMED_SKIPS:
                report.skipped_names.append(name)
            continue
        report.ndrs += 1
        for item in diagnose(parsed):
            tally_of(report.causes, item.cause).add(item)
    return report
