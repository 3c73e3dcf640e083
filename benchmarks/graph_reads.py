"""Graph benchmark: what reading the directory through msgraph-sdk costs a process.

    python benchmarks/graph_reads.py [--reads 200] [--work DIR]

A fresh process starts the loopback tenant (``remediations.testing.LoopbackTenant``,
the admin API and Graph over a sandbox copy of the demo tenant) and reads through
:class:`remediations.directory.graph.GraphDirectory`: the first ``GET /users/{id}``
(the SDK's first call of the process), then ``--reads`` more.  It prints the CPU
seconds of the first call, how many of msgraph-sdk's model modules the process has
loaded, and the CPU milliseconds of each later read.  The loopback server runs in the
same process, so its share of each read (about 5 ms) is in the figures too.

No target: the figures are shown for information (the test
``tests/tenants/test_graph.py::test_answers_are_read_without_loading_the_sdks_models``
holds the model count down).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _table import Row, print_table  # noqa: E402


def measure(tenant: Path, reads: int) -> dict[str, Any]:
    """In this process: the first read's CPU, the model modules loaded, a later read's CPU."""
    from remediations.directory.graph import GraphDirectory
    from remediations.sandbox import SandboxTransport
    from remediations.testing import LoopbackTenant

    with LoopbackTenant(SandboxTransport(tenant), token="t") as server:  # noqa: S106 - a test token
        graph = GraphDirectory(endpoint=server.url, token=lambda scope: "t")
        started = time.process_time()
        graph.user("alex.kim@contoso.com")
        first = time.process_time() - started
        started = time.process_time()
        for _ in range(reads):
            graph.user("alex.kim@contoso.com")
        each = (time.process_time() - started) / reads
        graph.close()
    models = sum(name.startswith("msgraph.generated.models.") for name in sys.modules)
    return {"first_s": first, "models": models, "each_ms": each * 1000}


def rows(reads: int = 200, work: Path | None = None) -> list[Row]:
    """The figures, measured in a fresh process."""
    from remediations.sandbox import reset_sandbox

    work = work or Path(tempfile.mkdtemp(prefix="ndr-bench-graph-"))
    work.mkdir(parents=True, exist_ok=True)
    tenant = work / "graph-tenant.db"
    tenant.unlink(missing_ok=True)
    reset_sandbox(tenant)
    proc = subprocess.run(
        [sys.executable, __file__, "--measure", str(tenant), "--reads", str(reads)],
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(proc.stdout)
    return [
        Row("Graph: first read of a process (CPU)", "-", f"{found['first_s']:.2f} s", None),
        Row("Graph: msgraph-sdk model modules loaded", "-", str(found["models"]), None),
        Row("Graph: each later user read (CPU)", "-", f"{found['each_ms']:.1f} ms", None),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reads", type=int, default=200)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.reads)))
        return
    print_table(rows(args.reads, args.work))


if __name__ == "__main__":
    main()
