"""Change-review tasks: saved plans (``--save-plan``, ``plan.show``, ``plan.apply``), rollback.

A refusal to apply a saved plan (edited, made for another target, applied
before, stale) is a run of its own in the audit log: ``run-start``, a
``plan-refused`` event with the reason, ``run-end`` with outcome ``refused``;
every event carries the plan's hash.  Rollback records each object it leaves
alone as a ``rollback-refused`` event of the rollback run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

from remediations.cli import (
    Confirmer,
    announce_target,
    open_audit,
    open_run_target,
    playbooks_dir,
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
    wish = ", ".join(f"{k}={_value(v)}" for k, v in doc["wish"].items())
    what = doc["action"]
    if saved.playbook is not None:
        book = saved.playbook
        what = f"playbook {book.get('name')} (version {book.get('version')})"
    lines = [
        f"Plan {saved.hash}",
        f"  {what} {wish}",
        f"  for {doc['tenant']} ({doc['transport']}), made by {doc.get('made_by')} at "
        f"{doc.get('made_at')} (dry run {doc.get('dry_run_id')}), "
        f"ticket {doc.get('ticket') or '-'}",
    ]
    changes = doc["changes"]
    if not changes:
        lines.append("No change: the tenant was already as wished.")
    steps = {str(s.get("step")): s for s in doc.get("steps") or ()}
    shown = None
    for change in changes:
        step = str(change.get("step") or "")
        if step and step != shown:
            shown = step
            info = steps.get(step) or {}
            lines.append(f"  Step {step} {info.get('name', '')!r}: {info.get('action', '')}")
        lines.append(
            f"  {change['target']} {change['attribute']}: {_value(change['before'])} -> "
            f"{_value(change['after'])}"
        )
        lines.append(f"      {change['powershell']}")
    lines.extend(f"Note: {note}" for note in doc.get("notes") or ())
    if saved.playbook is not None and doc.get("planned_ahead"):
        lines.append(
            "Each step was planned, and read, on a copy of the tenant holding what the steps "
            "before it would leave."
        )
    lines.append(f"Read when planned ({len(doc['read'])}; any change refuses the plan):")
    lines.extend(
        f"  {_step_tag(item)}{item['target']} {item['attribute']} = {_value(item['value'])}"
        for item in doc["read"]
    )
    lines.append(f"Apply exactly this plan: invoke plan.apply {saved.path}")
    return "\n".join(lines) + "\n"


def _step_tag(item: Any) -> str:
    return f"[step {item['step']}] " if item.get("step") else ""


def _value(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "$true" if value else "$false"
    if isinstance(value, list):
        shown = (v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in value)
        return ", ".join(shown) if value else "(empty)"
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
    interactive: bool | None = None,
    target: str | None = None,
) -> int:
    """``plan.apply PATH``: apply exactly the saved plan, or refuse (exit 1) saying why.

    Every refusal is a logged run (``plan-refused``, outcome ``refused``).
    """
    from remediations.audit.plans import load_plan

    settings = settings_from(config)
    try:
        saved = load_plan(Path(path), check_hash=False)
        run_target = open_run_target(config, target, err=err)
    except RemediationError as exc:
        return report_error(exc, as_json=as_json, out=out, err=err)
    announce_target(run_target, out, as_json=as_json)
    transport = run_target.transport
    try:
        audit = open_audit(settings, transport, ticket or str(saved.doc.get("ticket") or ""),
                       target=run_target.name)  # fmt: skip
    except RemediationError as exc:
        run_target.close()
        return report_error(exc, as_json=as_json, out=out, err=err)
    confirm = Confirmer(yes=yes, target=run_target, err=err, ask=ask, interactive=interactive)
    apply = _apply_playbook_plan if saved.playbook is not None else _apply_action_plan
    try:
        reason = _refusal(config, saved, transport, audit.path)
        if reason is not None:
            raise _record_refusal(audit, saved, reason)
        return apply(config, saved, run_target, audit, confirm, as_json=as_json, out=out)
    except RemediationError as exc:
        code = report_error(exc, as_json=as_json, out=out, err=err, audit=audit)
        if not as_json:
            out.write(render_head(audit, exc))
        return code
    finally:
        run_target.close()


def _refusal(config: Any, saved: Any, transport: Any, audit_path: Path) -> str | None:
    """Why the saved plan must not be applied here at all (before any read), or None."""
    from remediations.actions import ACTIONS
    from remediations.audit.plans import applied_by, edited_reason
    from remediations.playbooks import find_playbook

    doc = saved.doc
    short = saved.recorded_hash[:12]
    if saved.edited:
        return edited_reason(saved)
    if (transport.tenant, transport.name) != (doc["tenant"], doc["transport"]):
        return (
            f"Not applied: plan {short} was made for {doc['tenant']} ({doc['transport']}), "
            f"and this target is {transport.tenant} ({transport.name}); save a plan against "
            "this target."
        )
    earlier = applied_by(audit_path, saved.hash)
    if earlier is not None:
        return (
            f"Not applied: plan {short} was already applied by run {earlier} "
            f"(invoke audit.show {earlier}); save a new plan if more is needed."
        )
    book = saved.playbook
    if book is None:
        if saved.action not in ACTIONS:
            return f"Not applied: plan {short} is for {saved.action!r}, no action of this toolkit."
        return None
    playbook = find_playbook(str(book.get("name")), playbooks_dir(config))
    if playbook.version != book.get("version"):
        return (
            f"Not applied: the playbook {playbook.name} has changed since plan {short} was made "
            f"(version {book.get('version')}, now {playbook.version}); save a new plan."
        )
    return None


def _record_refusal(audit: Any, saved: Any, reason: str) -> Exception:
    """Log a refused plan as a run of its own (who, which hash, why); the error to raise."""
    from remediations.audit.plans import PlanRefused
    from remediations.engine import new_run_id

    links: dict[str, Any] = {"run_id": new_run_id(), "plan_hash": saved.recorded_hash}
    book = saved.playbook
    if book is not None:
        links.update(playbook=book.get("name"), playbook_version=book.get("version"))
    else:
        links["action"] = saved.action
    log = audit.bind(**links, dry_run=False)
    start, end = ("run-start", "run-end")
    if book is not None:
        start, end = ("playbook-start", "playbook-end")
    inputs = {"parameters" if book is not None else "wish": dict(saved.doc["wish"])}
    log.event(start, plan_file=str(saved.path), **inputs)
    extra = {"file_hash": saved.hash} if saved.edited else {}
    log.event("plan-refused", reason=reason, **extra)
    log.event(end, outcome="refused", error=reason)
    return PlanRefused(reason)


def _apply_action_plan(
    config: Any, saved: Any, run_target: Any, audit: Any, confirm: Any, *, as_json: bool,
    out: TextIO,
) -> int:  # fmt: skip
    """Apply a single action's saved plan through the engine, pinned to the plan."""
    from remediations.actions import ACTIONS, parse_wish
    from remediations.audit.plans import PinnedAction
    from remediations.cli import render_preview
    from remediations.engine import new_run_id, run_action
    from remediations.fleet import fleet_from_json

    action = ACTIONS[saved.action]
    # a plan made without a target flag covers every object it lists: approving it is --all
    given = {k: v for k, v in saved.doc["wish"].items() if v is not None}
    fleet = fleet_from_json(action, given)  # a plan made with --targets-file
    if fleet is not None:
        action, wish = fleet
    else:
        wish = parse_wish(action, given, source=f"plan {saved.path}", all_targets=True)
    transport = run_target.transport
    run_id = new_run_id()
    log = audit.bind(plan_hash=saved.hash)
    pinned = PinnedAction(action, saved, log.bind(run_id=run_id, action=action.name, dry_run=False))

    def preview(plan: Any) -> None:
        if not as_json:
            out.write(printable(render_preview(plan, transport=transport)))

    outcome = run_action(
        pinned,  # type: ignore[arg-type]
        wish,
        transport=transport,
        audit=log,
        dry_run=False,
        run_id=run_id,
        preview=preview,
        confirm=confirm,
        verify_wait=settings_from(config).verify_wait(),
    )
    if as_json:
        out.write(json.dumps(with_head({**outcome.to_json(), "plan_hash": saved.hash}, audit),
                             indent=2) + "\n")  # fmt: skip
    else:
        out.write(printable(render_result(outcome, audit_path=audit.path)))
        if outcome.outcome == "applied":
            out.write(f"Applied plan {saved.hash} as run {outcome.run_id}.\n")
        out.write(render_head(audit))
    return ExitStatus.BAD_INPUT if confirm.refused else ExitStatus.OK


def _apply_playbook_plan(
    config: Any, saved: Any, run_target: Any, audit: Any, confirm: Any, *, as_json: bool,
    out: TextIO,
) -> int:  # fmt: skip
    """Apply a playbook's saved plan: the same playbook and parameters, every step pinned."""
    from remediations.audit.plans import PinnedStep, PlanRefused
    from remediations.cli.saved_plans import with_step_actions
    from remediations.engine import new_run_id
    from remediations.playbooks import bind, find_playbook, run_playbook
    from remediations.playbooks.render import render_preview, render_result

    book = saved.playbook
    playbook = find_playbook(str(book["name"]), playbooks_dir(config))
    bound = bind(playbook, dict(saved.doc["wish"]))
    ids = [str(s.get("step")) for s in saved.doc.get("steps") or ()]
    if [s.id for s in bound.steps] != ids:
        raise _record_refusal(
            audit,
            saved,
            f"Not applied: plan {saved.hash[:12]} holds steps {', '.join(ids) or 'none'}, and "
            f"the playbook binds to {', '.join(s.id for s in bound.steps) or 'none'} now; "
            "save a new plan.",
        )
    transport = run_target.transport
    run_id = new_run_id()
    log = audit.bind(plan_hash=saved.hash)
    step_log = log.bind(
        run_id=run_id, playbook=playbook.name, playbook_version=playbook.version, dry_run=False
    )
    ahead = bool(run_target.can_fork)
    pinned: list[PinnedStep] = []

    def pin(step: Any) -> PinnedStep:
        pinned.append(
            PinnedStep(step.action, saved, step.id, planned_ahead=ahead,
                       log=step_log.bind(step=step.id, action=step.step.action))
        )  # fmt: skip
        return pinned[-1]

    def preview(outcome: Any) -> None:
        if not as_json:
            out.write(printable(render_preview(outcome)))

    try:
        outcome = run_playbook(
            with_step_actions(bound, pin),
            transport=transport,
            audit=log,
            dry_run=False,
            run_id=run_id,
            preview=preview,
            confirm=confirm,
            planning_copy=run_target.planning_copy if ahead else None,
            verify_wait=settings_from(config).verify_wait(),
            writers=settings_from(config).writers(),
        )
    except RemediationError as exc:
        if not as_json and exc.outcome is not None:
            out.write(printable(render_result(exc.outcome, audit_path=audit.path)))
        if exc.exit_code == 2 and any(p.refused for p in pinned):
            refused = PlanRefused(str(exc))  # a step refused by its pin: exit 1, not 2
            refused.outcome = exc.outcome
            raise refused from exc
        raise
    if as_json:
        doc = {**outcome.to_json(), "target": run_target.name, "plan_hash": saved.hash}
        out.write(json.dumps(with_head(doc, audit), indent=2) + "\n")
    else:
        out.write(printable(render_result(outcome, audit_path=audit.path)))
        if outcome.outcome == "applied":
            out.write(f"Applied plan {saved.hash} as run {outcome.run_id}.\n")
        out.write(render_head(audit))
    return ExitStatus.BAD_INPUT if confirm.refused else ExitStatus.OK


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
    interactive: bool | None = None,
    target: str | None = None,
) -> int:
    """``rollback RUN_ID``: undo what the run applied, where nothing changed it since.

    A playbook run is undone step by step, the last step first: one audited
    rollback run per step that changed something, each linked to the run.
    """
    from remediations.audit import AUDIT_FILE
    from remediations.audit.rollback import RollbackWish, load_run
    from remediations.cli import render_preview
    from remediations.engine import new_run_id, run_action
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
        run_target = open_run_target(config, target, dry_run=dry_run, err=err)
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
    announce_target(run_target, out, as_json=as_json)
    try:
        audit = open_audit(settings, transport, ticket or str(first.get("ticket") or ""),
                       target=run_target.name)  # fmt: skip
    except RemediationError as exc:
        run_target.close()
        return report_error(exc, as_json=as_json, out=out, err=err)

    confirm = Confirmer(yes=yes, target=run_target, err=err, ask=ask, interactive=interactive)
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
            log = audit.bind(**links)
            run_id = new_run_id()
            refusals = log.bind(run_id=run_id, action=action.name, dry_run=dry_run)

            def preview(plan: Any, action: Any = action, refusals: Any = refusals) -> None:
                # each object left alone is an event of its own, before the run ends
                for refused in action.refusals:
                    refusals.event("rollback-refused", **refused)
                if not as_json:
                    out.write(printable(render_preview(plan, transport=transport)))

            outcome = run_action(
                action,
                RollbackWish(wanted),
                transport=transport,
                audit=log,
                dry_run=dry_run,
                run_id=run_id,
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
        return ExitStatus.BAD_INPUT if confirm.refused else ExitStatus.OK
    out.write(render_head(audit))
    return ExitStatus.BAD_INPUT if confirm.refused else ExitStatus.OK
