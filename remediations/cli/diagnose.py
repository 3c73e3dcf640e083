"""From bounce to fix: diagnose an NDR, check a domain, scan the tenant."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO

from remediations.cli import (
    open_transport,
    playbooks_dir,
    run_action_task,
    settings_from,
)
from remediations.errors import InputError, RemediationError
from remediations.terminal import printable

__all__ = ["check_domain_task", "diagnose_task", "open_resolver", "scan_task"]


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
        err.write(printable(f"--ndr {ndr!r}: {exc}\n"))
        return 2
    except InputError as exc:
        err.write(printable(f"{exc}\n"))
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
        err.write(printable(f"{exc}\n"))
        return exc.exit_code
    from remediations.playbooks.library import suggest_runs

    playbooks = [
        suggest_runs(
            d.cause, recipient=d.recipient, sender=d.sender, directory=playbooks_dir(config)
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
        out.write(printable("\n\n".join(extended) + "\n"))
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
                running = f"\nRunning: {item.fix.command}{' --dry-run' if dry_run else ''}\n"
                out.write(printable(running))
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
            if status > 128:  # interrupted (SIGINT/SIGTERM): run no further fix
                if as_json and isinstance(buffer, io.StringIO):
                    out.write(buffer.getvalue())
                return status
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
    err.write(printable(f"{message}\n"))
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
        out.write(printable(render_domain_text(report)))
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
        out.write(printable(render_scan_text(report)))
    return report.exit_code
