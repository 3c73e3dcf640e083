"""Change-review tasks: saved plans (``--save-plan``, ``plan.show``, ``plan.apply``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

from remediations.cli import (
    Confirmer,
    open_audit,
    open_run_target,
    render_head,
    render_result,
    report_error,
    settings_from,
    with_head,
)
from remediations.errors import ExitStatus, RemediationError
from remediations.terminal import STDERR, STDOUT, printable

__all__ = ["plan_apply_task", "plan_show_task", "rollback_task"]


def plan_show_task(
    config: Any, path: str, *, as_json: bool = False, out: TextIO = STDOUT,
    err: TextIO = STDERR,
) -> int:  # fmt: skip
    """``plan.show PATH``: the saved plan, its hash, and what it read."""
    from remediations.audit.plans import load_plan

    try:
        saved = load_plan(Path(path))
    except RemediationError as exc:
        return report_error(exc, as_json=as_json, out=out, err=err)
    if as_json:
        out.write(json.dumps(dict(saved.doc), indent=2) + "\n")
        return ExitStatus.OK
    out.write(printable(render_saved(saved)))
    return ExitStatus.OK


def render_saved(saved: Any) -> str:
    """A saved plan for a reviewer: what, where, by whom, the changes, what it read."""
    doc = saved.doc
    wish = ", ".join(f"{k}={v}" for k, v in doc["wish"].items())
    lines = [
        f"Plan {saved.hash}",
        f"  {doc['action']} {wish}",
        f"  for {doc['tenant']} ({doc['transport']}), made by {doc.get('made_by')} at "
        f"{doc.get('made_at')} (dry run {doc.get('dry_run_id')}), "
        f"ticket {doc.get('ticket') or '-'}",
    ]
    changes = doc["changes"]
    if not changes:
        lines.append("No change: the tenant was already as wished.")
    for change in changes:
        lines.append(
            f"  {change['target']} {change['attribute']}: {_value(change['before'])} -> "
            f"{_value(change['after'])}"
        )
        lines.append(f"      {change['powershell']}")
    lines.extend(f"Note: {note}" for note in doc.get("notes") or ())
    lines.append(f"Read when planned ({len(doc['read'])}; any change refuses the plan):")
    lines.extend(
        f"  {item['target']} {item['attribute']} = {_value(item['value'])}" for item in doc["read"]
    )
    lines.append(f"Apply exactly this plan: invoke plan.apply {saved.path}")
    return "\n".join(lines) + "\n"


def _value(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "$true" if value else "$false"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) if value else "(empty)"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def plan_apply_task(
    config: Any,
    path: str,
    *,
    yes: bool = False,
    as_json: bool = False,
    ticket: str = "",
    out: TextIO = STDOUT,
    err: TextIO = STDERR,
    ask: Any = input,
) -> int:
    """``plan.apply PATH``: apply exactly the saved plan, or refuse (exit 1) saying why."""
    from remediations.actions import ACTIONS, parse_wish
    from remediations.audit.plans import PinnedAction, PlanRefused, applied_by, load_plan
    from remediations.cli import render_preview
    from remediations.engine import run_action
    from remediations.fleet import fleet_from_json

    settings = settings_from(config)
    try:
        saved = load_plan(Path(path))
        action = ACTIONS.get(saved.action)
        if action is None:
            raise PlanRefused(
                f"The plan {path} is for {saved.action!r}, no action of this toolkit."
            )
        # a plan made without a target flag covers every object it lists: approving it is --all
        given = {k: v for k, v in saved.doc["wish"].items() if v is not None}
        fleet = fleet_from_json(action, given)  # a plan made with --targets-file
        if fleet is not None:
            action, wish = fleet
        else:
            wish = parse_wish(action, given, source=f"plan {path}", all_targets=True)
        run_target = open_run_target(config, err=err)
        transport = run_target.transport
    except RemediationError as exc:
        return report_error(exc, as_json=as_json, out=out, err=err)
    try:
        doc = saved.doc
        if (transport.tenant, transport.name) != (doc["tenant"], doc["transport"]):
            raise PlanRefused(
                f"Not applied: plan {saved.hash[:12]} was made for {doc['tenant']} "
                f"({doc['transport']}), and this target is {transport.tenant} "
                f"({transport.name}); save a plan against this target."
            )
        audit = open_audit(settings, transport, ticket or str(doc.get("ticket") or ""))
        earlier = applied_by(audit.path, saved.hash)
        if earlier is not None:
            raise PlanRefused(
                f"Not applied: plan {saved.hash[:12]} was already applied by run {earlier} "
                f"(invoke audit.show {earlier}); save a new plan if more is needed."
            )
    except RemediationError as exc:
        run_target.close()
        return report_error(exc, as_json=as_json, out=out, err=err)

    def preview(plan: Any) -> None:
        if not as_json:
            out.write(printable(render_preview(plan, transport=transport)))

    confirm = Confirmer(yes=yes, target=run_target, err=err, ask=ask)
    log = audit.bind(plan_hash=saved.hash)
    try:
        outcome = run_action(
            PinnedAction(action, saved),  # type: ignore[arg-type]
            wish,
            transport=transport,
            audit=log,
            dry_run=False,
            preview=preview,
            confirm=confirm,
        )
    except RemediationError as exc:
        code = report_error(exc, as_json=as_json, out=out, err=err, audit=audit)
        if not as_json:
            out.write(render_head(audit, exc))
        return code
    finally:
        run_target.close()
    if as_json:
        out.write(json.dumps(with_head({**outcome.to_json(), "plan_hash": saved.hash}, audit),
                             indent=2) + "\n")  # fmt: skip
        return ExitStatus.OK
    out.write(printable(render_result(outcome, audit_path=audit.path)))
    out.write(f"Applied plan {saved.hash} as run {outcome.run_id}.\n")
    out.write(render_head(audit))
    return ExitStatus.OK


def _rollback_units(events: list[dict[str, Any]], run_id: str) -> list[tuple[str, Any]]:
    """What to undo, newest first: (step id or "", RollbackAction) per action the run ran."""
    from remediations.actions import ACTIONS, parse_wish
    from remediations.audit.rollback import RollbackAction, applied_changes
    from remediations.errors import InputError
    from remediations.fleet import fleet_from_json

    first = events[0]
    if not first.get("playbook"):
        name = str(first.get("action") or "")
        start = next((e for e in events if e.get("event") == "run-start"), None)
        if name not in ACTIONS or start is None:
            raise InputError(f"Run {run_id} ran {name!r}, which rollback cannot read again.")
        original = ACTIONS[name]
        given = {k: v for k, v in (start.get("wish") or {}).items() if v is not None}
        fleet = fleet_from_json(original, given)  # a run with --targets-file
        if fleet is not None:
            fleet_action, wish = fleet
            return [("", RollbackAction(fleet_action, wish, applied_changes(events)))]
        wish = parse_wish(original, given, all_targets=True)
        return [("", RollbackAction(original, wish, applied_changes(events)))]
    units = []
    for planned in (e for e in events if e.get("event") == "step-planned"):
        step = str(planned.get("step"))
        changes = applied_changes(e for e in events if str(e.get("step")) == step)
        if not changes:
            continue
        name = str(planned.get("action") or "")
        if name not in ACTIONS:
            raise InputError(f"Run {run_id} step {step} ran {name!r}, which rollback cannot read.")
        original = ACTIONS[name]
        wish = parse_wish(original, planned.get("inputs") or {}, source=f"run {run_id} step {step}")
        units.append((step, RollbackAction(original, wish, changes)))
    return list(reversed(units))


def rollback_task(
    config: Any,
    run_id: str,
    *,
    dry_run: bool = False,
    yes: bool = False,
    as_json: bool = False,
    ticket: str = "",
    out: TextIO = STDOUT,
    err: TextIO = STDERR,
    ask: Any = input,
) -> int:
    """``rollback RUN_ID``: undo what the run applied, where nothing changed it since.

    A playbook run is undone step by step, the last step first: one audited
    rollback run per step that changed something, each linked to the run.
    """
    from remediations.audit import AUDIT_FILE
    from remediations.audit.rollback import RollbackWish, load_run
    from remediations.cli import render_preview
    from remediations.engine import run_action
    from remediations.errors import InputError

    settings = settings_from(config)
    wanted = run_id.strip()
    try:
        events = load_run(settings.audit_dir / AUDIT_FILE, wanted)
        first = events[0]
        if str(first.get("action") or "") == "rollback" and not first.get("playbook"):
            raise InputError(
                f"Run {wanted} is itself a rollback; run the original command again instead."
            )
        units = _rollback_units(events, wanted)
        run_target = open_run_target(config, dry_run=dry_run, err=err)
        transport = run_target.transport
    except RemediationError as exc:
        return report_error(exc, as_json=as_json, out=out, err=err)
    if (transport.tenant, transport.name) != (first.get("tenant"), first.get("transport")):
        run_target.close()
        return report_error(
            InputError(
                f"Run {wanted} ran against {first.get('tenant')} ({first.get('transport')}); "
                f"this target is {transport.tenant} ({transport.name})."
            ),
            as_json=as_json,
            out=out,
            err=err,
        )
    try:
        audit = open_audit(settings, transport, ticket or str(first.get("ticket") or ""))
    except RemediationError as exc:
        run_target.close()
        return report_error(exc, as_json=as_json, out=out, err=err)

    def preview(plan: Any) -> None:
        if not as_json:
            out.write(printable(render_preview(plan, transport=transport)))

    confirm = Confirmer(yes=yes, target=run_target, err=err, ask=ask)
    docs: list[dict[str, Any]] = []
    try:
        if not units and not as_json:
            out.write(f"Run {wanted} applied no change: nothing to undo.\n")
        for step, action in units:
            if step and not as_json:
                out.write(f"Step {step}:\n")
            links: dict[str, Any] = {"rollback_of": wanted}
            if step:
                links["rollback_step"] = step
            outcome = run_action(
                action,
                RollbackWish(wanted),
                transport=transport,
                audit=audit.bind(**links),
                dry_run=dry_run,
                preview=preview,
                confirm=confirm,
            )
            docs.append({**outcome.to_json(), **links})
            if not as_json:
                out.write(printable(render_result(outcome, audit_path=audit.path)))
    except RemediationError as exc:
        code = report_error(exc, as_json=as_json, out=out, err=err, audit=audit)
        if not as_json:
            out.write(render_head(audit, exc))
        return code
    finally:
        run_target.close()
    if as_json:
        if first.get("playbook"):
            doc: dict[str, Any] = {"rollback_of": wanted, "runs": docs}
        else:
            doc = docs[0] if docs else {"rollback_of": wanted, "changes": []}
        out.write(json.dumps(with_head(doc, audit), indent=2) + "\n")
        return ExitStatus.OK
    out.write(render_head(audit))
    return ExitStatus.OK
