"""Directory actions, scan, check-domain and diagnose --check on a real target.

The run's one transport sends Microsoft Graph PowerShell cmdlets to the directory
(msgraph-sdk against the loopback Graph) and the rest to Exchange (the admin API
against the loopback server); everything must end exactly as on the sandbox.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from remediations.actions import ACTIONS, parse_wish
from remediations.audit import AuditLog
from remediations.budget import RetryBudget
from remediations.cli import run_action_task
from remediations.cli.diagnose import check_domain_task, diagnose_task, scan_task
from remediations.directory import Directory
from remediations.directory.cmdlets import GRAPH_CMDLETS, DirectoryCmdlets
from remediations.directory.graph import GraphDirectory
from remediations.directory.sandbox import SandboxDirectory
from remediations.dns_lookup import ZoneResolver
from remediations.engine import run_action
from remediations.errors import DryRunWrite, InputError, Refused, Throttled, TransportError
from remediations.exchange.cmdlet import Cmdlet
from remediations.ndr.build import RejectedRecipient, build_ndr
from remediations.ndr.codes import SANDBOX_REJECTIONS
from remediations.sandbox import SandboxTransport, save_state
from remediations.sandbox.directory import zone_data
from remediations.sandbox.tenant_file import tenant_from_mapping
from remediations.target import Target, open_target
from remediations.testing import Fault, LoopbackTenant
from tests.conftest import CliResult
from tests.playbooks.conftest import LEAVER_TENANT

from .conftest import TOKEN, online_target, tenant_view

LEAVER = {"user": "Jordan Lee"}


def lab_settings(server: LoopbackTenant, config: dict[str, Any]) -> dict[str, Any]:
    """``config`` plus the target ``lab``: admin API and Graph on the loopback server."""
    return {
        **config,
        "targets": {"lab": online_target(server)},
    }


@pytest.fixture(autouse=True)
def _tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_EXO_TOKEN", TOKEN)
    monkeypatch.setenv("TEST_GRAPH_TOKEN", TOKEN)


@pytest.fixture
def leaver_paths(tmp_path: Path) -> tuple[Path, Path]:
    """The same leaver tenant twice: one served over loopback, one used directly."""
    paths = (tmp_path / "served-leaver.json", tmp_path / "direct-leaver.json")
    for path in paths:
        save_state(tenant_from_mapping(LEAVER_TENANT, source="leaver"), path)
    return paths


@pytest.fixture
def leaver_server(leaver_paths: tuple[Path, Path]) -> Iterator[LoopbackTenant]:
    with LoopbackTenant(SandboxTransport(leaver_paths[0]), token=TOKEN) as tenant:
        yield tenant


def lab(server: LoopbackTenant, config: dict[str, Any], budget: RetryBudget, **kw: Any) -> Target:
    return open_target(lab_settings(server, config), "lab", budget=budget, **kw)


def _run(name: str, wish: dict[str, Any], transport: Any, audit: AuditLog, **kw: Any) -> Any:
    action = ACTIONS[name]
    return run_action(action, parse_wish(action, wish), transport=transport, audit=audit, **kw)


def _comparable(outcome: Any) -> dict[str, Any]:
    doc = outcome.to_json()
    return {k: doc.get(k) for k in ("outcome", "changes", "notes", "error")}


def licenses(path: Path, upn: str = "jordan.lee@contoso.com") -> list[str]:
    user = SandboxTransport(path).send(
        Cmdlet.of("Get-MgUser", UserId=upn, Property=("AssignedLicenses",))
    )
    return sorted(str(lic["SkuId"]) for lic in user.objects[0]["AssignedLicenses"])


# --- the action lifecycle, a second time through the real clients ------------------------


@pytest.mark.parametrize("name", ["remove-license", "block-delicensed-user"])
def test_directory_actions_plan_apply_and_rerun_as_on_the_sandbox(
    name: str,
    leaver_paths: tuple[Path, Path],
    leaver_server: LoopbackTenant,
    config: dict[str, Any],
    audit: AuditLog,
    budget: RetryBudget,
) -> None:
    """Dry run: the sandbox's plan, and no write reaches Exchange or Graph.  Apply: the
    same changes, verified.  Rerun: a no-op.  The served tenant ends as the sandbox's."""
    served, direct_path = leaver_paths
    wish = {**LEAVER, "even_if_active": True} if name == "block-delicensed-user" else LEAVER
    direct_dry = _run(name, wish, SandboxTransport(direct_path), audit, dry_run=True)
    dry_target = lab(leaver_server, config, budget, dry_run=True)
    try:
        dry = _run(name, wish, dry_target.transport, audit, dry_run=True)
    finally:
        dry_target.close()
    assert dry.outcome == "planned"
    assert _comparable(dry) == _comparable(direct_dry)
    assert any(r.path.startswith("/v1.0/") for r in leaver_server.requests)  # Graph was read
    assert leaver_server.writes() == []

    direct = _run(name, wish, SandboxTransport(direct_path), audit, dry_run=False)
    target = lab(leaver_server, config, budget)
    try:
        applied = _run(name, wish, target.transport, audit, dry_run=False)
        assert applied.outcome == "applied"
        assert set(applied.status.values()) == {"verified"}
        assert _comparable(applied) == _comparable(direct)
        writes = len(leaver_server.writes())
        rerun = _run(name, wish, target.transport, audit, dry_run=False)
    finally:
        target.close()
    assert rerun.outcome == "no-change"
    assert len(leaver_server.writes()) == writes
    assert tenant_view(served) == tenant_view(direct_path)
    assert licenses(served) == licenses(direct_path)


def test_remove_license_writes_through_graph_not_exchange(
    leaver_server: LoopbackTenant, config: dict[str, Any], audit: AuditLog, budget: RetryBudget
) -> None:
    """The one write is Graph's assignLicense with the SKU GUIDs; Exchange is only read."""
    target = lab(leaver_server, config, budget)
    try:
        outcome = _run("remove-license", LEAVER, target.transport, audit, dry_run=False)
    finally:
        target.close()
    assert outcome.outcome == "applied"
    (write,) = leaver_server.writes()
    assert (write.method, unquote(write.path)) == (
        "POST",
        "/v1.0/users/jordan.lee@contoso.com/assignLicense",
    )
    assert write.body["addLicenses"] == []
    assert len(write.body["removeLicenses"]) == 2
    assert not [
        r for r in leaver_server.requests if r.cmdlet.lower().startswith(("get-mg", "set-mg"))
    ]
    (change,) = outcome.to_json()["changes"]
    assert change["runs_in"] == "microsoft-graph"
    assert change["graph_request"].startswith(
        "POST /v1.0/users/jordan.lee@contoso.com/assignLicense "
    )


def test_a_group_license_is_refused_naming_the_group_as_on_the_sandbox(
    server: LoopbackTenant,
    tenant_path: Path,
    config: dict[str, Any],
    audit: AuditLog,
    budget: RetryBudget,
) -> None:
    """Riley Chen's license comes through Licensed Staff (read with Get-MgGroup)."""
    wish = {"user": "riley.chen@contoso.com"}
    with pytest.raises(Refused) as direct:
        _run("remove-license", wish, SandboxTransport(tenant_path), audit, dry_run=False)
    target = lab(server, config, budget)
    try:
        with pytest.raises(Refused) as real:
            _run("remove-license", wish, target.transport, audit, dry_run=False)
    finally:
        target.close()
    assert "Licensed Staff (licensed-staff@contoso.com)" in str(direct.value)
    assert str(real.value) == str(direct.value)
    assert any(r.path.startswith("/v1.0/groups/") for r in server.requests)
    assert server.writes() == []


def test_a_dry_run_target_refuses_a_graph_write_before_sending(
    server: LoopbackTenant, config: dict[str, Any], budget: RetryBudget
) -> None:
    target = lab(server, config, budget, dry_run=True)
    try:
        with pytest.raises(DryRunWrite):
            target.transport.send(
                Cmdlet.of(
                    "Set-MgUserLicense",
                    UserId="alex.kim@contoso.com",
                    AddLicenses=(),
                    RemoveLicenses=("6fd2c87f-b296-42f0-b197-1e91e994b900",),
                )
            )
    finally:
        target.close()
    assert server.requests == []


# --- the task functions on the real target --------------------------------------------------


def run_task(config: dict[str, Any], action: str, values: dict[str, Any], **kw: Any) -> CliResult:
    out, err = io.StringIO(), io.StringIO()
    code = run_action_task(
        config,
        action,
        values,
        dry_run=kw.pop("dry_run", False),
        as_json=kw.pop("as_json", False),
        ticket="T-9",
        yes=True,
        out=out,
        err=err,
        **kw,
    )
    return CliResult(code, out.getvalue(), err.getvalue())


def test_the_preview_labels_each_line_by_where_it_runs(
    leaver_server: LoopbackTenant, config: dict[str, Any], audit_dir: Path
) -> None:
    """Text: the Graph PowerShell line under its own label, with the Graph request.
    --json and the audit log's change events: ``runs_in`` and ``graph_request``."""
    settings = lab_settings(leaver_server, config)
    text = run_task(settings, "remove-license", {**LEAVER, "sku": ""}, dry_run=True, target="lab")
    assert text.code == 0, text.err
    assert "Equivalent Microsoft Graph PowerShell:\n  Set-MgUserLicense -UserId " in text.out
    assert (
        "    Microsoft Graph request: POST /v1.0/users/jordan.lee@contoso.com/assignLicense {"
        in (text.out)
    )
    assert "Equivalent Exchange Online PowerShell" not in text.out

    doc = run_task(
        settings, "remove-license", {**LEAVER, "sku": ""}, dry_run=True, as_json=True, target="lab"
    ).json()
    (change,) = doc["changes"]
    assert change["runs_in"] == "microsoft-graph"
    assert "assignLicense" in change["graph_request"]

    rule = run_task(
        settings,
        "block-delicensed-user",
        {**LEAVER, "mode": "reject", "even_if_active": True},
        dry_run=True,
        as_json=True,
        target="lab",
    ).json()
    assert {c["runs_in"] for c in rule["changes"]} == {"exchange"}
    assert all("graph_request" not in c for c in rule["changes"])

    events = [
        json.loads(line)
        for log in sorted(audit_dir.glob("*.jsonl"))
        for line in log.read_text().splitlines()
    ]
    planned = [e for e in events if e.get("event") == "change-planned"]
    assert {e["runs_in"] for e in planned} == {"microsoft-graph", "exchange"}
    assert all("graph_request" in e for e in planned if e["runs_in"] == "microsoft-graph")
    assert leaver_server.writes() == []


def test_remove_license_applies_on_the_real_target_from_the_task(
    leaver_server: LoopbackTenant, leaver_paths: tuple[Path, Path], config: dict[str, Any]
) -> None:
    settings = lab_settings(leaver_server, config)
    result = run_task(settings, "remove-license", {**LEAVER, "sku": ""}, target="lab")
    assert result.code == 0, result.err
    assert "Applied and verified 1 change" in result.out
    assert licenses(leaver_paths[0]) == []


def test_scan_is_the_same_through_the_real_clients(
    server: LoopbackTenant, tenant_path: Path, config: dict[str, Any]
) -> None:
    """Leavers (Get-MgUser) and group sizes (Get-MgGroupMemberCount) come from Graph."""
    resolver = ZoneResolver(zone_data(SandboxTransport(tenant_path).state))
    settings = lab_settings(server, config)
    docs = []
    for target in ("sandbox", "lab"):
        out, err = io.StringIO(), io.StringIO()
        code = scan_task(settings, as_json=True, target=target, out=out, err=err, resolver=resolver)
        assert code in (0, 3), err.getvalue()
        doc = json.loads(out.getvalue().replace("exchange-online", "sandbox"))
        doc.pop("target")
        docs.append(doc)
    assert docs[1] == docs[0]
    assert docs[0]["errors"] == []
    assert {"disabled-account", "large-group-moderation"} <= set(docs[0]["causes"])
    paths = {r.path.split("?")[0] for r in server.requests}
    assert "/v1.0/users" in paths  # one listing of every user ...
    assert not any(p.startswith("/v1.0/users/") for p in paths)  # ... not one read per mailbox
    assert any(p.endswith("/transitiveMembers/$count") for p in paths)
    assert server.writes() == []


@pytest.mark.parametrize("domain", ["contoso.com", "contoso.net", "fabrikam.com"])
def test_check_domain_is_the_same_through_the_real_clients(
    server: LoopbackTenant, tenant_path: Path, config: dict[str, Any], domain: str
) -> None:
    """Registration and expected records come from Graph's /domains."""
    resolver = ZoneResolver(zone_data(SandboxTransport(tenant_path).state))
    settings = lab_settings(server, config)
    docs = []
    for target in ("sandbox", "lab"):
        out, err = io.StringIO(), io.StringIO()
        code = check_domain_task(
            settings, domain, as_json=True, target=target, out=out, err=err, resolver=resolver
        )
        doc = json.loads(out.getvalue().replace("exchange-online", "sandbox"))
        doc.pop("target", None)
        docs.append({"code": code, **doc})
    assert docs[1] == docs[0]
    assert any(r.path.startswith("/v1.0/domains") for r in server.requests)


def bounce(tmp_path: Path, recipient: str, key: str) -> Path:
    from datetime import UTC, datetime
    from email.message import EmailMessage

    original = EmailMessage()
    original["From"] = "partner@fabrikam.com"
    original["To"] = recipient
    original["Subject"] = "Hello"
    original.set_content("hi")
    message = build_ndr(
        reporting_mta="am7pr01mb4321.eurprd01.prod.outlook.com",
        postmaster="postmaster@contoso.com",
        sender="partner@fabrikam.com",
        recipients=[RejectedRecipient.from_rejection(recipient, SANDBOX_REJECTIONS[key])],
        original=original,
        arrival=datetime(2026, 11, 27, tzinfo=UTC),
    )
    path = tmp_path / f"{key}.eml"
    path.write_bytes(message.as_bytes())
    return path


@pytest.mark.parametrize(
    ("recipient", "key"),
    [
        ("jordan.lee@contoso.com", "disabled-account"),
        ("allstaff@contoso.com", "large-group-members"),
        ("partners@contoso.com", "public-folder-auth"),
    ],
)
def test_diagnose_check_is_the_same_through_the_real_clients(
    server: LoopbackTenant,
    tenant_path: Path,
    config: dict[str, Any],
    tmp_path: Path,
    budget: RetryBudget,
    recipient: str,
    key: str,
) -> None:
    """The recipient, its user and its group's size are read through the admin API and
    Graph; the check (fixes planned, not tried: a tenant has no copy) equals the sandbox's."""
    from remediations.diagnose import parse_ndr
    from remediations.diagnose.check import check_report

    report = parse_ndr(bounce(tmp_path, recipient, key).read_bytes())
    direct = check_report(report, SandboxTransport(tenant_path))
    target = lab(server, config, budget, dry_run=True)
    try:
        real = check_report(report, target.transport)
    finally:
        target.close()

    def comparable(pairs: Any) -> str:
        docs = [[d.to_json(), c.to_json()] for d, c in pairs]
        return json.dumps(docs, sort_keys=True).replace("exchange-online", "sandbox")

    assert comparable(real) == comparable(direct)
    assert server.writes() == []


def test_diagnose_check_runs_on_the_real_target_from_the_task(
    server: LoopbackTenant, config: dict[str, Any], tmp_path: Path
) -> None:
    path = str(bounce(tmp_path, "jordan.lee@contoso.com", "disabled-account"))
    out, err = io.StringIO(), io.StringIO()
    code = diagnose_task(
        lab_settings(server, config), path, as_json=True, check=True, target="lab", out=out, err=err
    )
    assert code == 0, err.getvalue()
    assert json.loads(out.getvalue())["check"]["confirmed"] is True
    assert any(r.path.startswith("/v1.0/users/") for r in server.requests)
    assert server.writes() == []


# --- no directory, and the one table of Graph cmdlets ---------------------------------------


def test_an_onprem_only_target_refuses_graph_cmdlets_naming_it(tenant_path: Path) -> None:
    from remediations.directory.cmdlets import RoutedTransport

    sandbox = SandboxTransport(tenant_path)
    routed = RoutedTransport(sandbox, None, target="hq-onprem")
    assert routed.send(Cmdlet.of("Get-AcceptedDomain")).objects
    with pytest.raises(InputError) as caught:
        routed.send(Cmdlet.of("Get-MgUser", UserId="alex.kim@contoso.com"))
    assert str(caught.value) == (
        "target 'hq-onprem' is on-premises Exchange only and has no directory: Get-MgUser runs "
        "in Microsoft Graph, so run this on the Exchange Online target instead (its 'onprem' "
        "setting can name this one)."
    )
    assert caught.value.exit_code == 2


def test_the_graph_cmdlet_table_is_the_graph_powershell_reference() -> None:
    """Every cmdlet routed to the directory is one the Graph PowerShell reference lists."""
    data = json.loads((Path(__file__).parents[1] / "data" / "cmdlet_parameters.json").read_text())
    graph = {
        name.lower()
        for name, entry in data["cmdlets"].items()
        if entry.get("reference") == "graph-powershell"
    }
    assert graph == GRAPH_CMDLETS


@pytest.mark.parametrize(
    "cmdlet",
    [
        Cmdlet.of(
            "Get-MgUser",
            UserId="riley.chen@contoso.com",
            Property=(
                "Id",
                "AccountEnabled",
                "AssignedLicenses",
                "LicenseAssignmentStates",
                "UserPrincipalName",
            ),
        ),
        Cmdlet.of(
            "Get-MgUser",
            UserId="jordan.lee@contoso.com",
            Property=("AccountEnabled", "OnPremisesSyncEnabled", "UserPrincipalName"),
        ),
        Cmdlet.of(
            "Get-MgUser",
            All=True,
            Property=("UserPrincipalName", "AccountEnabled", "AssignedLicenses"),
        ),
        Cmdlet.of("Get-MgSubscribedSku", All=True),
        Cmdlet.of("Get-MgDomain", DomainId="contoso.net"),
        Cmdlet.of("Get-MgDomainServiceConfigurationRecord", DomainId="contoso.net"),
        Cmdlet.of("Get-MgGroupMemberCount", GroupId="All Staff", ConsistencyLevel="eventual"),
    ],
    ids=lambda c: c.name,
)
def test_answers_have_the_shape_the_sandbox_gives(
    cmdlet: Cmdlet, server: LoopbackTenant, tenant_path: Path, budget: RetryBudget
) -> None:
    """What the actions read, through Graph, equals the sandbox's own Graph PowerShell answer."""
    native = SandboxTransport(tenant_path).send(cmdlet).objects
    graph = GraphDirectory(endpoint=server.url, token=lambda scope: TOKEN, budget=budget)
    directories: list[Directory] = [graph, SandboxDirectory(SandboxTransport(tenant_path))]
    try:
        for directory in directories:
            answered = DirectoryCmdlets(directory, tenant="contoso.com").send(cmdlet).objects
            assert len(answered) == len(native)
            for mine, theirs in zip(answered, native, strict=True):
                assert {k: theirs.get(k) for k in mine} == dict(mine)
    finally:
        graph.close()


# --- Graph paging ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2])
def test_domains_and_skus_follow_every_next_link(
    server: LoopbackTenant, tenant_path: Path, budget: RetryBudget, size: int
) -> None:
    direct = SandboxDirectory(SandboxTransport(tenant_path))
    server.graph_page_size = size
    graph = GraphDirectory(endpoint=server.url, token=lambda scope: TOKEN, budget=budget)
    try:
        domains = graph.domains()
        skus = graph.subscribed_skus()
    finally:
        graph.close()
    assert len(domains) > size
    assert domains == direct.domains()
    assert skus == direct.subscribed_skus()
    pages = [r.path for r in server.requests if "$skiptoken" in r.path]
    assert any(p.startswith("/v1.0/domains?") for p in pages)


def test_users_follow_every_next_link(
    server: LoopbackTenant, tenant_path: Path, budget: RetryBudget
) -> None:
    direct = SandboxDirectory(SandboxTransport(tenant_path)).users()
    server.graph_page_size = 2
    graph = GraphDirectory(endpoint=server.url, token=lambda scope: TOKEN, budget=budget)
    try:
        users = graph.users()
    finally:
        graph.close()
    assert len(direct) > 2
    assert users == direct
    first = next(r for r in server.requests if r.path.startswith("/v1.0/users?"))
    assert "%24select=" in first.path or "$select=" in first.path


def test_a_failed_next_page_is_an_error_not_a_short_list(
    server: LoopbackTenant, budget: RetryBudget
) -> None:
    server.graph_page_size = 1
    server.inject(Fault(kind="status", cmdlet="skiptoken", status=503, times=100))
    graph = GraphDirectory(endpoint=server.url, token=lambda scope: TOKEN, budget=budget)
    try:
        with pytest.raises(TransportError):
            graph.domains()
    finally:
        graph.close()


def test_a_throttled_directory_read_is_an_error_and_no_plan(
    leaver_server: LoopbackTenant, config: dict[str, Any], audit: AuditLog, budget: RetryBudget
) -> None:
    leaver_server.inject(Fault(kind="throttle", cmdlet="/users/", retry_after=30, times=100))
    target = lab(leaver_server, config, budget)
    try:
        with pytest.raises(Throttled):
            _run("remove-license", LEAVER, target.transport, audit, dry_run=False)
    finally:
        target.close()
    assert leaver_server.writes() == []


def test_the_leaver_playbook_on_a_real_target_labels_the_graph_line(
    leaver_server: LoopbackTenant, config: dict[str, Any]
) -> None:
    """leaver-block-mail, dry run on the real target: the license step's line is labelled
    Microsoft Graph PowerShell with its request; nothing is written anywhere."""
    from remediations.cli.playbooks import playbook_run_task

    out, err = io.StringIO(), io.StringIO()
    code = playbook_run_task(
        lab_settings(leaver_server, config),
        "leaver-block-mail",
        ["user=jordan.lee@contoso.com"],
        dry_run=True,
        as_json=False,
        ticket="T-9",
        yes=True,
        target="lab",
        out=out,
        err=err,
    )
    assert code == 0, err.getvalue()
    text = out.getvalue()
    line = text.index("  Set-MgUserLicense -UserId 'jordan.lee@contoso.com'")
    label = "    # Microsoft Graph PowerShell; Microsoft Graph request: POST /v1.0/users/"
    assert text[line:].split("\n")[1].startswith(label)
    assert "  New-TransportRule -Name 'Block mail to leaver jordan.lee@contoso.com'" in text
    assert leaver_server.writes() == []


def test_the_planning_copy_reads_directory_groups_through_graph(
    server: LoopbackTenant, config: dict[str, Any], audit: AuditLog, budget: RetryBudget
) -> None:
    """A pass-through read of the planning copy (Get-MgGroup) reaches the directory."""
    target = lab(server, config, budget, dry_run=True)
    try:
        with pytest.raises(Refused, match=r"Licensed Staff \(licensed-staff@contoso.com\)"):
            _run(
                "remove-license",
                {"user": "riley.chen@contoso.com"},
                target.planning_copy(),
                audit,
                dry_run=True,
            )
    finally:
        target.close()
    assert any(r.path.startswith("/v1.0/groups/") for r in server.requests)
    assert server.writes() == []
