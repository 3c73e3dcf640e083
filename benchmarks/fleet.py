"""Fleet benchmark: one fix over thousands of groups against the naive way.
Prints figures side by side with their targets; asserts nothing.

    python benchmarks/fleet.py [--groups 2000] [--latency-ms 20] [--concurrency N]
                               [--skip-adminapi]

Two fleet fixes, each on a fresh sandbox of ``--groups`` distribution groups that
require authenticated senders, every call to it waiting ``--latency-ms`` first
(the sandbox's ``latency_ms`` fault, as a tenant across a network would):

* **add one outside sender** to every group (each accepts only ``cfo@contoso.com``):
  ``add-allowed-sender --targets-file`` (a mail contact, then per group the list
  and the authentication, as one call);
* **open** every group (no accept list): ``open-group-to-external --targets-file``.

"ours" is the run as the task makes it (batched reads, ``--concurrency`` writers, by
default the ``fleet.concurrency`` setting's default; audit log, verification);
"naive" is one ``Get-DistributionGroup`` and one ``Set-DistributionGroup`` per group,
in sequence, through the same transport, with
no audit log and no verification.  Target: ours at least 10x faster.  Then the
calls per changed object, a rerun (target: 0 writes, a handful of reads), and the
same fleet fix through the admin-API transport against the loopback server (every
request counted on the wire, pages included).  The loopback server runs in a process
of its own, as Exchange Online runs on other machines: its work is not charged to
the client's interpreter.  Each "ours" row also gives the CPU seconds (user+sys) the
benchmark's own process spent on it, which noise from other work on the machine
affects less than the wall time.

``main()`` prints the rows and returns them as (figure, target, measured, met) for
``benchmarks/run.py`` (met: None for a figure without a target); ``main(quick=True)``
is a smoke run on 30 groups.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from remediations.actions import ACTIONS, parse_wish  # noqa: E402
from remediations.audit import AuditLog  # noqa: E402
from remediations.cli import DEFAULT_CONCURRENCY  # noqa: E402
from remediations.engine import VerifyWait, Writers, run_action  # noqa: E402
from remediations.exchange.cmdlet import AddRemove, Cmdlet, CmdletResult, Transport  # noqa: E402
from remediations.fleet import FleetAction, FleetTarget, FleetWish  # noqa: E402
from remediations.sandbox import SandboxTransport  # noqa: E402
from remediations.sandbox.transport import Faults  # noqa: E402
from remediations.testing.fleet_tenant import write_fleet_tenant  # noqa: E402

SENDER = "partner@fabrikam.com"
AUTH = "RequireSenderAuthenticationEnabled"


class Counting:
    """Any transport, its reads and writes counted (thread-safe)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.tenant = inner.tenant
        self.reads = 0
        self.writes = 0
        self._lock = threading.Lock()

    def send(self, cmdlet: Cmdlet) -> CmdletResult:
        with self._lock:
            if cmdlet.is_write:
                self.writes += 1
            else:
                self.reads += 1
        result: CmdletResult = self.inner.send(cmdlet)
        return result

    def close(self) -> None:
        self.inner.close()


@dataclass
class Measured:
    seconds: float
    reads: int
    writes: int
    changed: int
    cpu: float = 0.0


def cpu_seconds() -> float:
    """User and system CPU seconds of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def fleet(action_name: str, groups: list[str]) -> tuple[FleetAction, FleetWish]:
    action = ACTIONS[action_name]
    if action_name == "add-allowed-sender":
        wishes = [parse_wish(action, {"recipient": g, "sender": SENDER}) for g in groups]
    else:
        wishes = [parse_wish(action, {"group": g}) for g in groups]
    targets = tuple(FleetTarget(label=f"line {n}", wish=w) for n, w in enumerate(wishes, 1))
    return FleetAction(action), FleetWish(source="targets", targets=targets)


def ours(
    transport: Transport, action_name: str, groups: list[str], concurrency: int, work: Path
) -> Measured:
    """The fleet fix as the task runs it: read, plan, apply, verify, audited."""
    counting = Counting(transport)
    audit = AuditLog(
        work / "audit",
        clock=lambda: datetime.now(UTC),
        context={"actor": "bench", "tenant": transport.tenant, "transport": transport.name},
    )
    action, wish = fleet(action_name, groups)
    began, cpu = time.perf_counter(), cpu_seconds()
    outcome = run_action(
        action,
        wish,
        transport=counting,
        audit=audit,
        dry_run=False,
        verify_wait=VerifyWait(seconds=0),
        writers=Writers(concurrency=concurrency),
    )
    seconds, cpu = time.perf_counter() - began, cpu_seconds() - cpu
    changed = len({c.target.lower() for c in outcome.plan.changes}) if outcome.plan else 0
    return Measured(seconds, counting.reads, counting.writes, changed, cpu)


def naive(transport: Transport, action_name: str, groups: list[str]) -> Measured:
    """One Get and one Set per group, in sequence (and the sender's contact once)."""
    counting = Counting(transport)
    began = time.perf_counter()
    if action_name == "add-allowed-sender":
        counting.send(Cmdlet.of("New-MailContact", Name=SENDER, ExternalEmailAddress=SENDER))
    for group in groups:
        counting.send(Cmdlet.of("Get-DistributionGroup", Identity=group))
        params: dict[str, Any] = {AUTH: False}
        if action_name == "add-allowed-sender":
            params = {"AcceptMessagesOnlyFrom": AddRemove(add=(SENDER,)), **params}
        counting.send(
            Cmdlet.of(
                "Set-DistributionGroup",
                Identity=group,
                BypassSecurityGroupManagerCheck=True,
                **params,
            )
        )
    return Measured(time.perf_counter() - began, counting.reads, counting.writes, len(groups))


def sandbox(path: Path, latency_ms: int) -> SandboxTransport:
    return SandboxTransport(path, faults=Faults(latency_ms=latency_ms))


_SERVER = """
import sys
from pathlib import Path

sys.path.insert(0, sys.argv[3])
from remediations.sandbox import SandboxTransport
from remediations.sandbox.transport import Faults
from remediations.testing import LoopbackTenant

sandbox = SandboxTransport(Path(sys.argv[1]), faults=Faults(latency_ms=int(sys.argv[2])))
server = LoopbackTenant(sandbox, token="bench").start()
print(server.url, server.tenant, flush=True)
for _ in sys.stdin:  # each line asks how many requests the server has answered
    print(len(server.requests), flush=True)
server.stop()
"""


class RemoteServer:
    """The loopback server over the sandbox at ``path``, in a process of its own."""

    def __init__(self, path: Path, latency_ms: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER, str(path), str(latency_ms), str(ROOT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self._ask, self._answer = self.proc.stdin, self.proc.stdout
        self.url, self.tenant = self._answer.readline().split()

    def requests(self) -> int:
        """How many HTTP requests the server has answered so far."""
        self._ask.write("count\n")
        self._ask.flush()
        return int(self._answer.readline())

    def stop(self) -> None:
        self._ask.close()
        self.proc.wait(timeout=60)


def adminapi(path: Path, latency_ms: int) -> tuple[RemoteServer, Any]:
    """The admin-API transport against the loopback server over the sandbox at ``path``."""
    from remediations.budget import RetryBudget
    from remediations.exchange.adminapi import AdminApiTransport

    server = RemoteServer(path, latency_ms)
    transport = AdminApiTransport(
        tenant=server.tenant,
        endpoint=server.url,
        token=lambda scope: "bench",
        budget=RetryBudget(),
    )
    return server, transport


Row = tuple[str, str, str, bool | None]


def run(groups: int, latency_ms: int, concurrency: int, *, with_adminapi: bool = True) -> list[Row]:
    """Measure every figure; return the rows (figure, target, measured)."""
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as folder:
        work = Path(folder)
        for action_name, restricted, title in (
            ("add-allowed-sender", True, "add one outside sender"),
            ("open-group-to-external", False, "open"),
        ):
            seed = work / f"{action_name}.db"
            print(f"generating {groups:,} groups for {title} ...", file=sys.stderr)
            names = write_fleet_tenant(seed, groups=groups, restricted=restricted)

            def fresh(name: str, seed: Path = seed, prefix: str = action_name) -> Path:
                copy = work / f"{prefix}-{name}.db"  # a new name: no stale -wal beside it
                shutil.copy(seed, copy)
                return copy

            label = f"{title}, {groups:,} groups, {latency_ms} ms/call"
            ours_path = fresh("ours")
            mine = ours(sandbox(ours_path, latency_ms), action_name, names, concurrency, work)
            theirs = naive(sandbox(fresh("naive"), latency_ms), action_name, names)
            again = ours(sandbox(ours_path, latency_ms), action_name, names, concurrency, work)
            speedup = theirs.seconds / mine.seconds
            rows += [
                (
                    f"{label}: ours ({concurrency} writers)",
                    "",
                    f"{mine.seconds:.1f} s ({mine.cpu:.1f} s CPU)",
                    None,
                ),
                (f"{label}: naive (Get+Set each)", "", f"{theirs.seconds:.1f} s", None),
                (f"{label}: speed-up", ">= 10x", f"{speedup:.1f}x", speedup >= 10),
                _writes_row(title, mine),
                _reads_row(title, mine, groups),
                _rerun_row(title, again),
            ]
            if with_adminapi:
                rows += _over_adminapi(fresh, title, action_name, names, latency_ms, concurrency,
                                       work)  # fmt: skip
    return rows


def _over_adminapi(
    fresh: Callable[[str], Path],
    title: str,
    action_name: str,
    names: list[str],
    latency_ms: int,
    concurrency: int,
    work: Path,
) -> list[Row]:
    server, transport = adminapi(fresh("api"), latency_ms)
    try:
        mine = ours(transport, action_name, names, concurrency, work)
        requests = server.requests()
        again = ours(transport, action_name, names, concurrency, work)
        rerun_requests = server.requests() - requests
    finally:
        transport.close()
        server.stop()
    server, transport = adminapi(fresh("api-naive"), latency_ms)
    try:
        theirs = naive(transport, action_name, names)
    finally:
        transport.close()
        server.stop()
    label = f"{title} over the admin API (loopback)"
    speedup = theirs.seconds / mine.seconds
    return [
        (
            f"{label}: ours",
            "",
            f"{mine.seconds:.1f} s ({mine.cpu:.1f} s CPU), {requests:,} HTTP requests",
            None,
        ),
        (f"{label}: naive", "", f"{theirs.seconds:.1f} s", None),
        (f"{label}: speed-up", ">= 10x", f"{speedup:.1f}x", speedup >= 10),
        _writes_row(label, mine),
        _reads_row(label, mine, len(names)),
        _rerun_row(label, again, f" ({rerun_requests} HTTP requests)"),
    ]


def _writes_row(title: str, mine: Measured) -> Row:
    per = mine.writes / max(mine.changed, 1)
    return (
        f"{title}: writes per changed object",
        "<= 1",
        f"{per:.3f} ({mine.writes:,} writes)",
        per <= 1,
    )


def _reads_row(title: str, mine: Measured, targets: int) -> Row:
    per = mine.reads / targets
    return (
        f"{title}: reads per target",
        "< 0.1",
        f"{per:.4f} ({mine.reads} reads, plan and verify)",
        per < 0.1,
    )


def _rerun_row(title: str, again: Measured, extra: str = "") -> Row:
    return (
        f"{title}: rerun, all fixed",
        "0 writes, <= 5 reads",
        f"{again.writes} writes, {again.reads} reads, {again.seconds:.1f} s{extra}",
        again.writes == 0 and again.reads <= 5,
    )


def main(argv: list[str] | None = None, *, quick: bool = False) -> list[Row]:
    """Measure and print every row (figure, target, measured, met); return them too."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--groups", type=int, default=30 if quick else 2000)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    parser.add_argument("--skip-adminapi", action="store_true")
    args = parser.parse_args(argv)
    rows = run(args.groups, args.latency_ms, args.concurrency, with_adminapi=not args.skip_adminapi)
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    width = max(len(r[0]) for r in rows)
    target = max(len(r[1]) for r in rows)
    print(f"{'figure':<{width}}  {'target':<{target}}  measured  (met?)")
    for figure, goal, measured, met in rows:
        verdict = "" if met is None else ("  yes" if met else "  NO")
        print(f"{figure:<{width}}  {goal:<{target}}  {measured}{verdict}")
    return rows


if __name__ == "__main__":
    main()
