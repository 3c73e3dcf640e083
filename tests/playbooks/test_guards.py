"""A playbook cannot walk past a guard its action keeps: refusals are judged on the live tenant."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from remediations.actions import ACTIONS, parse_wish
from remediations.engine import prepare
from remediations.sandbox import SandboxTransport
from tests.conftest import CliResult, events


def licenses(tenant_path: Path, user: str) -> tuple[str, ...]:
    """The user's licenses, read through the sandbox as block-delicensed-user reads them."""
    action = ACTIONS["block-delicensed-user"]
    transport = SandboxTransport(tenant_path)
    try:
        snapshot = action.read(transport, parse_wish(action, {"user": user}))
    finally:
        transport.close()
    return tuple(snapshot.facts["licenses"])


@pytest.mark.parametrize("dry_run", [False, True], ids=["apply", "dry-run"])
def test_leaver_playbook_on_an_active_user_is_refused_before_anything_changes(
    dry_run: bool,
    run_pb: Callable[..., CliResult],
    tenant_path: Path,
    audit_dir: Path,
) -> None:
    """Alex Kim is enabled and licensed: exit 2, one sentence, no change, none announced."""
    result = run_pb("leaver-block-mail", "user=alex.kim@contoso.com", dry_run=dry_run)
    assert result.code == 2
    assert len(result.err.strip().splitlines()) == 1
    assert "alex.kim@contoso.com" in result.err
    assert result.err.strip().endswith("Nothing was changed.")
    assert licenses(tenant_path, "alex.kim@contoso.com") == ("ENTERPRISEPACK",)
    log = events(audit_dir)
    assert not [e for e in log if e["event"] in ("change-applying", "change-applied")]
    assert log[-1]["event"] == "playbook-end"
    assert log[-1]["outcome"] == "refused"
    # the rule the second step would add is not there either
    block = ACTIONS["block-delicensed-user"]
    transport = SandboxTransport(tenant_path)
    try:
        wish = parse_wish(block, {"user": "alex.kim@contoso.com", "even_if_active": True})
        assert len(prepare(block, wish, transport).changes) == 1
    finally:
        transport.close()


def test_leaver_playbook_on_a_real_leaver_still_runs(
    run_pb: Callable[..., CliResult], leaver_tenant: Path
) -> None:
    """The live check does not get in the way when the guard holds on both sides."""
    result = run_pb("leaver-block-mail", "user=jordan.lee@contoso.com")
    assert result.code == 0, result.err
    assert licenses(leaver_tenant, "jordan.lee@contoso.com") == ()
