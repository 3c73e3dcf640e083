"""The domain report as text."""

from __future__ import annotations

from remediations.diagnose.domain.result import Check, DomainReport

# --- rendering ----------------------------------------------------------------------------


def render_check_lines(check: Check, indent: str = "  ") -> list[str]:
    """One check for people: status, what was found, the evidence, the steps."""
    mark = {"ok": "ok     ", "problem": "PROBLEM", "error": "ERROR  "}[check.status]
    lines = [f"{indent}[{mark}] {check.check} ({check.cause}): {check.summary}"]
    pad = indent + "          "
    if check.status != "ok":
        if check.seen:
            lines.append(f"{pad}seen:     {'; '.join(check.seen)}")
        if check.expected:
            lines.append(f"{pad}expected: {'; '.join(check.expected)}")
        lines.extend(f"{pad}{n}. {step}" for n, step in enumerate(check.steps, 1))
    return lines


def render_domain_text(report: DomainReport) -> str:
    """The report for people: one line per check, evidence and steps under each problem."""
    problems = sum(c.status == "problem" for c in report.checks)
    errors = sum(c.status == "error" for c in report.checks)
    if report.status == "ok":
        head = "all checks pass."
    else:
        parts = []
        if problems:
            parts.append(f"{problems} problem{'s' if problems != 1 else ''}")
        if errors:
            parts.append(f"{errors} check{'s' if errors != 1 else ''} could not run")
        head = ", ".join(parts) + "."
    lines = [f"Domain {report.domain} in {report.tenant} ({report.transport}): {head}"]
    for check in report.checks:
        lines.extend(render_check_lines(check))
    return "\n".join(lines) + "\n"
