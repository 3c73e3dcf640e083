"""The Graph directory (msgraph-sdk, real client) on loopback, against the sandbox's own answers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from remediations.budget import RetryBudget
from remediations.directory import license_removal_request
from remediations.directory.graph import GraphDirectory
from remediations.directory.sandbox import SandboxDirectory
from remediations.errors import (
    CmdletError,
    DryRunWrite,
    NotFound,
    OutcomeUnknown,
    PermissionDenied,
    RejectedByServer,
    Throttled,
)
from remediations.sandbox import SandboxTransport
from remediations.testing import Fault, LoopbackTenant

from .conftest import TOKEN, FakeClock


@pytest.fixture
def graph(server: LoopbackTenant, budget: RetryBudget) -> Iterator[GraphDirectory]:
    """msgraph-sdk pointed at the loopback server."""
    directory = GraphDirectory(endpoint=server.url, token=lambda scope: TOKEN, budget=budget)
    yield directory
    directory.close()


@pytest.fixture
def direct(served_path: Path) -> SandboxDirectory:
    """The sandbox's directory, read directly (the reference answers)."""
    return SandboxDirectory(SandboxTransport(served_path))


def test_graph_reads_equal_the_sandbox(graph: GraphDirectory, direct: SandboxDirectory) -> None:
    """Users, domains, expected records and member counts: identical through Graph."""
    for upn in ("jordan.lee@contoso.com", "alex.kim@contoso.com"):
        assert graph.user(upn) == direct.user(upn)
    assert graph.domains() == direct.domains()
    for domain in direct.domains():
        assert graph.domain(domain.id) == domain
        assert graph.service_records(domain.id) == direct.service_records(domain.id)
    assert graph.transitive_member_count("All Staff") == direct.transitive_member_count("All Staff")
    leaver = graph.user("jordan.lee@contoso.com")
    assert not leaver.account_enabled
    assert leaver.on_premises_sync_enabled
    assert leaver.assigned_licenses == ()


def test_requests_as_graph_expects_them(server: LoopbackTenant, graph: GraphDirectory) -> None:
    """$select names every property read; the count asks with ConsistencyLevel: eventual."""
    graph.user("alex.kim@contoso.com")
    graph.transitive_member_count("All Staff")
    user_request, count_request = server.requests
    assert "$select=" in user_request.path
    for prop in ("accountEnabled", "assignedLicenses", "licenseAssignmentStates"):
        assert prop in user_request.path
    assert user_request.headers["authorization"] == f"Bearer {TOKEN}"
    assert count_request.path.endswith("/transitiveMembers/$count")
    assert count_request.headers["consistencylevel"] == "eventual"


def test_skus_map_part_numbers_to_guids(server: LoopbackTenant, graph: GraphDirectory) -> None:
    """subscribedSkus gives part number <-> GUID; users' licenses are the GUIDs."""
    skus = graph.subscribed_skus()
    e3 = next(s for s in skus if s.part_number == "ENTERPRISEPACK")
    assert graph.user("alex.kim@contoso.com").assigned_licenses == (e3.sku_id,)


def test_remove_licenses_by_guid(
    server: LoopbackTenant, graph: GraphDirectory, served_path: Path
) -> None:
    """assignLicense with removeLicenses (GUIDs) and the empty addLicenses Graph requires."""
    held = graph.user("alex.kim@contoso.com").assigned_licenses
    graph.remove_licenses("alex.kim@contoso.com", held)
    post = server.writes()[0]
    assert post.path == "/v1.0/users/alex.kim%40contoso.com/assignLicense"
    assert post.body == {"addLicenses": [], "removeLicenses": list(held)}
    saved = SandboxDirectory(SandboxTransport(served_path))
    assert saved.user("alex.kim@contoso.com").assigned_licenses == ()
    assert graph.user("alex.kim@contoso.com").assigned_licenses == ()


def test_a_group_license_is_named_and_not_removed(
    server: LoopbackTenant, graph: GraphDirectory
) -> None:
    """licenseAssignmentStates.assignedByGroup comes through; Graph refuses the removal."""
    sku = "c7df2760-2c81-4ef7-b578-5b5392b571df"
    group = "11111111-2222-3333-4444-555555555555"
    server.group_licenses["alex.kim@contoso.com"] = [(sku, group)]
    user = graph.user("alex.kim@contoso.com")
    assert user.inherited_from(sku) == (group,)
    assert user.inherited_from(user.assigned_licenses[0]) == ()
    with pytest.raises(RejectedByServer, match="inherited from a group"):
        graph.remove_licenses("alex.kim@contoso.com", (sku,))


def test_errors_are_typed(server: LoopbackTenant, graph: GraphDirectory) -> None:
    """404 -> NotFound with Graph's own text and code; 403 -> PermissionDenied."""
    with pytest.raises(NotFound) as missing:
        graph.user("nobody@contoso.com")
    assert missing.value.code == "Request_ResourceNotFound"
    assert "does not exist" in str(missing.value)
    assert isinstance(missing.value, CmdletError)
    server.inject(Fault(kind="status", status=403))
    with pytest.raises(PermissionDenied, match="Insufficient privileges"):
        graph.domains()


def test_throttled_reads_wait_then_fail_past_the_budget(
    server: LoopbackTenant, graph: GraphDirectory, clock: FakeClock
) -> None:
    """429 with Retry-After is waited out; throttled past the budget is an error, not empty."""
    server.inject(Fault(kind="throttle", retry_after=3))
    assert graph.domains()
    assert clock.sleeps == [3.0]
    server.inject(Fault(kind="throttle", retry_after=40, times=5))
    with pytest.raises(Throttled, match="retry budget"):
        graph.domains()


def test_dry_run_sends_no_write(server: LoopbackTenant, budget: RetryBudget) -> None:
    """A dry-run directory refuses assignLicense before anything is sent."""
    dry = GraphDirectory(endpoint=server.url, token=lambda s: TOKEN, budget=budget, dry_run=True)
    held = dry.user("alex.kim@contoso.com").assigned_licenses
    with pytest.raises(DryRunWrite):
        dry.remove_licenses("alex.kim@contoso.com", held)
    assert server.writes() == []
    dry.close()


def test_preview_is_labelled_as_graph() -> None:
    """A directory write previews as the Graph request and the Graph PowerShell line."""
    request = license_removal_request("jordan.lee@contoso.com", ("6fd2c87f-0000",))
    preview = request.preview()
    assert "Microsoft Graph request: POST /v1.0/users/jordan.lee@contoso.com/assignLicense" in (
        preview
    )
    assert (
        "Microsoft Graph PowerShell: Set-MgUserLicense -UserId 'jordan.lee@contoso.com' "
        "-AddLicenses @() -RemoveLicenses @('6fd2c87f-0000')"
    ) in preview
    assert "Exchange Online PowerShell" not in preview


def test_a_lost_assign_license_answer_is_not_resent(
    server: LoopbackTenant, graph: GraphDirectory, served_path: Path
) -> None:
    """assignLicense ran but its answer was lost: OutcomeUnknown, one POST, read back to see."""
    held = graph.user("alex.kim@contoso.com").assigned_licenses
    server.inject(Fault(kind="drop", cmdlet="assignLicense"))
    with pytest.raises(OutcomeUnknown, match="read the user back"):
        graph.remove_licenses("alex.kim@contoso.com", held)
    assert len(server.writes()) == 1
    saved = SandboxDirectory(SandboxTransport(served_path))
    assert saved.user("alex.kim@contoso.com").assigned_licenses == ()


def test_an_unavailable_read_is_retried(
    server: LoopbackTenant, graph: GraphDirectory, clock: FakeClock
) -> None:
    """A 503 on a read: back off, try again, answer."""
    server.inject(Fault(kind="status", status=503))
    assert graph.service_records("contoso.com")
    assert clock.sleeps == [1.0]
    assert [r.outcome for r in server.requests] == ["status", "ok"]


def test_the_environments_proxy_applies_but_not_to_loopback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """HTTPS_PROXY is used for Graph; a loopback test server is always reached directly."""
    from remediations.directory.graph import _env_proxy

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "graph.example.net")
    assert _env_proxy("https://graph.microsoft.com") == "http://proxy.example:3128"
    assert _env_proxy("https://graph.example.net") is None
    assert _env_proxy("http://127.0.0.1:8080") is None


#: a fresh process reads through Graph on loopback, then names msgraph's model modules loaded
_READ_AND_COUNT_MODELS = """
import sys
from pathlib import Path
from remediations.directory.graph import GraphDirectory
from remediations.errors import NotFound
from remediations.sandbox import SandboxTransport
from remediations.testing import LoopbackTenant

with LoopbackTenant(SandboxTransport(Path(sys.argv[1])), token="t") as server:
    graph = GraphDirectory(endpoint=server.url, token=lambda scope: "t")
    assert graph.user("alex.kim@contoso.com").assigned_licenses
    assert graph.subscribed_skus() and graph.users()
    for domain in graph.domains():
        graph.service_records(domain.id)
    assert graph.transitive_member_count("All Staff") > 0
    try:
        graph.user("nobody@contoso.com")
    except NotFound:
        pass
    graph.close()
print(sum(name.startswith("msgraph.generated.models.") for name in sys.modules))
"""


@pytest.mark.subprocess
def test_answers_are_read_without_loading_the_sdks_models(served_path: Path) -> None:
    """Graph's answers are read as JSON: msgraph-sdk's model classes (some 1,500 modules,
    about 2 CPU-seconds on the first call of a process, then ~15 ms an object) stay unloaded."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _READ_AND_COUNT_MODELS, str(served_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) < 20, f"{done.stdout.strip()} model modules loaded"
