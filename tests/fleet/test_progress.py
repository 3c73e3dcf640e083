"""Progress: a bar on a terminal for long runs; nothing without one, nothing with --json."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from remediations.cli import run_action_task
from remediations.testing.fleet_tenant import fleet_group
from tests.conftest import ROOT


class Terminal(io.StringIO):
    """Standard error as a terminal would be (what rich checks before drawing)."""

    def isatty(self) -> bool:
        return True


def fleet_run(config: dict[str, Any], targets: Path, err: io.StringIO, **flags: Any) -> str:
    out = io.StringIO()
    code = run_action_task(
        config,
        "open-group-to-external",
        {"group": None},
        dry_run=False,
        as_json=flags.get("as_json", False),
        ticket="",
        yes=True,
        targets_file=str(targets),
        out=out,
        err=err,
    )
    assert code == 0, err.getvalue()
    return out.getvalue()


def targets_file(tmp_path: Path, count: int) -> Path:
    path = tmp_path / "groups.txt"
    path.write_text("".join(f"{fleet_group(n)}\n" for n in range(1, count + 1)))
    return path


def test_a_terminal_shows_counts_rate_and_time_left(
    tmp_path: Path, fleet_config: dict[str, Any]
) -> None:
    err = Terminal()
    fleet_run(fleet_config, targets_file(tmp_path, 40), err)
    drawn = err.getvalue()
    assert "Reading" in drawn
    assert "Applying" in drawn
    assert "/40" in drawn
    assert "left" in drawn


def test_json_on_a_terminal_prints_the_result_alone(
    tmp_path: Path, fleet_config: dict[str, Any]
) -> None:
    err = Terminal()
    out = fleet_run(fleet_config, targets_file(tmp_path, 40), err, as_json=True)
    assert err.getvalue() == ""
    assert json.loads(out)["outcome"] == "applied"


def test_without_a_terminal_nothing_is_drawn(tmp_path: Path, fleet_config: dict[str, Any]) -> None:
    """The task as a pipe sees it, in a fresh process: the result on stdout, stderr empty."""
    targets = targets_file(tmp_path, 40)
    script = (
        "import io, json, sys\n"
        "from remediations.cli import run_action_task\n"
        f"config = json.loads({json.dumps(json.dumps(fleet_config))})\n"
        "code = run_action_task(config, 'open-group-to-external', {'group': None},\n"
        "    dry_run=False, as_json=False, ticket='', yes=True,\n"
        f"    targets_file={str(targets)!r})\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "Applied and verified 40 changes." in done.stdout
    assert "\x1b[" not in done.stdout
