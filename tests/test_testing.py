"""The shipped test helpers (remediations.testing) do what their docstrings promise."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from remediations.actions import ACTIONS, parse_wish
from remediations.audit import ChainError
from remediations.engine import run_action
from remediations.errors import ApplyFailed, CmdletError, PermissionDenied
from remediations.exchange.cmdlet import Cmdlet
from remediations.sandbox import SandboxTransport
from remediations.testing import CapturedAudit, CliRunner, RecordingTransport, run_cli
from tests.conftest import ROOT, tenant_doc

FOLDER = {"folder": "\\Support\\Escalations"}


# --- run_cli / invoke_cli -----------------------------------------------------------------


def test_the_exit_status_and_both_streams(invoke_cli: CliRunner) -> None:
    """0 with stdout; bad input 2 with the sentence; ndr-fix's parse errors 2 as well."""
    listed = invoke_cli("--list")
    assert (listed.returncode, listed.stderr) == (0, "")
    assert "fix-public-folder" in listed.stdout
    bad = invoke_cli("add-allowed-sender", "--recipient", "Finance Approvers", "--sender", "x")
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert bad.stderr.startswith("--sender 'x' is not an email address")
    unknown = invoke_cli("scan", "--nope", binary="ndr-fix")
    assert unknown.returncode == 2
    assert "'--nope' is neither a flag of scan nor a task" in unknown.stderr
    assert "'ndr-fix --help scan'" in unknown.stderr
    assert invoke_cli("scan", "--nope").returncode == 1  # Invoke's own program, its own status
    assert invoke_cli("scan", "--json").json()["tenant"] == "contoso.com"


def test_the_calls_settings_are_the_only_invoke_settings(
    tmp_path: Path, tenant_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """INVOKE_* of the surrounding shell are hidden; the call's own apply; all put back."""
    monkeypatch.setenv("INVOKE_SANDBOX_PATH", str(tmp_path / "elsewhere" / "missing.db"))
    monkeypatch.setenv("INVOKE_AUDIT_DIR", str(tmp_path / "elsewhere"))
    before = dict(os.environ)
    result = run_cli(
        ["fix-public-folder", "--folder", "\\Support\\Escalations"],
        cwd=ROOT,
        env={"INVOKE_SANDBOX_PATH": str(tenant_path), "INVOKE_AUDIT_DIR": str(tmp_path / "a")},
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "a" / "audit.jsonl").is_file()
    assert not (tmp_path / "elsewhere").exists()
    assert dict(os.environ) == before


def test_the_process_is_left_as_it_was(tmp_path: Path, tenant_path: Path) -> None:
    """cwd, sys.path, the tasks module, the standard streams and signal handlers come back."""
    project = tmp_path / "project"
    (project / "sub").mkdir(parents=True)
    (project / "tasks.py").write_text((ROOT / "tasks.py").read_text())
    cwd, path, tasks = Path.cwd(), list(sys.path), sys.modules.get("tasks")
    streams = (sys.stdout, sys.stderr, sys.stdin)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE)}
    result = run_cli(
        ["fix-public-folder", "--folder", "\\Support\\Escalations", "--dry-run"],
        cwd=project / "sub",
        env={"INVOKE_SANDBOX_PATH": str(tenant_path)},
    )
    assert result.returncode == 0, result.stderr
    assert "Dry run: nothing changed" in result.stdout
    assert (project / "audit-logs" / "audit.jsonl").is_file()  # the project's, found from sub/
    assert (Path.cwd(), sys.path, sys.modules.get("tasks")) == (cwd, path, tasks)
    assert (sys.stdout, sys.stderr, sys.stdin) == streams
    assert {s: signal.getsignal(s) for s in handlers} == handlers


def test_a_bug_is_raised_not_turned_into_an_exit_status(tmp_path: Path) -> None:
    """An exception the program does not handle reaches the caller, as a traceback would."""
    (tmp_path / "tasks.py").write_text(
        "from invoke import task\n\n\n@task\ndef boom(c):\n    raise ZeroDivisionError('bug')\n"
    )
    with pytest.raises(ZeroDivisionError, match="bug"):
        run_cli(["boom"], cwd=tmp_path)


def test_stdin_is_the_calls_own(tmp_path: Path) -> None:
    """What the command reads from stdin is the call's ``stdin`` text."""
    (tmp_path / "tasks.py").write_text(
        "import sys\nfrom invoke import task\n\n\n@task\ndef echo(c):\n"
        "    print(sys.stdin.read().upper(), end='')\n"
    )
    assert run_cli(["echo"], cwd=tmp_path, stdin="yes\n").stdout == "YES\n"


# --- RecordingTransport -------------------------------------------------------------------


def test_a_run_through_the_recording_transport(sandbox: SandboxTransport) -> None:
    """Every cmdlet is recorded in order, reads apart from writes, answers unchanged."""
    action = ACTIONS["fix-public-folder"]
    recording = RecordingTransport(sandbox)
    audit = CapturedAudit(sandbox.path.parent / "audit-logs")
    outcome = run_action(
        action,
        parse_wish(action, dict(FOLDER)),
        transport=recording,
        audit=audit.log,
        dry_run=False,
    )
    assert outcome.outcome == "applied"
    assert [c.name for c in recording.writes] == ["Set-MailPublicFolder"]
    assert recording.writes[0].get("RequireSenderAuthenticationEnabled") is False
    assert {c.name for c in recording.reads} == {"Get-MailPublicFolder"}
    assert len(recording.cmdlets) == len(recording.reads) + 1 == sandbox.calls
    assert all(s.error is None and s.result is not None for s in recording.sent)
    assert not hasattr(recording, "fork")  # like a real tenant, it cannot be copied


def test_refused_writes_reach_nothing(sandbox: SandboxTransport, tenant_path: Path) -> None:
    """refuse_writes: a write raises PermissionDenied, is recorded as refused, never sent."""
    action = ACTIONS["fix-public-folder"]
    recording = RecordingTransport(sandbox, refuse_writes=True)
    before = tenant_doc(tenant_path)
    with pytest.raises(ApplyFailed) as caught:
        run_action(
            action,
            parse_wish(action, dict(FOLDER)),
            transport=recording,
            audit=CapturedAudit(tenant_path.parent / "audit-logs").log,
            dry_run=False,
        )
    assert "Changed: nothing." in str(caught.value)
    assert [c.name for c in recording.refused] == ["Set-MailPublicFolder"]
    assert isinstance(recording.sent[-1].error, PermissionDenied)
    assert recording.writes == []
    assert sandbox.writes == 0
    assert tenant_doc(tenant_path) == before


def test_errors_of_the_wrapped_transport_are_recorded_and_raised(
    sandbox: SandboxTransport,
) -> None:
    """The tenant's own error passes through unchanged, and is on the record."""
    recording = RecordingTransport(sandbox)
    with pytest.raises(CmdletError) as caught:
        recording.send(Cmdlet.of("Get-DistributionGroup", Identity="no-such-group"))
    assert caught.value.category == "NotFound"
    (sent,) = recording.sent
    assert sent.delivered
    assert sent.error is caught.value
    assert sent.result is None


# --- CapturedAudit ------------------------------------------------------------------------


def test_captured_events_are_the_file_and_the_chain_holds(
    sandbox: SandboxTransport, tmp_path: Path
) -> None:
    """Every event is in memory as written (chained); check() passes, then sees an edit."""
    action = ACTIONS["fix-public-folder"]
    audit = CapturedAudit(tmp_path / "audit-logs", key=b"k" * 32)
    run_action(
        action, parse_wish(action, dict(FOLDER)), transport=sandbox, audit=audit.log, dry_run=False
    )
    names = audit.names()
    assert names[0] == "run-start"
    assert names[-1] == "run-end"
    assert [e["seq"] for e in audit.events] == list(range(1, len(names) + 1))
    assert all("mac" in e for e in audit.events)
    assert audit.of("run-end")[0]["outcome"] == "applied"
    assert audit.check().count == len(names)
    text = audit.path.read_text()
    audit.path.write_text(text.replace('"applied"', '"failed"', 1))
    with pytest.raises(ChainError):
        audit.check()
