"""``target.check``: read-only probes of a target, and per action what is missing, by name."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from remediations.actions import ACTIONS
from remediations.cli.target import target_check_task
from remediations.permissions import ACTION_NEEDS
from remediations.testing import Fault, LoopbackTenant
from tests.conftest import CliResult
from tests.tenants.test_cli_targets import lab_config  # noqa: F401 - the fixture


def check(config: dict[str, Any], *, as_json: bool = False, target: str | None = None) -> CliResult:
    out, err = io.StringIO(), io.StringIO()
    code = target_check_task(config, target, as_json=as_json, out=out, err=err)
    return CliResult(code, out.getvalue(), err.getvalue())


def test_every_action_declares_what_it_reads_changes_and_needs() -> None:
    """A new action without a declaration fails here."""
    assert set(ACTION_NEEDS) == set(ACTIONS)
    for needs in ACTION_NEEDS.values():
        assert needs.reads
        assert needs.changes
        assert needs.exchange_roles or needs.graph


def test_a_ready_target(lab_config: dict[str, Any], server: LoopbackTenant) -> None:  # noqa: F811
    """Both probes answer: exit 0, every action ready; only reads were sent."""
    result = check(lab_config)
    assert result.code == 0, result.err
    assert result.out.startswith("Target: lab (exchange-online)")
    assert "ok      Get-AcceptedDomain" in result.out
    assert "ok      GET /subscribedSkus" in result.out
    assert "  fix-public-folder: ready\n" in result.out
    assert server.requests
    assert server.writes() == []


def test_exchange_refusing_names_the_roles_per_action(
    lab_config: dict[str, Any],  # noqa: F811
    server: LoopbackTenant,
) -> None:
    """A 403 on the Exchange probe: every action names its Exchange roles; exit 3."""
    server.inject(Fault(kind="status", status=403, cmdlet="Get-AcceptedDomain"))
    result = check(lab_config, as_json=True)
    assert result.code == 3, result.err
    doc = json.loads(result.out)
    assert doc["status"] == "missing"
    actions = {a["action"]: a for a in doc["actions"]}
    assert actions["fix-public-folder"]["missing"] == ["Exchange role Mail Enabled Public Folders"]
    assert "Exchange role Transport Rules" in actions["block-delicensed-user"]["missing"]
    assert "Exchange.ManageAsApp" in doc["hints"][0]
    assert "Exchange Administrator" in doc["hints"][0]
    assert server.writes() == []


def test_graph_refusing_names_the_permission_for_the_actions_that_need_it(
    lab_config: dict[str, Any],  # noqa: F811
    server: LoopbackTenant,
) -> None:
    """A 403 on the Graph read: only the actions that use Graph miss its permission."""
    server.inject(Fault(kind="status", status=403, cmdlet="subscribedSkus"))
    result = check(lab_config)
    assert result.code == 3, result.err
    assert "REFUSED GET /subscribedSkus" in result.out
    assert "  remove-license: missing Microsoft Graph permission Organization.Read.All" in (
        result.out
    )
    assert "  fix-public-folder: ready\n" in result.out
    assert "Organization.Read.All (with admin consent)" in result.out


@pytest.mark.parametrize("name", ["nowhere"])
def test_an_unknown_target_exits_2(lab_config: dict[str, Any], name: str) -> None:  # noqa: F811
    result = check(lab_config, target=name)
    assert result.code == 2
    assert "is not configured" in result.err


def test_the_sandbox_checks_ready(config: dict[str, Any]) -> None:
    result = check(config)
    assert result.code == 0, result.err
    assert result.out.startswith("Target: sandbox (sandbox)")
