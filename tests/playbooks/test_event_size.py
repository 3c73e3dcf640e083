"""Audit events stay small: a playbook run's parameters are recorded once, at its start,
and each step's events carry that step's own target only, so the size of an event does
not grow with the number of targets of a ``for_each`` playbook."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from remediations.audit import AuditLog
from remediations.exchange.cmdlet import Cmdlet
from remediations.playbooks import bind, load_playbook, run_playbook
from remediations.sandbox import SandboxTransport, reset_sandbox
from tests.conftest import FIXED_TIME

OPEN_EACH = """\
    name: open-each
    description: Open every listed recipient to outside senders.
    answers:
      causes: [recipient-auth]
    parameters:
      recipients:
        type: list
        description: the recipients
    steps:
      - name: Open the recipient to outside senders
        action: open-to-external
        for_each: ${recipients}
        inputs:
          recipient: ${item}
"""


def mailboxes(tenant_path: Path) -> list[str]:
    """Every mailbox of the demo tenant, each made to require authenticated senders."""
    transport = SandboxTransport(tenant_path)
    found = [
        str(m["PrimarySmtpAddress"])
        for m in transport.send(Cmdlet.of("Get-Mailbox", ResultSize="Unlimited")).objects
    ]
    for address in found:
        transport.send(
            Cmdlet.of("Set-Mailbox", Identity=address, RequireSenderAuthenticationEnabled=True)
        )
    return found


def step_event_sizes(audit_dir: Path, run_id: str) -> dict[tuple[str, str], int]:
    """(step, event) -> the byte size of that event's line, for one run."""
    import json

    sizes = {}
    for line in (audit_dir / "audit.jsonl").read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        if event.get("run_id") == run_id and "step" in event:
            sizes[(str(event["step"]), str(event["event"]))] = len(line.encode())
    return sizes


def test_event_size_does_not_grow_with_the_number_of_targets(
    write_playbook: Callable[[str, str], Path], tmp_path: Path
) -> None:
    playbook = load_playbook(write_playbook("open-each", OPEN_EACH))
    runs = {}
    everyone: list[str] = []
    for count in (1, 0):  # the first target alone, then every mailbox
        tenant = tmp_path / f"tenant-{count}" / "tenant.json"
        reset_sandbox(tenant)
        targets = mailboxes(tenant)
        everyone = targets
        assert len(targets) >= 8
        audit_dir = tmp_path / f"audit-{count}"
        bound = bind(playbook, {"recipients": targets[: count or None]})
        outcome = run_playbook(
            bound,
            transport=SandboxTransport(tenant),
            audit=AuditLog(audit_dir, clock=lambda: FIXED_TIME, context={"actor": "tester"}),
            dry_run=False,
        )
        assert outcome.outcome == "applied"
        runs[count] = (audit_dir, outcome.run_id)

    targets = everyone
    one = step_event_sizes(*runs[1])
    many = step_event_sizes(*runs[0])
    first_step = {key: size for key, size in many.items() if key[0] == "1.1"}
    assert {"change-planned", "change-applied", "change-verified", "step-end"} <= {
        name for _, name in first_step
    }
    # The first target's events are exactly as large whether the run has 1 target or all.
    assert first_step == one
    # No step event names another target, and none carries the parameters.
    import json

    for line in (runs[0][0] / "audit.jsonl").read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        if event["event"] in ("playbook-start", "playbook-end"):
            continue
        assert "parameters" not in event
        named = {t for t in targets if t in line}
        assert len(named) <= 1, event["event"]
