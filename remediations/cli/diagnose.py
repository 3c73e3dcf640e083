"""From bounce to fix: diagnose an NDR, check a domain, scan the tenant."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO

from remediations.cli import (
    announce_target,
    open_run_target,
    playbooks_dir,
    run_action_task,
)
from remediations.errors import ExitStatus, InputError, RemediationError
from remediations.terminal import STDERR, STDOUT, printable

__all__ = ["check_domain_task", "diagnose_task", "scan_task"]


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
    target: str | None = None,
    out: TextIO = STDOUT,
    err: TextIO = STDERR,
    stdin: Any = None,
) -> int:
    """``diagnose --ndr PATH|-``: the cause and the fix (a directory of ``.eml`` files or an
    mbox file: every bounce in it, tallied by cause, see ``cli.postmaster``); ``--check``
    reads the tenant first and finds the fix(es) that, planned on a copy of the tenant,
    deliver this sender's message;
    ``--fix`` runs them through the usual preview and audit and, on the sandbox, ends by
    sending the original message again and reporting delivered or the next bounce."""

    from remediations.diagnose import diagnose, parse_ndr, render_json, render_text
    from remediations.diagnose.ndr import NotAnNdr

    if ndr and ndr != "-":
        from remediations.diagnose.batch import is_mailbox_source

        if is_mailbox_source(Path(ndr)):
            from remediations.cli.postmaster import diagnose_mailbox_task

            return diagnose_mailbox_task(
                config, Path(ndr), as_json=as_json, check=check, fix=fix, out=out, err=err
            )
    try:
        raw = _read_ndr(ndr, stdin if stdin is not None else sys.stdin)
        report = parse_ndr(raw)
    except NotAnNdr as exc:
        err.write(printable(f"--ndr {ndr!r}: {exc}\n"))
        return exc.exit_code
    except InputError as exc:
        err.write(printable(f"{exc}\n"))
        return exc.exit_code
    checks: list[Any] = []
    on_sandbox = False
    sandbox_file: Path | None = None
    try:
        if check or fix:
            from remediations.diagnose.check import check_report

            run_target = open_run_target(config, target, dry_run=True, err=err)
            announce_target(run_target, out, as_json=as_json)
            on_sandbox = run_target.sends_test_mail
            sandbox_file = run_target.sandbox_path
            try:
                pairs = check_report(
                    report,
                    run_target.transport,
                    planning_copy=run_target.planning_copy if run_target.can_fork else None,
                )
            finally:
                run_target.close()
            diagnoses = [d for d, _ in pairs]
            checks = [c for _, c in pairs]
        else:
            diagnoses = list(diagnose(report))
    except RemediationError as exc:
        err.write(printable(f"{exc}\n"))
        return exc.exit_code
    playbooks = [
        _playbooks(config, d, checks[index] if checks else None)
        for index, d in enumerate(diagnoses)
    ]
    code: int = ExitStatus.OK
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
                if len(check_item.fixes) > 1:
                    extra.append(
                        "  fixes:      "
                        + "\n              ".join(f.command for f in check_item.fixes)
                    )
            extended.append("\n".join([block, *extra]))
        out.write(printable("\n\n".join(extended) + "\n"))
    result = None
    if fix:
        result = _run_fixes(
            config,
            diagnoses,
            checks,
            resend=on_sandbox and not dry_run,
            resend_config=_on_sandbox_file(config, sandbox_file),
            dry_run=dry_run,
            as_json=as_json,
            ticket=ticket,
            yes=yes,
            target=target,
            out=out,
            err=err,
        )
        code = result.exit_code
        if code >= ExitStatus.INTERRUPTED:
            return code
    if as_json:
        doc: dict[str, Any] = dict(render_json(diagnoses))
        items: list[dict[str, Any]] = doc.get("diagnoses", [doc])
        for item_doc, suggested in zip(items, playbooks, strict=True):
            item_doc["playbooks"] = suggested
        for item_doc, c in zip(items, checks, strict=False):
            item_doc["check"] = c.to_json()
        if result is not None:
            doc["fix_runs"] = [dict(r.document) for r in result.runs if r.document is not None]
            doc["resent"] = [r.to_json() for r in result.resent]
        out.write(json.dumps(doc, indent=2) + "\n")
    return code


def _playbooks(config: Any, item: Any, check: Any) -> list[str]:
    """The playbook runs that answer the cause (with --check: the causes of the fixes that
    deliver), without those whose steps cannot act on this recipient (a group playbook for
    a public folder)."""
    from remediations.diagnose.check import fits_recipient
    from remediations.diagnose.classify import AUTOMATED
    from remediations.playbooks import PlaybookError
    from remediations.playbooks.library import find_playbook, suggest_runs

    directory = playbooks_dir(config)
    details = check.details if check is not None else None
    causes = [item.cause]
    if check is not None and check.fixes:
        by_action = {action: cause for cause, (action, _) in AUTOMATED.items()}
        causes = list(dict.fromkeys(by_action.get(f.action, item.cause) for f in check.fixes))
    runs = [
        run
        for cause in causes
        for run in suggest_runs(
            cause, recipient=item.recipient, sender=item.sender, directory=directory
        )
    ]
    kept = []
    for command in runs:
        try:
            found = find_playbook(command.split()[2], directory)
        except PlaybookError:
            continue
        if fits_recipient([step.action for step in found.steps], details):
            kept.append(command)
    return kept


def _on_sandbox_file(config: Any, path: Path | None) -> Any:
    """The settings with ``sandbox.path`` set to the run target's own sandbox file, so the
    message is sent again through the tenant the fix changed (a ``kind: sandbox`` target
    with its own ``path:``), not the default sandbox."""
    if path is None:
        return config
    sandbox = dict(config.get("sandbox") or {})
    sandbox["path"] = str(path)
    return {"sandbox": sandbox, "actor": config.get("actor") or ""}


def _run_fixes(
    config: Any,
    diagnoses: list[Any],
    checks: list[Any],
    *,
    resend: bool,
    resend_config: Any,
    dry_run: bool,
    as_json: bool,
    ticket: str,
    yes: bool,
    target: str | None,
    out: TextIO,
    err: TextIO,
) -> Any:
    """``--fix``: the diagnose package decides and orders; this runs each fix as its own
    task would (preview, audit) and prints what happened.  ``resend_config`` points at the
    run target's own sandbox file, where the message is sent again."""
    from remediations.actions import ACTIONS
    from remediations.diagnose.fix import FixRun, FixStep, run_fixes

    def run(step: FixStep) -> FixRun:
        documents: list[dict[str, Any]] = []
        if not as_json:
            out.write(printable(f"\nRunning: {step.command}{' --dry-run' if dry_run else ''}\n"))
        status = run_action_task(
            config,
            step.action,
            dict(step.params),
            dry_run=dry_run,
            as_json=as_json,
            ticket=ticket,
            yes=yes,
            target=target,
            out=out,
            err=err,
            emit_json=documents.append if as_json else None,
        )
        return FixRun(step, status, documents[0] if documents else None)

    result = run_fixes(
        diagnoses,
        checks,
        known=lambda action: action in ACTIONS,
        run=run,
        resend=(lambda sender, recipient: _resend(resend_config, sender, recipient, err=err))
        if resend
        else None,
    )
    for command in result.missing:
        err.write(printable(f"{command}: this toolkit has no such task yet.\n"))
    if not as_json:
        for again in result.resent:
            out.write(printable(f"\nSent again from {again.sender} to {again.recipient}: "))
            out.write(printable(again.outcome))
            if again.status:
                out.write(f", status {again.status}; the next bounce is {again.ndr}\n")
                out.write(f"Diagnose it: invoke diagnose --ndr {again.ndr} --check\n")
            elif again.reason:
                out.write(printable(f" ({again.reason}).\n"))
            else:
                out.write(".\n")
    return result


def _resend(config: Any, sender: str, recipient: str, *, err: TextIO) -> Any:
    """Send the original message again through the sandbox: delivered, or the next bounce."""
    from remediations.cli.sandbox import send_test_message
    from remediations.diagnose.fix import Resent

    try:
        delivery, path = send_test_message(config, sender=sender, recipient=recipient)
    except RemediationError as exc:
        err.write(printable(f"{exc}\n"))
        return Resent(sender, recipient, "not sent")
    doc = delivery.to_json(str(path) if path else None)
    return Resent(
        sender,
        recipient,
        delivery.outcome,
        reason=delivery.reason,
        status=delivery.status,
        ndr=str(path) if path else None,
        document=doc,
    )


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
    err.write(printable(f"{message}\n"))
    return exc.exit_code


def check_domain_task(
    config: Any,
    domain: str | None,
    *,
    as_json: bool,
    target: str | None = None,
    out: TextIO = STDOUT,
    err: TextIO = STDERR,
    resolver: Any = None,
) -> int:
    """``check-domain --domain NAME``: MX, SPF, registration and hybrid connectors of a domain."""
    from remediations.diagnose.domain import check_domain, check_domain_name, render_domain_text

    doc: dict[str, Any] = {"domain": domain}
    try:
        if not domain:
            raise InputError("--domain is required for check-domain; give one like contoso.com.")
        name = check_domain_name(domain)
        run_target = open_run_target(config, target, dry_run=True, err=err)
    except InputError as exc:
        return _check_failed(exc, doc, as_json=as_json, out=out, err=err)
    try:
        report = check_domain(run_target.transport, resolver or run_target.dns_resolver, name)
    except RemediationError as exc:
        stopped = f"check-domain {name} stopped, nothing is reported: a read failed: "
        return _check_failed(exc, doc, as_json=as_json, out=out, err=err, stopped=stopped)
    finally:
        run_target.close()
    if as_json:
        out.write(json.dumps({**report.to_json(), "target": run_target.name}, indent=2) + "\n")
    else:
        announce_target(run_target, out)
        out.write(printable(render_domain_text(report)))
    return report.exit_code


def scan_task(
    config: Any,
    *,
    partners: list[str] | tuple[str, ...] = (),
    as_json: bool,
    target: str | None = None,
    out: TextIO = STDOUT,
    err: TextIO = STDERR,
    resolver: Any = None,
) -> int:
    """``scan``: every object of the tenant that bounces outside or restricted senders."""
    from remediations.diagnose.scan import render_scan_text, scan_tenant

    doc: dict[str, Any] = {"tenant": None}
    try:
        run_target = open_run_target(config, target, dry_run=True, err=err)
    except InputError as exc:
        return _check_failed(exc, doc, as_json=as_json, out=out, err=err)
    doc["tenant"] = run_target.tenant
    try:
        report = scan_tenant(
            run_target.transport, resolver or run_target.dns_resolver, partners=partners
        )
    except RemediationError as exc:
        stopped = "The scan stopped, nothing is reported: a read failed: "
        return _check_failed(exc, doc, as_json=as_json, out=out, err=err, stopped=stopped)
    finally:
        run_target.close()
    if as_json:
        out.write(json.dumps({**report.to_json(), "target": run_target.name}, indent=2) + "\n")
    else:
        announce_target(run_target, out)
        out.write(printable(render_scan_text(report)))
    return report.exit_code
