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
from typing import Any, TextIO

from remediations.errors import InputError, RemediationError
from remediations.terminal import printable

__all__ = [
    "DEFAULT_SANDBOX",
    "Settings",
    "open_transport",
    "playbooks_dir",
    "project_dir",
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
        audit_key_file: Path | None = None,
    ) -> None:
        self.sandbox_path = sandbox_path
        self.audit_dir = audit_dir
        self.faults = faults
        self.actor = actor or _whoami()
        self.target = target
        self.default_sandbox = default_sandbox
        self.audit_key_file = audit_key_file


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
    """Read ``sandbox.path``, ``sandbox.faults``, ``audit.dir``, ``actor``, ``target``.

    Relative paths resolve against the project folder, so every command finds the
    same tenant and log from any subdirectory.
    """
    sandbox = config.get("sandbox") or {}
    audit = config.get("audit") or {}
    raw_path = str(sandbox.get("path") or "")
    project = project_dir(config)
    return Settings(
        sandbox_path=resolve_setting(raw_path or DEFAULT_SANDBOX, project),
        audit_dir=resolve_setting(str(audit.get("dir") or DEFAULT_AUDIT_DIR), project),
        faults=str(sandbox.get("faults") or ""),
        actor=str(config.get("actor") or ""),
        target=str(config.get("target") or "sandbox"),
        default_sandbox=not raw_path,
        audit_key_file=(
            resolve_setting(str(audit["key_file"]), project) if audit.get("key_file") else None
        ),
    )


def open_transport(settings: Settings, *, err: TextIO = sys.stderr) -> Any:
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


def _audit(settings: Settings, transport: Any, ticket: str, sink: Any = None) -> Any:
    """The run's audit log; bad input (``AuditSetupError``) if it cannot be written at all."""
    from remediations.audit import AuditFile, AuditLog, read_key

    key = read_key(settings.audit_key_file) if settings.audit_key_file else None
    log = AuditLog(
        settings.audit_dir,
        clock=lambda: datetime.now(UTC),
        context={
            "actor": settings.actor,
            "tenant": transport.tenant,
            "transport": transport.name,
            "ticket": ticket,
        },
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
    all_targets: bool = False,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    ask: Callable[[str], str] = input,
    audit_sink: Any = None,
    save_plan: str = "",
) -> int:
    """Run one remediation from flags; return the exit status (0, 1, 2, 130 or 143).

    An action whose target flag may be left out (``fix-public-folder`` without
    ``--folder``) plans for every object in the tenant with the cause; applying
    that plan needs ``all_targets`` (``--all``), else the run is a preview that
    ends by saying so (exit 2).  ``audit_sink`` replaces the audit file writer
    (tests: a disk that fills up).  ``save_plan`` (with ``dry_run``) writes the
    plan for ``plan.apply``.
    """
    from remediations.actions import ACTIONS, parse_wish
    from remediations.engine import run_action

    action = ACTIONS[action_name]
    settings = settings_from(config)
    target_field = getattr(action.wish_type, "all_targets_field", None)
    try:
        missing = [k for k, v in values.items() if v is None and k != target_field]
        for key in missing:
            raise InputError(f"--{key.replace('_', '-')} is required for {action_name}.")
        if save_plan and not dry_run:
            raise InputError("--save-plan needs --dry-run: a plan is saved to be applied later.")
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
        transport = open_transport(settings, err=err)
    except InputError as exc:
        return _report_error(exc, as_json=as_json, out=out, err=err)
    try:
        audit = _audit(settings, transport, ticket, audit_sink)
    except InputError as exc:
        transport.close()
        return _report_error(exc, as_json=as_json, out=out, err=err)

    def preview(plan: Any) -> None:
        if not as_json:
            out.write(printable(render_preview(plan, transport=transport, dry_run=dry_run)))

    confirm = _confirmer(yes=yes, transport=transport, err=err, ask=ask)
    if save_plan:
        from remediations.audit.plans import RecordingAction

        action = RecordingAction(action)  # type: ignore[assignment]
    # Every target without --all: the same run as a dry run, so nothing can change.
    held = every and not all_targets and not dry_run

    try:
        outcome = run_action(
            action,
            wish,
            transport=transport,
            audit=audit,
            dry_run=dry_run or held,
            preview=preview,
            confirm=confirm,
        )
    except RemediationError as exc:
        code = _report_error(exc, as_json=as_json, out=out, err=err, audit=audit)
        if not as_json:
            out.write(render_head(audit, exc))
        return code
    finally:
        transport.close()
    if held and outcome.outcome == "planned":
        refusal = InputError(_needs_all(outcome.plan, action_name))
        refusal.outcome = outcome
        return _report_error(refusal, as_json=as_json, out=out, err=err, audit=audit)
    doc = outcome.to_json()
    saved = ""
    if save_plan:
        from remediations.cli.review import save_plan_file

        try:
            doc["plan"] = save_plan_file(
                Path(save_plan), action, wish, outcome, audit, settings, ticket
            )
        except RemediationError as exc:
            return _report_error(exc, as_json=as_json, out=out, err=err, audit=audit)
        saved = (
            f"Plan saved to {doc['plan']['path']} (hash {doc['plan']['hash']}); "
            f"apply exactly it with: invoke plan.apply {doc['plan']['path']}\n"
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
        return 0
    if as_json:
        out.write(json.dumps(with_head(doc, audit), indent=2) + "\n")
    else:
        out.write(printable(render_result(outcome, audit_path=audit.path)))
        out.write(saved + render_head(audit))
    return 0


def _target_count(plan: Any) -> str:
    count = len({c.target for c in plan.changes})
    return f"{count} object{'s' if count != 1 else ''}"


def _needs_all(plan: Any, action_name: str) -> str:
    return (
        f"Not applied: without a target, {action_name} covers every object in the tenant with "
        f"its cause ({_target_count(plan)} here); run it again with --all to apply this plan."
    )


def _confirmer(
    *, yes: bool, transport: Any, err: TextIO, ask: Callable[[str], str]
) -> Callable[[Any], bool]:
    """Apply without asking on the sandbox or with --yes; a real tenant asks after the preview."""

    def confirm(_plan: Any) -> bool:
        if yes or transport.name == "sandbox":
            return True
        if not sys.stdin.isatty():
            err.write("Not applied: a real tenant needs confirmation; pass --yes.\n")
            return False
        return ask("Apply these changes? [y/N] ").strip().lower() in ("y", "yes")

    return confirm


def _report_error(
    exc: RemediationError, *, as_json: bool, out: TextIO, err: TextIO, audit: Any = None
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
        out.write(json.dumps(with_head(doc, audit, exc), indent=2) + "\n")
    err.write(printable(f"{exc}\n"))
    return exc.exit_code


def render_preview(plan: Any, *, transport: Any, dry_run: bool) -> str:
    """The plan for people: the diff, then the PowerShell it equals."""
    lines = [f"{plan.action} on {transport.tenant} ({transport.name})"]
    if plan.is_noop:
        lines.append("No change needed: already as wished.")
    else:
        count = len(plan.changes)
        lines.append(f"Plan ({count} change{'s' if count != 1 else ''}):")
        lines.append(plan.render_diff())
        lines.append("Equivalent Exchange Online PowerShell:")
        lines.extend(f"  {line}" for line in plan.render_powershell().split("\n"))
    lines.extend(f"Note: {note}" for note in plan.notes)
    return "\n".join(lines) + "\n"


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
