"""The edge: picks transport, audit log and clock from settings, runs, and prints.

The remediation tasks live here; the other task families in submodules
(``sandbox``, ``audit``, ``playbooks``, ``diagnose``), so that a run imports
only what it uses.

``tasks.py`` calls these functions with Invoke's config and the flags; nothing
here imports a tenant SDK, so ``--help``, ``--list`` and sandbox runs stay fast.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from remediations.errors import ExitStatus, InputError, RemediationError
from remediations.exchange import facts
from remediations.progress import open_progress
from remediations.terminal import STDERR, STDOUT, printable

if TYPE_CHECKING:
    from remediations.target import Target

__all__ = [
    "DEFAULT_SANDBOX",
    "Settings",
    "announce_target",
    "open_run_target",
    "open_transport",
    "playbooks_dir",
    "project_dir",
    "render_lines",
    "render_preview",
    "render_result",
    "resolve_setting",
    "run_action_task",
    "settings_from",
]

DEFAULT_SANDBOX = Path(".sandbox") / "tenant.db"
DEFAULT_AUDIT_DIR = Path("audit-logs")


class Settings:
    """The settings a run needs, read from Invoke's config (and so its env vars)."""

    def __init__(
        self,
        *,
        sandbox_path: Path,
        audit_dir: Path,
        faults: str = "",
        actor: str = "",
        target: str = "sandbox",
        default_sandbox: bool = False,
        verify_wait_seconds: Any = None,
        audit_key_file: Path | None = None,
        concurrency: Any = None,
    ) -> None:
        self.sandbox_path = sandbox_path
        self.audit_dir = audit_dir
        self.faults = faults
        self.actor = actor or _whoami()
        self.target = target
        self.default_sandbox = default_sandbox
        self.verify_wait_seconds = verify_wait_seconds
        self.audit_key_file = audit_key_file
        self.concurrency = concurrency

    def writers(self, budget: Any = None, progress: Any = None) -> Any:
        """How many objects a run writes at once (``fleet.concurrency``), its budget and
        where it shows its progress."""
        from remediations.engine import Writers

        return Writers(concurrency=_concurrency(self.concurrency), budget=budget, progress=progress)

    def verify_wait(self) -> Any:
        """How long verification waits for replication (``verify.wait_seconds``)."""
        from remediations.engine import VerifyWait

        return VerifyWait(seconds=_wait_seconds(self.verify_wait_seconds))


def _whoami() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return f"uid:{os.getuid()}"


def project_dir(config: Any) -> Path | None:
    """The project folder: the one holding the ``tasks.py`` Invoke loaded.

    Invoke records it on its config (``set_project_location``); a plain mapping
    (tests) may give ``project_dir``.  None when neither says (then relative
    settings stay relative to the working directory).
    """
    prefix = getattr(config, "_project_prefix", None)
    if not prefix and isinstance(config, Mapping):
        prefix = config.get("project_dir")
    return Path(str(prefix)) if prefix else None


def resolve_setting(raw: str | Path, project: Path | None) -> Path:
    """A path setting: ``~`` expanded; relative ones resolved against the project folder."""
    path = Path(raw).expanduser()
    if path.is_absolute() or project is None:
        return path
    return project / path


def settings_from(config: Any) -> Settings:
    """Read ``sandbox.path``, ``sandbox.faults``, ``audit.dir``, ``actor``, ``target``,
    ``verify.wait_seconds``, ``fleet.concurrency``.

    Relative paths resolve against the project folder, so every command finds the
    same tenant and log from any subdirectory.
    """
    sandbox = config.get("sandbox") or {}
    audit = config.get("audit") or {}
    raw_path = str(sandbox.get("path") or "")
    project = project_dir(config)
    return Settings(
        verify_wait_seconds=(config.get("verify") or {}).get("wait_seconds"),
        sandbox_path=resolve_setting(raw_path or DEFAULT_SANDBOX, project),
        audit_dir=resolve_setting(str(audit.get("dir") or DEFAULT_AUDIT_DIR), project),
        faults=str(sandbox.get("faults") or ""),
        actor=str(config.get("actor") or ""),
        target=str(config.get("target") or "sandbox"),
        default_sandbox=not raw_path,
        audit_key_file=(
            resolve_setting(str(audit["key_file"]), project) if audit.get("key_file") else None
        ),
        concurrency=(config.get("fleet") or {}).get("concurrency"),
    )


#: writers at once by default (see facts.CONCURRENT_REQUESTS for where the number comes from)
DEFAULT_CONCURRENCY = facts.CONCURRENT_REQUESTS
MAX_CONCURRENCY = 16


def _concurrency(raw: Any) -> int:
    if raw is None or raw == "":
        return DEFAULT_CONCURRENCY
    try:
        value = int(str(raw))
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_CONCURRENCY:
        raise InputError(
            f"fleet.concurrency is {raw!r}; give a whole number of writers from 1 to "
            f"{MAX_CONCURRENCY} (default {DEFAULT_CONCURRENCY})."
        )
    return value


def _wait_seconds(raw: Any) -> float:
    if raw is None or raw == "":
        return 60.0
    try:
        seconds = float(raw)
    except (TypeError, ValueError):
        seconds = -1.0
    if not 0 <= seconds <= 3600:
        raise InputError(
            f"verify.wait_seconds is {raw!r}; give a number of seconds from 0 to 3600 (default 60)."
        )
    return seconds


def open_transport(settings: Settings, *, err: TextIO = STDERR) -> Any:
    """The transport for the configured target (only the sandbox exists so far)."""
    if settings.target != "sandbox":
        raise InputError(
            f"target {settings.target!r} is not available yet; the only target is 'sandbox'."
        )
    from remediations.sandbox import SandboxTransport, reset_sandbox
    from remediations.sandbox.transport import Faults

    faults = Faults.parse(settings.faults)
    if settings.default_sandbox and not settings.sandbox_path.exists():
        reset_sandbox(settings.sandbox_path)
        print(
            f"No sandbox tenant yet: created the demo tenant at {settings.sandbox_path}.",
            file=err,
        )
    return SandboxTransport(settings.sandbox_path, faults=faults)


def open_run_target(
    config: Any,
    name: str | None = None,
    *,
    dry_run: bool = False,
    err: TextIO = STDERR,
    budget: Any = None,
) -> Target:
    """The run's one :class:`Target`: ``--target``, else ``target:``/``INVOKE_TARGET``.

    A dry run gets transports that refuse every write; sandbox files given relative
    resolve against the project folder, as the other path settings do.
    """
    from remediations.target import open_target

    project = project_dir(config)
    return open_target(
        config,
        name,
        dry_run=dry_run,
        err=err,
        resolve=lambda path: resolve_setting(path, project),
        budget=budget,
    )


def announce_target(target: Target, out: TextIO, *, as_json: bool = False) -> None:
    """The first line of the text output: which target this run acts on.

    JSON documents carry it as their ``target`` field instead.
    """
    if not as_json:
        out.write(printable(f"Target: {target.name} ({target.kind}), tenant {target.tenant}.\n"))


def open_audit(
    settings: Settings, transport: Any, ticket: str, sink: Any = None, target: str = ""
) -> Any:
    """The run's audit log; bad input (``AuditSetupError``) if it cannot be written at all."""
    from remediations.audit import AuditFile, AuditLog, read_key

    key = read_key(settings.audit_key_file) if settings.audit_key_file else None
    context = {
        "actor": settings.actor,
        "tenant": transport.tenant,
        "transport": transport.name,
        "ticket": ticket,
    }
    if target:
        context["target_name"] = target
    log = AuditLog(
        settings.audit_dir,
        clock=lambda: datetime.now(UTC),
        context=context,
        sink=sink or AuditFile,
        key=key,
    )
    log.check()
    return log


def run_action_task(
    config: Any,
    action_name: str,
    values: Mapping[str, Any],
    *,
    dry_run: bool,
    as_json: bool,
    ticket: str,
    yes: bool,
    target: str | None = None,
    all_targets: bool = False,
    out: TextIO = STDOUT,
    err: TextIO = STDERR,
    ask: Callable[[str], str] = input,
    interactive: bool | None = None,
    audit_sink: Any = None,
    save_plan: str = "",
    emit_json: Callable[[dict[str, Any]], None] | None = None,
    targets_file: str = "",
) -> int:
    """Run one remediation from flags; return the exit status (0, 1, 2, 130 or 143).

    ``target`` is ``--target`` (None: the configured one, else the sandbox);
    ``interactive`` says whether someone can answer the confirmation (None: stdin is a
    terminal).  An action whose target flag may be left out (``fix-public-folder``
    without ``--folder``) plans for every object in the tenant with the cause; applying
    that plan needs ``all_targets`` (``--all``), else the run is a preview that ends by
    saying so (exit 2).  ``audit_sink`` replaces the audit file writer (tests: a disk
    that fills up).  ``save_plan`` (with ``dry_run``) writes the plan for ``plan.apply``.
    ``emit_json`` (with ``as_json``) receives the run's JSON document instead of ``out``
    (``diagnose --fix`` gathers them into its own).  ``targets_file`` (``--targets-file``)
    names many targets, one plan for all (:mod:`remediations.fleet`).
    """
    from remediations.actions import ACTIONS, parse_wish
    from remediations.engine import run_action

    action = ACTIONS[action_name]
    settings = settings_from(config)
    target_field = getattr(action.wish_type, "all_targets_field", None)
    try:
        if save_plan and not dry_run:
            raise InputError("--save-plan needs --dry-run: a plan is saved to be applied later.")
        progress = open_progress(err, enabled=not as_json)
        if targets_file:
            wish, action = _fleet(action, values, targets_file, all_targets, progress)
        else:
            missing = [k for k, v in values.items() if v is None and k != target_field]
            for key in missing:
                raise InputError(f"--{key.replace('_', '-')} is required for {action_name}.")
            wish = parse_wish(
                action, {k: v for k, v in values.items() if v is not None}, all_targets=True
            )
        every = bool(getattr(wish, "all_targets", False))
        if all_targets and not every:
            flag = f"--{str(target_field).replace('_', '-')}"
            raise InputError(
                f"--all asks for every object with the cause; leave out {flag}, or drop --all "
                f"to fix the one {flag} names."
            )
        # Every target without --all: the same run as a dry run, so nothing can change.
        held = every and not all_targets and not dry_run
        verify_wait = settings.verify_wait()
        from remediations.budget import RetryBudget

        budget = RetryBudget()  # one per run: every transport and writer waits on it
        writers = settings.writers(budget, progress)
        run_target = open_run_target(
            config, target, dry_run=dry_run or held, err=err, budget=budget
        )
    except InputError as exc:
        return report_error(exc, as_json=as_json, out=out, err=err, emit=emit_json)
    announce_target(run_target, out, as_json=as_json)
    transport = run_target.transport
    try:
        audit = open_audit(settings, transport, ticket, audit_sink, run_target.name)
    except InputError as exc:
        run_target.close()
        return report_error(exc, as_json=as_json, out=out, err=err, emit=emit_json)

    def preview(plan: Any) -> None:
        if not as_json:
            out.write(printable(render_preview(plan, transport=transport)))

    confirm = Confirmer(yes=yes, target=run_target, err=err, ask=ask, interactive=interactive)
    if save_plan:
        from remediations.audit.plans import RecordingAction

        action = RecordingAction(action)  # type: ignore[assignment]

    try:
        outcome = run_action(
            action,
            wish,
            transport=transport,
            audit=audit,
            dry_run=dry_run or held,
            preview=preview,
            confirm=confirm,
            verify_wait=verify_wait,
            writers=writers,
        )
    except RemediationError as exc:
        code = report_error(exc, as_json=as_json, out=out, err=err, audit=audit, emit=emit_json)
        if not as_json:
            out.write(render_head(audit, exc))
        return code
    finally:
        run_target.close()
    if held and outcome.outcome == "planned":
        refusal = InputError(_needs_all(outcome.plan, action_name))
        refusal.outcome = outcome
        return report_error(refusal, as_json=as_json, out=out, err=err, audit=audit, emit=emit_json)
    saved = ""
    plan_doc: dict[str, Any] | None = None
    if save_plan:
        from remediations.cli.saved_plans import save_plan_file

        try:
            plan_doc = save_plan_file(
                Path(save_plan), action, wish, outcome, audit, settings, ticket
            )
        except RemediationError as exc:
            return report_error(exc, as_json=as_json, out=out, err=err, audit=audit, emit=emit_json)
        saved = (
            f"Plan saved to {plan_doc['path']} (hash {plan_doc['hash']}); "
            f"apply exactly it with: invoke plan.apply {plan_doc['path']}\n"
        )
    if every and dry_run and not as_json and outcome.outcome == "planned":
        out.write(
            printable(
                f"Dry run: nothing changed. Run without --dry-run and with --all to apply this "
                f"plan ({_target_count(outcome.plan)}). Audit log: {audit.path} "
                f"(run {outcome.run_id}).\n"
            )
        )
        out.write(saved + render_head(audit))
        return ExitStatus.OK
    if as_json:
        doc = outcome.to_json()
        doc["target"] = run_target.name
        if plan_doc is not None:
            doc["plan"] = plan_doc
        emit_document(with_head(doc, audit), out=out, emit=emit_json)
    else:
        out.write(printable(render_result(outcome, audit_path=audit.path)))
        out.write(saved + render_head(audit))
    return ExitStatus.BAD_INPUT if confirm.refused else ExitStatus.OK


def _fleet(
    action: Any, values: Mapping[str, Any], path: str, all_targets: bool, progress: Any
) -> Any:
    """The wish and action of a run over every target a ``--targets-file`` names."""
    from remediations.fleet import FleetAction, read_targets_file

    if all_targets:
        raise InputError(
            "--all asks for every object with the cause and --targets-file names the targets; "
            "give one of them."
        )
    return read_targets_file(path, action, values), FleetAction(action, progress=progress)


def _target_count(plan: Any) -> str:
    count = len({c.target for c in plan.changes})
    return f"{count} object{'s' if count != 1 else ''}"


def _needs_all(plan: Any, action_name: str) -> str:
    return (
        f"Not applied: without a target, {action_name} covers every object in the tenant with "
        f"its cause ({_target_count(plan)} here); run it again with --all to apply this plan."
    )


class Confirmer:
    """Apply without asking when the target does not ask, or with --yes; else ask after the
    preview.  With nobody to ask, refuse: ``refused`` is then set and the run exits 2."""

    def __init__(
        self,
        *,
        yes: bool,
        target: Target,
        err: TextIO,
        ask: Callable[[str], str] = input,
        interactive: bool | None = None,
    ) -> None:
        self.yes = yes
        self.target = target
        self.err = err
        self.ask = ask
        self.interactive = interactive
        self.refused = False

    def __call__(self, _plan: Any) -> bool:
        if self.yes or not self.target.confirm_before_apply:
            return True
        interactive = sys.stdin.isatty() if self.interactive is None else self.interactive
        if not interactive:
            self.refused = True
            self.err.write(
                printable(
                    f"Not applied: target {self.target.name!r} is a real tenant and there is no "
                    "terminal to confirm on; rerun with --yes to apply.\n"
                )
            )
            return False
        answer = self.ask(printable(f"Apply these changes to {self.target.name}? [y/N] "))
        return answer.strip().lower() in ("y", "yes")


def emit_document(
    doc: dict[str, Any], *, out: TextIO, emit: Callable[[dict[str, Any]], None] | None = None
) -> None:
    """Print a ``--json`` document, or hand it to ``emit`` (a caller that gathers them)."""
    if emit is not None:
        emit(doc)
    else:
        out.write(json.dumps(doc, indent=2) + "\n")


def report_error(
    exc: RemediationError,
    *,
    as_json: bool,
    out: TextIO,
    err: TextIO,
    audit: Any = None,
    emit: Callable[[dict[str, Any]], None] | None = None,
) -> int:
    if as_json:
        doc = (
            exc.outcome.to_json()
            if exc.outcome is not None
            else {
                "run_id": None,
                "dry_run": None,
                "outcome": "refused" if isinstance(exc, InputError) else "failed",
                "changes": [],
            }
        )
        doc["error"] = str(exc)
        emit_document(with_head(doc, audit, exc), out=out, emit=emit)
    err.write(printable(f"{exc}\n"))
    return exc.exit_code


#: Where the previewed Exchange lines run, by transport: on premises the Exchange Management
#: Shell; Microsoft Graph PowerShell lines are labelled as such on every target.
_SHELLS = {
    "exchange-online": "Exchange Online PowerShell",
    "sandbox": "Exchange Online PowerShell",
    "exchange-onprem": "Exchange Management Shell (on-premises Exchange) PowerShell",
}
GRAPH_SHELL = "Microsoft Graph PowerShell"


def render_preview(plan: Any, *, transport: Any) -> str:
    """The plan for people: the diff, then each line labelled by the shell it runs in
    (a directory line with its Microsoft Graph request)."""
    lines = [f"{plan.action} on {transport.tenant} ({transport.name})"]
    if plan.is_noop:
        lines.append("No change needed: already as wished.")
    elif len(plan.changes) > PREVIEW_ROWS:
        lines.extend(_summary_lines(plan, transport.name))
    else:
        count = len(plan.changes)
        lines.append(f"Plan ({count} change{'s' if count != 1 else ''}):")
        lines.append(plan.render_diff())
        lines.extend(render_lines(plan.changes, transport.name))
    lines.extend(f"Note: {note}" for note in plan.notes)
    return "\n".join(lines) + "\n"


#: a plan with more changes than this is previewed as counts and its first rows
PREVIEW_ROWS = 20
_FIRST_ROWS = 10


def _summary_lines(plan: Any, transport_name: str) -> list[str]:
    """A long plan: counts by kind of change, then the first rows and their PowerShell."""
    from collections import Counter
    from dataclasses import replace

    count = len(plan.changes)
    objects = len({c.target.lower() for c in plan.changes})
    kinds = Counter((c.cmdlet.name, c.attribute) for c in plan.changes)
    lines = [f"Plan ({count:,} changes to {objects:,} objects), by kind of change:"]
    width = len(f"{max(kinds.values()):,}")
    lines.extend(
        f"  {n:>{width},}  {name} {attribute}" for (name, attribute), n in kinds.most_common()
    )
    first = replace(plan, changes=plan.changes[:_FIRST_ROWS])
    lines.append(f"The first {_FIRST_ROWS}:")
    lines.append(first.render_diff())
    lines.extend(render_lines(first.changes, transport_name))
    lines.append(
        f"... and {count - _FIRST_ROWS:,} more: the whole plan is in --json, the audit log "
        "(one change-planned event each) and a plan saved with --save-plan."
    )
    return lines


def render_lines(changes: Any, transport_name: str) -> list[str]:
    """``Equivalent <shell>:`` before each run of lines that run in the same place."""
    from remediations.graph_cmdlets import GRAPH, graph_request, runs_in

    exchange = _SHELLS.get(transport_name, _SHELLS["exchange-online"])
    lines: list[str] = []
    current = ""
    for change in changes:
        where = runs_in(change.cmdlet)
        if where != current:
            current = where
            lines.append(f"Equivalent {GRAPH_SHELL if where == GRAPH else exchange}:")
        lines.extend(f"  {line}" for line in change.cmdlet.to_powershell().split("\n"))
        request = graph_request(change.cmdlet)
        if request is not None:
            lines.append(f"    Microsoft Graph request: {request.to_graph()}")
    return lines


def render_head(audit: Any, exc: BaseException | None = None) -> str:
    """The chain head after the run, for the ticket: proves later that no line was cut off.

    Nothing when the run's end could not be written (the head would not be the run's).
    """
    from remediations.audit import AuditUnwritable

    head = getattr(audit, "head", None)
    if head is None or isinstance(getattr(exc, "cause", None), AuditUnwritable):
        return ""
    return (
        f"Audit chain head: event {head.count}, hash {head.hash} "
        f"(check later: invoke audit.verify --head {head.hash} --count {head.count}).\n"
    )


def with_head(doc: dict[str, Any], audit: Any, exc: BaseException | None = None) -> dict[str, Any]:
    """A --json document with the chain head after the run (``chain_head``: count, hash)."""
    from remediations.audit import AuditUnwritable

    head = getattr(audit, "head", None)
    unwritten = isinstance(getattr(exc, "cause", None), AuditUnwritable)
    return {**doc, "chain_head": None if head is None or unwritten else head.to_json()}


def render_result(outcome: Any, *, audit_path: Path) -> str:
    """One closing line: what happened, and where the record is."""
    where = f"Audit log: {audit_path} (run {outcome.run_id})."
    if outcome.outcome == "planned":
        return f"Dry run: nothing changed. Run without --dry-run to apply. {where}\n"
    if outcome.outcome == "no-change":
        return f"Nothing to do. {where}\n"
    if outcome.outcome == "cancelled":
        return f"Not applied. {where}\n"
    count = len(outcome.applied)
    return f"Applied and verified {count} change{'s' if count != 1 else ''}. {where}\n"


def playbooks_dir(config: Any) -> Path:
    """``playbooks.dir`` (INVOKE_PLAYBOOKS_DIR; relative to the project), else the shipped ones."""
    from remediations.playbooks import SHIPPED_DIR

    raw = str((config.get("playbooks") or {}).get("dir") or "")
    return resolve_setting(raw, project_dir(config)) if raw else SHIPPED_DIR
