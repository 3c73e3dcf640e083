"""``diagnose --check``: read the tenant to confirm a diagnosis before recommending a change.

For each failure the recipient is read (its kind settles codes such as 5.7.1
AuthRequired, which mean a public folder or a group), then the recommended
remediation is planned, dry, against the live state: changes to make confirm
the cause; an empty plan says the tenant is already as the fix would leave it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from remediations.actions import ACTIONS, parse_wish
from remediations.actions._common import GROUP_DETAILS, MAILBOX_DETAILS, find_recipient
from remediations.diagnose.classify import Diagnosis, diagnose
from remediations.diagnose.ndr import NdrReport
from remediations.engine import prepare
from remediations.errors import InputError
from remediations.exchange.cmdlet import Transport
from remediations.plan import render_value

__all__ = ["Check", "check_report"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    """What the tenant says about one diagnosis.

    ``confirmed`` is True when the tenant still holds the cause, False when it
    does not (or the recipient is not in this tenant), None when there is
    nothing in the tenant to read for this cause.
    """

    confirmed: bool | None
    evidence: str

    def to_json(self) -> dict[str, object]:
        """The ``check`` member of a ``--json`` diagnosis."""
        return {"confirmed": self.confirmed, "evidence": self.evidence}


def _kind(details: str) -> str | None:
    if details == "PublicFolder":
        return "public-folder"
    if details in GROUP_DETAILS or details == "GroupMailbox":
        return "group"
    if details in MAILBOX_DETAILS:
        return "mailbox"
    return None


def check_report(report: NdrReport, transport: Transport) -> tuple[tuple[Diagnosis, Check], ...]:
    """Diagnose each failure again with the recipient's kind read from the tenant, and check it.

    Raises:
        TransportError: the tenant could not be read (never taken for "absent").
    """
    results = []
    for failure in report.failures:
        single = replace(report, failures=(failure,))
        if not failure.recipient:
            (item,) = diagnose(single)
            results.append((item, Check(confirmed=None, evidence="the NDR names no recipient")))
            continue
        rec = find_recipient(transport, failure.recipient)
        if rec is None:
            (item,) = diagnose(single)
            check = Check(
                confirmed=False,
                evidence=f"{failure.recipient} is not a recipient of {transport.tenant} "
                f"({transport.name}); the bounce may come from another organisation.",
            )
            results.append((item, check))
            continue
        details = str(rec["RecipientTypeDetails"])
        (item,) = diagnose(single, recipient_kind=_kind(details))
        results.append((item, _confirm(item, details, transport)))
    return tuple(results)


def _confirm(item: Diagnosis, details: str, transport: Transport) -> Check:
    found = f"{item.recipient} is a {details} in {transport.tenant}"
    if not item.automatable or item.fix.action is None:
        return Check(confirmed=None, evidence=f"{found}; nothing more to read for this cause.")
    action = ACTIONS[item.fix.action]
    try:
        plan = prepare(action, parse_wish(action, dict(item.fix.params)), transport)
    except InputError as exc:
        return Check(confirmed=False, evidence=f"{found}; the fix does not apply: {exc}")
    if plan.is_noop:
        return Check(
            confirmed=False,
            evidence=f"{found}; it is already as '{item.fix.command}' would leave it "
            "(fixed since the bounce?).",
        )
    first = plan.changes[0]
    return Check(
        confirmed=True,
        evidence=f"{found}; {first.target} {first.attribute} is "
        f"{render_value(first.before)} ({len(plan.changes)} change(s) planned).",
    )
