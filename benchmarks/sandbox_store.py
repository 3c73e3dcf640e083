"""Sandbox scale benchmark: a tenant of 50,000 recipients against the demo tenant.

    python benchmarks/sandbox_store.py [--recipients 50000] [--scan 10000] [--work DIR]

The tenants are made by ``invoke sandbox.generate`` (:mod:`remediations.sandbox.generate`:
mailboxes, groups, folders, contacts, one group ``Everyone`` with a real member
for every other recipient, and every cause ``scan`` reports) as JSON tenant
files in ``--work``, and measured each in a fresh process (wall and CPU time,
peak RSS):

* load: ``sandbox.load FILE`` (parse, check, build the store, hash it, record
  it in the audit log); target at most 10 s, peak memory at most 300 MB;
* one fix: ``open-group-to-external`` on one group (read, plan, apply, verify,
  audit log) on the large tenant against the same fix on the demo tenant;
  target at most 1.2x (the median of five runs after a warm-up, the group
  closed again between runs);
* ``scan`` of a tenant of 10,000 recipients; target at most 5 s; and at a
  tenth of that size, to show it grows linearly.

Nothing large is committed: the inputs are generated into ``--work`` (default a
folder in the system's temporary directory) and reused.  Figures are wall
clock on a shared machine; the CPU time is printed beside them.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _table import Row  # noqa: E402

FIX_RUNS = 9


def tenant_file(work: Path, recipients: int) -> Path:
    """The generated tenant of ``recipients`` (JSON), made once per size."""
    from remediations.sandbox.generate import generate_tenant

    path = work / f"tenant-{recipients}.json"
    marker = work / f"tenant-{recipients}.done"
    if not marker.exists() or marker.read_text() != "2":
        print(f"generating a tenant of {recipients:,} recipients at {path} ...", file=sys.stderr)
        work.mkdir(parents=True, exist_ok=True)
        # Everyone holds every other recipient as a real member (50,000 at 50,000)
        mapping = generate_tenant(recipients, members=recipients - 1).mapping
        path.write_text(json.dumps(mapping), encoding="utf-8")
        marker.write_text("2")
    return path


def _config(folder: Path) -> dict[str, Any]:
    return {
        "sandbox": {"path": str(folder / "tenant.db"), "faults": ""},
        "audit": {"dir": str(folder / "audit")},
        "actor": "benchmark",
        "target": "sandbox",
    }


# --- one measurement, in its own process ----------------------------------------------


def measure(kind: str, source: str, folder: str) -> dict[str, Any]:
    """Run one kind of work in this process; wall and CPU time, peak RSS."""
    from remediations.cli import run_action_task
    from remediations.cli.sandbox import sandbox_load_task

    config = _config(Path(folder))
    extra: dict[str, Any] = {}
    if kind == "load":
        start, cpu = time.perf_counter(), time.process_time()
        code = sandbox_load_task(config, source, out=io.StringIO())
        assert code == 0, code
    elif kind == "fix":
        from remediations.exchange.cmdlet import Cmdlet
        from remediations.sandbox import SandboxTransport

        group = source  # the store is already there (loaded by "load")
        # Between runs the group is closed again through the transport (not timed), so
        # every run has the same work and the store stays as a store in use is.
        close = Cmdlet.of(
            "Set-DistributionGroup",
            Identity=group,
            RequireSenderAuthenticationEnabled=True,
            BypassSecurityGroupManagerCheck=True,
        )
        transport = SandboxTransport(Path(config["sandbox"]["path"]))
        seconds: list[float] = []
        cpus: list[float] = []
        for _ in range(FIX_RUNS + 1):
            transport.send(close)
            begin, begin_cpu = time.perf_counter(), time.process_time()
            code = run_action_task(
                config,
                "open-group-to-external",
                {"group": group},
                dry_run=False,
                as_json=False,
                ticket="",
                yes=True,
                out=io.StringIO(),
                err=sys.stderr,
            )
            assert code == 0, code
            seconds.append(time.perf_counter() - begin)
            cpus.append(time.process_time() - begin_cpu)
        extra["median"] = statistics.median(seconds[1:])  # the first run warms up
        extra["median_cpu"] = statistics.median(cpus[1:])
        start, cpu = time.perf_counter(), time.process_time()
    elif kind == "scan":
        from remediations.cli.diagnose import scan_task

        start, cpu = time.perf_counter(), time.process_time()
        out = io.StringIO()
        code = scan_task(config, partners=[], as_json=True, target=None, out=out)
        assert code in (0, 3), code
        extra["findings"] = json.loads(out.getvalue())["problems"]
    else:
        raise SystemExit(f"unknown kind {kind!r}")
    return {
        "seconds": extra.pop("median", time.perf_counter() - start),
        "cpu": time.process_time() - cpu,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        **extra,
    }


def in_fresh_process(kind: str, source: str, folder: Path) -> dict[str, Any]:
    """``measure`` in a new interpreter, so that peak memory is this work's alone."""
    proc = subprocess.run(
        [sys.executable, __file__, "--measure", kind, source, str(folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode:
        raise SystemExit(f"sandbox benchmark {kind} failed:\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# --- the figures -------------------------------------------------------------------------


def rows(recipients: int = 50_000, scan_size: int = 10_000, work: Path | None = None) -> list[Row]:
    """Every sandbox figure, as rows of the benchmark table."""
    from remediations.sandbox.generate import generate_tenant
    from remediations.sandbox.tenant_file import DEMO_TENANT

    work = work or Path(tempfile.gettempdir()) / "ndr-bench"
    big = tenant_file(work, recipients)
    group = generate_tenant(recipients, members=recipients - 1).examples["group-auth"]
    out: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        large, demo = Path(tmp) / "large", Path(tmp) / "demo"
        large.mkdir()
        demo.mkdir()
        load = in_fresh_process("load", str(big), large)
        out.append(
            Row(
                f"sandbox.load, {recipients:,} recipients, a group of {recipients - 1:,} "
                f"real members (cpu {load['cpu']:.1f} s)",
                "<= 10 s",
                f"{load['seconds']:.1f} s",
                load["seconds"] <= 10,
            )
        )
        out.append(
            Row(
                "  peak memory of that load",
                "<= 300 MB",
                f"{load['peak_mib']:.0f} MB",
                load["peak_mib"] <= 300,
            )
        )
        in_fresh_process("load", str(DEMO_TENANT), demo)
        fix_large = in_fresh_process("fix", group, large)
        fix_demo = in_fresh_process("fix", "partners@contoso.com", demo)
        ratio = fix_large["seconds"] / fix_demo["seconds"]
        out.append(
            Row(
                f"one fix at {recipients:,} vs the demo tenant "
                f"({fix_large['seconds'] * 1000:.0f} vs {fix_demo['seconds'] * 1000:.0f} ms; "
                f"cpu {fix_large['median_cpu'] * 1000:.0f} vs "
                f"{fix_demo['median_cpu'] * 1000:.0f} ms)",
                "<= 1.2x",
                f"{ratio:.2f}x",
                ratio <= 1.2,
            )
        )
        out.append(
            Row(
                "  peak memory of that fix (10 runs)",
                "<= 300 MB",
                f"{fix_large['peak_mib']:.0f} MB",
                fix_large["peak_mib"] <= 300,
            )
        )
        scans = []
        for size in (max(scan_size // 10, 50), scan_size):
            folder = Path(tmp) / f"scan-{size}"
            folder.mkdir()
            in_fresh_process("load", str(tenant_file(work, size)), folder)
            scans.append((size, in_fresh_process("scan", "", folder)))
        (small, small_run), (size, run) = scans
        out.append(
            Row(
                f"scan, {size:,} recipients ({run['findings']} findings, cpu {run['cpu']:.1f} s)",
                "<= 5 s",
                f"{run['seconds']:.1f} s",
                run["seconds"] <= 5,
            )
        )
        growth = run["seconds"] / small_run["seconds"]
        out.append(
            Row(
                f"  scan at {size:,} / at {small:,} (linear: {size / small:.0f}x)",
                f"<= {size / small * 1.5:.0f}x",
                f"{growth:.1f}x",
                growth <= size / small * 1.5,
            )
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=50_000)
    parser.add_argument("--scan", type=int, default=10_000, help="recipients of the scanned tenant")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "ndr-bench")
    parser.add_argument("--measure", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return
    from _table import print_table

    print_table(rows(args.recipients, args.scan, args.work))


if __name__ == "__main__":
    main()
