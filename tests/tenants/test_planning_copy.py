"""Planning ahead on a real target: reads go to the tenant once, planned writes to a copy.

The loopback admin API and Graph serve the demo tenant; the planning copy is the
target's own (``Target.planning_copy``), reached through the real HTTP clients.
What was sent is read from the server's request log.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from remediations.audit import AuditLog
from remediations.budget import RetryBudget
from remediations.cli.playbooks import playbook_run_task
from remediations.errors import CmdletError
from remediations.exchange.cmdlet import AddRemove, Cmdlet
from remediations.playbooks import PlaybookFailed, PlaybookOutcome, bind, run_playbook
from remediations.playbooks.runner import NOT_PLANNED_AHEAD
from remediations.playbooks.schema import load_playbook
from remediations.sandbox import SandboxTransport
from remediations.sandbox.planning import PlanningCopy
from remediations.target import Target, open_target
from remediations.testing import LoopbackTenant
from remediations.testing.tenant_server import Fault

from .conftest import TOKEN, online_target, tenant_view

SHIPPED = Path(__file__).parents[2] / "remediations" / "playbooks" / "shipped"
SENDERS = ["partner@fabrikam.com", "buyer@fabrikam.com"]
PARAMS = {"group": "Finance Approvers", "senders": SENDERS}


def _config(server: LoopbackTenant) -> dict[str, Any]:
    return {
        "target": "lab",
        "targets": {"lab": online_target(server)},
    }


@pytest.fixture
def lab(
    server: LoopbackTenant, monkeypatch: pytest.MonkeyPatch, budget: RetryBudget
) -> Iterator[Target]:
    """The loopback tenant as a real target, opened for a dry run."""
    monkeypatch.setenv("TEST_EXO_TOKEN", TOKEN)
    monkeypatch.setenv("TEST_GRAPH_TOKEN", TOKEN)
    target = open_target(_config(server), dry_run=True, budget=budget)
    yield target
    target.close()


def _bound() -> Any:
    return bind(load_playbook(SHIPPED / "restricted-group-outside-sender.yaml"), PARAMS)


def _plans(outcome: PlaybookOutcome) -> list[list[str]]:
    return [
        [c.cmdlet.to_powershell() for c in (step.plan.changes if step.plan else ())]
        for step in outcome.steps
    ]


def test_a_real_target_can_be_copied_for_planning(lab: Target) -> None:
    """Every target gives a planning copy now (a typed capability, no getattr)."""
    assert lab.can_fork
    copy = lab.planning_copy()
    assert isinstance(copy, PlanningCopy)
    assert (copy.name, copy.tenant) == (lab.exchange.name, lab.exchange.tenant)
    copy.close()


def test_a_playbook_plans_on_the_copy_exactly_as_on_the_sandbox(
    lab: Target, server: LoopbackTenant, sandbox: SandboxTransport, audit: AuditLog
) -> None:
    """restricted-group-outside-sender: each sender's step sees the contacts and list entries
    the steps before it leave, and the last step sees the group already opened by them.  The
    plan over HTTP equals the sandbox's, and nothing is written to the tenant while planning."""
    served = tenant_view(Path(server.sandbox.path))
    on_copy = run_playbook(
        _bound(),
        transport=lab.exchange,
        audit=audit,
        dry_run=True,
        planning_copy=lab.planning_copy,
    )
    on_sandbox = run_playbook(
        _bound(), transport=sandbox, audit=audit, dry_run=True, planning_copy=sandbox.fork
    )
    assert on_copy.planned_ahead
    assert NOT_PLANNED_AHEAD not in on_copy.notes
    assert _plans(on_copy) == _plans(on_sandbox)
    # Step 1 creates the first contact and lifts the authentication requirement: the last
    # step (open the group) has nothing left to do on the copy.
    plans = _plans(on_copy)
    assert any("New-MailContact" in line for line in plans[0])
    assert any("New-MailContact" in line for line in plans[1])
    assert plans[2] == []
    assert server.writes() == []
    assert tenant_view(Path(server.sandbox.path)) == served


def test_without_the_copy_the_same_playbook_plans_differently(
    lab: Target, server: LoopbackTenant, audit: AuditLog
) -> None:
    """Planned step by step against the live state, the last step would plan a change the
    first already makes: the copy is what makes the plans equal."""
    live = run_playbook(_bound(), transport=lab.exchange, audit=audit, dry_run=True)
    assert not live.planned_ahead
    assert _plans(live)[2] != []


def test_a_failed_read_while_planning_is_an_error_and_no_plan(
    lab: Target, server: LoopbackTenant, audit: AuditLog
) -> None:
    """The tenant stops answering a read: the playbook fails (exit 1), nothing is planned
    as if the object were absent, and nothing is written."""
    server.inject(Fault(kind="status", status=503, cmdlet="Get-DistributionGroup", times=1000))
    with pytest.raises(PlaybookFailed) as caught:
        run_playbook(
            _bound(),
            transport=lab.exchange,
            audit=audit,
            dry_run=True,
            planning_copy=lab.planning_copy,
        )
    outcome = caught.value.outcome
    assert outcome.exit_code == 1
    assert outcome.outcome == "failed"
    assert [s.status for s in outcome.steps] == ["failed", "not-started", "not-started"]
    assert server.writes() == []


def test_each_read_is_sent_once_and_writes_stay_in_the_copy(
    lab: Target, server: LoopbackTenant
) -> None:
    """The same read twice is one request; a planned write changes what the copy answers,
    never the tenant; a fork's writes are its own."""
    copy = lab.planning_copy()
    assert isinstance(copy, PlanningCopy)
    read = Cmdlet.of("Get-DistributionGroup", Identity="finance-approvers@contoso.com")
    first = copy.send(read).objects[0]
    copy.send(read)
    sent = [r for r in server.requests if r.cmdlet == "Get-DistributionGroup"]
    assert len(sent) == 1
    assert first["RequireSenderAuthenticationEnabled"] is True

    fork = copy.fork()
    fork.send(
        Cmdlet.of(
            "Set-DistributionGroup",
            Identity="finance-approvers@contoso.com",
            RequireSenderAuthenticationEnabled=False,
            AcceptMessagesOnlyFromSendersOrMembers=AddRemove(add=("hr@contoso.com",)),
            BypassSecurityGroupManagerCheck=True,
        )
    )
    changed = fork.send(read).objects[0]
    assert changed["RequireSenderAuthenticationEnabled"] is False
    hr = fork.send(Cmdlet.of("Get-Recipient", Identity="hr@contoso.com")).objects[0]
    assert hr["Guid"] in changed["AcceptMessagesOnlyFrom"]
    assert copy.send(read).objects[0]["RequireSenderAuthenticationEnabled"] is True
    assert server.writes() == []
    assert len([r for r in server.requests if r.cmdlet == "Get-DistributionGroup"]) == 1
    copy.close()


def test_the_copy_judges_writes_with_the_sandbox_semantics(
    lab: Target, server: LoopbackTenant
) -> None:
    """A contact whose address the tenant already has is refused on the copy, as Exchange
    would refuse it (the copy read the address from the tenant first); a not-found read is
    an answer, and the contact the copy created is found afterwards."""
    copy = lab.planning_copy()
    with pytest.raises(CmdletError) as taken:
        copy.send(
            Cmdlet.of("New-MailContact", Name="Someone", ExternalEmailAddress="cfo@contoso.com")
        )
    assert taken.value.category == "Duplicate"
    lookup = Cmdlet.of("Get-Recipient", Identity="buyer@fabrikam.com")
    with pytest.raises(CmdletError) as missing:
        copy.send(lookup)
    assert missing.value.category == "NotFound"
    copy.send(Cmdlet.of("New-MailContact", Name="Buyer", ExternalEmailAddress="buyer@fabrikam.com"))
    assert copy.send(lookup).objects[0]["Name"] == "Buyer"
    assert server.writes() == []
    copy.close()


def test_the_directory_is_read_through_graph(lab: Target, server: LoopbackTenant) -> None:
    """Get-MgUser on the copy reads the user through Graph (never as a cmdlet on the wire);
    a planned license removal changes the copy only."""
    copy = lab.planning_copy()
    read = Cmdlet.of("Get-MgUser", UserId="alex.kim@contoso.com", Property=("AssignedLicenses",))
    user = copy.send(read).objects[0]
    assert user["AssignedLicenses"]
    sku = user["AssignedLicenses"][0]["SkuId"]
    copy.send(
        Cmdlet.of(
            "Set-MgUserLicense",
            UserId="alex.kim@contoso.com",
            AddLicenses=(),
            RemoveLicenses=(sku,),
        )
    )
    after = copy.send(read).objects[0]
    assert after["AssignedLicenses"] == []
    assert not [r for r in server.requests if r.cmdlet.lower().startswith("get-mg")]
    assert [r.path for r in server.requests if r.path.startswith("/v1.0/users/")]
    assert server.writes() == []
    assert lab.directory is not None
    assert lab.directory.user("alex.kim@contoso.com").assigned_licenses == (sku,)
    copy.close()


def test_playbook_run_on_a_real_target_plans_ahead_and_applies(
    server: LoopbackTenant,
    served_path: Path,
    tenant_path: Path,
    config: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Through the task: the preview no longer says it planned step by step; applied with
    --yes, the served tenant ends as the sandbox does after the same playbook."""
    monkeypatch.setenv("TEST_EXO_TOKEN", TOKEN)
    monkeypatch.setenv("TEST_GRAPH_TOKEN", TOKEN)
    lab_config = {**config, **_config(server)}
    params = ["group=Finance Approvers", f"senders={','.join(SENDERS)}"]

    def run(*, dry_run: bool, target: str | None = None) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = playbook_run_task(
            lab_config,
            "restricted-group-outside-sender",
            params,
            dry_run=dry_run,
            as_json=False,
            ticket="T-9",
            yes=True,
            target=target,
            out=out,
            err=err,
        )
        return code, out.getvalue(), err.getvalue()

    code, out, err = run(dry_run=True)
    assert code == 0, err
    assert NOT_PLANNED_AHEAD not in out
    assert server.writes() == []
    code, out, err = run(dry_run=False)
    assert code == 0, err
    assert server.writes()
    code, out, err = run(dry_run=False, target="sandbox")
    assert code == 0, err
    assert tenant_view(served_path) == tenant_view(tenant_path)


def test_the_same_plan_through_psrp(
    served_path: Path, budget: RetryBudget, sandbox: SandboxTransport, audit: AuditLog
) -> None:
    """On-premises Exchange (stock pypsrp against the loopback endpoint): the planning copy
    loads what PSRP returns through the same converter and plans as the sandbox does."""
    from remediations.exchange.dryrun import DryRun
    from remediations.exchange.psrp import PsrpTransport
    from remediations.testing.psrp_server import LoopbackExchangeServer

    with LoopbackExchangeServer(SandboxTransport(served_path), password="pw") as endpoint:
        onprem = PsrpTransport(
            server="127.0.0.1",
            url=endpoint.url,
            auth="basic",
            budget=budget,
            username="svc-ndr",
            password="pw",
        )
        try:
            live = DryRun(onprem)
            on_copy = run_playbook(
                _bound(),
                transport=live,
                audit=audit,
                dry_run=True,
                planning_copy=lambda: PlanningCopy(live),
            )
        finally:
            onprem.close()
    on_sandbox = run_playbook(
        _bound(), transport=sandbox, audit=audit, dry_run=True, planning_copy=sandbox.fork
    )
    assert _plans(on_copy) == _plans(on_sandbox)
