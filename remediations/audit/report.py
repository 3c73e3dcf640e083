"""A run's report for reviewers (a change-advisory board): Markdown or one HTML file.

Who ran it and when, against which target and tenant, the ticket, the action or
playbook and its inputs, each change (before -> after, its PowerShell, whether
it was applied and verified), the notes and errors, the outcome, the chain head
at the end of the run (to check with ``audit.verify``) and the command that
undoes it.  The HTML is one self-contained file: inline CSS, no scripts, no
fetches; long values wrap so nothing runs off the page, on screen or printed.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RunReport", "build_report", "render_html", "render_markdown"]


def _value(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "$true" if value else "$false"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) if value else "(empty)"
    return str(value)


@dataclass(slots=True)
class ReportChange:
    target: str
    attribute: str
    before: str
    after: str
    powershell: str
    step: str = ""
    status: str = "planned"


@dataclass(slots=True)
class RunReport:
    """What a reviewer needs of one run, gathered from its events."""

    run_id: str
    what: str = ""
    inputs: dict[str, str] = field(default_factory=dict)
    actor: str = ""
    tenant: str = ""
    transport: str = ""
    ticket: str = ""
    dry_run: bool = False
    started: str = ""
    ended: str = ""
    outcome: str = "unfinished (no end recorded)"
    changes: list[ReportChange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    head: str = ""
    links: dict[str, str] = field(default_factory=dict)

    @property
    def rollback(self) -> str:
        return f"invoke rollback {self.run_id}"


_STATUS = {
    "change-applying": "sent",
    "change-applied": "applied",
    "change-failed": "failed",
    "change-not-sent": "not sent (the run stopped first)",
    "change-verified": "applied and verified",
    "verify-failed": "applied, verification failed",
}


def build_report(run_id: str, events: Sequence[Mapping[str, Any]]) -> RunReport:
    """Gather the report from the run's events (in order)."""
    report = RunReport(run_id=run_id)
    index: dict[tuple[str, str, str], ReportChange] = {}
    for event in events:
        name = str(event.get("event"))
        for attribute in ("actor", "tenant", "transport", "ticket"):
            if not getattr(report, attribute) and event.get(attribute):
                setattr(report, attribute, str(event[attribute]))
        if not report.started:
            report.started = str(event.get("time") or "")
            report.dry_run = bool(event.get("dry_run"))
        for link in ("plan_hash", "rollback_of", "resume_of", "saved_plan"):
            if event.get(link):
                report.links[link] = str(event[link])
        if name == "run-start" and not report.what:
            report.what = str(event.get("action") or "")
            report.inputs = {k: _value(v) for k, v in (event.get("wish") or {}).items()}
        elif name == "playbook-start":
            report.what = f"playbook {event.get('playbook')}"
            report.inputs = {k: _value(v) for k, v in (event.get("parameters") or {}).items()}
        elif name == "note" and event.get("note"):
            report.notes.append(str(event["note"]))
        elif name in ("plan-refused", "rollback-refused") and event.get("reason"):
            report.refusals.append(str(event["reason"]))
        step = str(event.get("step") or "")
        key = (step, str(event.get("target")), str(event.get("attribute")))
        if name == "change-planned":
            change = ReportChange(
                target=key[1],
                attribute=key[2],
                before=_value(event.get("before")),
                after=_value(event.get("after")),
                powershell=str(event.get("powershell") or ""),
                step=step,
            )
            index[key] = change
            report.changes.append(change)
        elif name in _STATUS and key in index:
            index[key].status = _STATUS[name]
        if event.get("error") and str(event["error"]) not in report.errors:
            report.errors.append(str(event["error"]))
        is_end = name == "playbook-end" or (
            name == "run-end" and not report.what.startswith("playbook")
        )
        if is_end:
            report.outcome = str(event.get("outcome") or "unknown")
            report.ended = str(event.get("time") or "")
            if isinstance(event.get("seq"), int):
                report.head = f"event {event['seq']}, hash {event.get('hash')}"
    return report


def _facts(report: RunReport) -> list[tuple[str, str]]:
    facts = [
        ("Run", report.run_id + (" (dry run: nothing changed)" if report.dry_run else "")),
        ("What", report.what),
        ("Inputs", "; ".join(f"{k} = {v}" for k, v in report.inputs.items()) or "(none)"),
        ("Who", report.actor),
        ("When", f"{report.started} to {report.ended or '(no end recorded)'} (UTC)"),
        ("Target", f"{report.tenant} ({report.transport})"),
        ("Ticket", report.ticket or "(none)"),
        ("Outcome", report.outcome),
        ("Chain head at the end", report.head or "(no end recorded)"),
    ]
    labels = {
        "plan_hash": "Saved plan applied",
        "saved_plan": "Plan saved (hash)",
        "rollback_of": "Undoes run",
        "resume_of": "Resumes run",
    }
    facts.extend((labels[k], v) for k, v in report.links.items())
    return facts


def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def render_markdown(report: RunReport) -> str:
    """The report as Markdown (a ticket, a wiki page)."""
    lines = [f"# Change report: run {report.run_id}", "", "| | |", "| --- | --- |"]
    lines.extend(f"| {label} | {_md(value)} |" for label, value in _facts(report))
    lines += ["", f"## Changes ({len(report.changes)})", ""]
    if not report.changes:
        lines.append("No change: the tenant was already as wished.")
    for number, change in enumerate(report.changes, start=1):
        step = f" (step {change.step})" if change.step else ""
        lines += [
            f"{number}. **{_md(change.target)}** `{change.attribute}`{step}: "
            f"{_md(change.before)} -> {_md(change.after)} ({change.status})",
            "",
            "   ```powershell",
            f"   {change.powershell}",
            "   ```",
            "",
        ]
    lines += ["## Verification", "", _verification(report), ""]
    if report.refusals:
        lines += ["## Refused", "", *(f"- {_md(r)}" for r in report.refusals), ""]
    if report.notes:
        lines += ["## Notes", "", *(f"- {_md(n)}" for n in report.notes), ""]
    if report.errors:
        lines += ["## Errors", "", *(f"- {_md(e)}" for e in report.errors), ""]
    lines += [
        "## Check and undo",
        "",
        f"- Check the log still holds this run's end: `{_verify_command(report)}`",
        f"- Undo this run: `{report.rollback}` (add `--dry-run` to preview)",
        "",
    ]
    return "\n".join(lines)


def _verify_command(report: RunReport) -> str:
    if not report.head:
        return "invoke audit.verify"
    count, digest = report.head.removeprefix("event ").split(", hash ")
    return f"invoke audit.verify --head {digest} --count {count}"


def _verification(report: RunReport) -> str:
    if report.dry_run:
        return "A dry run: nothing was applied, nothing to verify."
    verified = sum(c.status == "applied and verified" for c in report.changes)
    total = len(report.changes)
    if total == 0:
        return "Nothing to apply."
    if verified == total:
        return f"All {total} changes were read back from the tenant and hold their new values."
    return f"{verified} of {total} changes were read back and hold their new values."


_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1b1b;
max-width:60rem;margin:2rem auto;padding:0 1rem}
h1{font-size:1.5rem;margin:0 0 1rem}h2{font-size:1.15rem;margin:1.6rem 0 .5rem;
border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%;table-layout:fixed}
th,td{text-align:left;vertical-align:top;padding:.3rem .5rem;border-bottom:1px solid #e3e3e3;
overflow-wrap:anywhere;word-break:break-word}
th{width:14rem;color:#444;font-weight:600}
.change{border:1px solid #d5d5d5;border-radius:4px;padding:.5rem .75rem;margin:.5rem 0;
break-inside:avoid}
.change .what{font-weight:600;overflow-wrap:anywhere}
.before{color:#8a1c1c}.after{color:#1d5e20}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f5f5f5;padding:.4rem .6rem;
margin:.4rem 0 0;font:13px/1.4 ui-monospace,Consolas,monospace}
code{font:13px ui-monospace,Consolas,monospace;overflow-wrap:anywhere}
.status{font-size:.85rem;color:#555}
@media print{body{margin:0;max-width:none;font-size:11pt}pre{background:none;
border:1px solid #ccc}a{color:inherit}}
"""


def render_html(report: RunReport) -> str:
    """The report as one self-contained HTML page (no scripts, nothing fetched)."""
    e = html.escape
    rows = "\n".join(
        f"<tr><th>{e(label)}</th><td>{e(value)}</td></tr>" for label, value in _facts(report)
    )
    blocks = []
    for number, change in enumerate(report.changes, start=1):
        step = f" (step {e(change.step)})" if change.step else ""
        blocks.append(
            f'<div class="change"><div class="what">{number}. {e(change.target)} '
            f"<code>{e(change.attribute)}</code>{step}</div>"
            f'<div><span class="before">{e(change.before)}</span> &rarr; '
            f'<span class="after">{e(change.after)}</span> '
            f'<span class="status">({e(change.status)})</span></div>'
            f"<pre>{e(change.powershell)}</pre></div>"
        )
    changes = "\n".join(blocks) or "<p>No change: the tenant was already as wished.</p>"
    extra = ""
    if report.refusals:
        extra += "<h2>Refused</h2><ul>" + "".join(f"<li>{e(r)}</li>" for r in report.refusals)
        extra += "</ul>"
    if report.notes:
        extra += "<h2>Notes</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in report.notes)
        extra += "</ul>"
    if report.errors:
        extra += "<h2>Errors</h2><ul>" + "".join(f"<li>{e(x)}</li>" for x in report.errors)
        extra += "</ul>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Change report: run {e(report.run_id)}</title>
<style>{_CSS}</style></head>
<body>
<h1>Change report: run {e(report.run_id)}</h1>
<table>
{rows}
</table>
<h2>Changes ({len(report.changes)})</h2>
{changes}
<h2>Verification</h2>
<p>{e(_verification(report))}</p>
{extra}
<h2>Check and undo</h2>
<p>Check the log still holds this run's end:</p><pre>{e(_verify_command(report))}</pre>
<p>Undo this run (add <code>--dry-run</code> to preview):</p><pre>{e(report.rollback)}</pre>
</body></html>
"""
