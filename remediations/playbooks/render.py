"""Playbooks and their runs for people: list, show, the whole-plan preview, the result."""

from __future__ import annotations

import textwrap
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from remediations.plan import Change
from remediations.playbooks.runner import PlaybookOutcome, StepResult
from remediations.playbooks.schema import Parameter, Playbook, PlaybookError, display_path

__all__ = ["render_list", "render_preview", "render_result", "render_show", "render_steps"]

_WIDTH = 88


def _wrap(text: str, first: str, rest: str) -> list[str]:
    return textwrap.wrap(
        text, _WIDTH, initial_indent=first, subsequent_indent=rest, break_on_hyphens=False
    )


def _first_sentence(text: str) -> str:
    head, sep, _ = text.partition(". ")
    return head + "." if sep else text


def _answers(playbook: Playbook) -> str:
    codes = ", ".join(playbook.codes) or "-"
    causes = ", ".join(playbook.causes) or "-"
    return f"answers {codes} (causes: {causes})"


def render_list(found: Sequence[tuple[Path, Playbook | PlaybookError]]) -> str:
    """``playbook.list``: each playbook's name, description and what it answers."""
    if not found:
        return "No playbooks found.\n"
    lines: list[str] = []
    for path, item in found:
        if isinstance(item, PlaybookError):
            lines.append(f"{path.stem}  (invalid: invoke playbook.validate --path {path})")
            continue
        lines.append(item.name)
        lines.extend(_wrap(_first_sentence(item.description), "    ", "    "))
        lines.append(f"    {_answers(item)}")
    return "\n".join(lines) + "\n"


def _param_line(param: Parameter) -> str:
    if param.required:
        kind = f"{param.type}, required"
    else:
        kind = f"{param.type}, default {_value(param.default)}"
    if param.choices:
        kind += f", one of {', '.join(param.choices)}"
    return f"{param.name} ({kind}): {param.description}"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return ",".join(str(v) for v in value) if value else "(empty list)"
    return str(value) if value != "" else '""'


def _example(param: Parameter) -> str:
    if param.type == "list":
        return f"--param {param.name}=VALUE[,VALUE...]"
    if param.type == "bool":
        return f"--param {param.name}=true"
    return f"--param {param.name}=VALUE"


def render_show(playbook: Playbook) -> str:
    """``playbook.show``: what it answers, its parameters and its steps, in words."""
    lines = [f"{playbook.name}  ({playbook.source}, version {playbook.version})"]
    lines.extend(_wrap(playbook.description, "  ", "  "))
    lines.append(f"  {_answers(playbook).capitalize()}")
    lines.append("")
    lines.append("Parameters:")
    if not playbook.parameters:
        lines.append("  (none)")
    for param in playbook.parameters:
        lines.extend(_wrap(_param_line(param), "  ", "      "))
    lines.append("")
    lines.append("Steps:")
    for step in playbook.steps:
        lines.append(f"  {step.number}. {step.name}")
        if step.for_each is None:
            lines.append(f"     {step.action}:")
        else:
            lines.append(
                f"     {step.action}, once for each entry of {_value(step.for_each)} (${{item}}):"
            )
        lines.extend(f"       {key}: {_value(value)}" for key, value in step.inputs.items())
    required = [_example(p) for p in playbook.parameters if p.required]
    lines.append("")
    lines.append(
        f"Try: invoke playbook.run {playbook.name} {' '.join(required)} --dry-run".rstrip()
    )
    return "\n".join(lines) + "\n"


def _title(result: StepResult) -> str:
    step = result.bound
    item = f" ({step.item})" if step.item is not None else ""
    return f"{step.step.name}{item}"


def render_preview(outcome: PlaybookOutcome) -> str:
    """The whole plan before anything is applied: each step's diff, then all the PowerShell."""
    lines = [
        f"Playbook {outcome.playbook} (version {outcome.version}) on {outcome.tenant} "
        f"({outcome.transport})"
    ]
    if outcome.resume_of:
        lines.append(f"Resuming run {outcome.resume_of} with its parameters.")
    params = ", ".join(f"{k}={_value(v)}" for k, v in outcome.parameters.items())
    lines.append(f"Parameters: {params or '(none)'}")
    if outcome.planned_ahead:
        lines.append(
            "Planned on a copy of the tenant: each step sees what the steps before it would leave."
        )
    lines.extend(f"Note: {note}" for note in outcome.notes)
    lines.append("")
    groups = _groups(outcome.steps)
    for group in groups:
        if _long(group):
            lines.extend(_summary(group))
            continue
        for result in group:
            step = result.bound
            lines.append(f"Step {step.id}  {_title(result)}: {step.step.action}")
            plan = result.plan
            if plan is None:
                continue
            if plan.is_noop:
                lines.append("  No change needed: already as wished.")
            else:
                count = len(plan.changes)
                lines.append(f"  Plan ({count} change{'s' if count != 1 else ''}):")
                lines.extend(f"  {line}" for line in plan.render_diff().split("\n"))
            lines.extend(f"  Note: {note}" for note in plan.notes)
    if not outcome.steps:
        lines.append("No steps: every for_each list is empty.")
    if outcome.change_count:
        lines.append("")
        # Exchange lines, and directory lines labelled as Microsoft Graph PowerShell.
        lines.append("Equivalent PowerShell, in order:")
        for group in groups:
            shown = 0
            total = sum(len(r.plan.changes) for r in group if r.plan)
            for result in group:
                if result.plan is None or result.plan.is_noop:
                    continue
                if _long(group) and shown >= FIRST_ROWS:
                    break
                lines.append(f"  # step {result.bound.id}: {_title(result)}")
                for change in result.plan.changes:
                    lines.extend(_powershell(change))
                    shown += 1
            if _long(group) and total > shown:
                lines.append(
                    f"  # ... and {total - shown:,} more of step {group[0].bound.step.number}: "
                    "every line is in --json, the audit log and a plan saved with --save-plan."
                )
    return "\n".join(lines) + "\n"


#: a for_each step with more changes than this is previewed as counts and its first rows
PREVIEW_ROWS = 20
FIRST_ROWS = 10


def _groups(steps: Sequence[StepResult]) -> list[list[StepResult]]:
    """The results in order, the entries of one for_each step together."""
    groups: list[list[StepResult]] = []
    for result in steps:
        step = result.bound.step
        if groups and step.for_each is not None and groups[-1][0].bound.step is step:
            groups[-1].append(result)
        else:
            groups.append([result])
    return groups


def _long(group: Sequence[StepResult]) -> bool:
    """A for_each step whose plan is too long to show whole."""
    if group[0].bound.step.for_each is None:
        return False
    return sum(len(r.plan.changes) for r in group if r.plan) > PREVIEW_ROWS


def _summary(group: Sequence[StepResult]) -> list[str]:
    """A long for_each step, as a long task plan is shown: counts by kind, the first rows."""
    step = group[0].bound.step
    changes = [c for r in group if r.plan for c in r.plan.changes]
    waiting = sum(1 for r in group if r.plan and r.plan.changes)
    lines = [
        f"Step {step.number}  {step.name}: {step.action}, for each of {len(group):,} entries "
        f"(steps {group[0].bound.id} to {group[-1].bound.id}; {len(group) - waiting:,} already "
        "as wished)"
    ]
    objects = len({c.target.lower() for c in changes})
    kinds = Counter((c.cmdlet.name, c.attribute) for c in changes)
    lines.append(f"  Plan ({len(changes):,} changes to {objects:,} objects), by kind of change:")
    width = len(f"{max(kinds.values()):,}")
    lines.extend(
        f"    {n:>{width},}  {name} {attribute}" for (name, attribute), n in kinds.most_common()
    )
    lines.append(f"  The first {FIRST_ROWS}:")
    shown = 0
    for result in group:
        if result.plan is None or result.plan.is_noop or shown >= FIRST_ROWS:
            continue
        first = result.plan.changes[: FIRST_ROWS - shown]
        shown += len(first)
        lines.append(f"  Step {result.bound.id}  {_title(result)}:")
        diff = replace(result.plan, changes=first).render_diff()
        lines.extend(f"  {line}" for line in diff.split("\n"))
    lines.append(
        f"  ... and {len(changes) - shown:,} more: the whole plan is in --json, the audit log "
        "(one change-planned event each) and a plan saved with --save-plan."
    )
    notes = dict.fromkeys(n for r in group if r.plan for n in r.plan.notes)
    lines.extend(f"  Note: {note}" for note in notes)
    return lines


def _powershell(change: Change) -> list[str]:
    from remediations.directory.cmdlets import graph_request, is_graph_cmdlet

    lines = [f"  {change.cmdlet.to_powershell()}"]
    if is_graph_cmdlet(change.cmdlet):
        request = graph_request(change.cmdlet)
        lines.append(
            "    # Microsoft Graph PowerShell"
            + (f"; Microsoft Graph request: {request.to_graph()}" if request else "")
        )
    return lines


_STATUS_WORDS = {
    "planned": "would change",
    "ok": "ok, no change",
    "verified": "applied and verified",
    "applied": "applied, not verified",
    "failed": "FAILED",
    "interrupted": "INTERRUPTED",
    "not-started": "not started",
}


def render_steps(outcome: PlaybookOutcome) -> str:
    """One line per step: id, status, name and how many changes.

    A for_each step of more than :data:`PREVIEW_ROWS` entries is one line: its entries
    counted by status (every entry is in ``--json``), then any that failed.
    """
    lines = ["", "Steps:"]
    groups = _groups(outcome.steps)
    width = max(map(len, _labels(groups)), default=1)
    for group in groups:
        if len(group) > PREVIEW_ROWS:
            counts = Counter(r.status for r in group)
            status = ", ".join(f"{_STATUS_WORDS[s]}: {n:,}" for s, n in counts.items())
            count = sum(len(r.plan.changes) for r in group if r.plan)
            extra = f"  ({count:,} change{'s' if count != 1 else ''})" if count else ""
            step = group[0].bound.step
            label = _range(group)
            lines.append(f"  {label:<{width}}  {step.name}, {len(group):,} entries{extra}")
            lines.append(f"  {'':<{width}}  {status}")
            group = [r for r in group if r.status in ("failed", "interrupted")]
        for result in group:
            status = _STATUS_WORDS[result.status]
            count = len(result.plan.changes) if result.plan else 0
            extra = f"  ({count} change{'s' if count != 1 else ''})" if count else ""
            if result.note:
                extra += f"  ({result.note})"
            lines.append(f"  {result.bound.id:<{width}}  {status:<20}  {_title(result)}{extra}")
    return "\n".join(lines) + "\n"


def _labels(groups: Sequence[Sequence[StepResult]]) -> Iterator[str]:
    """The first column of the step table: each step's id, a long for_each step's range."""
    for group in groups:
        if len(group) > PREVIEW_ROWS:
            yield _range(group)
        else:
            yield from (r.bound.id for r in group)


def _range(group: Sequence[StepResult]) -> str:
    return f"{group[0].bound.id}-{group[-1].bound.id}"


def render_result(outcome: PlaybookOutcome, *, audit_path: Path) -> str:
    """The step table and one closing line: what happened, and where the record is."""
    where = f"Audit log: {display_path(audit_path)} (run {outcome.run_id})."
    table = render_steps(outcome) if outcome.steps else ""
    count = outcome.change_count
    changes = f"{count} change{'s' if count != 1 else ''}"
    if outcome.outcome == "planned":
        steps = len(outcome.ids("planned"))
        total = len(outcome.steps)
        return (
            f"{table}Dry run: nothing changed; {changes} in {steps} of {total} "
            f"step{'s' if total != 1 else ''} would be applied. Run without --dry-run to apply. "
            f"{where}\n"
        )
    if outcome.outcome == "no-change":
        return f"{table}Nothing to do: every step is already as wished. {where}\n"
    if outcome.outcome == "cancelled":
        return f"{table}Not applied. {where}\n"
    if outcome.outcome in ("failed", "refused", "interrupted"):
        return f"{table}{where}\n"
    applied = sum(len(r.plan.changes) for r in outcome.steps if r.status == "verified" and r.plan)
    steps = len(outcome.ids("verified"))
    return (
        f"{table}Applied and verified {applied} change{'s' if applied != 1 else ''} in "
        f"{steps} step{'s' if steps != 1 else ''}. {where}\n"
    )
