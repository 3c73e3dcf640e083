"""On-premises Exchange over PSRP: stock pypsrp against a loopback psrpcore endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from remediations.actions import ACTIONS, parse_wish
from remediations.audit import AuditLog
from remediations.budget import RetryBudget
from remediations.engine import run_action
from remediations.errors import DryRunWrite, NotFound, PermissionDenied, RejectedByServer
from remediations.exchange import facts
from remediations.exchange.cmdlet import AddRemove, Cmdlet
from remediations.exchange.dryrun import DryRun
from remediations.exchange.psrp import PsrpTransport
from remediations.sandbox import SandboxTransport, reset_sandbox
from remediations.target import open_target
from remediations.testing.psrp_server import NO_LANGUAGE, LoopbackExchangeServer

from .conftest import tenant_view
from .test_adminapi import CASES

PASSWORD = "loopback-password"


@pytest.fixture
def endpoint(served_path: Path) -> Iterator[LoopbackExchangeServer]:
    """The loopback /PowerShell endpoint over the served demo tenant."""
    with LoopbackExchangeServer(SandboxTransport(served_path), password=PASSWORD) as server:
        yield server


def _transport(endpoint: LoopbackExchangeServer, budget: RetryBudget, **kw: Any) -> PsrpTransport:
    options: dict[str, Any] = {"username": "svc-ndr", "password": PASSWORD, **kw}
    return PsrpTransport(
        server="127.0.0.1", url=endpoint.url, auth="basic", budget=budget, **options
    )


@pytest.fixture
def onprem(endpoint: LoopbackExchangeServer, budget: RetryBudget) -> Iterator[PsrpTransport]:
    """The PSRP transport pointed at the loopback endpoint."""
    transport = _transport(endpoint, budget)
    yield transport
    transport.close()


def _run(name: str, wish: dict[str, Any], transport: Any, audit: AuditLog, **kw: Any) -> Any:
    action = ACTIONS[name]
    return run_action(action, parse_wish(action, wish), transport=transport, audit=audit, **kw)


@pytest.mark.parametrize(("name", "wish"), CASES, ids=[c[0] for c in CASES])
def test_same_plan_and_end_state_as_the_sandbox(
    name: str,
    wish: dict[str, Any],
    tmp_path: Path,
    served_path: Path,
    onprem: PsrpTransport,
    audit: AuditLog,
) -> None:
    """An action through PSRP plans, applies and verifies exactly as on the sandbox directly."""
    direct_path = tmp_path / "direct.json"
    reset_sandbox(direct_path)
    direct = _run(name, wish, SandboxTransport(direct_path), audit, dry_run=False)
    remote = _run(name, wish, onprem, audit, dry_run=False)
    keys = ("outcome", "changes", "notes", "error")
    assert {k: remote.to_json()[k] for k in keys} == {k: direct.to_json()[k] for k in keys}
    assert tenant_view(served_path) == tenant_view(direct_path)
    assert _run(name, wish, onprem, audit, dry_run=False).outcome == "no-change"


def test_injection_strings_stay_parameter_values(
    endpoint: LoopbackExchangeServer, onprem: PsrpTransport
) -> None:
    """Metacharacters arrive as one parameter value; no script ever reaches the runspace."""
    nasty = "x'; Remove-Mailbox -Identity * -Confirm:$false; '$(whoami)`\n#"
    with pytest.raises(NotFound) as caught:
        onprem.send(Cmdlet.of("Get-Recipient", Identity=nasty))
    assert nasty in str(caught.value)
    assert endpoint.calls[-1].command == "Get-Recipient"
    assert endpoint.calls[-1].parameters == {"Identity": nasty}
    assert not any(c.is_script for c in endpoint.calls)


def test_hashtables_and_lists_arrive_typed(
    endpoint: LoopbackExchangeServer, onprem: PsrpTransport
) -> None:
    """Add/Remove is sent as a hashtable (dict), a list as an array, booleans as booleans."""
    onprem.send(
        Cmdlet.of(
            "Set-DistributionGroup",
            Identity="Finance Approvers",
            AcceptMessagesOnlyFrom=AddRemove(add=("alex.kim@contoso.com",)),
            RequireSenderAuthenticationEnabled=False,
            BypassSecurityGroupManagerCheck=True,
        )
    )
    assert endpoint.calls[-1].parameters == {
        "Identity": "Finance Approvers",
        "AcceptMessagesOnlyFrom": {"Add": ["alex.kim@contoso.com"]},
        "RequireSenderAuthenticationEnabled": False,
        "BypassSecurityGroupManagerCheck": True,
    }


def test_non_terminating_errors_are_read_from_the_error_stream(
    endpoint: LoopbackExchangeServer, onprem: PsrpTransport
) -> None:
    """Exchange's not-found leaves had_errors false; the transport still raises NotFound."""
    from pypsrp.powershell import PowerShell

    with pytest.raises(NotFound) as caught:
        onprem.send(Cmdlet.of("Get-MailPublicFolder", Identity="\\Nope"))
    assert caught.value.category == "NotFound"
    assert "couldn't be found" in str(caught.value)

    # the premise, on the same pool: the pipeline completes and had_errors stays false
    ps = PowerShell(onprem._open())
    ps.add_cmdlet("Get-MailPublicFolder").add_parameter("Identity", "\\Nope")
    ps.invoke()
    assert not ps.had_errors
    assert ps.streams.error

    with pytest.raises(RejectedByServer) as unknown:
        onprem.send(Cmdlet.of("Get-Nothing"))
    assert unknown.value.category == "CommandNotFound"


def test_scripts_are_refused_by_the_endpoint(
    endpoint: LoopbackExchangeServer, onprem: PsrpTransport
) -> None:
    """The endpoint, like Exchange's, is no-language: a script is an error, never run."""
    from pypsrp.powershell import PowerShell

    ps = PowerShell(onprem._open())
    ps.add_script("Get-Recipient | Remove-Recipient")
    ps.invoke()
    assert [str(e) for e in ps.streams.error] == [NO_LANGUAGE]


def test_warnings_are_returned(onprem: PsrpTransport) -> None:
    """A Set-* that changes nothing: Exchange's warning from the warning stream."""
    folder = "\\Support\\Escalations"
    result = onprem.send(
        Cmdlet.of("Set-MailPublicFolder", Identity=folder, RequireSenderAuthenticationEnabled=True)
    )
    assert result.warnings == (facts.NO_CHANGE_WARNING.format(identity=folder),)


def test_a_dry_run_sends_no_write(
    endpoint: LoopbackExchangeServer, onprem: PsrpTransport, audit: AuditLog
) -> None:
    """Through the dry-run wrapper the action plans; the endpoint receives reads only."""
    outcome = _run(
        "add-allowed-sender",
        {"recipient": "Finance Approvers", "sender": "partner@fabrikam.com"},
        DryRun(onprem),
        audit,
        dry_run=True,
    )
    assert outcome.plan.changes
    assert endpoint.calls
    assert endpoint.writes() == []
    with pytest.raises(DryRunWrite):
        DryRun(onprem).send(Cmdlet.of("Set-MailPublicFolder", Identity="\\Support\\Escalations"))
    assert endpoint.writes() == []


def test_a_wrong_password_is_permission_denied(
    endpoint: LoopbackExchangeServer, budget: RetryBudget
) -> None:
    """The endpoint refuses the sign-in: PermissionDenied, not a retry loop."""
    transport = _transport(endpoint, budget, password="wrong")
    with pytest.raises(PermissionDenied, match="refused the sign-in"):
        transport.send(Cmdlet.of("Get-AcceptedDomain"))
    assert endpoint.calls == []


def test_an_onprem_target_from_settings(
    endpoint: LoopbackExchangeServer, monkeypatch: pytest.MonkeyPatch, audit: AuditLog
) -> None:
    """kind: exchange-onprem with a loopback endpoint and the password from the environment."""
    monkeypatch.setenv("TEST_ONPREM_PASSWORD", PASSWORD)
    config = {
        "targets": {
            "hq": {
                "kind": "exchange-onprem",
                "endpoint": endpoint.url,
                "auth": "basic",
                "username": "svc-ndr",
                "password_env": "TEST_ONPREM_PASSWORD",
            }
        }
    }
    target = open_target(config, "hq")
    assert isinstance(target.exchange, PsrpTransport)
    assert target.confirm_before_apply
    assert target.directory is None
    assert PASSWORD not in repr(target)
    outcome = _run(
        "fix-public-folder",
        {"folder": "\\Support\\Escalations"},
        target.exchange,
        audit,
        dry_run=False,
    )
    assert outcome.outcome == "applied"
    target.close()


def test_graph_cmdlets_are_not_exchange_cmdlets(onprem: PsrpTransport) -> None:
    """Exchange Server does not run Graph PowerShell either."""
    with pytest.raises(RejectedByServer, match="'Set-MgUserLicense' is not recognized"):
        onprem.send(Cmdlet.of("Set-MgUserLicense", UserId="alex.kim@contoso.com"))
