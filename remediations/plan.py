"""Plans, changes and snapshots: frozen values, rendered as text, PowerShell and JSON.

A :class:`Change` is one attribute of one target going from ``before`` to
``after`` through exactly one cmdlet.  A :class:`Plan` is the ordered list of
them; an empty plan means "already as wished".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from remediations.exchange.cmdlet import AddRemove, Cmdlet

__all__ = [
    "Change",
    "Plan",
    "Snapshot",
    "Value",
    "add_remove",
    "render_value",
    "where_it_runs",
]

Value = str | bool | int | None | tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """One attribute of one target, from ``before`` to ``after``, by one cmdlet."""

    target: str
    attribute: str
    before: Value
    after: Value
    cmdlet: Cmdlet
    why: str = ""

    def to_json(self) -> dict[str, Any]:
        """The change as a JSON object (``--json``, audit log, saved plans).

        ``runs_in`` says where the line runs (``exchange`` or ``microsoft-graph``); a
        directory write also carries its ``graph_request``.
        """
        return {
            "target": self.target,
            "attribute": self.attribute,
            "before": _json_value(self.before),
            "after": _json_value(self.after),
            "cmdlet": self.cmdlet.to_json(),
            "powershell": self.cmdlet.to_powershell(),
            **where_it_runs(self.cmdlet),
            "why": self.why,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """What one action (or playbook step) will do, in order."""

    action: str
    changes: tuple[Change, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def is_noop(self) -> bool:
        """Nothing to do: the tenant is already as wished."""
        return not self.changes

    def render_diff(self) -> str:
        """A readable diff: one block per target, ``-`` before and ``+`` after."""
        lines: list[str] = []
        current_target: str | None = None
        for change in self.changes:
            if change.target != current_target:
                current_target = change.target
                lines.append(f"  {change.target}")
            lines.append(f"    {change.attribute}:")
            lines.append(f"    - {render_value(change.before)}")
            lines.append(f"    + {render_value(change.after)}")
            if change.why:
                lines.append(f"      ({change.why})")
        return "\n".join(lines)

    def render_powershell(self) -> str:
        """The equivalent Exchange Online PowerShell, one pasteable line per cmdlet."""
        return "\n".join(change.cmdlet.to_powershell() for change in self.changes)


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """What an action read: ``(target, attribute) -> value`` plus facts for planning.

    The engine verifies a plan by reading again and checking that every
    change's ``(target, attribute)`` now holds its ``after``.
    """

    values: Mapping[tuple[str, str], Value] = field(default_factory=dict)
    facts: Mapping[str, Any] = field(default_factory=dict)

    def value(self, target: str, attribute: str) -> Value:
        """The value read for one attribute of one target (None when not read)."""
        return self.values.get((target, attribute))


def add_remove(current: Iterable[str], wanted: Iterable[str]) -> AddRemove:
    """The Add/Remove hashtable that turns ``current`` into ``wanted`` (case-insensitive)."""
    cur = {c.lower(): c for c in current}
    want = {w.lower(): w for w in wanted}
    return AddRemove(
        add=tuple(sorted(want[k] for k in want.keys() - cur.keys())),
        remove=tuple(sorted(cur[k] for k in cur.keys() - want.keys())),
    )


def where_it_runs(cmdlet: Cmdlet) -> dict[str, str]:
    """``runs_in`` (``exchange`` / ``microsoft-graph``) and, for a directory write, its
    ``graph_request`` (``POST /v1.0/users/.../assignLicense {...}``)."""
    from remediations.graph_cmdlets import graph_request, runs_in

    fields = {"runs_in": runs_in(cmdlet)}
    request = graph_request(cmdlet)
    if request is not None:
        fields["graph_request"] = request.to_graph()
    return fields


def render_value(value: Value) -> str:
    """A value for people: lists comma-separated, empty lists as ``(empty)``."""
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "$true" if value else "$false"
    if isinstance(value, tuple):
        return ", ".join(value) if value else "(empty)"
    return str(value)


def _json_value(value: Value) -> Any:
    return list(value) if isinstance(value, tuple) else value
