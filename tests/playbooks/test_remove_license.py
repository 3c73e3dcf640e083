"""remove-license takes a leaver's licenses away with one Set-MgUserLicense; with
block-delicensed-user it makes the leaver playbook."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from remediations.actions import ACTIONS, parse_wish
from remediations.audit import AuditLog
from remediations.engine import Outcome, run_action
from remediations.errors import Refused
from remediations.exchange.cmdlet import Cmdlet
from remediations.sandbox import SandboxTransport
from remediations.sandbox.mailflow import send
from remediations.sandbox.store import load_state
from tests.conftest import FIXED_TIME, CliResult

ACTION = ACTIONS["remove-license"]


def remove(transport: SandboxTransport, audit: AuditLog, *, dry_run: bool, **wish: Any) -> Outcome:
    return run_action(
        ACTION, parse_wish(ACTION, wish), transport=transport, audit=audit, dry_run=dry_run
    )


def licenses(path: Path, upn: str = "jordan.lee@contoso.com") -> list[str]:
    """The user's licenses as Graph has them, by part number (Graph holds SKU GUIDs)."""
    transport = SandboxTransport(path)
    skus = {
        s["SkuId"]: s["SkuPartNumber"]
        for s in transport.send(Cmdlet.of("Get-MgSubscribedSku")).objects
    }
    user = transport.send(
        Cmdlet.of("Get-MgUser", UserId=upn, Property=("AssignedLicenses",))
    ).objects[0]
    return sorted(skus[lic["SkuId"]] for lic in user["AssignedLicenses"])


def sku_id(path: Path, part: str) -> str:
    """A part number's SKU GUID, from Get-MgSubscribedSku."""
    skus = SandboxTransport(path).send(Cmdlet.of("Get-MgSubscribedSku")).objects
    return str(next(s["SkuId"] for s in skus if s["SkuPartNumber"] == part))


class TestRemoveLicense:
    """Dry run, apply, rerun; one license or all."""

    def test_dry_run_apply_rerun(self, leaver_tenant: Path, audit: AuditLog) -> None:
        """Dry run plans one change and changes nothing; apply removes all; rerun is a no-op."""
        dry = remove(SandboxTransport(leaver_tenant), audit, dry_run=True, user="Jordan Lee")
        assert dry.plan is not None
        (change,) = dry.plan.changes
        assert change.attribute == "AssignedLicenses"
        assert change.before == ("ENTERPRISEPACK", "POWER_BI_STANDARD")
        assert change.after == ()
        # Graph removes licenses by SKU GUID; the diff shows the part numbers.
        e3, power_bi = (
            sku_id(leaver_tenant, "ENTERPRISEPACK"),
            sku_id(leaver_tenant, "POWER_BI_STANDARD"),
        )
        assert change.cmdlet.to_powershell() == (
            "Set-MgUserLicense -UserId 'jordan.lee@contoso.com' -AddLicenses @() "
            f"-RemoveLicenses '{e3}','{power_bi}'"
        )
        assert licenses(leaver_tenant) == ["ENTERPRISEPACK", "POWER_BI_STANDARD"]

        applied = remove(SandboxTransport(leaver_tenant), audit, dry_run=False, user="Jordan Lee")
        assert applied.outcome == "applied"
        assert set(applied.status.values()) == {"verified"}
        assert licenses(leaver_tenant) == []

        again = SandboxTransport(leaver_tenant)
        rerun = remove(again, audit, dry_run=False, user="jordan.lee@contoso.com")
        assert rerun.outcome == "no-change"
        assert again.writes == 0

    def test_one_sku_only(self, leaver_tenant: Path, audit: AuditLog) -> None:
        """--sku removes that license and keeps the others."""
        transport = SandboxTransport(leaver_tenant)
        outcome = remove(
            transport, audit, dry_run=False, user="Jordan Lee", sku="POWER_BI_STANDARD"
        )
        assert outcome.outcome == "applied"
        assert licenses(leaver_tenant) == ["ENTERPRISEPACK"]

    def test_a_sku_the_user_does_not_have_changes_nothing(
        self, leaver_tenant: Path, audit: AuditLog
    ) -> None:
        """Asking to remove a license that is not there is a no-op with a note."""
        outcome = remove(
            SandboxTransport(leaver_tenant), audit, dry_run=True, user="Jordan Lee", sku="VISIO"
        )
        assert outcome.outcome == "no-change"
        assert outcome.plan is not None
        assert "has no VISIO license" in outcome.plan.notes[0]

    def test_the_demo_leaver_has_no_license_left(
        self, sandbox: SandboxTransport, audit: AuditLog
    ) -> None:
        """On the demo tenant Jordan Lee is already delicensed: nothing to do."""
        outcome = remove(sandbox, audit, dry_run=True, user="jordan.lee@contoso.com")
        assert outcome.outcome == "no-change"

    def test_an_enabled_account_is_refused_unless_even_if_active(
        self, leaver_tenant: Path, audit: AuditLog
    ) -> None:
        """An enabled account is not a leaver: refused (it was only a note before); with
        even_if_active the license goes."""
        with pytest.raises(Refused, match="is an enabled account"):
            remove(
                SandboxTransport(leaver_tenant), audit, dry_run=True, user="alex.kim@contoso.com"
            )
        assert licenses(leaver_tenant, "alex.kim@contoso.com") == ["ENTERPRISEPACK"]
        outcome = remove(
            SandboxTransport(leaver_tenant),
            audit,
            dry_run=False,
            user="alex.kim@contoso.com",
            even_if_active=True,
        )
        assert outcome.outcome == "applied"
        assert licenses(leaver_tenant, "alex.kim@contoso.com") == []

    def test_the_task(self, leaver_tenant: Path, run_task: Callable[..., CliResult]) -> None:
        """The remove-license task runs it like the other five."""
        result = run_task("remove-license", {"user": "jordan.lee@contoso.com", "sku": ""})
        assert result.code == 0, result.err
        assert "Applied and verified 1 change." in result.out
        assert licenses(leaver_tenant) == []


def test_leaver_playbook_removes_the_license_then_blocks_mail(
    leaver_tenant: Path, run_pb: Callable[..., CliResult]
) -> None:
    """Licensed leaver: step 1 removes both licenses, step 2 adds the rule; the sender now
    gets a clear 5.7.1 instead of 5.7.129; a rerun changes nothing."""
    before = send(
        load_state(leaver_tenant),
        sender="partner@fabrikam.com",
        recipient="jordan.lee@contoso.com",
        arrival=FIXED_TIME,
    )
    assert before.status == "5.7.129"

    dry = run_pb("leaver-block-mail", "user=jordan.lee@contoso.com", dry_run=True, as_json=True)
    assert dry.code == 0, dry.err
    steps = dry.json()["steps"]
    assert [len(s["changes"]) for s in steps] == [1, 1]
    # Step 2 was planned on the copy step 1 left: no license remains there to warn about.
    assert not any("still has licenses" in n for n in steps[1]["notes"])
    assert licenses(leaver_tenant) == ["ENTERPRISEPACK", "POWER_BI_STANDARD"]

    run = run_pb("leaver-block-mail", "user=jordan.lee@contoso.com", as_json=True)
    assert run.code == 0, run.err
    assert [s["status"] for s in run.json()["steps"]] == ["verified", "verified"]
    assert licenses(leaver_tenant) == []
    after = send(
        load_state(leaver_tenant),
        sender="partner@fabrikam.com",
        recipient="jordan.lee@contoso.com",
        arrival=FIXED_TIME,
    )
    assert (after.outcome, after.status) == ("rejected", "5.7.1")
    assert after.rule == "Block mail to leaver jordan.lee@contoso.com"

    rerun = run_pb("leaver-block-mail", "user=jordan.lee@contoso.com", as_json=True)
    assert rerun.json()["outcome"] == "no-change"


def test_leaver_playbook_in_delete_mode(
    leaver_tenant: Path, run_pb: Callable[..., CliResult]
) -> None:
    """mode=delete drops the mail silently instead."""
    run = run_pb("leaver-block-mail", "user=jordan.lee@contoso.com", "mode=delete")
    assert run.code == 0, run.err
    after = send(
        load_state(leaver_tenant),
        sender="partner@fabrikam.com",
        recipient="jordan.lee@contoso.com",
        arrival=FIXED_TIME,
    )
    assert after.outcome == "deleted"
