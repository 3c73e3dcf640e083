"""Message-trace triage: ``diagnose.trace PATH.csv`` classifies every failed row with the
same rules as ``diagnose``, in constant memory, and prints counts, top recipients and
senders, and the fix per cause."""

from __future__ import annotations

import csv
import io
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from remediations.cli.postmaster import diagnose_trace_task
from remediations.diagnose import SANDBOX_REJECTIONS
from remediations.diagnose.trace import read_trace
from tests.conftest import CliResult

V2 = [
    "Received",
    "SenderAddress",
    "RecipientAddress",
    "Subject",
    "Status",
    "ToIP",
    "FromIP",
    "Size",
    "MessageId",
    "MessageTraceId",
    "Detail",
]


def led(rejection: str) -> str:
    """The Detail of a Fail event, as Get-MessageTraceDetailV2 gives it."""
    r = SANDBOX_REJECTIONS[rejection]
    return f"Reason: [{{LED={r.smtp_code} {r.status} {r.diagnostic}}};{{MSG=}};{{FQDN=}};{{IP=}}]"


def v2_row(sender: str, recipient: str, status: str, detail: str = "", n: int = 1) -> list[str]:
    return [
        "2026-11-30T09:00:00",
        sender,
        recipient,
        "Order",
        status,
        "",
        "203.0.113.5",
        "1200",
        f"<m{n}@fabrikam.com>",
        f"00000000-0000-0000-0000-{n:012}",
        detail,
    ]


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def trace(tmp_path: Path) -> Path:
    return write_csv(
        tmp_path / "trace.csv",
        V2,
        [
            v2_row("alice@fabrikam.com", "partners@contoso.com", "Failed", led("group-auth"), 1),
            v2_row("bob@fabrikam.com", "partners@contoso.com", "Failed", led("group-auth"), 2),
            v2_row("alice@fabrikam.com", "partners@contoso.com", "Failed", led("group-auth"), 3),
            v2_row("alice@fabrikam.com", "cfo@contoso.com", "Delivered", "", 4),
            v2_row(
                "alice@fabrikam.com",
                "escalations@contoso.com",
                "Failed",
                led("public-folder-auth"),
                5,
            ),
            v2_row("carol@northwind.com", "hr@contoso.com", "Failed", "", 6),
            v2_row("carol@northwind.com", "hr@contoso.com", "FilteredAsSpam", "", 7),
        ],
    )


@pytest.fixture
def run_trace(config: dict[str, Any]) -> Callable[..., CliResult]:
    def run(path: str | None, **flags: Any) -> CliResult:
        out, err = io.StringIO(), io.StringIO()
        code = diagnose_trace_task(config, path, out=out, err=err, **flags)
        return CliResult(code, out.getvalue(), err.getvalue())

    return run


def test_failed_rows_are_counted_by_cause_with_recipients_senders_and_fixes(
    trace: Path, run_trace: Callable[..., CliResult]
) -> None:
    result = run_trace(str(trace), as_json=True)
    assert result.code == 0, result.err
    doc = result.json()
    assert (doc["rows"], doc["failed"], doc["failed_without_reply"]) == (7, 5, 1)
    causes = {c["cause"]: c for c in doc["causes"]}
    assert {name: c["failures"] for name, c in causes.items()} == {
        "group-auth": 3,
        "public-folder-auth": 1,
        "unknown": 1,
    }
    group = causes["group-auth"]
    assert group["recipients"] == {"partners@contoso.com": 3}
    assert group["senders"] == {"alice@fabrikam.com": 2, "bob@fabrikam.com": 1}
    assert [f["command"] for f in group["fixes"]] == [
        "invoke open-group-to-external --group partners@contoso.com"
    ]
    assert [f["command"] for f in causes["public-folder-auth"]["fixes"]] == [
        "invoke fix-public-folder --folder escalations@contoso.com"
    ]
    assert causes["unknown"]["recipients"] == {"hr@contoso.com": 1}


def test_text_names_the_rows_without_a_reply_and_how_to_read_them(
    trace: Path, run_trace: Callable[..., CliResult]
) -> None:
    result = run_trace(str(trace))
    assert result.code == 0, result.err
    assert result.out.startswith(f"{trace}: 7 rows, 5 failed deliveries under 3 causes.\n")
    assert "1 failed row carries no SMTP reply" in result.out
    assert "Get-MessageTraceDetailV2 -MessageTraceId ID" in result.out
    assert result.out.index("group-auth: 3 failures") < result.out.index("unknown: 1 failure")


def test_the_admin_center_report_with_recipient_status(
    tmp_path: Path, run_trace: Callable[..., CliResult]
) -> None:
    """recipient_status: '<address>##<events>'; a Fail event is a failed delivery."""
    r = SANDBOX_REJECTIONS["mailbox-auth"]
    path = write_csv(
        tmp_path / "report.csv",
        ["origin_timestamp_utc", "sender_address", "recipient_status", "message_subject"],
        [
            [
                "2026-11-30T09:00:00Z",
                "alice@fabrikam.com",
                f"legal@contoso.com##Receive, Fail {{LED={r.smtp_code} {r.status} {r.diagnostic}}}",
                "Hi",
            ],
            [
                "2026-11-30T09:00:01Z",
                "alice@fabrikam.com",
                "cfo@contoso.com##Receive, Deliver",
                "Hi",
            ],
        ],
    )
    result = run_trace(str(path), as_json=True)
    assert result.code == 0, result.err
    doc = result.json()
    assert (doc["rows"], doc["failed"], doc["failed_without_reply"]) == (2, 1, 0)
    (cause,) = doc["causes"]
    assert cause["recipients"] == {"legal@contoso.com": 1}
    assert cause["senders"] == {"alice@fabrikam.com": 1}
    assert cause["cause"] == "recipient-auth"
    assert cause["fixes"][0]["command"] == "invoke open-to-external --recipient legal@contoso.com"


def test_a_file_that_is_no_trace_is_bad_input(
    tmp_path: Path, run_trace: Callable[..., CliResult]
) -> None:
    other = write_csv(tmp_path / "other.csv", ["Name", "Address"], [["a", "b"]])
    result = run_trace(str(other))
    assert result.code == 2
    assert "has neither a Status nor a recipient_status column" in result.err
    assert result.err.count("\n") == 1
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert run_trace(str(empty)).code == 2
    missing = run_trace(str(tmp_path / "nope.csv"))
    assert missing.code == 2
    assert "is no file" in missing.err


def test_memory_stays_flat_as_the_trace_grows(tmp_path: Path) -> None:
    """Only tallies are kept: ten times the rows, about the same peak memory."""

    def peak(rows: int) -> int:
        path = tmp_path / f"trace-{rows}.csv"
        write_csv(
            path,
            V2,
            [
                v2_row(
                    f"s{n % 7}@fabrikam.com",
                    f"g{n % 5}@contoso.com",
                    "Failed",
                    led("group-auth"),
                    n,
                )
                for n in range(rows)
            ],
        )
        tracemalloc.start()
        report = read_trace(path)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert report.failed == rows
        return top

    small, large = peak(1_000), peak(10_000)
    assert large < small * 1.5 + 200_000
