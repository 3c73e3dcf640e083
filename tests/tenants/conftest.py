"""Real clients against loopback servers backed by the sandbox: nothing of ours is mocked."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from remediations.budget import RetryBudget
from remediations.exchange.adminapi import AdminApiTransport
from remediations.exchange.cmdlet import Cmdlet
from remediations.sandbox import SandboxTransport
from remediations.testing import LoopbackTenant

TOKEN = "loopback-token"


def online_target(server: LoopbackTenant, **extra: Any) -> dict[str, Any]:
    """A ``kind: exchange-online`` target on the loopback server: admin API and Graph, signed
    in with the tokens in ``TEST_EXO_TOKEN`` / ``TEST_GRAPH_TOKEN``."""
    return {
        "kind": "exchange-online",
        "tenant": server.tenant,
        "credential": {
            "kind": "token",
            "exchange_token_env": "TEST_EXO_TOKEN",
            "graph_token_env": "TEST_GRAPH_TOKEN",
        },
        "endpoints": {"exchange": server.url, "graph": server.url},
        **extra,
    }


def tenant_view(path: Path) -> dict[str, Any]:
    """The tenant at ``path`` as Exchange shows it, read through a fresh sandbox transport.

    Read through cmdlets, not the file, so it compares the tenant whatever the store.
    """
    transport = SandboxTransport(path)
    try:
        return {
            "recipients": [dict(o) for o in transport.send(Cmdlet.of("Get-Recipient")).objects],
            "rules": [dict(o) for o in transport.send(Cmdlet.of("Get-TransportRule")).objects],
        }
    finally:
        transport.close()


class FakeClock:
    """A clock that moves only when the budget sleeps (tests never wait)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    """The budget's clock; ``clock.sleeps`` lists every back-off taken."""
    return FakeClock()


@pytest.fixture
def budget(clock: FakeClock) -> RetryBudget:
    """A 60-second budget on the fake clock."""
    return RetryBudget(seconds=60, clock=clock, sleep=clock.sleep)


@pytest.fixture
def served_path(tmp_path: Path, demo_tenant: Callable[[Path], Path]) -> Path:
    """The demo tenant the loopback server runs on."""
    return demo_tenant(tmp_path / "served.json")


@pytest.fixture
def server(served_path: Path) -> Iterator[LoopbackTenant]:
    """The loopback admin API + Graph over the served demo tenant."""
    with LoopbackTenant(SandboxTransport(served_path), token=TOKEN) as tenant:
        yield tenant


@pytest.fixture
def exo(server: LoopbackTenant, budget: RetryBudget) -> Iterator[AdminApiTransport]:
    """The admin-API transport pointed at the loopback server."""
    transport = AdminApiTransport(
        tenant=server.tenant, endpoint=server.url, token=lambda scope: TOKEN, budget=budget
    )
    yield transport
    transport.close()
