"""The line people type first: a fix without a target flag covers every object with the cause.

``fix-public-folder`` without ``--folder`` (and ``open-group-to-external`` /
``open-to-external`` without a target) previews, as one plan, the fix for every
object ``scan`` reports with that cause; applying needs ``--all``; a rerun does
nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from remediations.actions import ACTIONS, parse_wish
from remediations.diagnose.scan import scan_tenant
from remediations.dns_lookup import ZoneResolver
from remediations.engine import run_action
from remediations.errors import InputError
from remediations.exchange.cmdlet import Cmdlet
from remediations.sandbox import SandboxTransport
from remediations.sandbox.directory import zone_data
from tests.conftest import run_task_with

AUTH = "RequireSenderAuthenticationEnabled"


def scan_targets(tenant_path: Path, cause: str) -> set[str]:
    """The objects ``scan`` reports with one cause."""
    transport = SandboxTransport(tenant_path)
    report = scan_tenant(transport, ZoneResolver(zone_data(transport.state)))
    return {f.target for f in report.findings if f.cause == cause}


def folders(tenant_path: Path) -> dict[str, tuple[bool, tuple[str, ...]]]:
    """Every mail-enabled public folder's authentication setting and accept list."""
    objs = SandboxTransport(tenant_path).send(Cmdlet.of("Get-MailPublicFolder")).objects
    return {
        str(o["FolderPath"]): (bool(o[AUTH]), tuple(o["AcceptMessagesOnlyFromSendersOrMembers"]))
        for o in objs
    }


@pytest.fixture
def two_folders(tenant_path: Path) -> Path:
    """The demo tenant with a second folder that requires authenticated senders."""
    SandboxTransport(tenant_path).send(
        Cmdlet.of("Set-MailPublicFolder", Identity="\\Orders", **{AUTH: True})
    )
    return tenant_path


def test_dry_run_without_folder_previews_every_folder_scan_reports(
    two_folders: Path, config: dict[str, Any]
) -> None:
    expected = scan_targets(two_folders, "public-folder-auth")
    assert expected == {"\\Support\\Escalations", "\\Orders"}
    before = folders(two_folders)

    result = run_task_with(
        config, "fix-public-folder", {"folder": None}, dry_run=True, as_json=True
    )

    assert result.code == 0, result.err
    doc = result.json()
    assert doc["outcome"] == "planned"
    assert {c["target"] for c in doc["changes"]} == expected
    assert {c["attribute"] for c in doc["changes"]} == {AUTH}
    assert folders(two_folders) == before

    text = run_task_with(config, "fix-public-folder", {"folder": None}, dry_run=True)
    assert text.code == 0
    assert text.out.count("Set-MailPublicFolder") == 2
    assert "with --all to apply this plan (2 objects)" in text.out


def test_apply_without_all_is_refused_and_changes_nothing(
    two_folders: Path, config: dict[str, Any], audit_dir: Path
) -> None:
    before = folders(two_folders)

    result = run_task_with(config, "fix-public-folder", {"folder": None})

    assert result.code == 2
    assert "--all" in result.err
    assert "2 objects" in result.err
    assert "Set-MailPublicFolder -Identity '\\Orders'" in result.out  # the preview came first
    assert folders(two_folders) == before


def test_apply_with_all_fixes_every_folder_and_a_rerun_writes_nothing(
    two_folders: Path, config: dict[str, Any]
) -> None:
    result = run_task_with(
        config, "fix-public-folder", {"folder": None}, all_targets=True, as_json=True
    )

    assert result.code == 0, result.err
    doc = result.json()
    assert doc["outcome"] == "applied"
    assert {c["status"] for c in doc["changes"]} == {"verified"}
    assert all(not auth for auth, _ in folders(two_folders).values())
    assert scan_targets(two_folders, "public-folder-auth") == set()

    again = run_task_with(
        config, "fix-public-folder", {"folder": None}, all_targets=True, as_json=True
    )
    assert again.code == 0
    assert again.json()["outcome"] == "no-change"


def test_rerun_reads_with_one_list_call_and_writes_nothing(two_folders: Path, audit: Any) -> None:
    action = ACTIONS["fix-public-folder"]
    wish = parse_wish(action, {}, all_targets=True)
    first = SandboxTransport(two_folders)
    run_action(action, wish, transport=first, audit=audit, dry_run=False)
    assert first.writes == 2

    rerun = SandboxTransport(two_folders)
    outcome = run_action(action, wish, transport=rerun, audit=audit, dry_run=False)
    assert outcome.outcome == "no-change"
    assert (rerun.calls, rerun.writes) == (1, 0)


def test_a_folder_with_an_accept_list_is_left_to_add_allowed_sender(
    tenant_path: Path, config: dict[str, Any]
) -> None:
    SandboxTransport(tenant_path).send(
        Cmdlet.of(
            "Set-MailPublicFolder",
            Identity="\\Orders",
            **{AUTH: True, "AcceptMessagesOnlyFromSendersOrMembers": ("cfo@contoso.com",)},
        )
    )
    assert scan_targets(tenant_path, "public-folder-auth") == {"\\Support\\Escalations"}

    result = run_task_with(
        config, "fix-public-folder", {"folder": None}, dry_run=True, as_json=True
    )

    assert {c["target"] for c in result.json()["changes"]} == {"\\Support\\Escalations"}
    assert any("1 public folder that requires" in n for n in result.json()["notes"])

    everyone = run_task_with(
        config,
        "fix-public-folder",
        {"folder": None, "all_senders": True},
        dry_run=True,
        as_json=True,
    )
    planned = {(c["target"], c["attribute"]) for c in everyone.json()["changes"]}
    assert ("\\Orders", "AcceptMessagesOnlyFromSendersOrMembers") in planned
    assert ("\\Orders", AUTH) in planned


@pytest.mark.parametrize(
    ("action", "flag", "causes"),
    [
        ("open-group-to-external", "group", {"group-auth"}),
        ("open-to-external", "recipient", {"group-auth", "recipient-auth"}),
    ],
)
def test_open_without_target_covers_what_scan_reports(
    tenant_path: Path, config: dict[str, Any], action: str, flag: str, causes: set[str]
) -> None:
    expected = set().union(*(scan_targets(tenant_path, c) for c in causes))
    assert "finance-approvers@contoso.com" not in expected  # restricted: add-allowed-sender's

    preview = run_task_with(config, action, {flag: None}, dry_run=True, as_json=True)
    assert {c["target"] for c in preview.json()["changes"]} == expected

    held = run_task_with(config, action, {flag: None})
    assert held.code == 2
    assert "run it again with --all" in held.err
    assert set().union(*(scan_targets(tenant_path, c) for c in causes)) == expected  # unchanged

    applied = run_task_with(config, action, {flag: None}, all_targets=True, as_json=True)
    assert applied.code == 0, applied.err
    assert {c["target"] for c in applied.json()["changes"] if c["status"] == "verified"} == (
        expected
    )
    assert set().union(*(scan_targets(tenant_path, c) for c in causes)) == set()
    again = run_task_with(config, action, {flag: None}, all_targets=True, as_json=True)
    assert again.json()["outcome"] == "no-change"


def test_all_with_a_target_flag_is_bad_input(config: dict[str, Any]) -> None:
    result = run_task_with(
        config, "fix-public-folder", {"folder": "\\Support\\Escalations"}, all_targets=True
    )
    assert result.code == 2
    assert result.err.strip() == (
        "--all asks for every object with the cause; leave out --folder, or drop --all to fix "
        "the one --folder names."
    )


def test_a_playbook_step_must_still_name_its_target() -> None:
    """Only the command line asks for every target; a step that forgot its key is an error."""
    action = ACTIONS["open-group-to-external"]
    with pytest.raises(InputError, match="needs 'group'"):
        parse_wish(action, {}, source="x.yaml step 1")
    with pytest.raises(InputError, match="needs 'group'"):
        parse_wish(action, {"group": None})
