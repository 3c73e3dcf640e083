"""Invoke tasks: parse flags, call the package, print.  Nothing else.

Each task returns what the package returned; :func:`task` (Invoke's ``@task``) turns it
into the exit status with ``remediations.errors.exit_status``.  The remediation tasks,
one per action, are built by :func:`action_task` from the description of the action's
inputs (``remediations/action_inputs.py``): flags, kinds, defaults, help and docstring.
Heavy modules (and every tenant SDK) are imported inside task bodies, so
``invoke --list`` and ``--help`` load nothing but Invoke.
"""

from __future__ import annotations

import functools
import inspect
import signal
from collections.abc import Callable
from typing import Any

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task as invoke_task

from remediations.action_inputs import (
    ACTION_DOCS,
    ACTION_INPUTS,
    RUN_FLAG_HELP,
    Input,
    inputs_of,
    task_flags,
    task_help,
)

# Piped into `head` or `less`: stop quietly when the reader goes, as Unix tools do.
signal.signal(signal.SIGPIPE, signal.SIG_DFL)


def task(**kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
    """Invoke's ``@task(...)`` for a body that returns its result (an exit status or None).

    The one helper ``exit_status`` turns the result into the exit status (Invoke's ``Exit``
    when it is not 0); Ctrl-C anywhere in a task (e.g. while a sandbox opens) is 130.
    """

    def decorate(body: Callable[..., Any]) -> Any:
        @functools.wraps(body)
        def run(c: Context, *args: Any, **flags: Any) -> None:
            from remediations.errors import ExitStatus, exit_status

            try:
                result = body(c, *args, **flags)
            except KeyboardInterrupt:
                raise Exit("Interrupted (SIGINT).", code=ExitStatus.INTERRUPTED) from None
            code = exit_status(result)
            if code:
                raise Exit(code=code)

        return invoke_task(**kwargs)(run)

    return decorate


COMMON_HELP = {k: v for k, v in RUN_FLAG_HELP.items() if k not in ("save_plan", "targets_file")}
TARGET_HELP = {"target": COMMON_HELP["target"]}


# --- the remediations: one task per action, from remediations/action_inputs.py ------------


def _flag(spec: Input) -> inspect.Parameter:
    """The task parameter of one input or run flag.

    Invoke reads a flag's kind from its default: None (an input with no default, left to
    ``run_action_task`` to say it is required) takes a text value; a list input is
    ``iterable``, so its default here is None too.
    """
    default = None if spec.required or spec.kind == "list" else spec.default
    text = str if isinstance(default, str) else str | None
    annotation = {"bool": bool, "list": list[str] | None, "text": text}[spec.kind]
    kind = inspect.Parameter.KEYWORD_ONLY
    return inspect.Parameter(spec.name, kind, default=default, annotation=annotation)


def _value(spec: Input, given: Any) -> Any:
    """An input's value from Invoke: a list flag not given is an empty list, here None."""
    return None if spec.kind == "list" and not given else given


def action_task(action: str) -> Any:
    """The task of one action: its flags, their help and its docstring from the action's
    description (:func:`~remediations.action_inputs.task_flags`), the body one call."""
    flags = task_flags(action)
    inputs = inputs_of(action)

    def body(c: Context, **given: Any) -> int:
        from remediations.cli import run_action_task

        return run_action_task(
            c.config,
            action,
            {spec.name: _value(spec, given[spec.name]) for spec in inputs},
            dry_run=given["dry_run"],
            as_json=given["json"],
            ticket=given["ticket"],
            yes=given["yes"],
            save_plan=given["save_plan"],
            target=given["target"] or None,
            all_targets=given.get("all_", False),
            targets_file=given["targets_file"],
        )

    body.__name__ = body.__qualname__ = action.replace("-", "_")
    body.__doc__ = ACTION_DOCS[action]
    context = inspect.Parameter("c", inspect.Parameter.POSITIONAL_ONLY, annotation=Context)
    body.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [context, *map(_flag, flags)], return_annotation=int
    )
    iterable = [spec.name for spec in flags if spec.kind == "list"]
    return task(help=task_help(action), iterable=iterable)(body)


# --- playbooks ----------------------------------------------------------------------

PLAYBOOK_HELP = {
    "name": "a playbook's name (see playbook.list) or the path of a playbook file",
    "json": "print JSON instead of text",
}


def _asked_for_help(name: str, task_name: str) -> bool:
    """Invoke gives a positional argument the next word, even ``--help``: answer it."""
    if name in ("-h", "--help"):
        print(f"For help on {task_name}, write: invoke --help {task_name}")
        return True
    return False


@task(name="list", help={"json": PLAYBOOK_HELP["json"]})
def playbook_list(c: Context, json: bool = False) -> int | None:
    """List the playbooks: name, what they fix, the NDR codes and causes they answer."""
    from remediations.cli.playbooks import playbook_list_task

    return playbook_list_task(c.config, as_json=json)


@task(name="show", positional=["name"], help=PLAYBOOK_HELP)
def playbook_show(c: Context, name: str, json: bool = False) -> int | None:
    """Show a playbook: what it answers, its parameters and its steps."""
    from remediations.cli.playbooks import playbook_show_task

    if _asked_for_help(name, "playbook.show"):
        return None
    return playbook_show_task(c.config, name, as_json=json)


@task(
    name="validate",
    iterable=["path"],
    help={"path": "a playbook file or name to check (repeatable); default: every playbook"},
)
def playbook_validate(c: Context, path: list[str] | None = None) -> int | None:
    """Check playbooks without running them: keys, actions, parameters, references."""
    from remediations.cli.playbooks import playbook_validate_task

    return playbook_validate_task(c.config, path)


@task(
    name="run",
    positional=["name"],
    iterable=["param"],
    help={
        "name": PLAYBOOK_HELP["name"],
        "param": "a parameter as KEY=VALUE (repeatable; lists are comma-separated)",
        "resume": "continue the failed run with this run id, with its recorded parameters",
        **COMMON_HELP,
        "json": "print one JSON document (run_id, outcome, steps and their changes)",
        "save_plan": "with --dry-run: save the whole playbook's plan to this file, to approve "
        "by its hash and apply exactly with plan.apply",
    },
)
def playbook_run(
    c: Context,
    name: str,
    param: list[str] | None = None,
    dry_run: bool = False,
    json: bool = False,
    ticket: str = "",
    yes: bool = False,
    resume: str = "",
    target: str = "",
    save_plan: str = "",
) -> int | None:
    """Run a playbook: plan every step, preview the whole, then apply step by step."""
    from remediations.cli.playbooks import playbook_run_task

    if _asked_for_help(name, "playbook.run"):
        return None
    return playbook_run_task(
        c.config,
        name,
        param,
        dry_run=dry_run,
        as_json=json,
        ticket=ticket,
        yes=yes,
        resume=resume,
        target=target or None,
        save_plan=save_plan,
    )


# --- from bounce to fix -------------------------------------------------------------


@task(
    help={
        "ndr": "the bounce: a .eml file, its text pasted into a file, or - for standard input; "
        "a directory of .eml files or an mbox file: every bounce in it, counted by cause",
        "check": "read the tenant and plan the fix on a copy: confirmed only when this "
        "sender's message would then be delivered",
        "fix": "run the fixes found for every automatable diagnosis (preview, audit); on the "
        "sandbox, then send the original message again",
        **COMMON_HELP,
    }
)
def diagnose(
    c: Context,
    ndr: str | None = None,
    check: bool = False,
    fix: bool = False,
    dry_run: bool = False,
    json: bool = False,
    ticket: str = "",
    yes: bool = False,
    target: str = "",
) -> int | None:
    """Read an NDR (5.7.x): the cause, the evidence, and the command that fixes it."""
    from remediations.cli.diagnose import diagnose_task

    return diagnose_task(
        c.config,
        ndr,
        as_json=json,
        check=check,
        fix=fix,
        dry_run=dry_run,
        ticket=ticket,
        yes=yes,
        target=target or None,
    )


@task(
    name="trace",
    positional=["path"],
    help={
        "path": "a message-trace export as CSV (Get-MessageTraceV2 ... | Export-Csv, with the "
        "Detail of each failure, or a message trace report from the admin center)",
        "json": "print one JSON document (counts, recipients and senders, fixes per cause)",
    },
)
def diagnose_trace(c: Context, path: str | None = None, json: bool = False) -> int | None:
    """Every failed message of a message trace: counts by cause, top recipients and senders,
    and the fix for each."""
    from remediations.cli.postmaster import diagnose_trace_task

    return diagnose_trace_task(c.config, path, as_json=json)


# --- domains and the whole tenant ----------------------------------------------------
# Exit status: 0 all well; 3 problems found; 1 could not read (tenant or DNS); 2 bad input.


@task(
    help={
        "domain": "the domain to check, e.g. contoso.com (an accepted or Microsoft 365 domain)",
        "json": "print one JSON document (status, checks with evidence and steps)",
        **TARGET_HELP,
    }
)
def check_domain(
    c: Context, domain: str | None = None, json: bool = False, target: str = ""
) -> int | None:
    """Check a domain: one MX as Microsoft 365 expects, SPF, verified, accepted, hybrid."""
    from remediations.cli.diagnose import check_domain_task

    return check_domain_task(c.config, domain, as_json=json, target=target or None)


@task(
    iterable=["partner"],
    help={
        "partner": "an outside address that must reach moderated groups (repeatable); "
        "the tenant's mail contacts count too",
        "json": "print one JSON document, findings grouped by cause id",
        **TARGET_HELP,
    },
)
def scan(
    c: Context, partner: list[str] | None = None, json: bool = False, target: str = ""
) -> int | None:
    """List everything in the tenant that bounces outside or restricted senders, with the fix."""
    from remediations.cli.diagnose import scan_task

    return scan_task(c.config, partners=partner or [], as_json=json, target=target or None)


# --- the sandbox tenant -------------------------------------------------------------


@task(
    name="send",
    help={
        "sender": "the sender's address (outside the organisation for most cases)",
        "recipient": "the recipient's address",
        "size_kb": "message size in KB (default 10)",
        "client_ip": "the sending server's IP (checked against the blocklist)",
        "json": "print one JSON document: outcome, status, ndr (the file)",
    },
)
def sandbox_send(
    c: Context,
    sender: str | None = None,
    recipient: str | None = None,
    size_kb: str = "10",
    client_ip: str = "",
    json: bool = False,
) -> int | None:
    """Send a test message through the sandbox: delivered, held, deleted, or an NDR file."""
    from remediations.cli.sandbox import sandbox_send_task

    return sandbox_send_task(
        c.config,
        sender=sender,
        recipient=recipient,
        size_kb=size_kb,
        client_ip=client_ip,
        as_json=json,
    )


@task(name="reset")
def sandbox_reset(c: Context) -> int | None:
    """Restore the demo tenant (contoso.com), one broken case per fix."""
    from remediations.cli.sandbox import sandbox_reset_task

    return sandbox_reset_task(c.config)


@task(
    name="export",
    help={
        "output": "the file to write (default: standard output)",
        "format": "yaml (default) or json",
    },
)
def sandbox_export(c: Context, output: str = "", format: str = "yaml") -> int | None:
    """Write the whole sandbox tenant back as a tenant file (sandbox.load reads it)."""
    from remediations.cli.sandbox import sandbox_export_task

    return sandbox_export_task(c.config, output=output, fmt=format)


@task(
    name="import",
    iterable=["identity"],
    help={
        "identity": "copy only this recipient and what its lists, members and owners "
        "reference (repeatable; default: every mail recipient)",
        "output": "the tenant file to write (default: tenant-<tenant>.yaml in the current "
        "folder); an existing file is never replaced without --force",
        "force": "replace --output if it exists",
        "dns": "also copy the accepted domains' live MX and TXT records (dns.zones), "
        "looked up with the target's DNS resolver",
        **TARGET_HELP,
    },
)
def sandbox_import(
    c: Context,
    identity: list[str] | None = None,
    output: str = "",
    force: bool = False,
    dns: bool = False,
    target: str = "",
) -> int:
    """Copy a real tenant's recipients, rules, connectors, domains and licenses into a tenant
    file (read-only; no secrets), to rehearse offline with sandbox.load."""
    from remediations.cli.sandbox import sandbox_import_task

    return sandbox_import_task(
        c.config,
        target=target or None,
        identities=identity or [],
        output=output,
        force=force,
        dns=dns,
    )


@task(name="load", positional=["file"], help={"file": "a tenant file (YAML; see README)"})
def sandbox_load(c: Context, file: str) -> int | None:
    """Replace the sandbox tenant with the one described in a YAML tenant file."""
    from remediations.cli.sandbox import sandbox_load_task

    return sandbox_load_task(c.config, file)


@task(
    name="generate",
    help={
        "recipients": "how many recipients (50 or more)",
        "members": "real members of the group Everyone (default: every user mailbox)",
        "output": "the file to write, .json or .yaml (default: standard output, YAML)",
        "seed": "the seed of the generator (default 1): same arguments, same tenant",
    },
)
def sandbox_generate(
    c: Context, recipients: str = "", members: str = "", output: str = "", seed: str = "1"
) -> int | None:
    """Write a large, valid tenant file (every cause scan finds, planted) for sandbox.load."""
    from remediations.cli.sandbox import sandbox_generate_task

    return sandbox_generate_task(recipients=recipients, members=members, output=output, seed=seed)


@task(name="show", help={"identity": "one recipient or rule (name, alias or address)"})
def sandbox_show(c: Context, identity: str = "") -> int | None:
    """Print the sandbox tenant's objects, or one of them with every property."""
    from remediations.cli.sandbox import sandbox_show_task

    return sandbox_show_task(c.config, identity)


# --- targets ------------------------------------------------------------------------


@task(
    name="check",
    help={
        **TARGET_HELP,
        "json": "print one JSON document (probes, and per action what is missing)",
    },
)
def target_check(c: Context, target: str = "", json: bool = False) -> int | None:
    """Check a target read-only: sign in, one Exchange and one Graph read, what each action lacks.

    Exit 0 ready, 3 a role or permission is missing, 1 unreachable, 2 bad input.
    """
    from remediations.cli.target import target_check_task

    return target_check_task(c.config, target or None, as_json=json)


# --- the audit log ------------------------------------------------------------------


@task(
    name="verify",
    help={
        "head": "a chain head hash a run printed: the log must still hold it",
        "count": "the event count printed with that head: no event after it was cut off",
        "json": "print one JSON document",
    },
)
def audit_verify(c: Context, head: str = "", count: int = 0, json: bool = False) -> int | None:
    """Check the audit log's hash chain: every line present, none edited, the end not cut off."""
    from remediations.cli.audit import audit_verify_task

    return audit_verify_task(c.config, head=head or None, count=count or None, as_json=json)


# --- saved plans ----------------------------------------------------------------------


@task(name="show", help={"path": "the plan file --save-plan wrote", "json": "print the plan"})
def plan_show(c: Context, path: str, json: bool = False) -> int | None:
    """Show a saved plan: its hash, target, changes with PowerShell, and what it read."""
    from remediations.cli.review import plan_show_task

    return plan_show_task(c.config, path, as_json=json)


@task(
    name="apply",
    help={
        "path": "the plan file --save-plan wrote",
        "ticket": "ticket to record (default: the plan's)",
        **{k: COMMON_HELP[k] for k in ("json", "yes", "target")},
    },
)
def plan_apply(
    c: Context, path: str, yes: bool = False, json: bool = False, ticket: str = "",
    target: str = "",
) -> int | None:  # fmt: skip
    """Apply exactly a saved plan; refuse it if stale, already applied, or for another target."""
    from remediations.cli.review import plan_apply_task

    return plan_apply_task(
        c.config, path, yes=yes, as_json=json, ticket=ticket, target=target or None
    )


# --- rollback --------------------------------------------------------------------------


@task(
    help={
        "run_id": "the run to undo (invoke audit.runs lists them)",
        "dry_run": "preview only: show what would be undone; change nothing",
        "json": COMMON_HELP["json"],
        "ticket": "ticket to record (default: the undone run's)",
        "yes": COMMON_HELP["yes"],
        "target": COMMON_HELP["target"],
    }
)
def rollback(
    c: Context, run_id: str, dry_run: bool = False, yes: bool = False, json: bool = False,
    ticket: str = "", target: str = "",
) -> int | None:  # fmt: skip
    """Undo a run's changes, where the tenant still holds what it left (an audited run)."""
    from remediations.cli.review import rollback_task

    return rollback_task(
        c.config, run_id, dry_run=dry_run, yes=yes, as_json=json, ticket=ticket,
        target=target or None,
    )  # fmt: skip


sandbox = Collection(
    "sandbox",
    sandbox_reset,
    sandbox_load,
    sandbox_show,
    sandbox_send,
    sandbox_export,
    sandbox_generate,
    sandbox_import,
)


@task(
    name="runs",
    help={
        "since": "only runs started at or after this date/time (UTC), e.g. 2026-11-30",
        "target": "only runs against this tenant or target (sandbox, ...)",
        "actor": "only runs by this actor",
        "ticket": "only runs whose ticket contains this text",
        "plan": "only runs that saved, applied or were refused this saved plan's hash (12+ digits)",
        "json": "print one JSON document",
    },
)
def audit_runs(
    c: Context,
    since: str = "",
    target: str = "",
    actor: str = "",
    ticket: str = "",
    plan: str = "",
    json: bool = False,
) -> int | None:
    """List the runs in the audit log: id, time, actor, target, ticket, what, outcome, changes."""
    from remediations.cli.audit import audit_runs_task

    return audit_runs_task(
        c.config, since=since, target=target, actor=actor, ticket=ticket, plan=plan,
        as_json=json,
    )  # fmt: skip


@task(name="show", help={"run_id": "the run to show", "json": "print one JSON document"})
def audit_show(c: Context, run_id: str, json: bool = False) -> int | None:
    """Show one run's events: plan, what was applied and verified, notes, errors."""
    from remediations.cli.audit import audit_show_task

    return audit_show_task(c.config, run_id, as_json=json)


@task(
    name="report",
    help={
        "run_id": "the run to report on",
        "format": "md (Markdown, the default) or html (one self-contained file)",
        "output": "write the report to this file instead of printing it",
    },
)
def audit_report(c: Context, run_id: str, format: str = "md", output: str = "") -> int | None:
    """A run's report for reviewers: who, when, where, each change, verification, undo."""
    from remediations.cli.audit import audit_report_task

    return audit_report_task(c.config, run_id, fmt=format, output=output)


audit = Collection("audit", audit_verify, audit_runs, audit_show, audit_report)
plan = Collection("plan", plan_show, plan_apply)
targets = Collection("target", target_check)
playbook = Collection("playbook", playbook_list, playbook_show, playbook_validate, playbook_run)
diagnosis = Collection("diagnose")
diagnosis.add_task(diagnose, default=True)
diagnosis.add_task(diagnose_trace)
ns = Collection(
    *(action_task(action) for action in ACTION_INPUTS),
    diagnosis,
    check_domain,
    scan,
    rollback,
    sandbox,
    audit,
    plan,
    playbook,
    targets,
)
ns.configure(
    {
        # Every setting can also come from the environment: INVOKE_SANDBOX_PATH,
        # INVOKE_SANDBOX_FAULTS, INVOKE_AUDIT_DIR, INVOKE_ACTOR, INVOKE_TARGET,
        # INVOKE_PLAYBOOKS_DIR (default: the shipped playbooks), INVOKE_VERIFY_WAIT_SECONDS
        # (how long verification waits for replication), INVOKE_FLEET_CONCURRENCY (writers
        # at once).
        "sandbox": {"path": "", "faults": ""},
        "playbooks": {"dir": ""},
        "audit": {"dir": "audit-logs", "key_file": ""},
        "actor": "",
        "target": "sandbox",
        "verify": {"wait_seconds": 60},
        "fleet": {"concurrency": 4},
    }
)
