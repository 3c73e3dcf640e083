"""The playbook commands as a support engineer types them (the README's examples)."""

from __future__ import annotations

import json
from pathlib import Path

from remediations.testing import CliRunner
from tests.conftest import tenant_doc

Invoke = CliRunner

GROUP = "--param=group=finance-approvers@contoso.com"


def test_list_show_validate(invoke_cli: Invoke) -> None:
    """A reader finds the playbooks, reads one, and checks them all."""
    listed = invoke_cli("--list")
    for name in ("playbook.list", "playbook.show", "playbook.validate", "playbook.run"):
        assert name in listed.stdout
    assert "remove-license" in listed.stdout

    found = invoke_cli("playbook.list")
    assert found.returncode == 0, found.stderr
    assert "restricted-group-outside-sender\n" in found.stdout

    shown = invoke_cli("playbook.show", "restricted-group-outside-sender")
    assert shown.returncode == 0, shown.stderr
    assert "senders (list, required): the outside senders' email addresses" in shown.stdout

    valid = invoke_cli("playbook.validate")
    assert valid.returncode == 0, valid.stderr
    assert valid.stdout.count("ok       remediations/playbooks/shipped/") == 5


def test_validate_a_broken_file_exits_2(invoke_cli: Invoke, tmp_path: Path) -> None:
    """--path is repeatable; a broken file is named with its problem."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ndescription: x\nanswers: {causes: [group-auth]}\nsteps: []\n")
    result = invoke_cli("playbook.validate", "--path", str(bad), "--path", "leaver-block-mail")
    assert result.returncode == 2
    assert f"invalid  {bad}" in result.stdout
    assert "ok       remediations/playbooks/shipped/leaver-block-mail.yaml" in result.stdout
    assert "key 'steps' must be a list of at least one step" in result.stderr


def test_dry_run_run_fail_and_resume(invoke_cli: Invoke, tenant_path: Path) -> None:
    """Dry run, a run that fails half way (exit 1), then --resume finishes it."""
    args = (
        "playbook.run",
        "restricted-group-outside-sender",
        GROUP,
        "--param",
        "senders=partner@fabrikam.com",
        "--param",
        "senders=other@fabrikam.com",
    )
    before = tenant_doc(tenant_path)
    dry = invoke_cli(*args, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "Step 1.2  Add the sender to the group's list" in dry.stdout
    assert "Equivalent PowerShell, in order:" in dry.stdout
    assert "Dry run: nothing changed; 5 changes in 2 of 3 steps" in dry.stdout
    assert tenant_doc(tenant_path) == before

    failed = invoke_cli(*args, "--ticket", "INC-9", env={"INVOKE_SANDBOX_FAULTS": "fail_write=4"})
    assert failed.returncode == 1
    assert "Applied and verified: step 1.1." in failed.stderr
    run_id = failed.stderr.rsplit("--resume ", 1)[1].strip()

    resumed = invoke_cli(
        "playbook.run", "restricted-group-outside-sender", "--resume", run_id, "--json"
    )
    assert resumed.returncode == 0, resumed.stderr
    doc = json.loads(resumed.stdout)
    assert doc["resume_of"] == run_id
    assert [s["status"] for s in doc["steps"]] == ["ok", "verified", "ok"]


def test_missing_parameter_exits_2(invoke_cli: Invoke) -> None:
    """A run without a required parameter says which and how to give it."""
    result = invoke_cli("playbook.run", "leaver-block-mail")
    assert result.returncode == 2
    assert "parameter 'user' is required" in result.stderr
    assert "pass --param user=VALUE" in result.stderr


def test_remove_license_task(invoke_cli: Invoke, leaver_tenant: Path) -> None:
    """remove-license --user X [--sku S] previews the Graph PowerShell line."""
    result = invoke_cli("remove-license", "--user", "jordan.lee@contoso.com", "--dry-run")
    assert result.returncode == 0, result.stderr
    # By SKU GUID (Graph's removeLicenses takes skuIds): Office 365 E3, then the one the
    # sandbox derives for POWER_BI_STANDARD from its part number.
    from remediations.sandbox.cmdlets import stable_guid

    assert (
        "Set-MgUserLicense -UserId 'jordan.lee@contoso.com' -AddLicenses @() "
        "-RemoveLicenses '6fd2c87f-b296-42f0-b197-1e91e994b900',"
        f"'{stable_guid('Sku', 'POWER_BI_STANDARD')}'" in result.stdout
    )
