"""Every benchmark in one run, and one table: figure, target, measured, met?

    python benchmarks/run.py [--quick] [--only startup,sandbox,audit,diagnose,graph,fleet]
                             [--work DIR] [--recipients N] [--scan N] [--events N]
                             [--ndrs N] [--rows N] [--runs N]

The figures and their targets: cold start byte-compiled and from source
(``startup.py``), a sandbox of 50,000 recipients: load, one fix against the
demo tenant, ``scan`` at 10,000, memory (``sandbox_store.py``),
``audit.verify`` on 1,000,000 events against ``sha256sum``
(``audit_verify.py``), ``diagnose`` of 10,000 NDR files and
``diagnose.trace`` of 1,000,000 rows (``diagnosis.py``), what a Graph read costs a
process (``graph_reads.py``, for information), and the fleet figures
of ``fleet.py`` when it is there.  Each script also runs alone with its own
options.  The large inputs are generated into ``--work`` (default: a folder
in the system's temporary directory) and reused; nothing large is committed.

``--quick`` runs everything at a tiny size (a smoke test of the benchmarks
themselves; its figures mean nothing).  Every figure is wall-clock time on
this machine, whose core count heads the table; the machines are shared, so
read the figures as orders of magnitude and run again when one is close.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import io
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _table import Row, print_table  # noqa: E402

PARTS = ("startup", "sandbox", "audit", "diagnose", "graph", "fleet")
FULL = {
    "recipients": 50_000,
    "scan": 10_000,
    "events": 1_000_000,
    "ndrs": 10_000,
    "rows": 1_000_000,
    "runs": 15,
}
QUICK = {"recipients": 300, "scan": 200, "events": 2_000, "ndrs": 40, "rows": 2_000, "runs": 1}


def _as_rows(result: Any) -> list[Row]:
    """Rows from whatever fleet.py's main() returns (Rows, mappings or 4-tuples)."""
    out: list[Row] = []
    if not isinstance(result, Iterable) or isinstance(result, (str, bytes)):
        return out
    for item in result:
        if isinstance(item, Row):
            out.append(item)
        elif isinstance(item, dict):
            met = item.get("met")
            out.append(
                Row(
                    str(item.get("figure", "")),
                    str(item.get("target", "")),
                    str(item.get("measured", "")),
                    None if met is None else bool(met),
                )
            )
        elif isinstance(item, (tuple, list)) and len(item) == 4:
            figure, target, measured, met = item
            out.append(
                Row(str(figure), str(target), str(measured), None if met is None else bool(met))
            )
        elif all(hasattr(item, a) for a in ("figure", "target", "measured")):
            met = getattr(item, "met", None)
            out.append(
                Row(
                    str(item.figure),
                    str(item.target),
                    str(item.measured),
                    None if met is None else bool(met),
                )
            )
    return out


def fleet_rows(quick: bool) -> list[Row]:
    """``fleet.py``'s figures: its ``main()``'s rows, or what it printed."""
    if not (HERE / "fleet.py").exists():
        return [Row("fleet fix (benchmarks/fleet.py)", "-", "not present", None)]
    module = importlib.import_module("fleet")
    main: Callable[..., Any] = module.main
    kwargs: dict[str, Any] = {}
    if quick:
        if "quick" not in inspect.signature(main).parameters:
            return [Row("fleet fix (benchmarks/fleet.py)", "-", "skipped in --quick", None)]
        kwargs["quick"] = True
    printed = io.StringIO()
    argv = sys.argv
    sys.argv = [str(HERE / "fleet.py")]
    try:
        with contextlib.redirect_stdout(printed):
            result = main(**kwargs)
    finally:
        sys.argv = argv
    rows = _as_rows(result)
    if not rows:
        print(printed.getvalue(), end="")
        rows = [Row("fleet fix (benchmarks/fleet.py)", "-", "printed above", None)]
    return rows


def run(parts: Iterable[str], sizes: dict[str, int], work: Path, quick: bool) -> list[Row]:
    """Run the chosen benchmarks; every row, in order."""
    rows: list[Row] = []
    for part in parts:
        start = time.perf_counter()
        print(f"running {part} ...", file=sys.stderr, flush=True)
        if part == "startup":
            import startup

            rows += startup.rows(sizes["runs"])
        elif part == "sandbox":
            import sandbox_store

            rows += sandbox_store.rows(sizes["recipients"], sizes["scan"], work)
        elif part == "audit":
            import audit_verify

            rows += audit_verify.rows(sizes["events"], work)
        elif part == "diagnose":
            import diagnosis

            rows += diagnosis.rows(sizes["ndrs"], sizes["rows"], work)
        elif part == "graph":
            import graph_reads

            rows += graph_reads.rows(10 if quick else 200, work)
        elif part == "fleet":
            rows += fleet_rows(quick)
        print(f"  {part}: {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument(
        "--only", default=",".join(PARTS), help="comma-separated: " + ", ".join(PARTS)
    )
    parser.add_argument("--work", type=Path, default=None, help="where generated inputs are kept")
    for name in FULL:
        parser.add_argument(f"--{name}", type=int, default=None)
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        parser.error(f"--only {unknown[0]!r} is not a benchmark; give some of {', '.join(PARTS)}")
    sizes = {**(QUICK if args.quick else FULL)}
    sizes.update({k: v for k in FULL if (v := getattr(args, k)) is not None})
    default = Path(tempfile.gettempdir()) / ("ndr-bench-quick" if args.quick else "ndr-bench")
    work = args.work or default
    rows = run(parts, sizes, work, args.quick)
    print_table(rows, title=f"machine: {os.cpu_count()} cores; sizes: {sizes}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
