"""Names and texts from a tenant or an NDR reach the terminal with control characters escaped."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from remediations.sandbox import load_tenant
from remediations.terminal import printable
from tests.conftest import CliResult

ESC = "\x1b"
EVIL = "Evil\x1b[2J\x1b[31mGroup\r\u202e"
SHOWN = "\\x1b[2J\\x1b[31m\\r\\u202e"
# YAML double-quoted escapes: \e is ESC, \r a carriage return, \u202E a bidi override.
TENANT = r"""
organization: contoso.com
accepted_domains: [contoso.com]
recipients:
  - {kind: mailbox, name: Alex Kim, address: alex.kim@contoso.com,
     user: {licenses: [ENTERPRISEPACK]}}
  - kind: distribution-group
    name: "Evil\e[2J\e[31mGroup\r\u202E"
    address: evil@contoso.com
    require_sender_authentication: true
    members: [alex.kim@contoso.com]
  - kind: mailbox
    name: Jordan Lee
    address: jordan.lee@contoso.com
    user: {licenses: ["PACK\e[2J\e[31m\r\u202E"], account_enabled: false, synced: true}
"""


def test_printable_escapes_controls_and_keeps_layout() -> None:
    """Escape sequences, carriage returns and bidi overrides are shown, lines and tabs kept."""
    assert (
        printable(f"a{ESC}[31mb\r\n\tc\u202ed\x85e\x7f") == "a\\x1b[31mb\\r\n\tc\\u202ed\\x85e\\x7f"
    )
    assert printable("line\nnext\ttab", one_line=True) == "line\\nnext\\ttab"
    assert printable("\\Support\\Escalations — café") == "\\Support\\Escalations — café"


@pytest.fixture
def evil_tenant(tenant_path: Path, tmp_path: Path) -> Path:
    """A tenant whose group's name carries terminal escape sequences."""
    source = tmp_path / "evil.yaml"
    source.write_text(TENANT, encoding="utf-8")
    load_tenant(source, tenant_path)
    return tenant_path


def assert_safe(text: str) -> None:
    assert ESC not in text
    assert "\r" not in text
    assert "\u202e" not in text


def test_preview_result_and_errors_escape_tenant_names(
    evil_tenant: Path, run_task: Callable[..., CliResult]
) -> None:
    """The diff, the PowerShell and the closing line show the name, escaped."""
    dry = run_task("remove-license", {"user": "jordan.lee@contoso.com"}, dry_run=True)
    assert dry.code == 0, dry.err
    assert f"PACK{SHOWN}" in dry.out
    assert_safe(dry.out)
    applied = run_task("block-delicensed-user", {"user": "jordan.lee@contoso.com"})
    assert applied.code == 0, applied.err
    assert f"PACK{SHOWN}" in applied.out
    assert_safe(applied.out)
    refused = run_task("add-allowed-sender", {"recipient": EVIL, "sender": f"x{ESC}@fabrikam.com"})
    assert refused.code == 2
    assert_safe(refused.err)


def test_playbook_output_escapes_tenant_names(evil_tenant: Path, config: dict[str, Any]) -> None:
    """The playbook preview and step table escape what the tenant holds."""
    from remediations.cli.playbooks import playbook_run_task

    out, err = io.StringIO(), io.StringIO()
    code = playbook_run_task(
        config,
        "leaver-block-mail",
        ["user=jordan.lee@contoso.com"],
        dry_run=True,
        as_json=False,
        ticket="",
        yes=True,
        out=out,
        err=err,
    )
    assert code == 0, err.getvalue()
    assert f"PACK{SHOWN}" in out.getvalue()
    assert_safe(out.getvalue() + err.getvalue())


def test_sandbox_show_escapes_object_names(evil_tenant: Path, config: dict[str, Any]) -> None:
    """The tenant list and one object in full show the escape sequence, not obey it."""
    from remediations.cli.sandbox import sandbox_show_task

    for identity in ("", "evil@contoso.com"):
        out, err = io.StringIO(), io.StringIO()
        assert sandbox_show_task(config, identity, out=out, err=err) == 0, err.getvalue()
        assert "Evil\\x1b[2J\\x1b[31mGroup\\r\\u202e" in out.getvalue()
        assert_safe(out.getvalue())


def test_diagnose_escapes_ndr_text(config: dict[str, Any], tmp_path: Path) -> None:
    """An NDR's diagnostic text reaches the terminal escaped."""
    from remediations.cli.diagnose import diagnose_task

    ndr = tmp_path / "bounce.txt"
    ndr.write_text(
        "Remote Server returned '550 5.7.1 RESOLVER.RST.NotAuthorized; not authorized"
        f" {ESC}[2J{ESC}]0;pwned\a'\n",
        encoding="utf-8",
    )
    out, err = io.StringIO(), io.StringIO()
    diagnose_task(config, str(ndr), out=out, err=err)
    assert "\\x1b[2J" in out.getvalue() + err.getvalue()
    assert_safe(out.getvalue() + err.getvalue())
    assert "\a" not in out.getvalue() + err.getvalue()


def test_an_on_premises_preview_names_the_shell_its_lines_run_in() -> None:
    """On premises, the preview names the Exchange Management Shell, not Exchange Online."""
    from dataclasses import dataclass

    from remediations.cli import render_preview
    from remediations.exchange.cmdlet import Cmdlet
    from remediations.plan import Change, Plan

    @dataclass
    class OnPremises:
        name: str = "exchange-onprem"
        tenant: str = "contoso.com"

    change = Change(
        target="sales@contoso.com",
        attribute="RequireSenderAuthenticationEnabled",
        before=True,
        after=False,
        cmdlet=Cmdlet.of("Set-DistributionGroup", Identity="sales@contoso.com"),
    )
    text = render_preview(
        Plan(action="open-to-external", changes=(change,)), transport=OnPremises()
    )
    assert "Equivalent Exchange Management Shell (on-premises Exchange) PowerShell:" in text
    assert "Exchange Online PowerShell" not in text
