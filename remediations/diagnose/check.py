"""``diagnose --check``: read the tenant to confirm a diagnosis and find the fix that delivers.

For each failure the recipient is read (its kind settles codes such as 5.7.1
AuthRequired, which mean a public folder or a group), and the mail-flow model
(:func:`remediations.ndr.mailflow.decide`, over what the ``Get-*`` cmdlets
return) says what the tenant does *now* with this sender's message. The fix is
then planned on an in-memory copy of the tenant (the target's planning copy),
applied there, and the model run again on the result: a fix is confirmed only
when that planned state delivers this sender's message. When the first fix
leaves another restriction in the way (an accept list behind an authentication
requirement, moderation behind it), the next fix is planned on top, so that the
fixes recommended, together, let the message through; a fix that delivers on
its own is preferred (``add-allowed-sender`` also lifts the authentication
requirement for the sender it lists).

The rules that reject this recipient are found by ``SentTo``, the sender's
scope, state and priority (never by matching the NDR's text against
``RejectMessageReasonText``), and the toolkit's own leaver rule is named as such.

A target without a planning copy (a real tenant, for now) gets the dry plan only:
changes to make confirm the cause, an empty plan says it is already fixed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from remediations.actions import ACTIONS, parse_wish
from remediations.actions.recipients import GROUP_DETAILS, MAILBOX_DETAILS, find_recipient
from remediations.diagnose.classify import (
    LEAVER_RULE_PREFIX,
    Diagnosis,
    Fix,
    command_line,
    diagnose,
)
from remediations.diagnose.ndr import NdrReport
from remediations.engine import prepare
from remediations.errors import InputError
from remediations.exchange.cmdlet import Transport
from remediations.ndr.mailflow import Decision, RecipientView, decide, read_views
from remediations.plan import Plan, render_value

__all__ = ["Check", "check_report", "fits_recipient"]

# How many fixes in a row --check plans before it gives up (auth, list, moderation).
_MAX_FIXES = 4

# The causes that are the tenant's own state, which a fix of this toolkit changes.
TENANT_STATE_CAUSES = frozenset(
    {
        "public-folder-auth",
        "group-auth",
        "recipient-auth",
        "restricted-recipient",
        "large-group-moderation",
        "disabled-account",
    }
)

Step = tuple[str, tuple[tuple[str, str], ...]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    """What the tenant says about one diagnosis.

    Attributes:
        confirmed: True when the tenant still holds the cause and the fixes below,
            planned on a copy of the tenant, deliver this sender's message; False
            when it does not hold it (or the recipient is not in this tenant, or no
            fix delivers); None when there is nothing in the tenant to read.
        evidence: what was read, in one or two sentences.
        now: what the tenant does with this sender's message now (the model).
        after: what it would do once the fixes are applied (the model on the plan).
        fixes: the toolkit's commands that, in this order, let the message through.
        rules: the mail flow rules that reject or delete mail to this recipient
            from this sender, in priority order.
        details: the recipient's RecipientTypeDetails, if it was found.
    """

    confirmed: bool | None
    evidence: str
    now: str | None = None
    after: str | None = None
    fixes: tuple[Fix, ...] = ()
    rules: tuple[str, ...] = ()
    details: str | None = None

    def to_json(self) -> dict[str, object]:
        """The ``check`` member of a ``--json`` diagnosis."""
        return {
            "confirmed": self.confirmed,
            "evidence": self.evidence,
            "now": self.now,
            "after": self.after,
            "fixes": [f.command for f in self.fixes],
            "rules": list(self.rules),
        }


def _kind(details: str) -> str | None:
    if details == "PublicFolder":
        return "public-folder"
    if details in GROUP_DETAILS or details == "GroupMailbox":
        return "group"
    if details in MAILBOX_DETAILS or details in ("MailUser", "GuestMailUser"):
        return "mailbox"
    return None


def fits_recipient(actions: Sequence[str], details: str | None) -> bool:
    """Whether every action (a playbook's steps) can act on a recipient of this kind."""
    if details is None:
        return True
    group_only = {"open-group-to-external", "bypass-moderation"}
    is_group = details in GROUP_DETAILS or details == "GroupMailbox"
    return is_group or not (group_only & set(actions))


def _said(decision: Decision) -> str:
    if decision.outcome == "rejected" and decision.rejection is not None:
        return f"rejected with {decision.rejection.line} ({decision.reason})"
    return f"{decision.outcome} ({decision.reason})"


def check_report(
    report: NdrReport,
    transport: Transport,
    *,
    planning_copy: Callable[[], Transport] | None = None,
) -> tuple[tuple[Diagnosis, Check], ...]:
    """Diagnose each failure again with the recipient read from the tenant, and check it.

    ``planning_copy`` gives an in-memory copy of the tenant to try fixes on (the
    target's ``planning_copy``); without one, each fix is only planned (dry).

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
                f"({transport.name}); the bounce may come from another organisation, or the "
                "address does not exist.",
            )
            results.append((item, check))
            continue
        details = str(rec["RecipientTypeDetails"])
        (item,) = diagnose(single, recipient_kind=_kind(details))
        if report.sender:
            results.append(_model_check(item, details, report.sender, transport, planning_copy))
        else:
            results.append((item, _dry_check(item, details, transport)))
    return tuple(results)


def _dry_check(item: Diagnosis, details: str, transport: Transport) -> Check:
    """Plan the diagnosis's fix against the live state, dry (no sender: no model)."""
    found = f"{item.recipient} is a {details} in {transport.tenant}"
    if not item.automatable or item.fix.action is None:
        return Check(
            confirmed=None,
            evidence=f"{found}; nothing more to read for this cause.",
            details=details,
        )
    if item.fix.action not in ACTIONS:
        return Check(
            confirmed=None,
            evidence=f"{found}; this toolkit has no '{item.fix.action}' task to plan.",
            details=details,
        )
    action = ACTIONS[item.fix.action]
    try:
        plan = prepare(action, parse_wish(action, dict(item.fix.params)), transport)
    except InputError as exc:
        return Check(
            confirmed=False, evidence=f"{found}; the fix does not apply: {exc}", details=details
        )
    if plan.is_noop:
        return Check(
            confirmed=False,
            evidence=f"{found}; it is already as '{item.fix.command}' would leave it "
            "(fixed since the bounce?).",
            details=details,
        )
    first = plan.changes[0]
    return Check(
        confirmed=True,
        evidence=f"{found}; {first.target} {first.attribute} is "
        f"{render_value(first.before)} ({len(plan.changes)} change(s) planned).",
        fixes=(item.fix,),
        details=details,
    )


def _model_check(
    item: Diagnosis,
    details: str,
    sender: str,
    transport: Transport,
    planning_copy: Callable[[], Transport] | None = None,
) -> tuple[Diagnosis, Check]:
    recipient = item.recipient or ""
    found = f"{recipient} is a {details} in {transport.tenant}"

    def evaluate(target: Transport) -> tuple[Decision, RecipientView | None, Any]:
        tenant, rec, who = read_views(target, sender=sender, recipient=recipient)
        return decide(tenant, rec, who, recipient_address=recipient), rec, (tenant, who)

    now, rec_view, (tenant, who) = evaluate(transport)
    rules = tuple(
        r.name
        for r in tenant.rules
        if rec_view is not None and r.blocks and r.applies(rec_view, outside=not who.internal)
    )
    base = Check(confirmed=None, evidence=found, now=_said(now), rules=rules, details=details)
    if item.cause == "transport-rule" or now.key == "transport-rule" or now.outcome == "deleted":
        return item, _rule_check(base, rules, recipient)
    if item.cause not in TENANT_STATE_CAUSES or not item.automatable:
        return item, replace(
            base,
            evidence=f"{found}; no change to the tenant fixes this cause (the steps say who "
            f"acts); once it is dealt with, the tenant would answer this sender: {_said(now)}.",
        )
    if now.outcome == "delivered":
        return item, replace(
            base,
            confirmed=False,
            evidence=f"{found}; the tenant now delivers {sender}'s message (fixed since the "
            "bounce?).",
        )
    if planning_copy is None:
        return item, replace(_dry_check(item, details, transport), now=_said(now), rules=rules)

    def goal(decision: Decision) -> bool:
        if now.key == "disabled-account":
            # A leaver's mail is to be stopped with a clear answer, not delivered.
            return decision.rule is not None and decision.rule.startswith(LEAVER_RULE_PREFIX)
        return decision.outcome == "delivered"

    copy: Transport = planning_copy()
    steps: list[Step] = []
    current = now
    refused: list[str] = []
    for _ in range(_MAX_FIXES):
        if goal(current):
            break
        chosen = _next_fix(copy, current, item, sender, recipient, evaluate, goal, refused)
        if chosen is None:
            break
        step, plan, current = chosen
        _apply(plan, copy)
        steps.append(step)
    fixes = tuple(
        Fix(command=command_line(action, params), steps=(), action=action, params=params)
        for action, params in steps
    )
    delivered = goal(current)
    check = replace(base, after=_said(current), fixes=fixes)
    if delivered and fixes:
        listed = " then ".join(f"'{f.command}'" for f in fixes)
        check = replace(
            check,
            confirmed=True,
            evidence=f"{found}; now it is {_said(now)}; planned on a copy of the tenant, "
            f"{listed} leave(s) it {_said(current)}.",
        )
        first = fixes[0]
        if first.command != item.fix.command:
            others = tuple(f"Then: {f.command}" for f in fixes[1:])
            item = replace(
                item,
                fix=Fix(
                    command=first.command,
                    steps=(
                        f"Recipient's Exchange admin: preview with `{first.command} --dry-run`,"
                        " then run it without --dry-run; planned on a copy of the tenant, it"
                        f" lets {sender}'s message through"
                        f"{' with the commands below' if others else ''}.",
                        *others,
                    ),
                    action=first.action,
                    params=first.params,
                ),
                automatable=True,
            )
        return item, check
    why = "; ".join(refused) if refused else "no fix of this toolkit changes it"
    return item, replace(
        check,
        confirmed=False,
        evidence=f"{found}; now it is {_said(now)}; no fix found that delivers this sender's "
        f"message ({why}).",
    )


def _candidates(decision: Decision, item: Diagnosis, sender: str, recipient: str) -> list[Step]:
    """The fixes to try for what stops the message now, the most specific first."""
    key = decision.key or ("held" if decision.outcome == "held" else "")
    allow: Step = ("add-allowed-sender", (("recipient", recipient), ("sender", sender)))
    by_key: dict[str, list[Step]] = {
        "public-folder-auth": [("fix-public-folder", (("folder", recipient),)), allow],
        "group-auth": [("open-group-to-external", (("group", recipient),)), allow],
        "unified-group-auth": [("open-group-to-external", (("group", recipient),)), allow],
        "mailbox-auth": [("open-to-external", (("recipient", recipient),)), allow],
        "mail-user-auth": [("open-to-external", (("recipient", recipient),)), allow],
        "not-authorized": [allow],
        "group-not-authorized": [allow],
        "allowed-senders": [allow],
        "large-group-members": [allow],
        "held": [("bypass-moderation", (("group", recipient), ("sender", sender)))],
        "disabled-account": [("block-delicensed-user", (("user", recipient),))],
    }
    found = list(by_key.get(key, []))
    if item.fix.action is not None and item.automatable:
        own: Step = (item.fix.action, item.fix.params)
        if own not in found and key != "disabled-account":
            found.append(own)
    return [step for step in found if step[0] in ACTIONS] + [
        step for step in found if step[0] not in ACTIONS
    ]


def _next_fix(
    copy: Transport,
    current: Decision,
    item: Diagnosis,
    sender: str,
    recipient: str,
    evaluate: Callable[[Transport], tuple[Decision, RecipientView | None, Any]],
    goal: Callable[[Decision], bool],
    refused: list[str],
) -> tuple[Step, Plan, Decision] | None:
    """The fix to plan next: the first that reaches the goal, else the first that moves on."""
    progress: tuple[Step, Plan, Decision] | None = None
    for step in _candidates(current, item, sender, recipient):
        name, params = step
        if name not in ACTIONS:
            refused.append(f"'{command_line(name, params)}' is not a task of this toolkit yet")
            continue
        action = ACTIONS[name]
        trial: Transport = copy.fork()  # type: ignore[attr-defined]
        try:
            plan = prepare(action, parse_wish(action, dict(params)), trial)
        except InputError as exc:
            refused.append(f"{name} does not apply: {exc}")
            continue
        if plan.is_noop:
            continue
        _apply(plan, trial)
        after, _, _ = evaluate(trial)
        if goal(after):
            return step, plan, after
        if progress is None and (after.key, after.outcome) != (current.key, current.outcome):
            progress = (step, plan, after)
    return progress


def _apply(plan: Plan, target: Transport) -> None:
    """Send a plan's cmdlets to an in-memory copy of the tenant."""
    for change in plan.changes:
        target.send(change.cmdlet)


def _rule_check(base: Check, rules: tuple[str, ...], recipient: str) -> Check:
    if not rules:
        return replace(
            base,
            confirmed=False,
            evidence=f"{base.evidence}; no enabled mail flow rule rejects or deletes this "
            f"sender's mail to {recipient} now.",
        )
    named = ", ".join(
        f"'{name}' (the toolkit's leaver rule, from block-delicensed-user)"
        if name.startswith(LEAVER_RULE_PREFIX)
        else f"'{name}'"
        for name in rules
    )
    return replace(
        base,
        confirmed=True,
        evidence=f"{base.evidence}; the mail flow rule(s) that stop this sender's mail to it, "
        f"in priority order: {named}.",
    )
