"""Audit-log benchmark: ``audit.verify`` on a log of 1,000,000 events against ``sha256sum``.

    python benchmarks/audit_verify.py [--events 1000000] [--work DIR]

The log is generated into ``--work`` (default a folder in the system's temporary
directory; reused) in the audit log's own format (each line chained and
numbered as :class:`remediations.audit.AuditLog` writes it: a run's start, its
changes with their PowerShell, verification and end), then ``audit.verify``
(the task's function, with its report) and ``sha256sum`` read the same file,
each in a fresh process.  Targets: verify's throughput at least 0.25x
``sha256sum``'s, its peak memory under 100 MB and the same at a tenth of the
events (flat).
"""

from __future__ import annotations

import argparse
import io
import json
import resource
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


def generate_log(path: Path, events: int) -> None:
    """``events`` chained events, runs of ten: start, eight changes, end."""
    from remediations.audit.log import GENESIS, STANDARD_FIELDS, _chained_line

    path.parent.mkdir(parents=True, exist_ok=True)
    prev = GENESIS
    with path.open("wb") as handle:
        for n in range(events):
            run = n // 10
            step = n % 10
            event: dict[str, Any] = dict.fromkeys(STANDARD_FIELDS)
            event.update(
                {
                    "timestamp": f"2026-11-30T09:{(n // 60) % 60:02}:{n % 60:02}.000000Z",
                    "actor": "ops@contoso.com",
                    "tenant": "contoso.com",
                    "transport": "sandbox",
                    "run_id": f"{run:032x}",
                    "action": "add-allowed-sender",
                    "dry_run": False,
                    "ticket": "CHG-42",
                }
            )
            if step == 0:
                event["event"] = "run-started"
            elif step == 9:
                event.update(event="run-finished", outcome="applied")
            else:
                group = f"group{(n * 7) % 50000:06}@contoso.com"
                event.update(
                    event="change-applied",
                    target=group,
                    attribute="AcceptMessagesOnlyFromSendersOrMembers",
                    before=[],
                    after=["partner@fabrikam.com"],
                    cmdlets=[
                        f"Set-DistributionGroup -Identity '{group}' "
                        "-AcceptMessagesOnlyFromSendersOrMembers @{Add='partner@fabrikam.com'}"
                    ],
                    outcome="verified",
                )
            line, prev = _chained_line(event, prev, n + 1, None)
            handle.write(line)


def log_file(work: Path, events: int) -> Path:
    """The generated log of ``events`` events, made once per size."""
    folder = work / f"audit-{events}"
    path = folder / "audit.jsonl"
    marker = folder / ".done"
    if not marker.exists():
        print(f"generating an audit log of {events:,} events at {path} ...", file=sys.stderr)
        generate_log(path, events)
        marker.write_text("1")
    return path


def measure(kind: str, path: Path) -> dict[str, Any]:
    """One kind of work over ``path`` in this process; wall time and peak RSS."""
    start = time.perf_counter()
    if kind == "verify":
        from remediations.cli.audit import audit_verify_task

        config = {"audit": {"dir": str(path.parent)}, "actor": "benchmark"}
        out = io.StringIO()
        code = audit_verify_task(config, as_json=True, out=out, err=sys.stderr)
        assert code == 0, code
        count = json.loads(out.getvalue())["events"]
    else:
        raise SystemExit(f"unknown kind {kind!r}")
    return {
        "seconds": time.perf_counter() - start,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "count": count,
    }


def _fresh(kind: str, path: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--measure", kind, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode:
        raise SystemExit(f"audit benchmark failed:\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _sha256sum(path: Path) -> float:
    start = time.perf_counter()
    subprocess.run(["sha256sum", str(path)], check=True, capture_output=True)
    return time.perf_counter() - start


def rows(events: int = 1_000_000, work: Path | None = None) -> list[Row]:
    """The audit figures, as rows of the benchmark table."""
    work = work or Path(tempfile.gettempdir()) / "ndr-bench"
    path = log_file(work, events)
    tenth = log_file(work, max(events // 10, 1))
    size_mb = path.stat().st_size / 1e6
    sha = min(_sha256sum(path) for _ in range(3))  # the file is in the page cache for both
    run = _fresh("verify", path)
    small = _fresh("verify", tenth)
    ratio = sha / run["seconds"]
    return [
        Row(
            f"audit.verify, {run['count']:,} events ({size_mb:.0f} MB): "
            f"{run['seconds']:.1f} s vs sha256sum {sha:.1f} s",
            ">= 0.25x sha256sum",
            f"{ratio:.2f}x",
            ratio >= 0.25,
        ),
        Row(
            f"  peak memory (at {small['count']:,} events: {small['peak_mib']:.0f} MB)",
            "< 100 MB, flat",
            f"{run['peak_mib']:.0f} MB",
            run["peak_mib"] < 100 and run["peak_mib"] <= small["peak_mib"] * 1.2 + 5,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "ndr-bench")
    parser.add_argument("--measure", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure[0], Path(args.measure[1]))))
        return
    from _table import print_table

    print_table(rows(args.events, args.work))


if __name__ == "__main__":
    main()
