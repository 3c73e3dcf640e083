"""The edge: picks transport, audit log and clock from settings, runs, and prints.

``tasks.py`` calls these functions with Invoke's config and the flags; nothing
here imports a tenant SDK, so ``--help``, ``--list`` and sandbox runs stay fast.
"""

from __future__ import annotations

import getpass
import json
import os
import shlex
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from remediations.errors import InputError, RemediationError

__all__ = [
    "DEFAULT_SANDBOX",
    "Settings",
    "open_transport",
    "run_action_task",
    "settings_from",
]

DEFAULT_SANDBOX = Path(".sandbox") / "tenant.json"
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
    ) -> None:
        self.sandbox_path = sandbox_path
        self.audit_dir = audit_dir
        self.faults = faults
        self.actor = actor or _whoami()
        self.target = target
        self.default_sandbox = default_sandbox


def _whoami() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return f"uid:{os.getuid()}"


def settings_from(config: Any) -> Settings:
    """Read ``sandbox.path``, ``sandbox.faults``, ``audit.dir``, ``actor``, ``target``."""
    sandbox = config.get("sandbox") or {}
    audit = config.get("audit") or {}
    raw_path = str(sandbox.get("path") or "")
    return Settings(
        sandbox_path=Path(raw_path) if raw_path else DEFAULT_SANDBOX,
        audit_dir=Path(str(audit.get("dir") or DEFAULT_AUDIT_DIR)),
        faults=str(sandbox.get("faults") or ""),
        actor=str(config.get("actor") or ""),
        target=str(config.get("target") or "sandbox"),
        default_sandbox=not raw_path,
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


def _audit(settings: Settings, transport: Any, ticket: str) -> Any:
    from remediations.audit import AuditLog

    return AuditLog(
        settings.audit_dir,
        clock=lambda: datetime.now(UTC),
        context={
            "actor": settings.actor,
            "tenant": transport.tenant,
            "transport": transport.name,
            "ticket": ticket,
        },
    )


def run_action_task(
    config: Any,
    action_name: str,
    values: Mapping[str, Any],
    *,
    dry_run: bool,
    as_json: bool,
    ticket: str,
    yes: bool,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    ask: Callable[[str], str] = input,
) -> int:
    """Run one remediation from flags; return the exit status (0, 1 or 2)."""
    from remediations.actions import ACTIONS, parse_wish
    from remediations.engine import run_action

    action = ACTIONS[action_name]
    settings = settings_from(config)
    try:
        missing = [k for k, v in values.items() if v is None]
        for key in missing:
            raise InputError(f"--{key.replace('_', '-')} is required for {action_name}.")
        wish = parse_wish(action, values)
        transport = open_transport(settings, err=err)
    except InputError as exc:
        return _report_error(exc, as_json=as_json, out=out, err=err)
    audit = _audit(settings, transport, ticket)

    def preview(plan: Any) -> None:
        if not as_json:
            out.write(render_preview(plan, transport=transport, dry_run=dry_run))

    confirm = _confirmer(yes=yes, transport=transport, err=err, ask=ask)

    try:
        outcome = run_action(
            action,
            wish,
            transport=transport,
            audit=audit,
            dry_run=dry_run,
            preview=preview,
            confirm=confirm,
        )
    except RemediationError as exc:
        return _report_error(exc, as_json=as_json, out=out, err=err)
    finally:
        transport.close()
    if as_json:
        out.write(json.dumps(outcome.to_json(), indent=2) + "\n")
    else:
        out.write(render_result(outcome, audit_path=audit.path))
    return 0


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


def _report_error(exc: RemediationError, *, as_json: bool, out: TextIO, err: TextIO) -> int:
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
        out.write(json.dumps(doc, indent=2) + "\n")
    err.write(f"{exc}\n")
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
        lines.extend(f"  {line}" for line in plan.render_powershell().splitlines())
    lines.extend(f"Note: {note}" for note in plan.notes)
    return "\n".join(lines) + "\n"


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


def sandbox_reset_task(config: Any, *, out: TextIO = sys.stdout) -> int:
    """``sandbox.reset``: write the demo tenant to the configured sandbox path."""
    from remediations.sandbox import reset_sandbox

    settings = settings_from(config)
    state = reset_sandbox(settings.sandbox_path)
    out.write(
        f"Reset the sandbox to the demo tenant {state.organization} "
        f"({len(state.recipients)} recipients) at {settings.sandbox_path}.\n"
    )
    return 0


def sandbox_load_task(
    config: Any, file: str, *, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    """``sandbox.load FILE``: replace the sandbox with a YAML tenant file's tenant."""
    from remediations.sandbox import load_tenant

    settings = settings_from(config)
    try:
        state = load_tenant(Path(file), settings.sandbox_path)
    except InputError as exc:
        err.write(f"{exc}\n")
        return exc.exit_code
    out.write(
        f"Loaded {state.organization} ({len(state.recipients)} recipients, "
        f"{len(state.transport_rules)} rules) from {file} into {settings.sandbox_path}.\n"
    )
    return 0


def sandbox_show_task(
    config: Any,
    identity: str = "",
    *,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """``sandbox.show [--identity X]``: the tenant's objects, or one in full."""
    from remediations.sandbox.show import render_object, render_tenant
    from remediations.sandbox.state import load_state

    settings = settings_from(config)
    try:
        state = load_state(settings.sandbox_path)
        out.write(render_object(state, identity) if identity else render_tenant(state))
    except InputError as exc:
        err.write(f"{exc}\n")
        return exc.exit_code
    return 0


def audit_verify_task(config: Any, *, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """``audit.verify``: check the hash chain of the audit log."""
    from remediations.audit import AUDIT_FILE, ChainError, verify_chain

    path = settings_from(config).audit_dir / AUDIT_FILE
    if not path.exists():
        out.write(f"No audit log at {path} yet.\n")
        return 0
    try:
        count = verify_chain(path)
    except ChainError as exc:
        err.write(f"The audit log {path} has been tampered with: {exc}.\n")
        return 1
    out.write(f"{path}: {count} events, hash chain intact.\n")
    return 0


# --- playbooks ----------------------------------------------------------------------


def _playbooks_dir(config: Any) -> Path:
    """``playbooks.dir`` (INVOKE_PLAYBOOKS_DIR), else the shipped ``playbooks/``."""
    from remediations.playbooks import SHIPPED_DIR

    raw = str((config.get("playbooks") or {}).get("dir") or "")
    return Path(raw) if raw else SHIPPED_DIR


def playbook_list_task(
    config: Any, *, as_json: bool = False, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    """``playbook.list``: every playbook's name, description and the causes it answers."""
    from remediations.playbooks import Playbook, list_playbooks
    from remediations.playbooks.render import render_list

    found = list_playbooks(_playbooks_dir(config))
    if as_json:
        doc = [
            item.to_json() if isinstance(item, Playbook) else {"path": str(p), "error": str(item)}
            for p, item in found
        ]
        out.write(json.dumps(doc, indent=2) + "\n")
    else:
        out.write(render_list(found))
    return 0


def playbook_show_task(
    config: Any,
    name: str,
    *,
    as_json: bool = False,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """``playbook.show NAME``: its parameters and steps."""
    from remediations.playbooks import find_playbook
    from remediations.playbooks.render import render_show

    try:
        playbook = find_playbook(name, _playbooks_dir(config))
    except InputError as exc:
        return _report_error(exc, as_json=as_json, out=out, err=err)
    if as_json:
        out.write(json.dumps(playbook.to_json(), indent=2) + "\n")
    else:
        out.write(render_show(playbook))
    return 0


def playbook_validate_task(
    config: Any,
    paths: list[str] | None = None,
    *,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """``playbook.validate [--path P ...]``: check files (or every shipped playbook)."""
    from remediations.playbooks import PlaybookError, find_playbook, playbook_files

    directory = _playbooks_dir(config)
    targets = list(paths or []) or [str(p) for p in playbook_files(directory)]
    if not targets:
        err.write(f"No playbooks to validate in {directory}.\n")
        return 2
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
        return 2
    return 0


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
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    ask: Callable[[str], str] = input,
) -> int:
    """``playbook.run NAME --param K=V ...``: plan it all, preview, apply step by step."""
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
        playbook = find_playbook(name, _playbooks_dir(config))
        given: Mapping[str, Any] = parse_param_args(params or [])
        if resume:
            prior = find_run(settings.audit_dir / AUDIT_FILE, resume)
            given = resume_parameters(playbook, prior, given)
        bound = bind(playbook, given)
        transport = open_transport(settings, err=err)
    except InputError as exc:
        return _report_error(exc, as_json=as_json, out=out, err=err)
    audit = _audit(settings, transport, ticket)

    def preview(outcome: Any) -> None:
        if not as_json:
            out.write(render_preview(outcome))

    confirm = _confirmer(yes=yes, transport=transport, err=err, ask=ask)

    try:
        outcome = run_playbook(
            bound,
            transport=transport,
            audit=audit,
            dry_run=dry_run,
            resume=prior,
            preview=preview,
            confirm=confirm,
        )
    except RemediationError as exc:
        if not as_json and exc.outcome is not None:
            out.write(render_result(exc.outcome, audit_path=audit.path))
        return _report_error(exc, as_json=as_json, out=out, err=err)
    finally:
        transport.close()
    if as_json:
        out.write(json.dumps(outcome.to_json(), indent=2) + "\n")
    else:
        out.write(render_result(outcome, audit_path=audit.path))
    return 0


def sandbox_send_task(
    config: Any,
    *,
    sender: str | None,
    recipient: str | None,
    size_kb: int = 10,
    client_ip: str = "",
    as_json: bool = False,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """``sandbox.send``: send a test message through the sandbox's mail flow."""
    import ipaddress

    from remediations.actions._common import check_address
    from remediations.sandbox.mailflow import send

    settings = settings_from(config)
    try:
        if not sender or not recipient:
            raise InputError(
                "--sender and --recipient are both required, e.g. --sender "
                "partner@fabrikam.com --recipient escalations@contoso.com."
            )
        sender = check_address(sender, "--sender")
        recipient = check_address(recipient, "--recipient")
        if size_kb < 1:
            raise InputError(
                f"--size-kb {size_kb} is not a size; give a whole number of KB, 1 or more."
            )
        if client_ip:
            try:
                ipaddress.ip_address(client_ip)
            except ValueError:
                raise InputError(
                    f"--client-ip {client_ip!r} is not an IP address, e.g. 192.0.2.25."
                ) from None
        transport = open_transport(settings, err=err)
    except InputError as exc:
        err.write(f"{exc}\n")
        return exc.exit_code
    now = datetime.now(UTC).replace(microsecond=0)
    delivery = send(
        transport.state,
        sender=sender,
        recipient=recipient,
        arrival=now,
        size_kb=size_kb,
        client_ip=client_ip or None,
    )
    path = None
    if delivery.ndr is not None:
        folder = settings.sandbox_path.parent / "ndr"
        folder.mkdir(parents=True, exist_ok=True)
        safe = "".join(c if c.isalnum() or c in "@.-" else "_" for c in recipient)
        path = folder / f"{now:%Y%m%dT%H%M%SZ}-{safe}.eml"
        counter = 1
        while path.exists():
            counter += 1
            path = folder / f"{now:%Y%m%dT%H%M%SZ}-{safe}-{counter}.eml"
        path.write_bytes(delivery.ndr.as_bytes())
    suggestion = None
    if delivery.outcome == "held":
        suggestion = (
            f"invoke bypass-moderation --group {shlex.quote(recipient)} "
            f"--sender {shlex.quote(sender)}"
        )
    if as_json:
        doc = delivery.to_json(str(path) if path else None)
        doc["suggestion"] = suggestion
        out.write(json.dumps(doc, indent=2) + "\n")
        return 0
    out.write(f"{delivery.outcome}: {delivery.reason}.\n")
    if suggestion:
        out.write(f"To let this sender past moderation: {suggestion}\n")
    if delivery.status:
        out.write(f"Status {delivery.status}. NDR written to {path}\n")
        out.write(f"Diagnose it: invoke diagnose --ndr {path}\n")
    return 0


def diagnose_task(
    config: Any,
    ndr: str | None,
    *,
    as_json: bool = False,
    check: bool = False,
    fix: bool = False,
    dry_run: bool = False,
    ticket: str = "",
    yes: bool = False,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    stdin: Any = None,
) -> int:
    """``diagnose --ndr PATH|-``: the cause and the fix; ``--check`` reads the tenant first,
    ``--fix`` runs every automatable fix through the usual preview and audit."""
    import io

    from remediations.diagnose import diagnose, parse_ndr, render_json, render_text
    from remediations.diagnose.ndr import NotAnNdr

    settings = settings_from(config)
    try:
        raw = _read_ndr(ndr, stdin if stdin is not None else sys.stdin)
        report = parse_ndr(raw)
    except NotAnNdr as exc:
        err.write(f"--ndr {ndr!r}: {exc}\n")
        return 2
    except InputError as exc:
        err.write(f"{exc}\n")
        return exc.exit_code
    checks: list[Any] = []
    try:
        if check or fix:
            from remediations.diagnose.check import check_report

            transport = open_transport(settings, err=err)
            pairs = check_report(report, transport)
            diagnoses = [d for d, _ in pairs]
            checks = [c for _, c in pairs]
        else:
            diagnoses = list(diagnose(report))
    except RemediationError as exc:
        err.write(f"{exc}\n")
        return exc.exit_code
    from remediations.playbooks.library import suggest_runs

    playbooks = [
        suggest_runs(
            d.cause, recipient=d.recipient, sender=d.sender, directory=_playbooks_dir(config)
        )
        for d in diagnoses
    ]
    runs: list[dict[str, Any]] = []
    code = 0
    if not as_json:
        blocks = render_text(diagnoses).rstrip("\n").split("\n\n")
        extended = []
        for index, block in enumerate(blocks):
            extra = [f"  playbook:   {command}" for command in playbooks[index]]
            if checks:
                check_item = checks[index]
                extra.append(
                    f"  check:      {_check_word(check_item.confirmed)}: {check_item.evidence}"
                )
            extended.append("\n".join([block, *extra]))
        out.write("\n\n".join(extended) + "\n")
    if fix:
        done: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
        for index, item in enumerate(diagnoses):
            key = (item.fix.action or "", item.fix.params)
            if item.fix.action is None or not item.automatable or key in done:
                continue
            if checks and checks[index].confirmed is False:
                continue
            done.add(key)
            buffer = io.StringIO() if as_json else out
            if not as_json:
                out.write(f"\nRunning: {item.fix.command}{' --dry-run' if dry_run else ''}\n")
            status = run_action_task(
                config,
                item.fix.action,
                dict(item.fix.params),
                dry_run=dry_run,
                as_json=as_json,
                ticket=ticket,
                yes=yes,
                out=buffer,
                err=err,
            )
            code = max(code, status)
            if as_json and isinstance(buffer, io.StringIO):
                runs.append(json.loads(buffer.getvalue()))
    if as_json:
        doc: dict[str, Any] = dict(render_json(diagnoses))
        items: list[dict[str, Any]] = doc.get("diagnoses", [doc])
        for item_doc, suggested in zip(items, playbooks, strict=True):
            item_doc["playbooks"] = suggested
        for item_doc, c in zip(items, checks, strict=False):
            item_doc["check"] = c.to_json()
        if fix:
            doc["fix_runs"] = runs
        out.write(json.dumps(doc, indent=2) + "\n")
    return code


def _check_word(confirmed: bool | None) -> str:
    return {True: "confirmed", False: "not confirmed", None: "nothing to check"}[confirmed]


def _read_ndr(ndr: str | None, stdin: Any) -> bytes:
    if not ndr:
        raise InputError(
            "--ndr is required: the bounce as a file (.eml or its text), or - to read it from "
            "standard input."
        )
    if ndr == "-":
        data = stdin.buffer.read() if hasattr(stdin, "buffer") else stdin.read()
        return data if isinstance(data, bytes) else str(data).encode()
    path = Path(ndr)
    if not path.is_file():
        raise InputError(
            f"--ndr {ndr!r}: no such file; give the path of the bounce (.eml or its text), or - "
            "to read it from standard input."
        )
    return path.read_bytes()


# --- check-domain and scan --------------------------------------------------------------
# Exit status: 0 all well; 3 problems found (reported); 1 something could not be read
# (a tenant read or a DNS lookup failed: unknown, never "absent"); 2 bad input.


def open_resolver(transport: Any) -> Any:
    """DNS for the domain checks: the sandbox's own zone data, or the system's resolver."""
    from remediations.diagnose._dns import SystemResolver, ZoneResolver

    if transport.name == "sandbox":
        from remediations.sandbox.directory import zone_data

        return ZoneResolver(zone_data(transport.state))
    return SystemResolver()


def _check_failed(
    exc: RemediationError,
    doc: dict[str, Any],
    *,
    as_json: bool,
    out: TextIO,
    err: TextIO,
    stopped: str = "",
) -> int:
    message = str(exc) if isinstance(exc, InputError) else f"{stopped}{exc}"
    if as_json:
        status = "refused" if isinstance(exc, InputError) else "failed"
        out.write(json.dumps({**doc, "status": status, "error": message}, indent=2) + "\n")
    err.write(f"{message}\n")
    return exc.exit_code


def check_domain_task(
    config: Any,
    domain: str | None,
    *,
    as_json: bool,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    resolver: Any = None,
) -> int:
    """``check-domain --domain NAME``: MX, SPF, registration and hybrid connectors of a domain."""
    from remediations.diagnose.domain import check_domain, check_domain_name, render_domain_text

    settings = settings_from(config)
    doc: dict[str, Any] = {"domain": domain}
    try:
        if not domain:
            raise InputError("--domain is required for check-domain; give one like contoso.com.")
        name = check_domain_name(domain)
        transport = open_transport(settings, err=err)
    except InputError as exc:
        return _check_failed(exc, doc, as_json=as_json, out=out, err=err)
    try:
        report = check_domain(transport, resolver or open_resolver(transport), name)
    except RemediationError as exc:
        stopped = f"check-domain {name} stopped, nothing is reported: a read failed: "
        return _check_failed(exc, doc, as_json=as_json, out=out, err=err, stopped=stopped)
    finally:
        transport.close()
    if as_json:
        out.write(json.dumps(report.to_json(), indent=2) + "\n")
    else:
        out.write(render_domain_text(report))
    return report.exit_code


def scan_task(
    config: Any,
    *,
    partners: list[str] | tuple[str, ...] = (),
    as_json: bool,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    resolver: Any = None,
) -> int:
    """``scan``: every object of the tenant that bounces outside or restricted senders."""
    from remediations.diagnose.scan import render_scan_text, scan_tenant

    settings = settings_from(config)
    doc: dict[str, Any] = {"tenant": None}
    try:
        transport = open_transport(settings, err=err)
    except InputError as exc:
        return _check_failed(exc, doc, as_json=as_json, out=out, err=err)
    doc["tenant"] = transport.tenant
    try:
        report = scan_tenant(transport, resolver or open_resolver(transport), partners=partners)
    except RemediationError as exc:
        stopped = "The scan stopped, nothing is reported: a read failed: "
        return _check_failed(exc, doc, as_json=as_json, out=out, err=err, stopped=stopped)
    finally:
        transport.close()
    if as_json:
        out.write(json.dumps(report.to_json(), indent=2) + "\n")
    else:
        out.write(render_scan_text(report))
    return report.exit_code
