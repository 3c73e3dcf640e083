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

Each command's CPU time (user + system, from ``wait4``) is printed beside its wall
time: on a shared machine it moves much less than the wall clock, and the ratio
of CPU times says the same thing the ratio of wall times does when the machine
is idle.
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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
INVOKE = str(Path(sys.executable).with_name("invoke"))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def measure(
    commands: list[tuple[list[str], Path]], env: dict[str, str], runs: int
) -> list[tuple[float, float, float, float]]:
    """Median and min wall time (ms), median peak RSS (MiB) and median CPU time (ms, user
    and system) of each command.

    The commands take turns (a, b, c, a, b, c, ...), so that the load of a shared
    machine falls on all of them alike; the first round warms caches and is dropped.
    """
    walls: list[list[float]] = [[] for _ in commands]
    rss: list[list[float]] = [[] for _ in commands]
    cpus: list[list[float]] = [[] for _ in commands]
    for round_no in range(runs + 1):
        for index, (cmd, cwd) in enumerate(commands):
            start = time.perf_counter()
            proc = subprocess.Popen(
                cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            _, status, usage = os.wait4(proc.pid, 0)
            wall = (time.perf_counter() - start) * 1000
            if os.waitstatus_to_exitcode(status) != 0:
                error = proc.stderr.read().decode() if proc.stderr else ""
                raise SystemExit(f"{' '.join(cmd)} failed: {error}")
            if round_no:
                walls[index].append(wall)
                rss[index].append(usage.ru_maxrss / 1024)
                cpus[index].append((usage.ru_utime + usage.ru_stime) * 1000)
    return [
        (statistics.median(w), min(w), statistics.median(r), statistics.median(c))
        for w, r, c in zip(walls, rss, cpus, strict=True)
    ]


Figures = list[tuple[float, float, float, float]]


def figures(runs: int) -> tuple[Figures, Figures]:
    """Measure every command: (from source, byte-compiled), each a list as ``measure`` gives."""
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
            "INVOKE_SANDBOX_PATH": str(tmpdir / "tenant.db"),
            "INVOKE_AUDIT_DIR": str(tmpdir / "audit"),
        }
        subprocess.run(
            [INVOKE, "sandbox.reset"], cwd=ROOT, env=env, check=True, capture_output=True
        )
        dry_run = [INVOKE, "fix-public-folder", "--folder", "\\Support\\Escalations", "--dry-run"]
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        for cache in [*ROOT.joinpath("remediations").rglob("__pycache__"), ROOT / "__pycache__"]:
            shutil.rmtree(cache, ignore_errors=True)
        listing = [INVOKE, "--list"]
        source = measure([(listing, empty), (listing, ROOT), (dry_run, ROOT)], env, runs)
        compileall.compile_dir(ROOT / "remediations", quiet=1)
        compileall.compile_file(ROOT / "tasks.py", quiet=1)
        compiled = measure([(listing, empty), (dry_run, ROOT)], env, runs)
    return source, compiled


def rows(runs: int = 15) -> list[Any]:
    """The cold-start figures as rows of the benchmark table (medians of ``runs``)."""
    from _table import Row

    source, compiled = figures(runs)
    out = []
    for how, measured in (("from source", source), ("byte-compiled", compiled)):
        floor, dry = measured[0][0], measured[-1][0]
        ratio = dry / floor
        cpu = measured[-1][3] / measured[0][3]
        out.append(
            Row(
                f"cold start, {how}: sandbox dry-run {dry:.0f} ms vs invoke --list of an "
                f"empty tasks file {floor:.0f} ms (cpu {cpu:.2f}x)",
                "<= 1.5x",
                f"{ratio:.2f}x",
                ratio <= 1.5,
            )
        )
    listing = source[1][0] / source[0][0]
    out.append(Row("  invoke --list of this project, from source", "-", f"{listing:.2f}x", None))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    source, compiled = figures(runs)
    print(f"{runs} runs each, taking turns, fresh processes, {os.cpu_count()} cores")
    print(
        f"{'command':<40} {'median ms':>10} {'min ms':>8} {'x floor':>8} {'cpu ms':>8} "
        f"{'x floor':>8} {'RSS MiB':>8}"
    )
    for title, labels, measured in (
        (
            "project modules compiled from source in every process:",
            ["invoke --list (empty tasks file)", "invoke --list (this project)", "sandbox dry-run"],
            source,
        ),
        (
            "project modules byte-compiled:",
            ["invoke --list (empty tasks file)", "sandbox dry-run"],
            compiled,
        ),
    ):
        print(title)
        floor, floor_cpu = measured[0][0], measured[0][3]
        for label, (median, best, peak, cpu) in zip(labels, measured, strict=True):
            print(
                f"  {label:<38} {median:>10.0f} {best:>8.0f} {median / floor:>8.2f} "
                f"{cpu:>8.0f} {cpu / floor_cpu:>8.2f} {peak:>8.1f}"
            )
        ratio = measured[-1][0] / floor
        verdict = "within" if ratio <= 1.5 else "OVER"
        print(
            f"  sandbox dry-run / empty --list = {ratio:.2f} ({verdict} the 1.5x target; "
            f"cpu {measured[-1][3] / floor_cpu:.2f})"
        )


if __name__ == "__main__":
    main()
