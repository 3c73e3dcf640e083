"""``diagnose --fix``: which fixes run, in what order, once each; then the message again.

:func:`fixes_to_run` is pure: for every diagnosis, the fixes its check found (or the
diagnosis's own, when it is automatable and there was no check), a fix the check did
not confirm left out, the same fix (action and parameters) for two recipients run once.
:func:`run_fixes` runs them through a ``run`` the edge gives (the usual preview and
audit), stops at an interruption, and, where a fix ran and all went well, sends the
original message again through ``resend`` (the sandbox only): delivered, or the next
bounce.  The result is typed; the edge only renders it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from remediations.errors import ExitStatus

__all__ = ["FixResult", "FixRun", "FixStep", "Resent", "fixes_to_run", "run_fixes"]


@dataclass(frozen=True, slots=True)
class FixStep:
    """One fix to run: an action with its flags, for the diagnosis at ``index``."""

    index: int
    action: str
    params: tuple[tuple[str, str], ...]
    command: str


@dataclass(frozen=True, slots=True)
class FixRun:
    """A fix that ran: its exit status and, with ``--json``, the run's document."""

    step: FixStep
    exit_code: int
    document: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Resent:
    """The original message sent again after the fixes: delivered, or the next bounce."""

    sender: str
    recipient: str
    outcome: str  # delivered | held | deleted | rejected | not sent
    reason: str = ""
    status: str | None = None
    ndr: str | None = None  # the next bounce's file
    document: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The ``resent`` entry of ``diagnose --fix --json``."""
        return dict(self.document) or {
            "outcome": self.outcome,
            "sender": self.sender,
            "recipient": self.recipient,
        }


@dataclass(frozen=True, slots=True)
class FixResult:
    """What ``diagnose --fix`` did."""

    runs: tuple[FixRun, ...] = ()
    resent: tuple[Resent, ...] = ()
    #: fixes the toolkit has no task for (their command lines)
    missing: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        """The worst status of the runs; 2 when a fix has no task; an interruption's own."""
        codes = [run.exit_code for run in self.runs]
        if self.missing:
            codes.append(ExitStatus.BAD_INPUT)
        interrupted = [c for c in codes if c > ExitStatus.INTERRUPTED - 1]
        if interrupted:
            return interrupted[-1]
        return max(codes, default=ExitStatus.OK)


def _candidates(item: Any, check: Any) -> list[Any]:
    if check is not None and check.confirmed is False:
        return []
    fixes = list(check.fixes) if check is not None else []
    if not fixes and item.fix.action is not None and item.automatable:
        fixes = [item.fix]
    return fixes


def fixes_to_run(
    diagnoses: Sequence[Any], checks: Sequence[Any], known: Callable[[str], bool]
) -> list[list[FixStep | str]]:
    """Per diagnosis, the fixes to run in order (a ``str``: a fix with no task, the last).

    Pure.  ``checks`` is empty without ``--check``; ``known`` says whether the toolkit
    has a task for an action.  A fix already listed for an earlier diagnosis is left out.
    """
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    plan: list[list[FixStep | str]] = []
    for index, item in enumerate(diagnoses):
        steps: list[FixStep | str] = []
        for one in _candidates(item, checks[index] if checks else None):
            key = (one.action or "", tuple(one.params))
            if one.action is None or key in seen:
                continue
            if not known(one.action):
                steps.append(one.command)
                break
            seen.add(key)
            steps.append(FixStep(index, one.action, tuple(one.params), one.command))
        plan.append(steps)
    return plan


def run_fixes(
    diagnoses: Sequence[Any],
    checks: Sequence[Any],
    *,
    known: Callable[[str], bool],
    run: Callable[[FixStep], FixRun],
    resend: Callable[[str, str], Resent] | None = None,
) -> FixResult:
    """Run the fixes :func:`fixes_to_run` lists; then, where ``resend`` is given (the
    sandbox, not a dry run), send each fixed diagnosis's message again.

    A diagnosis's fixes stop at the first that fails; every fix stops at an interruption
    (130/143).  No message is sent again once anything failed.
    """
    runs: list[FixRun] = []
    resent: list[Resent] = []
    missing: list[str] = []
    worst: int = ExitStatus.OK
    for index, steps in enumerate(fixes_to_run(diagnoses, checks, known)):
        ran = False
        for step in steps:
            if isinstance(step, str):
                missing.append(step)
                worst = max(worst, ExitStatus.BAD_INPUT)
                break
            done = run(step)
            runs.append(done)
            worst = max(worst, done.exit_code)
            if done.exit_code >= ExitStatus.INTERRUPTED:
                return FixResult(tuple(runs), tuple(resent), tuple(missing))
            ran = True
            if done.exit_code != ExitStatus.OK:
                break
        item = diagnoses[index]
        if ran and resend is not None and worst == ExitStatus.OK and item.sender and item.recipient:
            resent.append(resend(item.sender, item.recipient))
    return FixResult(tuple(runs), tuple(resent), tuple(missing))
