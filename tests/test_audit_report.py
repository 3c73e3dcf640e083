"""audit.report: what a reviewer signs, in Markdown or one self-contained HTML file."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliResult

ALLOW = {"recipient": "Finance Approvers", "sender": "partner@fabrikam.com"}
LONG_TICKET = "CHG-" + "9" * 180 + " <b>not bold</b>"


def report(config: dict[str, Any], run_id: str, **kw: Any) -> CliResult:
    from remediations.cli.audit import audit_report_task

    out, err = io.StringIO(), io.StringIO()
    code = audit_report_task(config, run_id, out=out, err=err, **kw)
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture
def applied(run_task: Callable[..., CliResult]) -> str:
    result = run_task("add-allowed-sender", ALLOW, as_json=True, ticket=LONG_TICKET)
    assert result.code == 0, result.err
    run_id: str = result.json()["run_id"]
    return run_id


def test_markdown_report_holds_what_a_reviewer_signs(
    config: dict[str, Any], applied: str, audit_dir: Path
) -> None:
    from remediations.audit import read_events

    result = report(config, applied)
    assert result.code == 0, result.err
    text = result.out
    end = [e for e in read_events(audit_dir / "audit.jsonl") if e["event"] == "run-end"][-1]
    assert text.startswith(f"# Change report: run {applied}\n")
    assert "| What | add-allowed-sender |" in text
    assert "sender = partner@fabrikam.com" in text
    assert "| Who | tester |" in text
    assert "| Target | contoso.com (sandbox) |" in text
    assert LONG_TICKET in text
    assert "| Outcome | applied |" in text
    assert f"| Chain head at the end | event {end['seq']}, hash {end['hash']} |" in text
    assert (
        "**finance-approvers@contoso.com** `RequireSenderAuthenticationEnabled`: "
        "$true -> $false (applied and verified)"
    ) in text
    assert "New-MailContact -Name 'partner@fabrikam.com'" in text
    assert "All 3 changes were read back from the tenant" in text
    assert f"invoke audit.verify --head {end['hash']} --count {end['seq']}" in text
    assert f"`invoke rollback {applied}`" in text


def test_html_report_is_one_self_contained_file(
    config: dict[str, Any], applied: str, tmp_path: Path
) -> None:
    path = tmp_path / "report.html"
    result = report(config, applied, fmt="html", output=str(path))
    assert result.code == 0, result.err
    assert f"written to {path}" in result.out
    page = path.read_text()
    assert page.startswith("<!DOCTYPE html>")
    for fetch in ("http://", "https://", "<script", " src=", "<link", "@import", "url("):
        assert fetch not in page
    assert "&lt;b&gt;not bold&lt;/b&gt;" in page
    assert "<b>not bold</b>" not in page
    assert "@media print" in page
    assert "RequireSenderAuthenticationEnabled" in page
    assert f"invoke rollback {applied}" in page


def test_report_bad_input(config: dict[str, Any], applied: str) -> None:
    assert report(config, "0123456789ab").code == 2
    bad = report(config, applied, fmt="pdf")
    assert bad.code == 2
    assert "--format 'pdf' is not a report format; give md or html." in bad.err


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed here")
def test_html_report_reads_in_a_real_browser_without_overflow(
    config: dict[str, Any], applied: str, tmp_path: Path
) -> None:
    page = tmp_path / "report.html"
    assert report(config, applied, fmt="html", output=str(page)).code == 0
    # a copy with a probe: the widest element against the window, written into the page
    probe = tmp_path / "probe.html"
    probe.write_text(
        page.read_text().replace(
            "</body>",
            "<script>document.body.setAttribute('data-overflow',"
            "String(document.documentElement.scrollWidth > window.innerWidth));"
            "document.body.setAttribute('data-text', document.body.innerText.length);"
            "</script></body>",
        )
    )
    base = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--window-size=700,900"]
    dom = subprocess.run(
        [*base, "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=60
    ).stdout
    assert 'data-overflow="false"' in dom
    assert re.search(r'data-text="\d{3,}"', dom)
    for text in ("RequireSenderAuthenticationEnabled", "partner@fabrikam.com", "rollback"):
        assert text in dom
    shot = tmp_path / "report.png"
    subprocess.run([*base, f"--screenshot={shot}", page.as_uri()], timeout=60, check=False)
    assert shot.exists()
    assert shot.stat().st_size > 1000
