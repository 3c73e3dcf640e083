"""Group commit: concurrent writers share the store's fsyncs, and no write is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from remediations.exchange.cmdlet import Cmdlet
from remediations.sandbox import SandboxTransport
from remediations.sandbox.store import open_store
from remediations.testing.fleet_tenant import write_fleet_tenant
from tests.conftest import ROOT

AUTH = "RequireSenderAuthenticationEnabled"


def open_group(address: str) -> Cmdlet:
    return Cmdlet.of(
        "Set-DistributionGroup",
        Identity=address,
        BypassSecurityGroupManagerCheck=True,
        RequireSenderAuthenticationEnabled=False,
    )


def still_closed(path: Path, groups: list[str]) -> list[str]:
    """The groups a fresh connection to the store finds still closed."""
    transport = SandboxTransport(path)
    try:
        listed = transport.send(Cmdlet.of("Get-DistributionGroup", ResultSize="Unlimited"))
        closed = {str(g["PrimarySmtpAddress"]) for g in listed.objects if g[AUTH]}
    finally:
        transport.close()
    return [g for g in groups if g in closed]


def test_concurrent_writers_share_fsyncs_and_every_write_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "tenant.db"
    groups = write_fleet_tenant(path, groups=96, restricted=False)
    transport = SandboxTransport(path)
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda g: transport.send(open_group(g)), groups))
    store = transport.store
    # every write returned durable: each commit is covered by an fsync of the log, and
    # never more fsyncs than writes
    assert store._durable == store._committed == len(groups)
    assert 1 <= store.syncs <= len(groups)
    transport.close()

    assert still_closed(path, groups) == []
    reopened = open_store(path)
    try:
        assert len(reopened.snapshot().journal_entries()) == len(groups)
    finally:
        reopened.close()


def test_a_failed_write_among_concurrent_ones_leaves_the_others(tmp_path: Path) -> None:
    path = tmp_path / "tenant.db"
    groups = write_fleet_tenant(path, groups=24, restricted=False)
    transport = SandboxTransport(path)
    wrong = ["nobody@contoso.com"] * 8

    def send(address: str) -> bool:
        try:
            transport.send(open_group(address))
        except Exception:
            return False
        return True

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = dict(zip([*groups, *wrong], pool.map(send, [*groups, *wrong]), strict=True))
    transport.close()
    assert results["nobody@contoso.com"] is False
    assert all(results[g] for g in groups)
    assert still_closed(path, groups) == []


_WRITER = textwrap.dedent(
    """
    import sys, threading
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path
    from remediations.exchange.cmdlet import Cmdlet
    from remediations.sandbox import SandboxTransport

    transport = SandboxTransport(Path(sys.argv[1]))
    groups = sys.argv[2:]
    lock = threading.Lock()

    def send(address):
        transport.send(Cmdlet.of(
            "Set-DistributionGroup", Identity=address, BypassSecurityGroupManagerCheck=True,
            RequireSenderAuthenticationEnabled=False,
        ))
        with lock:  # returned: the write is durable; say so before the next one
            sys.stdout.write(address + "\\n")
            sys.stdout.flush()

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(send, groups))
    """
)


@pytest.mark.subprocess
def test_a_process_killed_mid_run_keeps_every_write_that_returned(tmp_path: Path) -> None:
    """A crash-style check: SIGKILL while eight writers are busy; every write a writer saw
    return is in the store when it is opened again (and the store is not damaged)."""
    path = tmp_path / "tenant.db"
    groups = write_fleet_tenant(path, groups=400, restricted=False)
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path), *groups],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    returned = [proc.stdout.readline().strip() for _ in range(60)]
    os.kill(proc.pid, signal.SIGKILL)
    rest, _ = proc.communicate(timeout=60)
    returned += [line for line in rest.splitlines() if line.strip()]
    assert proc.returncode == -signal.SIGKILL

    closed = set(still_closed(path, groups))
    assert returned
    assert not closed & set(returned)
    assert len(returned) < len(groups) or not closed
