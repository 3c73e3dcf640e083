"""``diagnose --fix`` as a function of the diagnose package: which fixes, once each, then
the message again; the runs and the resend are the edge's, given as functions."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage

from remediations.diagnose import diagnose, parse_ndr
from remediations.diagnose.fix import FixRun, FixStep, Resent, fixes_to_run, run_fixes
from remediations.ndr.build import RejectedRecipient, build_ndr
from remediations.ndr.codes import SANDBOX_REJECTIONS


def bounce(*rejected: tuple[str, str]) -> list[object]:
    """The diagnoses of one NDR rejecting each (recipient, sandbox rejection key)."""
    original = EmailMessage()
    original["From"] = "partner@fabrikam.com"
    original["To"] = ", ".join(r for r, _ in rejected)
    original["Subject"] = "Hello"
    original.set_content("hi")
    message = build_ndr(
        reporting_mta="am7pr01mb4321.eurprd01.prod.outlook.com",
        postmaster="postmaster@contoso.com",
        sender="partner@fabrikam.com",
        recipients=[
            RejectedRecipient.from_rejection(r, SANDBOX_REJECTIONS[key]) for r, key in rejected
        ],
        original=original,
        arrival=datetime(2026, 11, 27, tzinfo=UTC),
    )
    return list(diagnose(parse_ndr(message.as_bytes())))


def twice() -> list[object]:
    """Two bounces of the same message to the same group (one NDR lists it once)."""
    return bounce(("partners@contoso.com", "group-auth")) * 2


def test_the_same_fix_for_two_failures_runs_once() -> None:
    plan = fixes_to_run(twice(), [], known=lambda _: True)
    assert [len(steps) for steps in plan] == [1, 0]
    (step,) = plan[0]
    assert isinstance(step, FixStep)
    assert step.command == "invoke open-group-to-external --group partners@contoso.com"
    assert dict(step.params) == {"group": "partners@contoso.com"}


def test_runs_then_sends_again_once_per_fixed_diagnosis() -> None:
    ran: list[str] = []
    sent: list[tuple[str, str]] = []

    def run(step: FixStep) -> FixRun:
        ran.append(step.action)
        return FixRun(step, 0, {"outcome": "applied"})

    def resend(sender: str, recipient: str) -> Resent:
        sent.append((sender, recipient))
        return Resent(sender, recipient, "delivered")

    result = run_fixes(twice(), [], known=lambda _: True, run=run, resend=resend)
    assert ran == ["open-group-to-external"]
    assert sent == [("partner@fabrikam.com", "partners@contoso.com")]
    assert [r.outcome for r in result.resent] == ["delivered"]
    assert result.exit_code == 0


def test_a_failed_fix_sends_nothing_again_and_sets_the_status() -> None:
    def run(step: FixStep) -> FixRun:
        return FixRun(step, 1)

    def resend(sender: str, recipient: str) -> Resent:
        raise AssertionError("nothing is sent again after a failure")

    result = run_fixes(twice(), [], known=lambda _: True, run=run, resend=resend)
    assert result.exit_code == 1
    assert result.resent == ()


def test_an_interruption_stops_every_further_fix() -> None:
    diagnoses = bounce(
        ("partners@contoso.com", "group-auth"), ("legal@contoso.com", "mailbox-auth")
    )
    ran: list[str] = []

    def run(step: FixStep) -> FixRun:
        ran.append(step.command)
        return FixRun(step, 130)

    result = run_fixes(diagnoses, [], known=lambda _: True, run=run)
    assert len(ran) == 1
    assert result.exit_code == 130


def test_a_fix_without_a_task_is_named_and_is_bad_input() -> None:
    result = run_fixes(
        bounce(("partners@contoso.com", "group-auth")),
        [],
        known=lambda _: False,
        run=lambda step: FixRun(step, 0),
    )
    assert result.missing == ("invoke open-group-to-external --group partners@contoso.com",)
    assert result.runs == ()
    assert result.exit_code == 2
