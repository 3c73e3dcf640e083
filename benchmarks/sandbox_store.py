"""Sandbox store benchmark: load, look-up and fix times by tenant size.  Asserts nothing.

    python benchmarks/sandbox_store.py [--sizes 1000,10000]

For each size, a generated tenant (mailboxes with directory users, one group
in ten of them with ten real members, and one group holding every mailbox as a
real member) is built from a tenant-file mapping and written to a store
(``sandbox.load``'s path), then timed: one identity look-up
(``Get-Recipient`` by address, in a fresh transport) and one fix
(``open-group-to-external`` applied and verified through the engine, with its
audit log).  Figures are single wall-clock runs on a shared machine: read them
as orders of magnitude.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from remediations.cli import run_action_task  # noqa: E402
from remediations.exchange.cmdlet import Cmdlet  # noqa: E402
from remediations.sandbox import SandboxTransport, save_state  # noqa: E402
from remediations.sandbox.tenant_file import tenant_from_mapping  # noqa: E402


def tenant(size: int) -> dict[str, Any]:
    """A tenant-file mapping with ``size`` recipients."""
    groups = size // 10
    people = size - groups
    mailboxes = [
        {
            "kind": "mailbox",
            "name": f"User {i:06}",
            "address": f"user{i:06}@contoso.com",
            "user": {"licenses": ["ENTERPRISEPACK"]},
        }
        for i in range(people)
    ]
    lists = [
        {
            "kind": "distribution-group",
            "name": f"Group {g:06}",
            "address": f"group{g:06}@contoso.com",
            "members": [f"user{(g * 10 + m) % people:06}@contoso.com" for m in range(10)],
        }
        for g in range(groups - 1)
    ]
    everyone = {
        "kind": "distribution-group",
        "name": "Everyone",
        "address": "everyone@contoso.com",
        "members": [m["address"] for m in mailboxes],
    }
    return {"organization": "contoso.com", "recipients": [*mailboxes, *lists, everyone]}


def timed(label: str, results: dict[str, list[str]], func: Any) -> Any:
    start = time.perf_counter()
    value = func()
    results.setdefault(label, []).append(f"{(time.perf_counter() - start) * 1000:,.1f} ms")
    return value


def run(size: int, folder: Path, results: dict[str, list[str]]) -> None:
    path = folder / f"tenant-{size}.db"
    mapping = tenant(size)
    state = timed("load (tenant file -> store)", results, lambda: tenant_from_mapping(mapping))
    timed("  write the store file", results, lambda: save_state(state, path))
    transport = SandboxTransport(path)
    lookup = Cmdlet("Get-Recipient", (("Identity", f"user{size // 2:06}@contoso.com"),))
    timed("one identity look-up", results, lambda: transport.send(lookup))
    config = {
        "sandbox": {"path": str(path), "faults": ""},
        "audit": {"dir": str(folder / f"audit-{size}")},
        "actor": "benchmark",
        "target": "sandbox",
    }

    def fix() -> None:
        code = run_action_task(
            config,
            "open-group-to-external",
            {"group": "group000001@contoso.com"},
            dry_run=False,
            as_json=False,
            ticket="",
            yes=True,
            out=io.StringIO(),
            err=sys.stderr,
        )
        assert code == 0

    timed("one fix (read, plan, apply, verify)", results, fix)
    members = Cmdlet(
        "Set-DistributionGroup",
        (
            ("Identity", "Everyone"),
            ("RequireSenderAuthenticationEnabled", False),
            ("BypassSecurityGroupManagerCheck", True),
        ),
    )
    results.setdefault("members of the largest group", []).append(f"{size - size // 10:,}")
    timed("one write to the largest group", results, lambda: transport.send(members))
    results.setdefault("store file size", []).append(f"{path.stat().st_size / 1e6:,.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000", help="recipient counts, comma-separated")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        run(100, Path(tmp), {})  # warm-up: imports and first-use costs stay out of the figures
        for size in sizes:
            run(size, Path(tmp), results)
    width = max(len(k) for k in results) + 2
    print("recipients".ljust(width) + "".join(f"{s:>16,}" for s in sizes))
    for label, values in results.items():
        print(label.ljust(width) + "".join(f"{v:>16}" for v in values))


if __name__ == "__main__":
    main()
