"""The task functions against a real target: the loopback admin API, reached over HTTP.

Everything runs through ``run_action_task`` exactly as ``tasks.py`` calls it, with
``credential.kind: token`` and loopback ``endpoints``; what was sent is read from the
server's request log.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from remediations.cli.playbooks import playbook_run_task
from remediations.playbooks.runner import NOT_PLANNED_AHEAD
from remediations.testing import LoopbackTenant
from tests.conftest import CliResult, run_task_with

from .conftest import TOKEN, online_target, tenant_view

FOLDER = {"folder": "\\Support\\Escalations"}
ALLOW = {"recipient": "Finance Approvers", "sender": "partner@fabrikam.com"}


@pytest.fixture
def lab_config(
    server: LoopbackTenant, config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """The test's settings plus a target ``lab`` on the loopback server, chosen by default."""
    monkeypatch.setenv("TEST_EXO_TOKEN", TOKEN)
    monkeypatch.setenv("TEST_GRAPH_TOKEN", TOKEN)
    return {
        **config,
        "target": "lab",
        "targets": {"lab": online_target(server)},
    }


def run(
    config: dict[str, Any],
    action: str,
    values: dict[str, Any],
    *,
    yes: bool = False,
    interactive: bool = False,
    **flags: Any,
) -> CliResult:
    """The task with this module's ticket, asking (and answered no) unless ``yes``."""
    return run_task_with(
        config, action, values, ticket="T-9", yes=yes, interactive=interactive, **flags
    )


@pytest.mark.parametrize(
    ("action", "values"), [("fix-public-folder", FOLDER), ("add-allowed-sender", ALLOW)]
)
def test_dry_run_then_apply_then_rerun_on_the_admin_api(
    lab_config: dict[str, Any],
    server: LoopbackTenant,
    served_path: Path,
    tenant_path: Path,
    action: str,
    values: dict[str, Any],
) -> None:
    """Dry run: reads only, nothing changes.  --yes: applied and verified over HTTP.  Rerun:
    a no-op.  The served tenant ends exactly as the sandbox does after the same task."""
    before = tenant_view(served_path)
    dry = run(lab_config, action, values, dry_run=True)
    assert dry.code == 0, dry.err
    assert dry.out.startswith(f"Target: lab (exchange-online), tenant {server.tenant}.\n")
    assert "Plan (" in dry.out
    assert "Dry run: nothing changed." in dry.out
    assert server.requests
    assert server.writes() == []
    assert tenant_view(served_path) == before

    applied = run(lab_config, action, values, yes=True)
    assert applied.code == 0, applied.err
    assert "Applied and verified" in applied.out
    writes = len(server.writes())
    assert writes > 0

    again = run(lab_config, action, values, yes=True)
    assert again.code == 0, again.err
    assert "No change needed" in again.out
    assert len(server.writes()) == writes

    on_sandbox = run(lab_config, action, values, yes=True, target="sandbox")
    assert on_sandbox.code == 0, on_sandbox.err
    assert on_sandbox.out.startswith("Target: sandbox (sandbox), tenant contoso.com.\n")
    assert tenant_view(served_path) == tenant_view(tenant_path)


def test_without_a_terminal_and_without_yes_a_real_target_refuses(
    lab_config: dict[str, Any], server: LoopbackTenant, served_path: Path
) -> None:
    """After the preview: one sentence, exit 2, nothing written."""
    before = tenant_view(served_path)
    result = run(lab_config, "fix-public-folder", FOLDER)
    assert result.code == 2
    assert "Plan (" in result.out
    assert result.err.count("\n") == 1
    assert "rerun with --yes" in result.err
    assert server.writes() == []
    assert tenant_view(served_path) == before


@pytest.mark.parametrize(("answer", "applied"), [("y", True), ("n", False), ("", False)])
def test_a_real_target_asks_after_the_preview(
    lab_config: dict[str, Any], server: LoopbackTenant, answer: str, applied: bool
) -> None:
    """At a terminal the question names the target; only yes applies."""
    asked: list[str] = []

    def ask(prompt: str) -> str:
        asked.append(prompt)
        return answer

    result = run(lab_config, "fix-public-folder", FOLDER, interactive=True, ask=ask)
    assert result.code == 0, result.err
    assert asked == ["Apply these changes to lab? [y/N] "]
    assert bool(server.writes()) is applied
    assert ("Applied and verified" in result.out) is applied


def test_the_sandbox_never_asks(config: dict[str, Any]) -> None:
    """The sandbox applies without a question, terminal or not."""

    def ask(prompt: str) -> str:
        raise AssertionError("the sandbox asked")

    result = run(config, "fix-public-folder", FOLDER, ask=ask)
    assert result.code == 0, result.err
    assert "Applied and verified" in result.out


def test_json_names_the_target_as_a_field(lab_config: dict[str, Any]) -> None:
    """--json: one document with a ``target`` field, no text line before it."""
    result = run(lab_config, "fix-public-folder", FOLDER, dry_run=True, as_json=True)
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["target"] == "lab"
    assert doc["outcome"] == "planned"


def test_an_unknown_target_is_one_sentence_and_exit_2(lab_config: dict[str, Any]) -> None:
    """--target naming nothing configured: the known names, exit 2."""
    result = run(lab_config, "fix-public-folder", FOLDER, target="nowhere")
    assert result.code == 2
    assert result.err == "target 'nowhere' is not configured; give one of lab, sandbox.\n"


def test_the_audit_log_records_the_target(lab_config: dict[str, Any], audit_dir: Path) -> None:
    """Every event of the run names the target and its transport."""
    run(lab_config, "fix-public-folder", FOLDER, dry_run=True)
    lines = (audit_dir / "audit.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines]
    assert events
    assert {e.get("target_name") for e in events} == {"lab"}
    assert {e.get("transport") for e in events} == {"exchange-online"}


def test_a_playbook_on_a_real_target_plans_ahead_and_sends_no_write_in_a_dry_run(
    lab_config: dict[str, Any], server: LoopbackTenant
) -> None:
    """Planned ahead on the target's planning copy (not step by step); nothing is written."""
    out, err = io.StringIO(), io.StringIO()
    code = playbook_run_task(
        lab_config,
        "restricted-group-outside-sender",
        ["group=Finance Approvers", "senders=partner@fabrikam.com"],
        dry_run=True,
        as_json=False,
        ticket="T-9",
        yes=False,
        out=out,
        err=err,
    )
    assert code == 0, err.getvalue()
    assert out.getvalue().startswith("Target: lab (exchange-online)")
    assert NOT_PLANNED_AHEAD not in out.getvalue()
    assert server.requests
    assert server.writes() == []


def test_the_shell_flag_reaches_the_task(
    invoke_cli: Callable[..., Any],
) -> None:
    """``--target`` is a flag of the remediation tasks, read and checked before anything."""
    result = invoke_cli("fix-public-folder", "--folder", "x", "--target", "nowhere")
    assert result.returncode == 2
    assert "target 'nowhere' is not configured" in result.stderr


def test_invoke_target_in_the_environment_chooses_the_target(
    invoke_cli: Callable[..., Any],
) -> None:
    """``INVOKE_TARGET`` is the ``target`` setting; --target wins over it."""
    chosen = invoke_cli("fix-public-folder", "--folder", "x", env={"INVOKE_TARGET": "elsewhere"})
    assert chosen.returncode == 2
    assert "target 'elsewhere' is not configured" in chosen.stderr
    flag = invoke_cli(
        "fix-public-folder",
        "--folder",
        "\\Support\\Escalations",
        "--dry-run",
        "--target",
        "sandbox",
        env={"INVOKE_TARGET": "elsewhere"},
    )
    assert flag.returncode == 0, flag.stderr
    assert flag.stdout.startswith("Target: sandbox (sandbox)")
