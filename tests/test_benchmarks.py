"""The benchmark command runs end to end at a tiny size and prints one table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_benchmark_command_prints_every_figure_with_its_target(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "run.py"),
            "--quick",
            "--only",
            "sandbox,audit",
            "--recipients",
            "120",
            "--scan",
            "100",
            "--events",
            "300",
            "--work",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("machine: ")
    assert " cores" in lines[0]
    assert lines[1].split() == ["figure", "target", "measured", "met?"]
    table = "\n".join(lines[3:])
    for figure, target in (
        ("sandbox.load, 120 recipients", "<= 10 s"),
        ("one fix at 120 vs the demo tenant", "<= 1.2x"),
        ("scan, 100 recipients", "<= 5 s"),
        ("audit.verify, 300 events", ">= 0.25x sha256sum"),
        ("peak memory", "< 100 MB, flat"),
    ):
        row = next(line for line in lines if figure in line and target in line)
        assert row.rstrip().endswith(("yes", "NO")), row
    assert "Traceback" not in table
