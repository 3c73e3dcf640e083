"""Sandbox tasks: reset, load, show, export, import from a real tenant, and send a test
message."""

from __future__ import annotations

import json
import shlex
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from remediations.cli import (
    open_transport,
    settings_from,
)
from remediations.errors import ExitStatus, InputError, RemediationError
from remediations.terminal import STDERR, STDOUT, printable

__all__ = [
    "sandbox_export_task",
    "sandbox_generate_task",
    "sandbox_import_task",
    "sandbox_load_task",
    "sandbox_reset_task",
    "sandbox_send_task",
    "sandbox_show_task",
]


def sandbox_reset_task(config: Any, *, out: TextIO = STDOUT, err: TextIO = STDERR) -> int:
    """``sandbox.reset``: write the demo tenant to the configured sandbox path."""
    from remediations.sandbox.tenant_file import DEMO_TENANT

    return _replace(config, DEMO_TENANT, "reset", out=out, err=err)


def sandbox_load_task(config: Any, file: str, *, out: TextIO = STDOUT, err: TextIO = STDERR) -> int:
    """``sandbox.load FILE``: replace the sandbox with a YAML tenant file's tenant."""
    return _replace(config, Path(file), "load", out=out, err=err)


def _replace(config: Any, source: Path, how: str, *, out: TextIO, err: TextIO) -> int:
    """Fill the store from a tenant file and record it (``sandbox-replaced``) in the audit log."""
    from remediations.sandbox import replace_tenant

    settings = settings_from(config)
    try:
        done = replace_tenant(source, settings.sandbox_path)
    except InputError as exc:
        err.write(printable(f"{exc}\n"))
        return exc.exit_code
    state = done.state
    if how == "reset":
        out.write(
            f"Reset the sandbox to the demo tenant {state.organization} "
            f"({state.count()} recipients) at {settings.sandbox_path}.\n"
        )
    else:
        out.write(
            printable(
                f"Loaded {state.organization} ({state.count()} recipients, "
                f"{len(state.transport_rules)} rules) from {source} into {settings.sandbox_path}.\n"
            )
        )
    try:
        _record_replacement(settings, done, source, how)
    except (OSError, RemediationError) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
        err.write(
            f"The sandbox at {settings.sandbox_path} now holds the tenant from {source}, but the "
            f"audit log in {settings.audit_dir} could not record it ({reason}).\n"
        )
        return ExitStatus.FAILED
    return ExitStatus.OK


def _record_replacement(settings: Any, done: Any, source: Path, how: str) -> None:
    import uuid

    from remediations.audit import AuditLog

    audit = AuditLog(
        settings.audit_dir,
        clock=lambda: datetime.now(UTC),
        context={
            "actor": settings.actor,
            "tenant": done.state.organization,
            "transport": "sandbox",
            "run_id": uuid.uuid4().hex,
            "action": f"sandbox.{how}",
            "dry_run": False,
            "ticket": None,
        },
    )
    audit.event(
        "sandbox-replaced",
        target=str(settings.sandbox_path),
        before=done.replaced_hash,
        after=done.tenant_hash,
        source=str(source),
        source_hash=done.source_hash,
        replaced_tenant_hash=done.replaced_hash,
        replaced_note=done.replaced_note or None,
        tenant_hash=done.tenant_hash,
    )


def sandbox_export_task(
    config: Any,
    *,
    output: str = "",
    fmt: str = "yaml",
    out: TextIO = STDOUT,
    err: TextIO = STDERR,
) -> int:
    """``sandbox.export``: the whole tenant, in the tenant-file format (YAML or JSON)."""
    from remediations.sandbox.store import open_store
    from remediations.sandbox.tenant_file import export_tenant

    settings = settings_from(config)
    try:
        if fmt not in ("yaml", "json"):
            raise InputError(f"--format {fmt!r} is not a format; give yaml or json.")
        store = open_store(settings.sandbox_path)
        try:
            with store.transaction(write=False) as state:
                mapping = export_tenant(state)
        finally:
            store.close()
    except InputError as exc:
        err.write(printable(f"{exc}\n"))
        return exc.exit_code
    if fmt == "json":
        text = json.dumps(mapping, indent=2, ensure_ascii=False) + "\n"
    else:
        import yaml

        text = yaml.safe_dump(mapping, sort_keys=False, allow_unicode=True, width=100)
    if not output:
        out.write(text)
        return ExitStatus.OK
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        err.write(f"Cannot write --output {output}: {exc.strerror}.\n")
        return ExitStatus.BAD_INPUT
    err.write(printable(f"Exported {mapping['organization']} to {output}.\n"))
    return ExitStatus.OK


def sandbox_generate_task(
    *,
    recipients: int | str,
    members: int | str = "",
    output: str = "",
    seed: int | str = 1,
    out: TextIO = STDOUT,
    err: TextIO = STDERR,
) -> int:
    """``sandbox.generate``: a large, valid tenant file, the same for the same arguments.

    JSON when ``output`` ends in ``.json`` (loaded many times faster), else YAML;
    standard output without ``output``.  Writes no sandbox and no audit event.
    """
    from remediations.sandbox.generate import generate_tenant, write_tenant_file

    try:
        count = _whole(recipients, "--recipients", "50000")
        wanted = None if str(members).strip() == "" else _whole(members, "--members", "50000")
        generated = generate_tenant(count, members=wanted, seed=_whole(seed, "--seed", "1"))
        if output and output.lower().endswith(".json"):
            try:
                Path(output).write_text(json.dumps(generated.mapping) + "\n", encoding="utf-8")
            except OSError as exc:
                raise InputError(f"Cannot write --output {output}: {exc.strerror}.") from None
        elif output:
            write_tenant_file(generated.mapping, Path(output))
        else:
            import yaml

            dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
            out.write(yaml.dump(generated.mapping, Dumper=dumper, sort_keys=False, width=100))
    except InputError as exc:
        err.write(printable(f"{exc}\n"))
        return exc.exit_code
    if output:
        planted = ", ".join(f"{cause} {n}" for cause, n in sorted(generated.planted.items()))
        err.write(
            printable(
                f"Wrote a tenant of {count:,} recipients to {output} (causes planted: "
                f"{planted}); load it with: invoke sandbox.load {output}\n"
            )
        )
    return ExitStatus.OK


def _whole(value: int | str, flag: str, example: str) -> int:
    text = str(value).strip()
    if not text.isdigit():
        raise InputError(f"{flag} {value!r} is not a number; give a whole number, e.g. {example}.")
    return int(text)


def sandbox_show_task(
    config: Any,
    identity: str = "",
    *,
    out: TextIO = STDOUT,
    err: TextIO = STDERR,
) -> int:
    """``sandbox.show [--identity X]``: the tenant's objects, or one in full."""
    from remediations.sandbox.show import render_object, render_tenant
    from remediations.sandbox.store import load_state

    settings = settings_from(config)
    try:
        state = load_state(settings.sandbox_path)
        out.write(printable(render_object(state, identity) if identity else render_tenant(state)))
    except InputError as exc:
        err.write(printable(f"{exc}\n"))
        return exc.exit_code
    return ExitStatus.OK


def send_test_message(
    config: Any,
    *,
    sender: str,
    recipient: str,
    size_kb: int = 10,
    client_ip: str | None = None,
    err: TextIO = STDERR,
) -> tuple[Any, Path | None]:
    """Send one message through the sandbox's mail flow; the delivery, and the NDR's file
    (written beside the sandbox, in ``ndr/``) when it bounced."""
    from remediations.sandbox.mailflow import send

    settings = settings_from(config)
    transport = open_transport(settings, err=err)
    now = datetime.now(UTC).replace(microsecond=0)
    delivery = send(
        transport.state,
        sender=sender,
        recipient=recipient,
        arrival=now,
        size_kb=size_kb,
        client_ip=client_ip,
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
    return delivery, path


def sandbox_send_task(
    config: Any,
    *,
    sender: str | None,
    recipient: str | None,
    size_kb: int | str = 10,
    client_ip: str = "",
    as_json: bool = False,
    out: TextIO = STDOUT,
    err: TextIO = STDERR,
) -> int:
    """``sandbox.send``: send a test message through the sandbox's mail flow."""
    import ipaddress

    from remediations.actions.recipients import check_address

    try:
        if not sender or not recipient:
            raise InputError(
                "--sender and --recipient are both required, e.g. --sender "
                "partner@fabrikam.com --recipient escalations@contoso.com."
            )
        sender = check_address(sender, "--sender")
        recipient = check_address(recipient, "--recipient")
        size = int(size_kb) if str(size_kb).strip().isdigit() else 0
        if size < 1:
            raise InputError(
                f"--size-kb {size_kb!r} is not a size; give a whole number of KB, 1 or more."
            )
        if client_ip:
            try:
                ipaddress.ip_address(client_ip)
            except ValueError:
                raise InputError(
                    f"--client-ip {client_ip!r} is not an IP address, e.g. 192.0.2.25."
                ) from None
        delivery, path = send_test_message(
            config,
            sender=sender,
            recipient=recipient,
            size_kb=size,
            client_ip=client_ip or None,
            err=err,
        )
    except InputError as exc:
        err.write(printable(f"{exc}\n"))
        return exc.exit_code
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
        return ExitStatus.OK
    out.write(printable(f"{delivery.outcome}: {delivery.reason}.\n"))
    if suggestion:
        out.write(printable(f"To let this sender past moderation: {suggestion}\n"))
    if delivery.status:
        out.write(printable(f"Status {delivery.status}. NDR written to {path}\n"))
        out.write(printable(f"Diagnose it: invoke diagnose --ndr {path}\n"))
    return ExitStatus.OK


def sandbox_import_task(
    config: Any,
    *,
    target: str | None = None,
    identities: list[str] | None = None,
    output: str = "",
    force: bool = False,
    dns: bool = False,
    out: TextIO = STDOUT,
    err: TextIO = STDERR,
) -> int:
    """``sandbox.import``: copy what the fixes and diagnosis look at into a tenant file.

    Read-only by construction (the target is opened as for a dry run: its transports
    refuse every write).  The file is written only when every read succeeded, and never
    over an existing file unless ``force``.  Exit: 0 written, 2 bad input or the file
    exists, 1 the tenant could not be read (nothing written).
    """
    import os
    import tempfile

    import yaml

    from remediations.cli import announce_target, open_run_target
    from remediations.errors import TransportError
    from remediations.sandbox.importer import import_tenant

    try:
        run_target = open_run_target(config, target, dry_run=True, err=err)
    except InputError as exc:
        err.write(printable(f"{exc}\n"))
        return exc.exit_code
    try:
        path = Path(output) if output else Path(_default_import_name(run_target.tenant))
        if path.exists() and not force:
            raise InputError(
                f"--output {path} already exists; give another file, or --force to replace it."
            )
        if path.is_dir():
            raise InputError(f"--output {path} is a folder; give a file name.")
        announce_target(run_target, out)
        result = import_tenant(
            run_target.exchange,
            run_target.directory,
            identities=identities or (),
            resolver=run_target.dns_resolver if dns else None,
        )
    except InputError as exc:
        err.write(printable(f"{exc}\n"))
        return exc.exit_code
    except TransportError as exc:
        err.write(
            printable(f"target {run_target.name!r} could not be read: {exc} Nothing was written.\n")
        )
        return ExitStatus.FAILED
    finally:
        run_target.close()
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    scope = "the named recipients" if identities else "every mail recipient"
    header = (
        f"# Imported by sandbox.import from target {run_target.name} "
        f"(tenant {run_target.tenant}) at {stamp}: {scope}.\n"
        f"# Rehearse on it offline: invoke sandbox.load {shlex.quote(str(path))}\n"
    )
    text = header + yaml.safe_dump(result.mapping, sort_keys=False, allow_unicode=True, width=100)
    try:
        folder = path.resolve().parent
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        Path(tmp).replace(path)
    except OSError as exc:
        err.write(printable(f"Cannot write --output {path}: {exc.strerror}.\n"))
        return ExitStatus.BAD_INPUT
    counts = ", ".join(f"{n} {what}" for what, n in result.counts.items())
    out.write(printable(f"Imported {counts} into {path}.\n"))
    for note in result.notes:
        out.write(printable(f"Note: {note}\n"))
    out.write(printable(f"Load it with: invoke sandbox.load {shlex.quote(str(path))}\n"))
    return ExitStatus.OK


def _default_import_name(tenant: str) -> str:
    """``tenant-<tenant>.yaml``, with anything but letters, digits, dots and dashes as ``_``."""
    import re

    return f"tenant-{re.sub(r'[^A-Za-z0-9.-]', '_', tenant) or 'tenant'}.yaml"
