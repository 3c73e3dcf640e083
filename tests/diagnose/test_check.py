"""diagnose --check reads the tenant to settle and confirm a diagnosis; bad input exits 2."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from remediations.cli.diagnose import diagnose_task
from remediations.ndr.build import RejectedRecipient, build_ndr
from remediations.ndr.codes import SANDBOX_REJECTIONS


def ndr_file(tmp_path: Path, recipient: str, key: str = "public-folder-auth") -> Path:
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
    path = tmp_path / "bounce.eml"
    path.write_bytes(message.as_bytes())
    return path


def run(config: dict[str, Any], ndr: str, stdin: str = "", **flags: Any) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = diagnose_task(config, ndr, out=out, err=err, stdin=io.StringIO(stdin), **flags)
    return code, out.getvalue(), err.getvalue()


def test_check_settles_auth_required_for_a_group(config: dict[str, Any], tmp_path: Path) -> None:
    """5.7.1 AuthRequired alone reads as a public folder; the tenant says it is a group."""
    path = str(ndr_file(tmp_path, "partners@contoso.com"))
    _, plain, _ = run(config, path, as_json=True)
    assert json.loads(plain)["cause"] == "public-folder-auth"
    code, out, _ = run(config, path, as_json=True, check=True)
    doc = json.loads(out)
    assert code == 0
    assert (doc["cause"], doc["confidence"]) == ("group-auth", "high")
    assert doc["fix"]["command"] == "invoke open-group-to-external --group partners@contoso.com"
    assert doc["check"]["confirmed"] is True


def test_check_says_when_the_recipient_is_not_in_this_tenant(
    config: dict[str, Any], tmp_path: Path
) -> None:
    """A bounce from another organisation is not confirmed, and --fix changes nothing."""
    tenant = Path(config["sandbox"]["path"])
    before = tenant.read_bytes()
    path = str(ndr_file(tmp_path, "someone@tailspintoys.com"))
    code, out, _ = run(config, path, as_json=True, check=True, fix=True)
    doc = json.loads(out)
    assert code == 0
    assert doc["check"]["confirmed"] is False
    assert doc["fix_runs"] == []
    assert tenant.read_bytes() == before


@pytest.mark.parametrize(
    ("ndr", "stdin", "message"),
    [
        (None, "", "--ndr is required"),
        ("missing.eml", "", "no such file"),
        ("-", "", "--ndr '-'"),
        ("-", "Hello, lunch at noon?", "--ndr '-'"),
    ],
    ids=["no-flag", "no-file", "empty-stdin", "not-an-ndr"],
)
def test_bad_input_exits_2(
    config: dict[str, Any], ndr: str | None, stdin: str, message: str
) -> None:
    """A clear sentence and exit 2."""
    code, out, err = run(config, ndr, stdin)  # type: ignore[arg-type]
    assert code == 2
    assert message in err
    assert err.count("\n") == 1
    assert out == ""


def test_reads_a_single_line_from_standard_input(config: dict[str, Any]) -> None:
    """Pasting one diagnostic line works."""
    code, out, _ = run(config, "-", "550 5.7.1 RESOLVER.RST.NotAuthorized; not authorized\n")
    assert code == 0
    assert "restricted-recipient" in out
