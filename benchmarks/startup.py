"""Startup benchmark: where people wait.  Prints figures side by side; asserts nothing.

    python benchmarks/startup.py [--runs N]

Times, in fresh processes, (1) ``invoke --list`` on this project, (2) a sandbox
``fix-public-folder --dry-run`` on the demo tenant, and (3) ``invoke --list`` on
an empty tasks file, the floor no Invoke project can go under.  Target: (2)
within 1.5x of (3).  Medians are read, not single runs: these machines are
shared and noisy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INVOKE = str(Path(sys.executable).with_name("invoke"))


def measure(
    cmd: list[str], cwd: Path, env: dict[str, str], runs: int
) -> tuple[float, float, float]:
    """Median and min wall time (ms) and median peak RSS (MiB) over fresh processes."""
    walls, rss = [], []
    for _ in range(runs + 1):  # the first run warms the page cache and is dropped
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = (time.perf_counter() - start) * 1000
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(
                f"{' '.join(cmd)} failed: {proc.stderr.read().decode() if proc.stderr else ''}"
            )
        walls.append(wall)
        rss.append(usage.ru_maxrss / 1024)
    walls, rss = walls[1:], rss[1:]
    return statistics.median(walls), min(walls), statistics.median(rss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        empty = tmpdir / "empty"
        empty.mkdir()
        # Invoke refuses a tasks file with no task at all, so the floor has one that does nothing.
        (empty / "tasks.py").write_text(
            "from invoke import task\n\n\n@task\ndef noop(c):\n    pass\n"
        )
        env = {
            **os.environ,
            "INVOKE_SANDBOX_PATH": str(tmpdir / "tenant.json"),
            "INVOKE_AUDIT_DIR": str(tmpdir / "audit"),
        }
        subprocess.run(
            [INVOKE, "sandbox.reset"], cwd=ROOT, env=env, check=True, capture_output=True
        )
        rows = [
            ("invoke --list (empty tasks file)", [INVOKE, "--list"], empty),
            ("invoke --list (this project)", [INVOKE, "--list"], ROOT),
            (
                "fix-public-folder --dry-run (sandbox)",
                [INVOKE, "fix-public-folder", "--folder", "\\Support\\Escalations", "--dry-run"],
                ROOT,
            ),
        ]
        results = [(label, *measure(cmd, cwd, env, runs)) for label, cmd, cwd in rows]
    floor = results[0][1]
    print(f"{runs} runs each, fresh processes, {os.cpu_count()} cores")
    print(f"{'command':<40} {'median ms':>10} {'min ms':>8} {'x floor':>8} {'RSS MiB':>8}")
    for label, median, best, rss in results:
        print(f"{label:<40} {median:>10.0f} {best:>8.0f} {median / floor:>8.2f} {rss:>8.1f}")
    ratio = results[2][1] / floor
    verdict = "within" if ratio <= 1.5 else "OVER"
    print(f"sandbox dry-run / empty --list = {ratio:.2f} ({verdict} the 1.5x target)")


if __name__ == "__main__":
    main()
