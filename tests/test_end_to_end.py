"""From bounce to fix on the demo tenant, through the commands a user would type:
send -> NDR file -> diagnose -> the recommended command -> send again."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from remediations.testing import CliRunner

Invoke = CliRunner


def send(invoke_cli: Invoke, sender: str, recipient: str, *extra: str) -> dict[str, Any]:
    proc = invoke_cli(
        "sandbox.send", "--sender", sender, "--recipient", recipient, "--json", *extra
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def diagnose(invoke_cli: Invoke, ndr: str) -> dict[str, Any]:
    proc = invoke_cli("diagnose", "--ndr", ndr, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def run_command(invoke_cli: Invoke, command: str) -> str:
    """Run a recommended command exactly as printed (it starts with 'invoke')."""
    args = shlex.split(command)
    assert args[0] == "invoke"
    proc = invoke_cli(*args[1:])
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


AUTOMATABLE = [
    # sender, recipient, the causes met in turn, the final outcome
    ("partner@fabrikam.com", "escalations@contoso.com", ["public-folder-auth"], "delivered"),
    ("partner@fabrikam.com", "partners@contoso.com", ["group-auth"], "delivered"),
    ("partner@fabrikam.com", "falcon@contoso.com", ["group-auth"], "delivered"),
    (
        "alex.kim@contoso.com",
        "finance-approvers@contoso.com",
        ["restricted-recipient"],
        "delivered",
    ),
    (
        "partner@fabrikam.com",
        "finance-approvers@contoso.com",
        ["group-auth", "restricted-recipient"],
        "delivered",
    ),
    ("alex.kim@contoso.com", "allstaff@contoso.com", ["held"], "delivered"),
    ("partner@fabrikam.com", "allstaff@contoso.com", ["group-auth", "held"], "delivered"),
    # 5.7.134: a mailbox that requires authenticated senders (open-to-external, issue 7).
    ("partner@fabrikam.com", "legal@contoso.com", ["recipient-auth"], "delivered"),
]


@pytest.mark.parametrize(
    ("sender", "recipient", "causes", "final"),
    AUTOMATABLE,
    ids=[f"{s.split('@')[0]}->{r.split('@')[0]}" for s, r, *_ in AUTOMATABLE],
)
def test_every_automatable_cause_goes_from_ndr_to_delivered(
    invoke_cli: Invoke, sender: str, recipient: str, causes: list[str], final: str
) -> None:
    """Each bounce is diagnosed, fixed with the printed command, and the mail then arrives."""
    met = []
    for _ in range(len(causes) + 1):
        result = send(invoke_cli, sender, recipient)
        if result["outcome"] == "held":
            met.append("held")
            run_command(invoke_cli, result["suggestion"])
            continue
        if result["outcome"] != "rejected":
            break
        assert Path(result["ndr"]).is_file()
        doc = diagnose(invoke_cli, result["ndr"])
        assert doc["recipient"] == recipient
        assert doc["sender"] == sender
        assert doc["status"] == result["status"]
        assert doc["automatable"] is True, doc
        met.append(doc["cause"])
        run_command(invoke_cli, doc["fix"]["command"])
    assert met == causes
    assert result["outcome"] == final


def test_leaver_ends_with_a_clear_rejection(invoke_cli: Invoke) -> None:
    """5.7.129 for a disabled account -> block-delicensed-user -> the rule's clear 5.7.1."""
    first = send(invoke_cli, "partner@fabrikam.com", "jordan.lee@contoso.com")
    assert first["status"] == "5.7.129"
    doc = diagnose(invoke_cli, first["ndr"])
    assert doc["cause"] == "disabled-account"
    assert doc["fix"]["command"] == "invoke block-delicensed-user --user jordan.lee@contoso.com"
    run_command(invoke_cli, doc["fix"]["command"])
    after = send(invoke_cli, "partner@fabrikam.com", "jordan.lee@contoso.com")
    assert (after["outcome"], after["status"]) == ("rejected", "5.7.1")
    assert after["rule"] == "Block mail to leaver jordan.lee@contoso.com"
    assert "no longer in use" in Path(after["ndr"]).read_text()


NOT_AUTOMATABLE = [
    # sender, recipient, extra send flags, cause, a word the steps must hold
    ("partner@fabrikam.com", "nobody@contoso.com", (), "unknown", "does not exist"),
    ("partner@fabrikam.com", "board@contoso.com", (), "transport-rule", "rule"),
    (
        "partner@fabrikam.com",
        "escalations@contoso.com",
        ("--client-ip", "192.0.2.25"),
        "ip-blocklist",
        "delist",
    ),
    ("partner@fabrikam.com", "someone@tailspintoys.com", (), "relay-denied", "connector"),
]


@pytest.mark.parametrize(
    ("sender", "recipient", "extra", "cause", "word"),
    NOT_AUTOMATABLE,
    ids=[c for *_, c, _ in NOT_AUTOMATABLE],
)
def test_causes_outside_the_toolkit_get_steps(
    invoke_cli: Invoke, sender: str, recipient: str, extra: tuple[str, ...], cause: str, word: str
) -> None:
    """The bounce is reproduced on the demo and diagnosed with steps, not a command."""
    result = send(invoke_cli, sender, recipient, *extra)
    assert result["outcome"] == "rejected"
    doc = diagnose(invoke_cli, result["ndr"])
    assert doc["cause"] == cause
    assert doc["automatable"] is False
    assert word.lower() in " ".join(doc["fix"]["steps"]).lower()


def test_rule_that_deletes_leaves_no_ndr(invoke_cli: Invoke) -> None:
    """A rule in delete mode drops the message silently: outcome deleted, no NDR."""
    run_command(
        invoke_cli, "invoke block-delicensed-user --user jordan.lee@contoso.com --mode delete"
    )
    result = send(invoke_cli, "partner@fabrikam.com", "jordan.lee@contoso.com")
    assert (result["outcome"], result["ndr"]) == ("deleted", None)


def test_large_message_to_a_large_group(invoke_cli: Invoke) -> None:
    """Over 5,000 members: a large message is rejected even from a moderator."""
    result = send(invoke_cli, "hr@contoso.com", "allstaff@contoso.com", "--size-kb", "3000")
    assert result["outcome"] == "rejected"
    doc = diagnose(invoke_cli, result["ndr"])
    assert doc["cause"] == "large-group-moderation"
    assert doc["automatable"] is False


def test_diagnose_fix_goes_from_pasted_bounce_to_fixed_tenant(invoke_cli: Invoke) -> None:
    """One command from a bounce to a fixed tenant: diagnose --check --fix."""
    first = send(invoke_cli, "partner@fabrikam.com", "partners@contoso.com")
    proc = invoke_cli("diagnose", "--ndr", first["ndr"], "--check", "--fix", "--ticket", "INC-9")
    assert proc.returncode == 0, proc.stderr
    assert "check:      confirmed" in proc.stdout
    assert "Applied and verified 1 change" in proc.stdout
    # On the sandbox, --fix ends by sending the original message again.
    assert "Sent again from partner@fabrikam.com to partners@contoso.com: delivered" in proc.stdout
    assert (
        send(invoke_cli, "partner@fabrikam.com", "partners@contoso.com")["outcome"] == "delivered"
    )
    again = invoke_cli("diagnose", "--ndr", first["ndr"], "--check", "--json")
    doc = json.loads(again.stdout)
    assert doc["check"]["confirmed"] is False
    # The mail-flow model says what the tenant does now (it delivers), not a dry plan.
    assert "now delivers" in doc["check"]["evidence"]


def test_diagnose_recommends_the_playbook_and_it_fixes_the_case(invoke_cli: Invoke) -> None:
    """The playbook that answers the cause is named with its parameters filled in."""
    first = send(invoke_cli, "alex.kim@contoso.com", "finance-approvers@contoso.com")
    doc = diagnose(invoke_cli, first["ndr"])
    assert doc["playbooks"] == [
        "invoke playbook.run restricted-group-outside-sender "
        "--param group=finance-approvers@contoso.com --param senders=alex.kim@contoso.com"
    ]
    run_command(invoke_cli, doc["playbooks"][0])
    again = send(invoke_cli, "alex.kim@contoso.com", "finance-approvers@contoso.com")
    assert again["outcome"] == "delivered"


# --- every bounce the demo tenant can produce, through diagnose --check --fix ----------------

# Every sender kind the demo tenant tells apart: an outside partner and an internal user
# on no list.
WALK_SENDERS = ("partner@fabrikam.com", "sam.rivera@contoso.com")
# Beyond the tenant's own recipients: an address nobody has, and a domain it does not accept.
WALK_EXTRA = ("nobody@contoso.com", "someone@tailspintoys.com")

# (sender, recipient) -> how the walk ends: "delivered" (first time, or after the fixes
# diagnose --check --fix applied, proven by its own re-send), "leaver rule" (the leaver's
# mail is stopped by the toolkit's rule, as intended), or "steps: <cause>" (outside the
# tenant's state, or a rule of the organisation's own: the steps, no command).
# Anything not listed must be delivered the first time.
WALK_ENDS = {
    ("partner@fabrikam.com", "escalations@contoso.com"): "delivered",
    ("partner@fabrikam.com", "finance-approvers@contoso.com"): "delivered",
    ("partner@fabrikam.com", "partners@contoso.com"): "delivered",
    ("partner@fabrikam.com", "allstaff@contoso.com"): "delivered",
    ("partner@fabrikam.com", "falcon@contoso.com"): "delivered",
    ("partner@fabrikam.com", "legal@contoso.com"): "delivered",
    ("partner@fabrikam.com", "jordan.lee@contoso.com"): "leaver rule",
    ("partner@fabrikam.com", "board@contoso.com"): "steps: transport-rule",
    ("partner@fabrikam.com", "nobody@contoso.com"): "steps: unknown",
    ("partner@fabrikam.com", "someone@tailspintoys.com"): "steps: relay-denied",
    ("sam.rivera@contoso.com", "finance-approvers@contoso.com"): "delivered",
    ("sam.rivera@contoso.com", "allstaff@contoso.com"): "delivered",
    ("sam.rivera@contoso.com", "jordan.lee@contoso.com"): "leaver rule",
    ("sam.rivera@contoso.com", "nobody@contoso.com"): "steps: unknown",
    # A leaver the organisation's own rule already blocks: the rule is theirs to keep.
    ("partner@fabrikam.com", "casey.morgan@contoso.com"): "steps: transport-rule",
    ("sam.rivera@contoso.com", "casey.morgan@contoso.com"): "steps: transport-rule",
}


def _task(fn: Callable[..., int], *args: Any, **kwargs: Any) -> tuple[int, Any]:
    import io

    out, err = io.StringIO(), io.StringIO()
    code = fn(*args, out=out, err=err, **kwargs)
    assert code == 0, err.getvalue()
    return code, json.loads(out.getvalue())


def _walk(config: dict[str, Any], sender: str, recipient: str, extra: dict[str, Any]) -> str:
    """Send; while it bounces, diagnose --check --fix; say how it ended."""
    from remediations.cli import run_action_task
    from remediations.cli.diagnose import diagnose_task
    from remediations.cli.sandbox import sandbox_send_task

    seen: list[str] = []
    for _ in range(4):
        _, result = _task(
            sandbox_send_task, config, sender=sender, recipient=recipient, as_json=True, **extra
        )
        if result["outcome"] == "delivered":
            return "delivered"
        if result["outcome"] == "held":  # no NDR: the sandbox names the command
            action, *flags = shlex.split(result["suggestion"])[1:]
            values = dict(zip(flags[::2], flags[1::2], strict=True))
            assert action == "bypass-moderation"
            code = run_action_task(
                config,
                action,
                {k.lstrip("-"): v for k, v in values.items()},
                dry_run=False,
                as_json=True,
                ticket="T-walk",
                yes=True,
                out=__import__("io").StringIO(),
                err=__import__("io").StringIO(),
            )
            assert code == 0
            continue
        _, doc = _task(
            diagnose_task, config, result["ndr"], as_json=True, check=True, fix=True, yes=True
        )
        assert doc["status"] == result["status"]
        seen.append(doc["cause"])
        if not doc["automatable"]:
            assert doc["fix"]["steps"], doc
            if doc["check"]["rules"] and all(
                r.startswith("Block mail to leaver ") for r in doc["check"]["rules"]
            ):
                return "leaver rule"
            return f"steps: {doc['cause']}"
        if doc["check"]["confirmed"] is not True:
            return f"not confirmed: {doc['cause']}: {doc['check']['evidence']}"
        assert doc["fix_runs"], doc
        (resent,) = doc["resent"]
        if resent["outcome"] == "delivered":
            return "delivered"
        if str(resent.get("rule") or "").startswith("Block mail to leaver "):
            return "leaver rule"
        pytest.fail(f"{sender} -> {recipient}: after {seen} the re-send gave {resent}")
    pytest.fail(f"{sender} -> {recipient}: no end after {seen}")


def test_every_bounce_of_the_demo_tenant_leads_to_delivery_or_steps(
    config: dict[str, Any], tenant_path: Path
) -> None:
    """Done-when of issue 7: every bounce the demo tenant can produce, through
    diagnose --check --fix, ends in a delivered re-send (tenant-state causes), the leaver
    rule's intended rejection, or the steps (causes outside the tenant's state)."""
    from remediations.sandbox import SandboxTransport, reset_sandbox

    state = SandboxTransport(tenant_path).state
    recipients = [
        str(r["PrimarySmtpAddress"])
        for r in state.recipients
        if r.get("PrimarySmtpAddress") and r["RecipientTypeDetails"] != "MailContact"
    ]
    cases: list[tuple[str, str, dict[str, Any]]] = [
        (s, r, {}) for s in WALK_SENDERS for r in (*recipients, *WALK_EXTRA)
    ]
    cases.append(("partner@fabrikam.com", "escalations@contoso.com", {"client_ip": "192.0.2.25"}))
    cases.append(("hr@contoso.com", "allstaff@contoso.com", {"size_kb": 3000}))
    ends: dict[tuple[str, str, str], str] = {}
    for sender, recipient, extra in cases:
        reset_sandbox(tenant_path)  # each case from the demo tenant as shipped
        ends[(sender, recipient, extra.get("client_ip", ""))] = _walk(
            config, sender, recipient, extra
        )
    expected = {
        (s, r, ip): WALK_ENDS.get((s, r), "delivered") if not ip else "steps: ip-blocklist"
        for s, r, ip in ends
    }
    # A message too large for a group over 5,000 members: the sender sends it smaller.
    expected[("hr@contoso.com", "allstaff@contoso.com", "")] = "steps: large-group-moderation"
    assert ends == expected
