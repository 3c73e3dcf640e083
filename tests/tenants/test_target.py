"""Targets from Invoke-style settings: checked, typed, assembled once, capabilities typed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from remediations.actions import ACTIONS, parse_wish
from remediations.audit import AuditLog
from remediations.budget import RetryBudget
from remediations.credentials import (
    BearerTokens,
    EnvTokenCredential,
    make_credential,
    token_sources,
)
from remediations.directory.graph import GraphDirectory
from remediations.directory.sandbox import SandboxDirectory
from remediations.engine import run_action
from remediations.errors import DryRunWrite, InputError
from remediations.exchange.adminapi import AdminApiTransport
from remediations.exchange.cmdlet import Cmdlet
from remediations.exchange.dryrun import DryRun
from remediations.target import (
    GLOBAL_EXCHANGE,
    GLOBAL_GRAPH,
    CredentialSpec,
    open_target,
    read_targets,
    target_name,
)
from remediations.testing import LoopbackTenant

from .conftest import TOKEN, online_target, tenant_view

ISSUE_EXAMPLE = """
target: northwind
targets:
  northwind:
    kind: exchange-online
    tenant: northwindtraders.onmicrosoft.com
    credential:
      kind: certificate
      client_id: 00000000-0000-0000-0000-000000000000
      certificate_path: ~/.certs/ndr-app.pem
    endpoints:
      exchange: https://outlook.office365.com
      graph: https://graph.microsoft.com
  hq-onprem:
    kind: exchange-onprem
    server: mail.contoso.com
    auth: kerberos
"""


def test_the_documented_shape_reads_into_typed_values() -> None:
    """The issue's example: the default target, both kinds, the credential and endpoints."""
    config = yaml.safe_load(ISSUE_EXAMPLE)
    assert target_name(config) == "northwind"
    assert target_name(config, "hq-onprem") == "hq-onprem"
    specs = read_targets(config)
    online, onprem = specs["northwind"], specs["hq-onprem"]
    assert online.kind == "exchange-online"
    assert online.tenant == "northwindtraders.onmicrosoft.com"
    assert online.credential == CredentialSpec(
        kind="certificate",
        client_id="00000000-0000-0000-0000-000000000000",
        certificate_path=Path("~/.certs/ndr-app.pem").expanduser(),
    )
    assert (online.exchange_endpoint, online.graph_endpoint) == (GLOBAL_EXCHANGE, GLOBAL_GRAPH)
    assert online.is_real
    assert onprem.onprem_url == "https://mail.contoso.com/PowerShell"
    assert onprem.auth == "kerberos"
    assert onprem.cert_validation
    assert target_name({}) == "sandbox"


def _online(**changes: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "kind": "exchange-online",
        "tenant": "contoso.onmicrosoft.com",
        "credential": {"kind": "token", "exchange_token_env": "EXO", "graph_token_env": "GRAPH"},
    }
    entry.update(changes)
    return {"targets": {"t": entry}}


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ({"targets": ["a"]}, "targets must map"),
        ({"targets": {"t": {"kind": "exchange"}}}, "targets.t.kind is 'exchange'; give one of"),
        (_online(tenant=None), "targets.t.tenant is missing"),
        (_online(colour="red"), "targets.t: unknown key 'colour'"),
        (_online(credential={"kind": "password"}), "targets.t.credential.kind is 'password'"),
        (_online(credential=None), "targets.t.credential is missing"),
        (
            _online(credential={"kind": "secret", "client_id": "x", "client_secret": "hunter2"}),
            "secrets are never written in configuration",
        ),
        (
            _online(credential={"kind": "secret", "client_id": "x"}),
            "needs secret_env or secret_file",
        ),
        (_online(credential={"kind": "certificate", "certificate_path": "a.pem"}), "client_id"),
        (_online(credential={"kind": "token"}), "exchange_token_env and/or graph_token_env"),
        (
            _online(endpoints={"exchange": "http://exo.example.com"}),
            "plain http:// is only for loopback",
        ),
        (_online(endpoints={"graph": "ftp://x"}), "targets.t.endpoints.graph is 'ftp://x'"),
        ({"targets": {"h": {"kind": "exchange-onprem"}}}, "targets.h.server is missing"),
        (
            {"targets": {"h": {"kind": "exchange-onprem", "server": "ex", "auth": "basic"}}},
            "'basic' is only for loopback",
        ),
        (
            {"targets": {"h": {"kind": "exchange-onprem", "server": "ex", "auth": "ntlm"}}},
            "targets.h.auth is 'ntlm'",
        ),
    ],
)
def test_bad_settings_get_one_sentence_naming_the_key(config: dict[str, Any], says: str) -> None:
    """Each mistake: an InputError (exit 2) naming the key and what would be right."""
    with pytest.raises(InputError) as caught:
        read_targets(config)
    assert says in str(caught.value)
    assert caught.value.exit_code == 2
    assert "hunter2" not in str(caught.value)


def test_loopback_http_is_allowed() -> None:
    """Plain http is fine for 127.0.0.0/8, ::1 and localhost (local test servers)."""
    for url in (
        "http://127.0.0.1:8080",
        "http://127.0.0.2:1",
        "http://[::1]:80",
        "http://localhost",
    ):
        spec = read_targets(_online(endpoints={"exchange": url}))["t"]
        assert spec.exchange_endpoint == url


def test_an_unknown_target_names_the_known_ones() -> None:
    """--target with a name not configured: say which exist."""
    with pytest.raises(InputError, match="target 'nope' is not configured; give one of sandbox, t"):
        open_target(_online(), "nope")


def test_the_sandbox_target(tenant_path: Path) -> None:
    """The default: no confirmation, a copy for planning, the sandbox's own DNS and directory."""
    target = open_target({"sandbox": {"path": str(tenant_path)}})
    assert (target.name, target.kind, target.tenant) == ("sandbox", "sandbox", "contoso.com")
    assert not target.confirm_before_apply
    assert target.can_fork
    assert isinstance(target.directory, SandboxDirectory)
    assert target.directory.user("alex.kim@contoso.com").account_enabled
    copy = target.planning_copy()
    before = tenant_view(tenant_path)
    copy.send(
        Cmdlet.of(
            "Set-MailPublicFolder",
            Identity="\\Support\\Escalations",
            RequireSenderAuthenticationEnabled=False,
        )
    )
    assert tenant_view(tenant_path) == before
    answer = target.dns_resolver.resolve("contoso.com", "MX")
    assert answer
    target.close()


def test_a_dry_run_sandbox_target_refuses_writes(tenant_path: Path) -> None:
    """dry_run=True wraps the Exchange side: a write raises and the file is untouched."""
    target = open_target({"sandbox": {"path": str(tenant_path)}}, dry_run=True)
    before = tenant_view(tenant_path)
    with pytest.raises(DryRunWrite):
        target.exchange.send(
            Cmdlet.of(
                "Set-MailPublicFolder",
                Identity="\\Support\\Escalations",
                RequireSenderAuthenticationEnabled=False,
            )
        )
    assert tenant_view(tenant_path) == before


def _loopback_config(server: LoopbackTenant) -> dict[str, Any]:
    return {
        "target": "lab",
        "targets": {"lab": online_target(server)},
    }


def test_an_exchange_online_target_on_loopback(
    server: LoopbackTenant,
    monkeypatch: pytest.MonkeyPatch,
    audit: AuditLog,
    budget: RetryBudget,
) -> None:
    """kind: token with loopback endpoints: REST and Graph clients, confirmation on."""
    monkeypatch.setenv("TEST_EXO_TOKEN", TOKEN)
    monkeypatch.setenv("TEST_GRAPH_TOKEN", TOKEN)
    target = open_target(_loopback_config(server), budget=budget)
    assert isinstance(target.exchange, AdminApiTransport)
    assert isinstance(target.directory, GraphDirectory)
    assert target.confirm_before_apply
    # Every target can be copied for planning ahead (reads from the tenant, writes kept).
    assert target.can_fork
    copy = target.planning_copy()
    copy.send(
        Cmdlet.of(
            "Set-MailPublicFolder",
            Identity="\\Support\\Escalations",
            RequireSenderAuthenticationEnabled=False,
        )
    )
    copy.close()
    assert server.writes() == []
    action = ACTIONS["fix-public-folder"]
    outcome = run_action(
        action,
        parse_wish(action, {"folder": "\\Support\\Escalations"}),
        transport=target.exchange,
        audit=audit,
        dry_run=False,
    )
    assert outcome.outcome == "applied"
    assert target.directory.user("jordan.lee@contoso.com").on_premises_sync_enabled
    assert TOKEN not in repr(target)
    target.close()


def test_a_dry_run_real_target_sends_no_write(
    server: LoopbackTenant, monkeypatch: pytest.MonkeyPatch, audit: AuditLog
) -> None:
    """The whole action plans through a dry-run target; the server log holds reads only."""
    monkeypatch.setenv("TEST_EXO_TOKEN", TOKEN)
    monkeypatch.setenv("TEST_GRAPH_TOKEN", TOKEN)
    target = open_target(_loopback_config(server), dry_run=True)
    assert isinstance(target.exchange, DryRun)
    action = ACTIONS["add-allowed-sender"]
    outcome = run_action(
        action,
        parse_wish(action, {"recipient": "Finance Approvers", "sender": "partner@fabrikam.com"}),
        transport=target.exchange,
        audit=audit,
        dry_run=True,
    )
    assert outcome.plan.changes
    assert server.requests
    assert server.writes() == []
    target.close()


def test_a_missing_token_variable_is_named(
    server: LoopbackTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kind: token without the variable set: one sentence naming it, nothing sent."""
    monkeypatch.delenv("TEST_EXO_TOKEN", raising=False)
    target = open_target(_loopback_config(server))
    with pytest.raises(InputError, match=r"TEST_EXO_TOKEN \(credential\.exchange_token_env\)"):
        target.exchange.send(Cmdlet.of("Get-AcceptedDomain"))
    assert server.requests == []
    target.close()


def test_tokens_are_reused_and_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    """One credential per run: a token per scope fetched once; reprs name only variables."""
    monkeypatch.setenv("EXO", "secret-exo-token")
    monkeypatch.setenv("GRAPH", "secret-graph-token")

    calls: list[str] = []

    class Counting(EnvTokenCredential):
        def get_token(self, *scopes: str, **kw: Any) -> Any:
            calls.append(scopes[0])
            return super().get_token(*scopes, **kw)

    tokens = BearerTokens(Counting(env="EXO", key="exchange_token_env", service="Exchange"))
    for _ in range(3):
        assert tokens.token("https://outlook.office365.com/.default") == "secret-exo-token"
    assert calls == ["https://outlook.office365.com/.default"]
    exo, graph = token_sources(
        CredentialSpec(kind="token", exchange_token_env="EXO", graph_token_env="GRAPH"),
        tenant="contoso.com",
    )
    assert graph.token("https://graph.microsoft.com/.default") == "secret-graph-token"
    assert exo.token("https://outlook.office365.com/.default") == "secret-exo-token"
    for shown in (repr(tokens), repr(tokens.credential), repr(exo), repr(graph.credential)):
        assert "secret-" not in shown


def test_secret_credentials_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """kind: secret builds ClientSecretCredential from the named variable; no secret in repr."""
    monkeypatch.setenv("NDR_SECRET", "s3cr3t-value")
    spec = read_targets(
        _online(credential={"kind": "secret", "client_id": "abc", "secret_env": "NDR_SECRET"})
    )["t"]
    assert spec.credential is not None
    credential = make_credential(spec.credential, tenant=spec.tenant)
    assert type(credential).__name__ == "ClientSecretCredential"
    assert "s3cr3t-value" not in repr(spec)
    monkeypatch.delenv("NDR_SECRET")
    with pytest.raises(InputError, match="NDR_SECRET"):
        make_credential(spec.credential, tenant=spec.tenant)


@pytest.mark.subprocess
def test_sandbox_targets_import_no_tenant_sdk(tenant_path: Path) -> None:
    """Reading targets and opening the sandbox loads none of msgraph, azure, pypsrp, kiota."""
    code = textwrap.dedent(
        f"""
        import sys
        from remediations.target import open_target, read_targets
        read_targets({_online()!r})
        target = open_target({{"sandbox": {{"path": {str(tenant_path)!r}}}}})
        target.directory.user("alex.kim@contoso.com")
        names = {{"msgraph", "azure", "pypsrp", "kiota_abstractions", "psrpcore", "httpx"}}
        heavy = sorted({{m.split(".")[0] for m in sys.modules}} & names)
        print(heavy)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.subprocess
@pytest.mark.parametrize(
    ("missing", "credential"),
    [
        ("httpx", {"kind": "token", "exchange_token_env": "X"}),
        ("azure", {"kind": "azure-cli"}),
    ],
)
def test_without_the_tenant_sdks_one_sentence_says_what_to_install(
    missing: str, credential: dict[str, Any]
) -> None:
    """A real target without the extra installed: exit 2 and the pip command, no traceback."""
    config = {
        "targets": {
            "t": {"kind": "exchange-online", "tenant": "contoso.com", "credential": credential}
        }
    }
    code = textwrap.dedent(
        f"""
        import sys
        sys.modules[{missing!r}] = None  # as if the package were not installed
        from remediations.errors import InputError
        from remediations.target import open_target
        try:
            open_target({config!r}, "t")
        except InputError as exc:
            print(exc.exit_code, exc)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.startswith("2 ")
    assert "pip install -e '.[tenants]'" in out.stdout
