"""Ctrl-C and SIGTERM mid-apply: the cmdlet in flight finishes, the log says so, 130/143."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from remediations.actions import ACTIONS, parse_wish
from remediations.engine import prepare
from remediations.sandbox import SandboxTransport
from remediations.testing import CliRunner
from tests.conftest import ROOT, events

# Signals come from outside the process: every test here runs the real command.
pytestmark = pytest.mark.subprocess

FIX = ["add-allowed-sender", "--recipient", "Finance Approvers", "--sender", "partner@fabrikam.com"]
WISH = {"recipient": "Finance Approvers", "sender": "partner@fabrikam.com"}
PLAYBOOK = [
    "playbook.run",
    "restricted-group-outside-sender",
    "--param",
    "group=finance-approvers@contoso.com",
    "--param",
    "senders=partner@fabrikam.com,p2@fabrikam.com",
]


def remaining(tenant_path: Path) -> set[tuple[str, str]]:
    action = ACTIONS["add-allowed-sender"]
    transport = SandboxTransport(tenant_path)
    try:
        plan = prepare(action, parse_wish(action, dict(WISH)), transport)
    finally:
        transport.close()
    return {(c.target, c.attribute) for c in plan.changes}


def start(
    args: list[str], tenant_path: Path, audit_dir: Path, faults: str
) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "INVOKE_SANDBOX_PATH": str(tenant_path),
        "INVOKE_AUDIT_DIR": str(audit_dir),
        "INVOKE_SANDBOX_FAULTS": faults,
    }
    invoke = Path(sys.executable).with_name("invoke")
    return subprocess.Popen(
        [str(invoke), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_event(proc: subprocess.Popen[str], audit_dir: Path, event: str) -> None:
    """Return as soon as the run has logged ``event`` (its readiness line in the audit log)."""
    log = audit_dir / "audit.jsonl"
    needle = f'"{event}"'.encode()
    deadline = time.monotonic() + 60
    seen = 0  # the log only grows: read what is new, from the start of its last line
    while time.monotonic() < deadline:
        if log.exists():
            with log.open("rb") as handle:
                handle.seek(seen)
                tail = handle.read()
            if needle in tail:
                return
            seen += tail.rfind(b"\n") + 1
        if proc.poll() is not None:
            pytest.fail(f"the run ended before {event}: {proc.communicate()}")
        time.sleep(0.005)
    proc.kill()
    pytest.fail(f"the run never logged {event}")


def signal_when_applying(proc: subprocess.Popen[str], audit_dir: Path, signum: int) -> None:
    """Send the signal as soon as the first change is announced (its cmdlet is in flight)."""
    wait_for_event(proc, audit_dir, "change-applying")
    proc.send_signal(signum)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_mid_apply_finishes_the_cmdlet_records_and_exits(
    signum: int, code: int, tenant_path: Path, audit_dir: Path, invoke_cli: CliRunner
) -> None:
    """Exit 130/143, run-end 'interrupted', exactly the announced changes, rerun converges."""
    proc = start(FIX, tenant_path, audit_dir, "latency_ms=300")
    signal_when_applying(proc, audit_dir, signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    name = signal.Signals(signum).name
    assert err.strip().startswith(f"Interrupted ({name}). Changed: partner@fabrikam.com")
    assert "Not changed: finance-approvers@contoso.com" in err
    assert err.strip().endswith("Run the same command again to finish.")
    log = events(audit_dir)
    end = log[-1]
    assert (end["event"], end["outcome"], end["signal"]) == ("run-end", "interrupted", name)
    assert len(end["applied"]) == 1
    assert len(end["not_applied"]) == 2
    announced = {(e["target"], e["attribute"]) for e in log if e["event"] == "change-applying"}
    applied = {(e["target"], e["attribute"]) for e in log if e["event"] == "change-applied"}
    assert announced == applied  # the cmdlet in flight finished and was recorded
    assert len(remaining(tenant_path)) == 2
    again = invoke_cli(*FIX)  # the rerun is behaviour: in-process
    assert again.returncode == 0, again.stderr
    assert "Applied and verified 2 changes" in again.stdout
    assert remaining(tenant_path) == set()


def test_sigint_mid_playbook_then_resume_converges(
    tenant_path: Path, audit_dir: Path, invoke_cli: CliRunner
) -> None:
    """playbook-end says 'interrupted' and what was applied; --resume finishes the job."""
    # Every call waits 100 ms (planning reads about 30 of them first); the signal lands while
    # one of step 1's three writes is in flight.
    proc = start(PLAYBOOK, tenant_path, audit_dir, "latency_ms=100")
    signal_when_applying(proc, audit_dir, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "INTERRUPTED" in out
    assert "interrupted (SIGINT) at step 1" in err
    assert "Changed: partner@fabrikam.com MailContact" in err
    assert "Run the same command again to finish" in err
    log = events(audit_dir)
    end = log[-1]
    assert (end["event"], end["outcome"]) == ("playbook-end", "interrupted")
    run_id: Any = end["run_id"]
    step_ends = [e for e in log if e["event"] == "step-end"]
    assert step_ends[-1]["outcome"] == "interrupted"
    # the resume and the rerun are behaviour: in-process
    resumed = invoke_cli("playbook.run", "restricted-group-outside-sender", "--resume", run_id)
    assert resumed.returncode == 0, resumed.stderr
    assert remaining(tenant_path) == set()
    again = invoke_cli(*PLAYBOOK)
    assert again.returncode == 0, again.stderr
    assert events(audit_dir)[-1]["outcome"] == "no-change"


def test_sigint_while_reading_changes_nothing_and_says_so(
    tenant_path: Path, audit_dir: Path
) -> None:
    """Before anything is sent, Ctrl-C stops at once: exit 130, one sentence, run-end logged."""
    proc = start(FIX, tenant_path, audit_dir, "latency_ms=300")
    wait_for_event(proc, audit_dir, "run-start")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip() == "Interrupted (SIGINT) before anything was applied: nothing changed."
    end = events(audit_dir)[-1]
    assert (end["event"], end["outcome"]) == ("run-end", "interrupted")
    assert len(remaining(tenant_path)) == 3
