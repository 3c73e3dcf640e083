"""Playbook tasks: list, show, validate, run (and resume)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from remediations.cli import (
    Confirmer,
    announce_target,
    open_audit,
    open_run_target,
    playbooks_dir,
    render_head,
    report_error,
    settings_from,
    with_head,
)
from remediations.errors import ExitStatus, InputError, RemediationError
from remediations.terminal import STDERR, STDOUT, printable

__all__ = [
    "playbook_list_task",
    "playbook_run_task",
    "playbook_show_task",
    "playbook_validate_task",
]


def playbook_list_task(
    config: Any, *, as_json: bool = False, out: TextIO = STDOUT, err: TextIO = STDERR
) -> int:
    """``playbook.list``: every playbook's name, description and the causes it answers."""
    from remediations.playbooks import Playbook, list_playbooks
    from remediations.playbooks.render import render_list

    found = list_playbooks(playbooks_dir(config))
    if as_json:
        doc = [
            item.to_json() if isinstance(item, Playbook) else {"path": str(p), "error": str(item)}
            for p, item in found
        ]
        out.write(json.dumps(doc, indent=2) + "\n")
    else:
        out.write(printable(render_list(found)))
    return ExitStatus.OK


def playbook_show_task(
    config: Any,
    name: str,
    *,
    as_json: bool = False,
    out: TextIO = STDOUT,
    err: TextIO = STDERR,
) -> int:
    """``playbook.show NAME``: its parameters and steps."""
    from remediations.playbooks import find_playbook
    from remediations.playbooks.render import render_show

    try:
        playbook = find_playbook(name, playbooks_dir(config))
    except InputError as exc:
        return report_error(exc, as_json=as_json, out=out, err=err)
    if as_json:
        out.write(json.dumps(playbook.to_json(), indent=2) + "\n")
    else:
        out.write(printable(render_show(playbook)))
    return ExitStatus.OK


def playbook_validate_task(
    config: Any,
    paths: list[str] | None = None,
    *,
    out: TextIO = STDOUT,
    err: TextIO = STDERR,
) -> int:
    """``playbook.validate [--path P ...]``: check files (or every shipped playbook)."""
    from remediations.playbooks import PlaybookError, find_playbook, playbook_files

    directory = playbooks_dir(config)
    targets = list(paths or []) or [str(p) for p in playbook_files(directory)]
    if not targets:
        err.write(f"No playbooks to validate in {directory}.\n")
        return ExitStatus.BAD_INPUT
    bad = 0
    for target in targets:
        try:
            playbook = find_playbook(target, directory)
        except PlaybookError as exc:
            bad += 1
            out.write(f"invalid  {target}\n")
            err.writelines(f"{problem}\n" for problem in exc.problems)
            continue
        count = len(playbook.steps)
        out.write(
            f"ok       {playbook.source}  ({playbook.name}, version {playbook.version}, "
            f"{count} step{'s' if count != 1 else ''})\n"
        )
    if bad:
        err.write(f"{bad} of {len(targets)} playbooks are invalid.\n")
        return ExitStatus.BAD_INPUT
    return ExitStatus.OK


def playbook_run_task(
    config: Any,
    name: str,
    params: list[str] | None = None,
    *,
    dry_run: bool,
    as_json: bool,
    ticket: str,
    yes: bool,
    resume: str = "",
    target: str | None = None,
    out: TextIO = STDOUT,
    err: TextIO = STDERR,
    ask: Callable[[str], str] = input,
    interactive: bool | None = None,
    audit_sink: Any = None,
    save_plan: str = "",
) -> int:
    """``playbook.run NAME --param K=V ...``: plan it all, preview, apply step by step.

    ``save_plan`` (with ``dry_run``) writes the whole playbook's plan for ``plan.apply``.
    """
    from remediations.audit import AUDIT_FILE
    from remediations.playbooks import (
        bind,
        find_playbook,
        find_run,
        parse_param_args,
        resume_parameters,
        run_playbook,
    )
    from remediations.playbooks.render import render_preview, render_result

    settings = settings_from(config)
    prior = None
    try:
        playbook = find_playbook(name, playbooks_dir(config))
        given: Mapping[str, Any] = parse_param_args(params or [])
        if save_plan and (not dry_run or resume):
            raise InputError(
                "--save-plan needs --dry-run (and no --resume): a plan is saved to be "
                "applied later, whole."
            )
        if resume:
            prior = find_run(settings.audit_dir / AUDIT_FILE, resume)
            given = resume_parameters(playbook, prior, given)
        bound = bind(playbook, given)
        verify_wait = settings.verify_wait()
        from remediations.budget import RetryBudget
        from remediations.progress import open_progress

        budget = RetryBudget()  # one per run: every transport and writer waits on it
        writers = settings.writers(budget, open_progress(err, enabled=not as_json))
        run_target = open_run_target(config, target, dry_run=dry_run, err=err, budget=budget)
    except InputError as exc:
        return report_error(exc, as_json=as_json, out=out, err=err)
    announce_target(run_target, out, as_json=as_json)
    transport = run_target.transport
    try:
        audit = open_audit(settings, transport, ticket, audit_sink, run_target.name)
    except InputError as exc:
        run_target.close()
        return report_error(exc, as_json=as_json, out=out, err=err)

    def preview(outcome: Any) -> None:
        if not as_json:
            out.write(printable(render_preview(outcome)))

    confirm = Confirmer(yes=yes, target=run_target, err=err, ask=ask, interactive=interactive)
    recorders: dict[str, Any] = {}
    if save_plan:
        from remediations.audit.plans import RecordingAction
        from remediations.cli.saved_plans import with_step_actions

        bound = with_step_actions(
            bound, lambda step: recorders.setdefault(step.id, RecordingAction(step.action))
        )

    try:
        outcome = run_playbook(
            bound,
            transport=transport,
            audit=audit,
            dry_run=dry_run,
            resume=prior,
            preview=preview,
            confirm=confirm,
            planning_copy=run_target.planning_copy if run_target.can_fork else None,
            verify_wait=verify_wait,
            writers=writers,
        )
    except RemediationError as exc:
        if not as_json and exc.outcome is not None:
            out.write(printable(render_result(exc.outcome, audit_path=audit.path)))
        code = report_error(exc, as_json=as_json, out=out, err=err, audit=audit)
        if not as_json:
            out.write(render_head(audit, exc))
        return code
    finally:
        run_target.close()
    saved: dict[str, Any] | None = None
    if save_plan:
        from remediations.cli.saved_plans import save_playbook_plan

        try:
            saved = save_playbook_plan(save_plan, outcome, recorders, audit, settings.actor, ticket)
        except RemediationError as exc:
            return report_error(exc, as_json=as_json, out=out, err=err, audit=audit)
    if as_json:
        doc = outcome.to_json()
        doc["target"] = run_target.name
        if saved is not None:
            doc["plan"] = saved
        out.write(json.dumps(with_head(doc, audit), indent=2) + "\n")
    else:
        out.write(printable(render_result(outcome, audit_path=audit.path)))
        if saved is not None:
            out.write(
                printable(
                    f"Plan saved to {saved['path']} (hash {saved['hash']}); apply exactly it "
                    f"with: invoke plan.apply {saved['path']}\n"
                )
            )
        out.write(render_head(audit))
    return ExitStatus.BAD_INPUT if confirm.refused else ExitStatus.OK
