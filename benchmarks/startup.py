"""Startup benchmark: where people wait.  Prints figures side by side; asserts nothing.

    python benchmarks/startup.py [--runs N]

Times, in fresh processes, (1) ``invoke --list`` on this project, (2) a sandbox
``fix-public-folder --dry-run`` on the demo tenant, and (3) ``invoke --list`` on
an empty tasks file, the floor no Invoke project can go under.  Target: (2)
within 1.5x of (3).  Medians are read, not single runs: these machines are
shared and noisy.

The dry-run is timed twice: with the project's own modules compiled from source
in every process (this workplace sets PYTHONDONTWRITEBYTECODE=1 and an editable
install writes no bytecode; the script removes the project's ``__pycache__``
folders first), and with them byte-compiled (``compileall``), as after a regular
``pip install .`` or on any machine that writes bytecode.  Installed packages
(Invoke, structlog) keep their bytecode in both.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
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
        dry_run = [INVOKE, "fix-public-folder", "--folder", "\\Support\\Escalations", "--dry-run"]
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        for cache in [*ROOT.joinpath("remediations").rglob("__pycache__"), ROOT / "__pycache__"]:
            shutil.rmtree(cache, ignore_errors=True)
        results = [
            ("invoke --list (empty tasks file)", *measure([INVOKE, "--list"], empty, env, runs)),
            ("invoke --list (this project)", *measure([INVOKE, "--list"], ROOT, env, runs)),
            ("sandbox dry-run, from source", *measure(dry_run, ROOT, env, runs)),
        ]
        compileall.compile_dir(ROOT / "remediations", quiet=1)
        compileall.compile_file(ROOT / "tasks.py", quiet=1)
        results.append(("sandbox dry-run, byte-compiled", *measure(dry_run, ROOT, env, runs)))
    floor = results[0][1]
    print(f"{runs} runs each, fresh processes, {os.cpu_count()} cores")
    print(f"{'command':<40} {'median ms':>10} {'min ms':>8} {'x floor':>8} {'RSS MiB':>8}")
    for label, median, best, rss in results:
        print(f"{label:<40} {median:>10.0f} {best:>8.0f} {median / floor:>8.2f} {rss:>8.1f}")
    for label, median, *_ in results[2:]:
        ratio = median / floor
        verdict = "within" if ratio <= 1.5 else "OVER"
        print(f"{label} / empty --list = {ratio:.2f} ({verdict} the 1.5x target)")


if __name__ == "__main__":
    main()
