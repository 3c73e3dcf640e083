"""A domain check's result (:class:`Check`), a domain's report, and their exit status."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from remediations.errors import ExitStatus
from remediations.ndr.codes import Cause

#: a report's status -> its exit status (3: the tenant was read and has problems)
STATUS_EXIT: dict[str, int] = {
    "ok": ExitStatus.OK,
    "problems": ExitStatus.PROBLEMS_FOUND,
    "error": ExitStatus.FAILED,
}


SPF_INCLUDE = "spf.protection.outlook.com"
# The two forms of the MX record Microsoft 365 gives a domain (exchange.md 4.1, MX caveat).
MICROSOFT_MX_SUFFIXES = (".mail.protection.outlook.com", ".mx.microsoft")

Status = Literal["ok", "problem", "error"]

DOMAIN_NAME = re.compile(
    r"^(?=.{1,253}$)(?:(?!-)[a-z0-9-]{1,63}(?<!-)\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$"
)
MX_RECORD = re.compile(r"^(\d+)\s+(\S+)$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    """One check of one subject (a domain or a connector).

    Attributes:
        check: which check (``mx``, ``spf``, ``verified``, ... see the module docstring).
        subject: the domain or connector checked.
        status: ``ok``, ``problem`` or ``error`` (could not be checked).
        cause: the cause id this check guards.
        summary: one sentence: what was found.
        seen: the evidence as found (records, properties).
        expected: what the tenant expects.
        steps: how to fix it, each step naming who takes it (empty when ok).
    """

    check: str
    subject: str
    status: Status
    cause: Cause
    summary: str
    seen: tuple[str, ...] = ()
    expected: tuple[str, ...] = ()
    steps: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The check as one JSON object."""
        return {
            "check": self.check,
            "subject": self.subject,
            "status": self.status,
            "ok": self.status == "ok",
            "cause": self.cause,
            "summary": self.summary,
            "seen": list(self.seen),
            "expected": list(self.expected),
            "steps": list(self.steps),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainReport:
    """Every check of one domain."""

    domain: str
    tenant: str
    transport: str
    checks: tuple[Check, ...]

    @property
    def status(self) -> Literal["ok", "problems", "error"]:
        """``error`` if any check could not run, else ``problems`` if any failed, else ``ok``."""
        if any(c.status == "error" for c in self.checks):
            return "error"
        if any(c.status == "problem" for c in self.checks):
            return "problems"
        return "ok"

    @property
    def exit_code(self) -> int:
        """0 all ok, 3 problems found, 1 a check could not run."""
        return STATUS_EXIT[self.status]

    def to_json(self) -> dict[str, Any]:
        """The report as one JSON document (``check-domain --json``)."""
        return {
            "domain": self.domain,
            "tenant": self.tenant,
            "transport": self.transport,
            "status": self.status,
            "problems": sum(c.status == "problem" for c in self.checks),
            "errors": sum(c.status == "error" for c in self.checks),
            "checks": [c.to_json() for c in self.checks],
        }


@dataclass(frozen=True, slots=True)
class CheckOf:
    """Builds the results of one check of one subject: ``ok``, ``problem`` or ``error``.

    ``CheckOf("mx", domain, "domain-dns").problem(summary, seen=..., steps=...)``.
    """

    check: str
    subject: str
    cause: Cause

    def ok(
        self, summary: str, *, seen: tuple[str, ...] = (), expected: tuple[str, ...] = ()
    ) -> Check:
        """The check passed."""
        return self._result("ok", summary, seen, expected, ())

    def problem(
        self,
        summary: str,
        *,
        seen: tuple[str, ...] = (),
        expected: tuple[str, ...] = (),
        steps: tuple[str, ...] = (),
    ) -> Check:
        """The check failed: what was found, and the steps that fix it."""
        return self._result("problem", summary, seen, expected, steps)

    def error(
        self,
        summary: str,
        *,
        seen: tuple[str, ...] = (),
        expected: tuple[str, ...] = (),
        steps: tuple[str, ...] = (),
    ) -> Check:
        """The check could not run (a read or a lookup failed): the answer is unknown."""
        return self._result("error", summary, seen, expected, steps)

    def _result(
        self,
        status: Status,
        summary: str,
        seen: tuple[str, ...],
        expected: tuple[str, ...],
        steps: tuple[str, ...],
    ) -> Check:
        return Check(
            check=self.check,
            subject=self.subject,
            status=status,
            cause=self.cause,
            summary=summary,
            seen=seen,
            expected=expected,
            steps=steps,
        )
