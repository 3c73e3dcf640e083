"""Diagnosis benchmark: a postmaster mailbox and a message trace against the naive way.
Prints figures side by side with their targets; asserts nothing.

    python benchmarks/diagnosis.py [--ndrs 10000] [--rows 1000000] [--work DIR] [--only ndr|trace]

(1) ``diagnose --ndr DIR`` over DIR of N NDR files (the task's own function, text
report included) against a bare ``email`` parse (compat32) of the same files;
target: at most 3x.  (2) ``diagnose.trace`` over a message trace of N rows
against reading it with ``csv`` alone, with peak memory at N and at N/10 (flat:
the same); target: at most 3x.  Every figure is measured in a fresh process
(wall time, peak RSS).  The inputs are generated into ``--work`` (default: a
folder under the system's temporary directory) and reused when already there;
nothing large is committed.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Rejections with nothing to fill in, cycled through the generated bounces.
REJECTIONS = (
    "public-folder-auth",
    "group-auth",
    "unified-group-auth",
    "mailbox-auth",
    "not-authorized",
    "allowed-senders",
    "disabled-account",
    "transport-rule",
    "relay-denied",
)
TRACE_HEADER = [
    "Received",
    "SenderAddress",
    "RecipientAddress",
    "Subject",
    "Status",
    "ToIP",
    "FromIP",
    "Size",
    "MessageId",
    "MessageTraceId",
    "Detail",
]


# --- inputs -------------------------------------------------------------------------


def generate_ndrs(folder: Path, count: int) -> None:
    """``count`` Exchange Online-format NDRs, one ``.eml`` file each (200 recipients, 500
    senders, the rejections above in turn)."""
    from remediations.diagnose import SANDBOX_REJECTIONS, RejectedRecipient, build_ndr

    folder.mkdir(parents=True, exist_ok=True)
    arrival = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    for n in range(count):
        sender = f"sender{n % 500:03}@fabrikam.com"
        recipient = f"target{n % 200:03}@contoso.com"
        original = EmailMessage()
        original["From"] = sender
        original["To"] = recipient
        original["Subject"] = f"Order {n}"
        original["Message-ID"] = f"<order-{n}@fabrikam.com>"
        original.set_content(f"Order {n}: please confirm.\n")
        rejection = SANDBOX_REJECTIONS[REJECTIONS[n % len(REJECTIONS)]]
        message = build_ndr(
            reporting_mta="AM0PR01MB1234.eurprd01.prod.outlook.com",
            postmaster="postmaster@contoso.com",
            sender=sender,
            recipients=[RejectedRecipient.from_rejection(recipient, rejection)],
            original=original,
            arrival=arrival,
        )
        (folder / f"{n:06}.eml").write_bytes(message.as_bytes())


def generate_trace(path: Path, rows: int) -> None:
    """A ``Get-MessageTraceV2 | Export-Csv`` trace of ``rows`` rows, one in three failed
    with its Detail (2,000 recipients, 5,000 senders; each recipient rejects for one
    reason, as a recipient's setting does)."""
    from remediations.diagnose import SANDBOX_REJECTIONS

    details = []
    for name in REJECTIONS:
        r = SANDBOX_REJECTIONS[name]
        details.append(f"Reason: [{{LED={r.smtp_code} {r.status} {r.diagnostic}}};{{MSG=}}]")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(TRACE_HEADER)
        for n in range(rows):
            failed = n % 3 == 0
            writer.writerow(
                [
                    "2026-11-30T09:00:00",
                    f"sender{n % 5000:04}@fabrikam.com",
                    f"target{n % 2000:04}@contoso.com",
                    "Order",
                    "Failed" if failed else "Delivered",
                    "",
                    "203.0.113.5",
                    "1200",
                    f"<m{n}@fabrikam.com>",
                    f"00000000-0000-0000-0000-{n:012}",
                    details[(n % 2000) % len(details)] if failed else "",
                ]
            )


# Bump when the generators change, so that old inputs are made again.
_VERSION = "2"


def _ready(marker: Path, size: int) -> bool:
    return marker.exists() and marker.read_text() == f"{size} v{_VERSION}"


def inputs(work: Path, ndrs: int, rows: int) -> tuple[Path, Path, Path]:
    """The NDR folder, the trace and a tenth of it, generated once per size."""
    ndr_dir = work / f"ndrs-{ndrs}"
    if not _ready(ndr_dir / ".done", ndrs):
        print(f"generating {ndrs} NDRs in {ndr_dir} ...", file=sys.stderr)
        generate_ndrs(ndr_dir, ndrs)
        (ndr_dir / ".done").write_text(f"{ndrs} v{_VERSION}")
    traces = []
    for size in (rows, max(rows // 10, 1)):
        trace = work / f"trace-{size}.csv"
        marker = work / f"trace-{size}.done"
        if not _ready(marker, size):
            print(f"generating a trace of {size} rows at {trace} ...", file=sys.stderr)
            generate_trace(trace, size)
            marker.write_text(f"{size} v{_VERSION}")
        traces.append(trace)
    return ndr_dir, traces[0], traces[1]


# --- one measurement, in its own process ----------------------------------------------


def measure(kind: str, path: Path) -> dict[str, Any]:
    """Run one kind of work over ``path`` in this process; wall time and peak RSS."""
    start = time.perf_counter()
    count = 0
    if kind == "email":
        from email import message_from_bytes
        from email.policy import compat32

        for entry in sorted(os.scandir(path), key=lambda e: e.name):
            if entry.name.endswith(".eml"):
                message_from_bytes(Path(entry.path).read_bytes(), policy=compat32)
                count += 1
    elif kind == "diagnose":
        from remediations.cli.postmaster import diagnose_mailbox_task

        out = io.StringIO()
        code = diagnose_mailbox_task({}, path, as_json=False, out=out, err=sys.stderr)
        assert code == 0
        count = int(out.getvalue().split(": ", 1)[1].split(" ", 1)[0])
    elif kind == "csv":
        with path.open(newline="", encoding="utf-8") as handle:
            for _ in csv.reader(handle):
                count += 1
        count -= 1  # the header
    elif kind == "trace":
        from remediations.cli.postmaster import diagnose_trace_task

        out = io.StringIO()
        code = diagnose_trace_task({}, str(path), as_json=False, out=out, err=sys.stderr)
        assert code == 0
        count = int(out.getvalue().split(": ", 1)[1].split(" ", 1)[0])
    else:
        raise SystemExit(f"unknown kind {kind!r}")
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": seconds, "peak_mib": peak_kib / 1024, "count": count}


def in_fresh_process(kind: str, path: Path) -> dict[str, Any]:
    """``measure`` in a new interpreter, so that peak memory is this work's alone."""
    proc = subprocess.run(
        [sys.executable, __file__, "--measure", kind, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


# --- the table -------------------------------------------------------------------------


def rows(ndrs: int = 10_000, trace_rows: int = 1_000_000, work: Path | None = None) -> list[Any]:
    """The diagnosis figures as rows of the benchmark table."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _table import Row

    work = work or Path(tempfile.gettempdir()) / "ndr-bench"
    ndr_dir, trace, tenth = inputs(work, ndrs, trace_rows)
    email_run = in_fresh_process("email", ndr_dir)
    diag_run = in_fresh_process("diagnose", ndr_dir)
    csv_run = in_fresh_process("csv", trace)
    trace_run = in_fresh_process("trace", trace)
    tenth_run = in_fresh_process("trace", tenth)
    ndr_ratio = diag_run["seconds"] / email_run["seconds"]
    trace_ratio = trace_run["seconds"] / csv_run["seconds"]
    flat = trace_run["peak_mib"] / tenth_run["peak_mib"]
    return [
        Row(
            f"diagnose --ndr DIR, {diag_run['count']:,} files: {diag_run['seconds']:.1f} s vs "
            f"email (compat32) {email_run['seconds']:.1f} s",
            "<= 3x",
            f"{ndr_ratio:.2f}x",
            ndr_ratio <= 3,
        ),
        Row(
            f"diagnose.trace, {trace_run['count']:,} rows: {trace_run['seconds']:.1f} s vs "
            f"csv alone {csv_run['seconds']:.1f} s",
            "<= 3x",
            f"{trace_ratio:.2f}x",
            trace_ratio <= 3,
        ),
        Row(
            f"  peak memory of that trace ({trace_run['peak_mib']:.0f} MB) / at "
            f"{tenth_run['count']:,} rows ({tenth_run['peak_mib']:.0f} MB)",
            "flat (~1x)",
            f"{flat:.2f}x",
            flat <= 1.2,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ndrs", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "ndr-bench")
    parser.add_argument("--only", choices=("ndr", "trace"), help="run one of the two")
    parser.add_argument("--measure", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure[0], Path(args.measure[1]))))
        return
    ndr_dir, trace, tenth = inputs(args.work, args.ndrs, args.rows)
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(f"{'figure':<52} {'ours':>11} {'naive':>11} {'ratio':>7}  target")
    if args.only != "trace":
        ndr_figures(ndr_dir)
    if args.only != "ndr":
        trace_figures(trace, tenth)


def line(what: str, ours: float, naive: float, target: str, unit: str = "s") -> None:
    """One figure: ours, the naive way's, their ratio and the target."""
    ratio = ours / naive if naive else float("inf")
    print(f"{what:<52} {ours:>9.2f}{unit:<2} {naive:>9.2f}{unit:<2} {ratio:>6.2f}x  {target}")


def ndr_figures(ndr_dir: Path) -> None:
    """diagnose over the folder against a bare email parse of the same files."""
    email_run = in_fresh_process("email", ndr_dir)
    diag_run = in_fresh_process("diagnose", ndr_dir)
    line(
        f"diagnose --ndr DIR ({diag_run['count']} files) vs email parse",
        diag_run["seconds"],
        email_run["seconds"],
        "<= 3x",
    )
    per_file = 1000 * diag_run["seconds"] / max(diag_run["count"], 1)
    print(f"{'  per file, diagnose':<52} {per_file:>9.2f}ms")


def trace_figures(trace: Path, tenth: Path) -> None:
    """diagnose.trace against csv alone, and its peak memory at N and N/10 rows."""
    csv_run = in_fresh_process("csv", trace)
    trace_run = in_fresh_process("trace", trace)
    tenth_run = in_fresh_process("trace", tenth)
    line(
        f"diagnose.trace ({trace_run['count']} rows) vs csv alone",
        trace_run["seconds"],
        csv_run["seconds"],
        "<= 3x",
    )
    line(
        "  peak memory, diagnose.trace vs csv alone",
        trace_run["peak_mib"],
        csv_run["peak_mib"],
        "flat",
        "M",
    )
    line(
        f"  peak memory, trace of {trace_run['count']} vs {tenth_run['count']} rows",
        trace_run["peak_mib"],
        tenth_run["peak_mib"],
        "~1x (flat)",
        "M",
    )


if __name__ == "__main__":
    main()
