"""Issue 8 item 4, action side: the leaver playbook keeps its actions' guards."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from remediations.exchange.cmdlet import Cmdlet
from remediations.sandbox import SandboxTransport
from tests.conftest import CliResult


def licenses(transport: SandboxTransport, upn: str) -> list[str]:
    user = transport.send(
        Cmdlet.of("Get-MgUser", UserId=upn, Property=("AssignedLicenses",))
    ).objects[0]
    return [str(lic["SkuId"]) for lic in user["AssignedLicenses"]]


class TestLeaverPlaybook:
    def test_the_leaver_playbook_refuses_an_active_user(
        self, run_pb: Callable[..., CliResult], tenant_path: Path
    ) -> None:
        """leaver-block-mail on an enabled, licensed user: exit 2, nothing changed; with
        even_if_active=true both steps go ahead."""
        before = tenant_path.read_bytes()
        refused = run_pb("leaver-block-mail", "user=alex.kim@contoso.com")
        assert refused.code == 2
        assert "is an enabled account" in refused.err
        assert tenant_path.read_bytes() == before

        done = run_pb("leaver-block-mail", "user=alex.kim@contoso.com", "even_if_active=true")
        assert done.code == 0, done.err
        assert licenses(SandboxTransport(tenant_path), "alex.kim@contoso.com") == []

    def test_the_leaver_playbook_refuses_a_shared_mailbox(
        self, run_pb: Callable[..., CliResult]
    ) -> None:
        """A shared mailbox is never a leaver, in a playbook too."""
        result = run_pb("leaver-block-mail", "user=reception@contoso.com")
        assert result.code == 2
        assert "shared mailbox" in result.err
