"""Batched reads: one listing answers every per-target read; answers and errors unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from remediations.actions import ACTIONS, parse_wish
from remediations.actions.recipients import resolve_entries
from remediations.audit import AuditLog
from remediations.engine import run_action
from remediations.errors import RemediationError
from remediations.exchange.cmdlet import Cmdlet
from remediations.fleet import LISTABLE, BatchedReads, FleetAction, FleetTarget, FleetWish
from remediations.sandbox import SandboxTransport
from remediations.testing.fleet_tenant import fleet_group, write_fleet_tenant
from tests.fleet.conftest import Recording

AUTH = "RequireSenderAuthenticationEnabled"


def identities(sandbox: SandboxTransport) -> list[str]:
    """Every identity the demo tenant's recipients answer to, some in other case, and misses."""
    found: set[str] = {"nobody", "Orders", "ORDERS", "orders@contoso.com", "SMTP:cfo@contoso.com"}
    listing = sandbox.send(Cmdlet.of("Get-Recipient", ResultSize="Unlimited")).objects
    for obj in listing:
        for name in ("Name", "Alias", "DisplayName", "PrimarySmtpAddress", "Guid", "FolderPath"):
            if obj.get(name):
                found.add(str(obj[name]))
                found.add(str(obj[name]).upper())
    return sorted(found)


def answer(transport: Any, cmdlet: Cmdlet) -> Any:
    try:
        return [dict(o) for o in transport.send(cmdlet).objects]
    except RemediationError as exc:
        return (type(exc).__name__, str(exc), getattr(exc, "category", None))


@pytest.mark.parametrize("name", sorted(LISTABLE))
def test_every_identity_gets_the_direct_reads_answer_or_error(
    sandbox: SandboxTransport, name: str
) -> None:
    batched = BatchedReads(sandbox)
    for identity in identities(sandbox):
        cmdlet = Cmdlet.of(name, Identity=identity)
        assert answer(batched, cmdlet) == answer(sandbox, cmdlet), (name, identity)


def test_a_listing_answers_many_reads_and_a_write_ends_the_pass(sandbox: SandboxTransport) -> None:
    recording = Recording(sandbox)
    batched = BatchedReads(recording)
    for address in ("partners@contoso.com", "finance-approvers@contoso.com", "Board"):
        batched.send(Cmdlet.of("Get-DistributionGroup", Identity=address))
    batched.send(Cmdlet.of("Get-AcceptedDomain"))
    batched.send(Cmdlet.of("Get-AcceptedDomain"))
    assert [c.name for c in recording.sent] == ["Get-DistributionGroup", "Get-AcceptedDomain"]
    assert recording.sent[0].get("ResultSize") == "Unlimited"

    batched.send(
        Cmdlet.of(
            "Set-DistributionGroup",
            Identity="partners@contoso.com",
            BypassSecurityGroupManagerCheck=True,
            **{AUTH: False},
        )
    )
    after = batched.send(Cmdlet.of("Get-DistributionGroup", Identity="partners@contoso.com"))
    assert after.objects[0][AUTH] is False  # read again after the write, never stale
    assert [c.name for c in recording.sent][-2:] == [
        "Set-DistributionGroup",
        "Get-DistributionGroup",
    ]


def fleet_wish(action_name: str, count: int, **values: Any) -> FleetWish:
    action = ACTIONS[action_name]
    field = "recipient" if action_name == "add-allowed-sender" else "group"
    targets = tuple(
        FleetTarget(label=f"line {n}", wish=parse_wish(action, {field: fleet_group(n), **values}))
        for n in range(1, count + 1)
    )
    return FleetWish(source="targets", targets=targets)


def end_state(path: Path) -> dict[str, Any]:
    """Each group's authentication and accept list, by primary address."""
    transport = SandboxTransport(path)
    groups = transport.send(Cmdlet.of("Get-DistributionGroup", ResultSize="Unlimited")).objects
    return {
        str(g["PrimarySmtpAddress"]): (
            bool(g[AUTH]),
            resolve_entries(transport, g["AcceptMessagesOnlyFrom"]),
        )
        for g in groups
    }


def fleet_run(
    path: Path, audit: AuditLog, action_name: str, wish: FleetWish, *, batch_at: int
) -> tuple[Any, Recording]:
    recording = Recording(SandboxTransport(path))
    action = FleetAction(ACTIONS[action_name], batch_at=batch_at)
    outcome = run_action(action, wish, transport=recording, audit=audit, dry_run=False)
    return outcome, recording


@pytest.mark.parametrize(
    ("action_name", "values", "restricted"),
    [
        ("add-allowed-sender", {"sender": "partner@fabrikam.com"}, True),
        ("open-group-to-external", {}, False),
    ],
)
def test_batched_and_unbatched_runs_give_the_same_plan_and_end_state(
    tmp_path: Path, audit: AuditLog, action_name: str, values: dict[str, Any], restricted: bool
) -> None:
    plain, batched = tmp_path / "plain.db", tmp_path / "batched.db"
    write_fleet_tenant(plain, groups=30, restricted=restricted)
    write_fleet_tenant(batched, groups=30, restricted=restricted)
    wish = fleet_wish(action_name, 30, **values)

    one_by_one, slow = fleet_run(plain, audit, action_name, wish, batch_at=10**6)
    in_batches, fast = fleet_run(batched, audit, action_name, wish, batch_at=1)

    assert in_batches.plan == one_by_one.plan
    assert in_batches.outcome == one_by_one.outcome == "applied"
    assert end_state(batched) == end_state(plain)
    assert [c.cmdlet for c in in_batches.plan.changes] == fast.writes == slow.writes
    # every changed object once per attribute; reads: a few listings, not one per target
    assert len(fast.reads) <= 10 < len(slow.reads)
    assert len(fast.reads) / 30 < 0.35


def test_reads_do_not_grow_with_the_targets_and_a_rerun_writes_nothing(
    tmp_path: Path, audit: AuditLog
) -> None:
    counts = []
    for size in (10, 40):
        path = tmp_path / f"fleet{size}.db"
        write_fleet_tenant(path, groups=size)
        wish = fleet_wish("add-allowed-sender", size, sender="partner@fabrikam.com")
        _, first = fleet_run(path, audit, "add-allowed-sender", wish, batch_at=1)
        rerun_outcome, rerun = fleet_run(path, audit, "add-allowed-sender", wish, batch_at=1)
        assert rerun_outcome.outcome == "no-change"
        assert rerun.writes == []
        counts.append((len(first.reads), len(rerun.reads)))
    assert counts[0] == counts[1]
    assert counts[1][1] <= 5  # a rerun with everything fixed: a handful of reads


@pytest.mark.parametrize("identity", ["Orders", "nobody@contoso.com"])
def test_a_look_up_the_batch_cannot_answer_gives_the_direct_reads_error(
    tenant_path: Path, audit: AuditLog, identity: str
) -> None:
    action = ACTIONS["open-group-to-external"]
    wish = FleetWish(
        source="t",
        targets=(
            FleetTarget(label="t line 1", wish=parse_wish(action, {"group": "Partners"})),
            FleetTarget(label="t line 2", wish=parse_wish(action, {"group": identity})),
        ),
    )
    errors = []
    for batch_at in (1, 10**6):
        with pytest.raises(RemediationError) as caught:
            run_action(
                FleetAction(action, batch_at=batch_at),
                wish,
                transport=SandboxTransport(tenant_path),
                audit=audit,
                dry_run=True,
            )
        errors.append((type(caught.value), str(caught.value)))
    assert errors[0] == errors[1]
    assert errors[0][1].startswith("t line 2: --group")
