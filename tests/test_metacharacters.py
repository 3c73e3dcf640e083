"""User input is data: PowerShell metacharacters reach the tenant as plain values,
and the preview quotes them so that a paste gives back the same value."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from remediations.exchange.cmdlet import AddRemove, Cmdlet, ps_quote
from remediations.sandbox import save_state
from remediations.sandbox.tenant_file import tenant_from_mapping
from tests.conftest import CliResult, tenant_doc

NASTY_NAME = 'O\'Brien; $(Remove-Mailbox -Identity *) `whoami` \u2019x\u2019 "q" | Out-Null\nline 2'
NASTY_SENDER = "d'arcy$x`y{z}@fabrikam.com"

_SINGLE = "'\u2018\u2019\u201a\u201b"


def ps_unquote(literal: str) -> str:
    """What PowerShell makes of a single-quoted literal: any doubled quote char is one."""
    assert literal[0] in _SINGLE
    assert literal[-1] in _SINGLE
    body = literal[1:-1]
    out, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch in _SINGLE:
            # Inside single quotes a quote character must be doubled, else the string ends.
            assert i + 1 < len(body), f"unescaped quote at {i}"
            assert body[i + 1] in _SINGLE, f"unescaped quote at {i}"
            out.append(ch)
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


@given(st.text(min_size=0, max_size=40))
def test_ps_quote_round_trips_any_text(text: str) -> None:
    """Whatever the text, the quoted form is one literal that PowerShell reads back unchanged."""
    assert ps_unquote(ps_quote(text)) == text


def test_preview_quotes_every_value_as_a_literal() -> None:
    """Identity, lists and hashtables: each value is one single-quoted literal."""
    cmd = Cmdlet.of(
        "Set-DistributionGroup",
        Identity=NASTY_NAME,
        AcceptMessagesOnlyFrom=AddRemove(add=(NASTY_SENDER,)),
        RequireSenderAuthenticationEnabled=False,
    )
    line = cmd.to_powershell()
    identity_literal = re.search(
        r"-Identity ('(?:[^'\u2018\u2019\u201a\u201b]|['\u2018\u2019\u201a\u201b]{2})*')",
        line,
        re.S,
    )
    assert identity_literal is not None
    assert ps_unquote(identity_literal.group(1)) == NASTY_NAME
    assert f"@{{Add={ps_quote(NASTY_SENDER)}}}" in line
    assert line.endswith("-RequireSenderAuthenticationEnabled:$false")


@pytest.fixture
def nasty_tenant(tmp_path: Path, config: dict) -> Path:  # type: ignore[type-arg]
    path = Path(config["sandbox"]["path"])
    save_state(
        tenant_from_mapping(
            {
                "organization": "contoso.com",
                "recipients": [
                    {"kind": "mailbox", "name": "Boss", "address": "boss@contoso.com"},
                    {
                        "kind": "distribution-group",
                        "name": NASTY_NAME,
                        "alias": "nasty",
                        "address": "o'brien@contoso.com",
                        "accept_messages_only_from": ["boss@contoso.com"],
                    },
                ],
            }
        ),
        path,
    )
    return path


def test_metacharacters_are_plain_values_in_the_sandbox(
    nasty_tenant: Path, run_task: Callable[..., CliResult]
) -> None:
    """The sandbox sees the exact strings; nothing is evaluated; preview quotes correctly."""
    preview = run_task(
        "add-allowed-sender", {"recipient": NASTY_NAME, "sender": NASTY_SENDER}, dry_run=True
    )
    assert preview.code == 0, preview.err
    assert (
        f"-Name {ps_quote(NASTY_SENDER)} -ExternalEmailAddress {ps_quote(NASTY_SENDER)}"
        in preview.out
    )
    assert "-Identity 'o''brien@contoso.com'" in preview.out

    applied = run_task("add-allowed-sender", {"recipient": NASTY_NAME, "sender": NASTY_SENDER})
    assert applied.code == 0, applied.err
    data = tenant_doc(nasty_tenant)
    contact = next(r for r in data["recipients"] if r["RecipientTypeDetails"] == "MailContact")
    assert contact["Name"] == NASTY_SENDER
    assert contact["ExternalEmailAddress"] == f"SMTP:{NASTY_SENDER}"
    group = next(r for r in data["recipients"] if r["Name"] == NASTY_NAME)
    assert contact["Guid"] in group["AcceptMessagesOnlyFrom"]
    # Every cmdlet went to the sandbox as structured parameters, values untouched.
    sent = [entry["parameters"] for entry in data["journal"]]
    assert {"Name": NASTY_SENDER, "ExternalEmailAddress": NASTY_SENDER} in sent

    again = run_task("add-allowed-sender", {"recipient": NASTY_NAME, "sender": NASTY_SENDER})
    assert "No change needed" in again.out


def test_null_and_empty_list_are_different_values() -> None:
    """None clears a property ($null); an empty list is an empty array (@())."""
    cmd = Cmdlet.of("Set-X", Identity="a", Clear=None, Nothing=())
    assert cmd.to_powershell() == "Set-X -Identity 'a' -Clear $null -Nothing @()"
