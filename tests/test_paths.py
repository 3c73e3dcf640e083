"""Relative settings resolve against the project folder (the one holding tasks.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from remediations.testing import InvokeResult, run_cli
from tests.conftest import ROOT


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder of its own: tasks.py and a subdirectory to work from."""
    folder = tmp_path / "project"
    (folder / "notes" / "deeper").mkdir(parents=True)
    shutil.copy(ROOT / "tasks.py", folder / "tasks.py")
    return folder


def invoke(cwd: Path, *args: str, **env: str) -> InvokeResult:
    """``invoke *args`` typed in ``cwd``, with no INVOKE_* settings but ``env``."""
    return run_cli(args, cwd=cwd, env=env)


def test_commands_from_a_subdirectory_use_the_projects_sandbox_and_log(project: Path) -> None:
    """One tenant and one log, wherever in the project the command is typed."""
    sub = project / "notes" / "deeper"
    assert invoke(project, "sandbox.reset").returncode == 0
    fixed = invoke(sub, "fix-public-folder", "--folder", "\\Support\\Escalations")
    assert fixed.returncode == 0, fixed.stderr
    assert "No sandbox tenant yet" not in fixed.stderr  # it found the project's tenant
    again = invoke(project / "notes", "fix-public-folder", "--folder", "\\Support\\Escalations")
    assert again.returncode == 0, again.stderr
    assert "Nothing to do" in again.stdout
    log = project / "audit-logs" / "audit.jsonl"
    assert log.read_text().count('"change-applied"') == 1
    assert sorted(p.name for p in sub.iterdir()) == []
    assert sorted(p.name for p in (project / "notes").iterdir()) == ["deeper"]
    verify = invoke(sub, "audit.verify")
    assert verify.returncode == 0
    assert str(log) in verify.stdout


def test_relative_settings_from_the_environment_resolve_against_the_project(
    project: Path,
) -> None:
    """INVOKE_AUDIT_DIR=logs and INVOKE_SANDBOX_PATH=lab/t.json mean the project's."""
    sub = project / "notes"
    env = {"INVOKE_AUDIT_DIR": "logs", "INVOKE_SANDBOX_PATH": "lab/tenant.json"}
    assert invoke(sub, "sandbox.reset", **env).returncode == 0
    proc = invoke(sub, "open-group-to-external", "--group", "Partners", **env)
    assert proc.returncode == 0, proc.stderr
    assert (project / "logs" / "audit.jsonl").is_file()
    assert (project / "lab").is_dir()
    assert sorted(p.name for p in sub.iterdir()) == ["deeper"]


def test_a_relative_playbooks_dir_is_the_projects(project: Path) -> None:
    """INVOKE_PLAYBOOKS_DIR=runbooks lists the project's runbooks from any subdirectory."""
    runbooks = project / "runbooks"
    runbooks.mkdir()
    shipped = ROOT / "remediations" / "playbooks" / "shipped"
    text = (shipped / "leaver-block-mail.yaml").read_text(encoding="utf-8")
    (runbooks / "our-leavers.yaml").write_text(
        text.replace("name: leaver-block-mail", "name: our-leavers"), encoding="utf-8"
    )
    proc = invoke(project / "notes", "playbook.list", INVOKE_PLAYBOOKS_DIR="runbooks")
    assert proc.returncode == 0, proc.stderr
    assert "our-leavers" in proc.stdout
