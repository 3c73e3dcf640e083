"""``--targets-file``: many targets, one run, one plan, one preview; bad files refused."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from remediations.cli import run_action_task
from remediations.exchange.cmdlet import Cmdlet
from remediations.sandbox import SandboxTransport
from remediations.testing.fleet_tenant import fleet_group
from tests.conftest import events, run_task_with, tenant_doc

AUTH = "RequireSenderAuthenticationEnabled"


def recipient(path: Path, identity: str) -> Any:
    return SandboxTransport(path).send(Cmdlet.of("Get-Recipient", Identity=identity)).objects[0]


def test_a_plain_file_is_one_plan_applied_once_and_a_rerun_does_nothing(
    tmp_path: Path, tenant_path: Path, config: dict[str, Any], audit_dir: Path
) -> None:
    targets = tmp_path / "groups.txt"
    targets.write_text("# groups closed to partners\nPartners\n\n  Project Falcon  \nPartners\n")

    preview = run_task_with(
        config,
        "open-group-to-external",
        {"group": None},
        dry_run=True,
        as_json=True,
        targets_file=targets,
    )
    assert preview.code == 0, preview.err
    assert [c["target"] for c in preview.json()["changes"]] == [
        "partners@contoso.com",
        "falcon@contoso.com",
    ]

    applied = run_task_with(
        config, "open-group-to-external", {"group": None}, as_json=True, targets_file=targets
    )
    assert applied.code == 0, applied.err
    assert applied.json()["outcome"] == "applied"
    assert {c["status"] for c in applied.json()["changes"]} == {"verified"}
    assert not recipient(tenant_path, "Partners")[AUTH]
    assert not recipient(tenant_path, "falcon@contoso.com")[AUTH]
    # one run: one run-start and one run-end for both targets
    runs = {e["run_id"] for e in events(audit_dir) if e["event"] == "run-start"}
    assert len(runs) == 2

    again = run_task_with(
        config, "open-group-to-external", {"group": None}, as_json=True, targets_file=targets
    )
    assert again.code == 0
    assert again.json()["outcome"] == "no-change"


def test_a_csv_names_the_flags_and_two_senders_of_one_group_become_one_change(
    tmp_path: Path, tenant_path: Path, config: dict[str, Any]
) -> None:
    targets = tmp_path / "senders.csv"
    targets.write_text(
        "recipient,sender,only-listed-senders\n"
        "finance-approvers@contoso.com,partner@fabrikam.com,\n"
        "Finance Approvers,other@fabrikam.com,\n"
        "legal@contoso.com,partner@fabrikam.com,true\n"
    )
    doc = run_task_with(
        config,
        "add-allowed-sender",
        {"recipient": None, "sender": None, "only_listed_senders": False},
        dry_run=True,
        as_json=True,
        targets_file=targets,
    ).json()
    rows = [(c["target"], c["attribute"]) for c in doc["changes"]]
    assert rows == [
        ("partner@fabrikam.com", "MailContact"),
        ("other@fabrikam.com", "MailContact"),
        ("finance-approvers@contoso.com", "AcceptMessagesOnlyFrom"),
        ("finance-approvers@contoso.com", AUTH),
        ("legal@contoso.com", "AcceptMessagesOnlyFrom"),
        ("legal@contoso.com", AUTH),
    ]
    listed = doc["changes"][2]
    assert listed["after"] == ["cfo@contoso.com", "other@fabrikam.com", "partner@fabrikam.com"]
    assert "@{Add='other@fabrikam.com','partner@fabrikam.com'}" in listed["powershell"]

    applied = run_task_with(
        config,
        "add-allowed-sender",
        {"recipient": None, "sender": None, "only_listed_senders": False},
        as_json=True,
        targets_file=targets,
    )
    assert applied.code == 0, applied.err
    finance = recipient(tenant_path, "finance-approvers@contoso.com")
    assert len(finance["AcceptMessagesOnlyFrom"]) == 3
    assert not finance[AUTH]


def test_a_sender_given_as_a_flag_applies_to_every_line(
    tmp_path: Path, config: dict[str, Any]
) -> None:
    targets = tmp_path / "groups.txt"
    targets.write_text("finance-approvers@contoso.com\n")
    doc = run_task_with(
        config,
        "add-allowed-sender",
        {"recipient": None, "sender": "partner@fabrikam.com", "only_listed_senders": False},
        dry_run=True,
        as_json=True,
        targets_file=targets,
    ).json()
    assert doc["outcome"] == "planned"
    assert len(doc["changes"]) == 3


BAD_FILES: list[tuple[str, str, dict[str, Any], str]] = [
    (
        "Partners\nPartners Incorporated Nowhere\n",
        "open-group-to-external",
        {"group": None},
        "line 2: --group 'Partners Incorporated Nowhere': no group has that identity",
    ),
    (
        "recipient,sender\nfinance-approvers@contoso.com\n",
        "add-allowed-sender",
        {"recipient": None, "sender": None},
        "line 2 has 1 fields; the header names 2",
    ),
    (
        "recipient,colour\nx,y\n",
        "add-allowed-sender",
        {"recipient": None, "sender": None},
        "line 1: column 'colour' is not a flag of add-allowed-sender",
    ),
    (
        "recipient,sender,only-listed-senders\nlegal@contoso.com,a@fabrikam.com,maybe\n",
        "add-allowed-sender",
        {"recipient": None, "sender": None},
        "line 2: only_listed_senders is 'maybe'; give true or false",
    ),
    (
        "recipient,sender\nlegal@contoso.com,not-an-address\n",
        "add-allowed-sender",
        {"recipient": None, "sender": None},
        "line 2: --sender 'not-an-address' is not an email",
    ),
    (
        "recipient\nlegal@contoso.com\n",
        "add-allowed-sender",
        {"recipient": None, "sender": None},
        "line 2: add-allowed-sender needs 'sender'",
    ),
    ("# nothing here\n\n", "open-group-to-external", {"group": None}, "names no target"),
    (
        "Partners\nfinance-approvers@contoso.com\n",
        "add-allowed-sender",
        {"recipient": None, "sender": "a@fabrikam.com", "only_listed_senders": False},
        "line 1: partners@contoso.com requires authenticated senders",
    ),
]


@pytest.mark.parametrize(("text", "action", "values", "says"), BAD_FILES)
def test_a_bad_file_or_line_is_one_sentence_naming_it_exit_2_nothing_changed(
    tmp_path: Path,
    tenant_path: Path,
    config: dict[str, Any],
    text: str,
    action: str,
    values: dict[str, Any],
    says: str,
) -> None:
    targets = tmp_path / "targets.txt"
    targets.write_text(text)
    before = tenant_doc(tenant_path)

    result = run_task_with(config, action, values, targets_file=targets)

    assert result.code == 2
    assert str(targets) in result.err
    assert says in result.err
    assert result.err.count("\n") == 1
    assert tenant_doc(tenant_path) == before


@pytest.mark.parametrize(
    ("values", "flags", "says"),
    [
        ({"group": "Partners"}, {}, "--targets-file and --group both name targets"),
        ({"group": None}, {"all_targets": True}, "--all asks for every object"),
    ],
)
def test_targets_file_with_a_target_flag_or_all_is_refused(
    tmp_path: Path,
    config: dict[str, Any],
    values: dict[str, Any],
    flags: dict[str, Any],
    says: str,
) -> None:
    targets = tmp_path / "groups.txt"
    targets.write_text("Partners\n")
    result = run_task_with(config, "open-group-to-external", values, targets_file=targets, **flags)
    assert result.code == 2
    assert says in result.err


def test_an_unreadable_file_is_named(tmp_path: Path, config: dict[str, Any]) -> None:
    missing = tmp_path / "nope.txt"
    result = run_task_with(config, "open-group-to-external", {"group": None}, targets_file=missing)
    assert result.code == 2
    assert f"--targets-file {missing} cannot be read" in result.err
    latin = tmp_path / "latin.txt"
    latin.write_bytes("Caf\xe9\n".encode("latin-1"))
    result = run_task_with(config, "open-group-to-external", {"group": None}, targets_file=latin)
    assert result.code == 2
    assert "is not UTF-8 text" in result.err


def test_a_long_plan_is_previewed_as_counts_and_first_rows_whole_in_json_and_log(
    tmp_path: Path, fleet_config: dict[str, Any], audit_dir: Path
) -> None:
    targets = tmp_path / "groups.txt"
    targets.write_text("".join(f"{fleet_group(n)}\n" for n in range(1, 41)))
    values = {"recipient": None, "sender": "partner@fabrikam.com", "only_listed_senders": False}

    text = run_task_with(
        fleet_config, "add-allowed-sender", values, dry_run=True, targets_file=targets
    )
    assert text.code == 0, text.err
    assert "Plan (81 changes to 41 objects), by kind of change:" in text.out
    assert "  40  Set-DistributionGroup AcceptMessagesOnlyFrom" in text.out
    assert "   1  New-MailContact MailContact" in text.out
    assert "... and 71 more" in text.out
    assert text.out.count("Set-DistributionGroup -Identity") == 9  # the first 10 rows, 1 contact

    doc = run_task_with(
        fleet_config, "add-allowed-sender", values, dry_run=True, as_json=True, targets_file=targets
    ).json()
    assert len(doc["changes"]) == 81
    planned = [e for e in events(audit_dir) if e["event"] == "change-planned"]
    assert len(planned) == 2 * 81


def test_the_invoke_command_takes_the_flag(tmp_path: Path, invoke_cli: Callable[..., Any]) -> None:
    targets = tmp_path / "groups.txt"
    targets.write_text("Partners\nProduct Launch\n")
    done = invoke_cli("open-group-to-external", "--targets-file", str(targets), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "Set-DistributionGroup -Identity 'partners@contoso.com'" in done.stdout
    assert "Set-UnifiedGroup -Identity" in done.stdout


def test_a_fleet_plan_is_saved_applied_exactly_and_rolled_back(
    tmp_path: Path, tenant_path: Path, config: dict[str, Any]
) -> None:
    from remediations.cli.review import plan_apply_task, rollback_task

    targets = tmp_path / "groups.txt"
    targets.write_text("Partners\nProject Falcon\n")
    saved = tmp_path / "chg.json"
    out, err = io.StringIO(), io.StringIO()
    code = run_action_task(
        config, "open-group-to-external", {"group": None}, dry_run=True, as_json=False,
        ticket="CHG-1", yes=True, targets_file=str(targets), save_plan=str(saved),
        out=out, err=err,
    )  # fmt: skip
    assert code == 0, err.getvalue()

    out, err = io.StringIO(), io.StringIO()
    assert plan_apply_task(config, str(saved), yes=True, as_json=True, out=out, err=err) == 0, (
        err.getvalue()
    )
    applied = json.loads(out.getvalue())
    assert applied["outcome"] == "applied"
    assert len(applied["changes"]) == 2
    assert not recipient(tenant_path, "Partners")[AUTH]

    out, err = io.StringIO(), io.StringIO()
    assert rollback_task(config, applied["run_id"], yes=True, out=out, err=err) == 0, err.getvalue()
    assert recipient(tenant_path, "Partners")[AUTH]
    assert recipient(tenant_path, "falcon@contoso.com")[AUTH]
