"""Directory-synced objects: Exchange Online refuses to change them; the hybrid target's
``onprem:`` target (Exchange Server over PSRP) makes the change instead."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from remediations.actions import ACTIONS, parse_wish
from remediations.audit import AuditLog
from remediations.budget import RetryBudget
from remediations.engine import run_action
from remediations.errors import ApplyFailed, InputError
from remediations.exchange import facts
from remediations.exchange.cmdlet import Cmdlet
from remediations.sandbox import SandboxTransport, reset_sandbox
from remediations.target import open_target
from remediations.testing import Fault, LoopbackTenant
from remediations.testing.psrp_server import LoopbackExchangeServer

from .conftest import TOKEN, online_target, tenant_view

PASSWORD = "loopback-password"
WISH = {"group": "partners@contoso.com"}
REFUSAL = facts.DIR_SYNCED_REFUSAL.format(
    cmdlet="Set-DistributionGroup",
    parameter="RequireSenderAuthenticationEnabled",
    identity="partners@contoso.com",
)


@pytest.fixture
def onprem_path(tmp_path: Path) -> Path:
    path = tmp_path / "onprem.json"
    reset_sandbox(path)
    return path


@pytest.fixture
def endpoint(onprem_path: Path) -> Iterator[LoopbackExchangeServer]:
    with LoopbackExchangeServer(SandboxTransport(onprem_path), password=PASSWORD) as server:
        yield server


def hybrid(server: LoopbackTenant, endpoint: LoopbackExchangeServer, onprem: str) -> dict[str, Any]:
    return {
        "targets": {
            "cloud": online_target(server, onprem=onprem),
            "hq": {
                "kind": "exchange-onprem",
                "endpoint": endpoint.url,
                "auth": "basic",
                "username": "svc-ndr",
                "password_env": "TEST_ONPREM_PASSWORD",
            },
        }
    }


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_EXO_TOKEN", TOKEN)
    monkeypatch.setenv("TEST_GRAPH_TOKEN", TOKEN)
    monkeypatch.setenv("TEST_ONPREM_PASSWORD", PASSWORD)


def _run(transport: Any, audit: AuditLog, *, dry_run: bool) -> Any:
    action = ACTIONS["open-group-to-external"]
    return run_action(
        action, parse_wish(action, WISH), transport=transport, audit=audit, dry_run=dry_run
    )


def test_a_synced_object_is_changed_on_premises_and_verified_there(
    server: LoopbackTenant,
    served_path: Path,
    endpoint: LoopbackExchangeServer,
    onprem_path: Path,
    audit: AuditLog,
    budget: RetryBudget,
) -> None:
    online_before = tenant_view(served_path)
    onprem_before = tenant_view(onprem_path)
    server.inject(
        Fault(kind="error", status=400, message=REFUSAL, cmdlet="Set-Distribution", times=9)
    )
    target = open_target(hybrid(server, endpoint, "hq"), "cloud", budget=budget)
    try:
        outcome = _run(target.transport, audit, dry_run=False)
    finally:
        target.close()
    assert outcome.outcome == "applied"
    assert set(outcome.status.values()) == {"verified"}
    assert [w.outcome for w in server.writes() if w.cmdlet == "Set-DistributionGroup"] == ["error"]
    assert [c.command for c in endpoint.writes()] == ["Set-DistributionGroup"]
    assert tenant_view(onprem_path) != onprem_before
    # Exchange Online itself is unchanged (until the object syncs).
    assert tenant_view(served_path) == online_before
    (group,) = (
        SandboxTransport(onprem_path)
        .send(Cmdlet.of("Get-DistributionGroup", Identity="partners@contoso.com"))
        .objects
    )
    assert group["RequireSenderAuthenticationEnabled"] is False


def test_without_an_onprem_target_the_refusal_names_what_to_configure(
    server: LoopbackTenant, audit: AuditLog, budget: RetryBudget, endpoint: LoopbackExchangeServer
) -> None:
    config = hybrid(server, endpoint, "hq")
    del config["targets"]["cloud"]["onprem"]
    server.inject(Fault(kind="error", status=400, message=REFUSAL, cmdlet="Set-Distribution"))
    target = open_target(config, "cloud", budget=budget)
    try:
        with pytest.raises(ApplyFailed) as caught:
            _run(target.transport, audit, dry_run=False)
    finally:
        target.close()
    assert "configure an exchange-onprem target and name it in this target's 'onprem'" in str(
        caught.value
    )
    assert endpoint.writes() == []


def test_onprem_must_name_an_onprem_target(
    server: LoopbackTenant, endpoint: LoopbackExchangeServer
) -> None:
    with pytest.raises(InputError) as caught:
        open_target(hybrid(server, endpoint, "nowhere"), "cloud")
    assert str(caught.value) == (
        "targets.cloud.onprem is 'nowhere', which is not an exchange-onprem target; "
        "give the name of one (hq)."
    )


def test_a_dry_run_sends_nothing_on_premises(
    server: LoopbackTenant, endpoint: LoopbackExchangeServer, budget: RetryBudget
) -> None:
    target = open_target(hybrid(server, endpoint, "hq"), "cloud", dry_run=True, budget=budget)
    try:
        from remediations.errors import DryRunWrite

        with pytest.raises(DryRunWrite):
            target.transport.send(
                Cmdlet.of("Set-DistributionGroup", Identity="partners@contoso.com", Name="x")
            )
    finally:
        target.close()
    assert endpoint.writes() == []
    assert server.writes() == []
