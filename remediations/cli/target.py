"""``target.check``: sign in, read once from Exchange and once from Graph, and say per action
which role or permission is missing, by name, before anyone tries a fix.

Read-only by construction: the target is opened as for a dry run, so its transports
refuse every write.  Exit status: 0 every action has what it needs (as far as reads
can tell); 3 something is missing; 1 the target could not be reached; 2 bad input.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

from remediations.cli import announce_target, open_run_target
from remediations.errors import ExitStatus, InputError, PermissionDenied, TransportError
from remediations.terminal import STDERR, STDOUT

__all__ = ["target_check_task"]

EXCHANGE_PROBE = "Get-AcceptedDomain"
GRAPH_PROBE = "GET /subscribedSkus"
WRITES_NOTE = (
    "Reads prove the sign-in and the read permissions; the roles for changes are proved "
    "only by a change (a dry run never sends one)."
)


@dataclass(slots=True)
class Probe:
    """One read: what was called, whether it answered, and what it said."""

    call: str
    ok: bool
    detail: str


@dataclass(slots=True)
class ActionCheck:
    """One action: what it needs that the probes showed missing, and what they could not test."""

    action: str
    missing: list[str] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.missing


def target_check_task(
    config: Any,
    target: str | None = None,
    *,
    as_json: bool = False,
    out: TextIO = STDOUT,
    err: TextIO = STDERR,
) -> int:
    """``target.check [--target NAME]``: probe the target read-only; report per action."""
    from remediations.exchange.cmdlet import Cmdlet
    from remediations.permissions import (
        ACTION_NEEDS,
        EXCHANGE_APP_PERMISSION,
        EXCHANGE_ENTRA_ROLE,
        GRAPH_PROBE_PERMISSION,
    )

    try:
        run_target = open_run_target(config, target, dry_run=True, err=err)
    except InputError as exc:
        err.write(f"{exc}\n")
        return exc.exit_code
    try:
        try:
            found = run_target.exchange.send(Cmdlet.of(EXCHANGE_PROBE))
            exchange = Probe(EXCHANGE_PROBE, True, f"{len(found.objects)} accepted domain(s)")
        except PermissionDenied as exc:
            exchange = Probe(EXCHANGE_PROBE, False, str(exc))
        graph: Probe | None = None
        if run_target.directory is not None:
            try:
                skus = run_target.directory.subscribed_skus()
                graph = Probe(GRAPH_PROBE, True, f"{len(skus)} subscribed SKU(s)")
            except PermissionDenied as exc:
                graph = Probe(GRAPH_PROBE, False, str(exc))
    except InputError as exc:
        err.write(f"{exc}\n")
        return exc.exit_code
    except TransportError as exc:
        err.write(f"target {run_target.name!r} could not be reached: {exc}\n")
        return ExitStatus.FAILED
    finally:
        run_target.close()

    real = run_target.confirm_before_apply
    checks = []
    for name, needs in ACTION_NEEDS.items():
        check = ActionCheck(name)
        if not exchange.ok:
            check.missing.extend(f"Exchange role {role}" for role in needs.exchange_roles)
        for permission in needs.graph:
            if graph is None:
                check.missing.append(
                    f"Microsoft Graph permission {permission} (this target has no directory)"
                )
            elif permission == GRAPH_PROBE_PERMISSION and not graph.ok:
                check.missing.append(f"Microsoft Graph permission {permission}")
            elif permission != GRAPH_PROBE_PERMISSION and real:
                check.not_checked.append(f"Microsoft Graph permission {permission}")
        checks.append(check)

    hints = []
    if not exchange.ok:
        hints.append(
            f"Exchange refused {EXCHANGE_PROBE}: give the app the application permission "
            f"{EXCHANGE_APP_PERMISSION} and the Entra role {EXCHANGE_ENTRA_ROLE} "
            "(or a role group with the roles named below)."
        )
    if graph is not None and not graph.ok:
        hints.append(
            f"Microsoft Graph refused {GRAPH_PROBE}: grant the application permission "
            f"{GRAPH_PROBE_PERMISSION} (with admin consent)."
        )
    code = ExitStatus.OK if all(c.ready for c in checks) else ExitStatus.PROBLEMS_FOUND
    if as_json:
        doc = {
            "target": run_target.name,
            "kind": run_target.kind,
            "tenant": run_target.tenant,
            "status": "ok" if code == 0 else "missing",
            "probes": [asdict(p) for p in (exchange, graph) if p is not None],
            "actions": [{**asdict(c), "ready": c.ready} for c in checks],
            "hints": hints,
            "note": WRITES_NOTE,
        }
        out.write(json.dumps(doc, indent=2) + "\n")
        return code
    announce_target(run_target, out)
    for probe in (exchange, graph):
        if probe is not None:
            out.write(f"{'ok     ' if probe.ok else 'REFUSED'} {probe.call}: {probe.detail}\n")
    for check in checks:
        if check.ready:
            line = f"  {check.action}: ready"
        else:
            line = f"  {check.action}: missing {', '.join(check.missing)}"
        if check.not_checked:
            line += f" (not checked: {', '.join(check.not_checked)})"
        out.write(line + "\n")
    for hint in hints:
        out.write(f"{hint}\n")
    out.write(f"{WRITES_NOTE}\n")
    return code
