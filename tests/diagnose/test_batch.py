"""A postmaster mailbox in one command: ``diagnose --ndr DIR|MBOX`` streams every bounce,
counts failures by cause, names the recipients and senders per cause, and gives one fix
per cause and recipient."""

from __future__ import annotations

import io
import json
import mailbox
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from remediations.cli.diagnose import diagnose_task
from remediations.diagnose import SANDBOX_REJECTIONS, RejectedRecipient, build_ndr
from remediations.diagnose.batch import PlaybookTable
from remediations.playbooks import SHIPPED_DIR
from tests.conftest import CliResult

ARRIVAL = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)

# (sender, recipient, rejection) of each bounce in the mailbox.
BOUNCES = [
    ("alice@fabrikam.com", "escalations@contoso.com", "public-folder-auth"),
    ("bob@fabrikam.com", "escalations@contoso.com", "public-folder-auth"),
    ("alice@fabrikam.com", "escalations@contoso.com", "public-folder-auth"),
    ("alice@fabrikam.com", "partners@contoso.com", "group-auth"),
    ("carol@northwind.com", "partners@contoso.com", "group-auth"),
    ("alice@fabrikam.com", "finance-approvers@contoso.com", "not-authorized"),
    ("bob@fabrikam.com", "finance-approvers@contoso.com", "not-authorized"),
]


def ndr(sender: str, recipient: str, rejection: str, number: int) -> bytes:
    original = EmailMessage()
    original["From"] = sender
    original["To"] = recipient
    original["Subject"] = f"Order {number}"
    original["Message-ID"] = f"<order-{number}@{sender.split('@')[1]}>"
    original.set_content("Please confirm the order.\n")
    message = build_ndr(
        reporting_mta="AM0PR01MB1234.eurprd01.prod.outlook.com",
        postmaster="postmaster@contoso.com",
        sender=sender,
        recipients=[RejectedRecipient.from_rejection(recipient, SANDBOX_REJECTIONS[rejection])],
        original=original,
        arrival=ARRIVAL,
    )
    return message.as_bytes()


@pytest.fixture
def eml_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "postmaster"
    folder.mkdir()
    for number, bounce in enumerate(BOUNCES, start=1):
        (folder / f"{number:04}.eml").write_bytes(ndr(*bounce, number))
    (folder / "9999.eml").write_bytes(
        b"From: someone@contoso.com\nSubject: hello\n\nNot a bounce.\n"
    )
    (folder / "notes.txt").write_text("not a message, and not an .eml file")
    return folder


@pytest.fixture
def mbox_file(tmp_path: Path) -> Path:
    path = tmp_path / "postmaster.mbox"
    box = mailbox.mbox(path)
    for number, bounce in enumerate(BOUNCES, start=1):
        box.add(ndr(*bounce, number))
    box.flush()
    box.close()
    return path


@pytest.fixture
def run_diagnose(config: dict[str, Any]) -> Callable[..., CliResult]:
    def run(ndr_path: str, **flags: Any) -> CliResult:
        out, err = io.StringIO(), io.StringIO()
        code = diagnose_task(config, ndr_path, out=out, err=err, **flags)
        return CliResult(code, out.getvalue(), err.getvalue())

    return run


def by_cause(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["cause"]: c for c in doc["causes"]}


@pytest.mark.parametrize("source", ["eml_dir", "mbox_file"])
def test_counts_recipients_senders_and_one_fix_per_cause_and_recipient(
    source: str, request: pytest.FixtureRequest, run_diagnose: Callable[..., CliResult]
) -> None:
    path = request.getfixturevalue(source)
    result = run_diagnose(str(path), as_json=True)
    assert result.code == 0, result.err
    doc = result.json()
    assert doc["ndrs"] == len(BOUNCES)
    assert doc["failures"] == len(BOUNCES)
    causes = by_cause(doc)
    assert {name: c["failures"] for name, c in causes.items()} == {
        "public-folder-auth": 3,
        "group-auth": 2,
        "restricted-recipient": 2,
    }
    folder = causes["public-folder-auth"]
    assert folder["recipients"] == {"escalations@contoso.com": 3}
    assert folder["senders"] == {"alice@fabrikam.com": 2, "bob@fabrikam.com": 1}
    # Three bounces, one recipient: one fix.
    assert [f["command"] for f in folder["fixes"]] == [
        "invoke fix-public-folder --folder escalations@contoso.com"
    ]
    assert [f["command"] for f in causes["group-auth"]["fixes"]] == [
        "invoke open-group-to-external --group partners@contoso.com"
    ]
    # A fix that names the sender is one per recipient and sender.
    restricted = [f["command"] for f in causes["restricted-recipient"]["fixes"]]
    assert len(restricted) == 2
    assert all(c.startswith("invoke add-allowed-sender") for c in restricted)
    assert "restricted-group-outside-sender" in causes["restricted-recipient"]["playbooks"]
    if source == "eml_dir":
        assert doc["messages"] == len(BOUNCES) + 1  # notes.txt is no .eml file
        assert doc["not_ndrs"] == {"count": 1, "first": ["9999.eml"]}


def test_text_report_orders_causes_by_count(
    eml_dir: Path, run_diagnose: Callable[..., CliResult]
) -> None:
    result = run_diagnose(str(eml_dir))
    assert result.code == 0, result.err
    text = result.out
    assert "8 messages, 7 NDRs, 7 failed deliveries under 3 causes." in text
    assert "Not an NDR (1): 9999.eml" in text
    assert text.index("public-folder-auth: 3 failures") < text.index("group-auth: 2 failures")
    assert "  senders:    alice@fabrikam.com (2), bob@fabrikam.com (1)" in text
    assert text.count("invoke fix-public-folder --folder escalations@contoso.com") == 1


def test_check_and_fix_take_one_bounce(
    eml_dir: Path, run_diagnose: Callable[..., CliResult]
) -> None:
    result = run_diagnose(str(eml_dir), check=True)
    assert result.code == 2
    assert "--check takes one bounce" in result.err


def test_the_playbook_table_is_built_once_and_matches_the_library() -> None:
    from remediations.playbooks.library import suggest_runs

    table = PlaybookTable.load(SHIPPED_DIR)
    for cause in ("public-folder-auth", "group-auth", "restricted-recipient"):
        assert table.runs(cause, recipient="a@contoso.com", sender="p@fabrikam.com") == (
            suggest_runs(cause, recipient="a@contoso.com", sender="p@fabrikam.com")
        )


def test_the_single_file_path_is_unchanged(
    tmp_path: Path, run_diagnose: Callable[..., CliResult]
) -> None:
    one = tmp_path / "one.eml"
    one.write_bytes(ndr(*BOUNCES[0], 1))
    result = run_diagnose(str(one), as_json=True)
    assert result.code == 0, result.err
    assert json.loads(result.out)["cause"] == "public-folder-auth"
