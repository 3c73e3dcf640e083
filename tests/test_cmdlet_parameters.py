"""Every cmdlet the toolkit sends exists, with every parameter it passes, in Exchange Online.

``tests/data/cmdlet_parameters.json`` is the reference: cmdlet -> its Exchange
Online parameters, each cmdlet citing its Microsoft page (Exchange cmdlets
extracted from Microsoft's cmdlet reference; Graph PowerShell cmdlets from the
Graph PowerShell reference, marked ``graph-powershell``).  Every action is
planned over the demo tenant's cases (reads and writes recorded as sent), and
the sandbox refuses every parameter the reference does not list, so the
sandbox cannot accept what Exchange would reject.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from remediations.actions import ACTIONS, parse_wish
from remediations.engine import prepare
from remediations.errors import CmdletError
from remediations.exchange import facts
from remediations.exchange.cmdlet import Cmdlet
from remediations.sandbox import SandboxTransport, save_state
from remediations.sandbox.dispatch import CMDLETS
from remediations.sandbox.tenant_file import tenant_from_mapping
from remediations.testing import RecordingTransport

TABLE_PATH = Path(__file__).parent / "data" / "cmdlet_parameters.json"
TABLE: dict[str, dict[str, Any]] = json.loads(TABLE_PATH.read_text(encoding="utf-8"))["cmdlets"]
BY_LOWER = {name.lower(): name for name in TABLE}


def parameters_of(cmdlet: str) -> set[str]:
    """The reference's parameters of a cmdlet, lower case (PowerShell binds without case)."""
    return {p.lower() for p in TABLE[BY_LOWER[cmdlet.lower()]]["parameters"]}


# (action, wish) over the demo tenant: every case an action has there, and the
# variants that render other cmdlets or parameters.
DEMO_WISHES: list[tuple[str, dict[str, Any]]] = [
    ("fix-public-folder", {"folder": "\\Support\\Escalations"}),
    ("fix-public-folder", {"folder": "escalations@contoso.com", "all_senders": True}),
    ("add-allowed-sender", {"recipient": "Finance Approvers", "sender": "partner@fabrikam.com"}),
    ("add-allowed-sender", {"recipient": "Finance Approvers", "sender": "Board@contoso.com"}),
    (
        "add-allowed-sender",
        {
            "recipient": "\\Support\\Escalations",
            "sender": "partner@fabrikam.com",
            "only_listed_senders": True,
        },
    ),
    (
        "add-allowed-sender",
        {"recipient": "falcon", "sender": "partner@fabrikam.com", "only_listed_senders": True},
    ),
    (
        "add-allowed-sender",
        {"recipient": "legal", "sender": "partner@fabrikam.com", "only_listed_senders": True},
    ),
    (
        "add-allowed-sender",
        {
            "recipient": "taylor.reed@contoso.com",
            "sender": "partner@fabrikam.com",
            "only_listed_senders": True,
        },
    ),
    ("open-group-to-external", {"group": "partners@contoso.com"}),
    ("open-group-to-external", {"group": "Product Launch"}),
    ("open-to-external", {"recipient": "legal@contoso.com"}),
    ("open-to-external", {"recipient": "Taylor Reed"}),
    ("open-to-external", {"recipient": "Project Falcon"}),
    ("bypass-moderation", {"group": "All Staff", "sender": "alex.kim@contoso.com"}),
    ("bypass-moderation", {"group": "All Staff", "sender": "partner@fabrikam.com"}),
    ("block-delicensed-user", {"user": "Jordan Lee"}),
    ("block-delicensed-user", {"user": "Jordan Lee", "mode": "delete"}),
    ("block-delicensed-user", {"user": "Casey Morgan"}),
    ("remove-license", {"user": "alex.kim@contoso.com", "even_if_active": True}),
    (
        "remove-license",
        {"user": "cfo@contoso.com", "sku": "ENTERPRISEPACK", "even_if_active": True},
    ),
]


def plan_recorded(transport: SandboxTransport, action: str, wish: dict[str, Any]) -> list[Cmdlet]:
    """Every cmdlet planning the wish sends (reads) and renders (the plan's changes)."""
    recording = RecordingTransport(transport)
    act = ACTIONS[action]
    planned = prepare(act, parse_wish(act, wish), recording)  # type: ignore[arg-type]
    return [*recording.cmdlets, *(c.cmdlet for c in planned.changes)]


def check_against_reference(cmdlets: list[Cmdlet]) -> None:
    for cmdlet in cmdlets:
        assert cmdlet.name.lower() in BY_LOWER, f"{cmdlet.name} is not in the reference table"
        allowed = parameters_of(cmdlet.name)
        for name, _ in cmdlet.params:
            assert name.lower() in allowed, (
                f"{cmdlet.name} has no -{name} in Exchange Online "
                f"({TABLE[BY_LOWER[cmdlet.name.lower()]]['source']}): {cmdlet.to_powershell()}"
            )


@pytest.mark.parametrize(
    ("action", "wish"), DEMO_WISHES, ids=[f"{a}:{next(iter(w.values()))}" for a, w in DEMO_WISHES]
)
def test_every_cmdlet_an_action_sends_or_renders_exists_with_its_parameters(
    sandbox: SandboxTransport, action: str, wish: dict[str, Any]
) -> None:
    """Reads and planned writes alike: each cmdlet and each parameter is in the reference."""
    cmdlets = plan_recorded(sandbox, action, wish)
    assert any(c.is_write for c in cmdlets) or action == "block-delicensed-user"
    check_against_reference(cmdlets)


def test_every_action_is_covered() -> None:
    """A new action adds its wishes above."""
    assert {a for a, _ in DEMO_WISHES} == set(ACTIONS)


def test_a_disabled_rule_of_ours_is_enabled_with_a_real_cmdlet(
    sandbox: SandboxTransport, tmp_path: Path
) -> None:
    """The rule-correcting path (SentTo, action, state) renders only real parameters."""
    sandbox.send(
        Cmdlet.of(
            "New-TransportRule",
            Name="Block mail to leaver jordan.lee@contoso.com",
            SentTo=("cfo@contoso.com",),
            DeleteMessage=True,
            Enabled=False,
        )
    )
    cmdlets = plan_recorded(sandbox, "block-delicensed-user", {"user": "Jordan Lee"})
    assert [c.name for c in cmdlets if c.is_write] == [
        "Set-TransportRule",
        "Set-TransportRule",
        "Enable-TransportRule",
    ]
    check_against_reference(cmdlets)


def test_a_group_licensed_leaver_and_a_public_folder_list(tmp_path: Path) -> None:
    """The other reads: group names for licenses, a folder's lists."""
    path = tmp_path / "t.json"
    save_state(
        tenant_from_mapping(
            {
                "organization": "contoso.com",
                "recipients": [
                    {"kind": "mailbox", "name": "A", "address": "a@contoso.com"},
                    {
                        "kind": "security-group",
                        "name": "Licensed",
                        "address": "licensed@contoso.com",
                    },
                    {
                        "kind": "mailbox",
                        "name": "Leaver",
                        "address": "leaver@contoso.com",
                        "user": {
                            "account_enabled": False,
                            "licenses": ["EMS"],
                            "group_licenses": [{"sku": "ENTERPRISEPACK", "group": "Licensed"}],
                        },
                    },
                    {
                        "kind": "public-folder",
                        "name": "Sales",
                        "path": "\\Sales",
                        "address": "sales@contoso.com",
                        "accept_messages_only_from": ["a@contoso.com"],
                    },
                ],
            }
        ),
        path,
    )
    transport = SandboxTransport(path)
    cmdlets = plan_recorded(transport, "remove-license", {"user": "leaver", "sku": "EMS"})
    cmdlets += plan_recorded(
        transport, "fix-public-folder", {"folder": "Sales", "all_senders": True}
    )
    assert {"Get-MgGroup", "Set-MgUserLicense", "Set-MailPublicFolder"} <= {c.name for c in cmdlets}
    check_against_reference(cmdlets)


# --- the sandbox keeps to the reference --------------------------------------------

SANDBOX_CMDLETS = sorted(CMDLETS)


def test_the_sandbox_implements_only_cmdlets_of_the_reference() -> None:
    """Every cmdlet the sandbox answers is a real one."""
    assert set(SANDBOX_CMDLETS) <= set(BY_LOWER)


@pytest.mark.parametrize("name", SANDBOX_CMDLETS)
def test_the_sandbox_accepts_no_parameter_the_reference_lacks(name: str) -> None:
    """What the sandbox binds is a subset of the cmdlet's Exchange Online parameters."""
    allowed, mandatory, _ = CMDLETS[name]
    reference = parameters_of(name)
    extra = {p for p in allowed if p.lower() not in reference}
    assert not extra, f"the sandbox binds {sorted(extra)} on {BY_LOWER[name]}; Exchange has none"
    assert {m.lower() for m in mandatory} <= reference


# Parameters the toolkit has used or might reach for on the wrong cmdlet.
TEMPTING = (
    "Enabled",
    "BypassSecurityGroupManagerCheck",
    "AcceptMessagesOnlyFrom",
    "BypassModerationFromSendersOrMembers",
    "RecipientTypeDetails",
    "Anr",
    "Property",
    "Identity",
    "UserPrincipalName",
    "NoSuchParameter",
)


@pytest.mark.parametrize("name", SANDBOX_CMDLETS)
def test_the_sandbox_refuses_a_parameter_the_reference_does_not_list(
    sandbox: SandboxTransport, name: str
) -> None:
    """Sent with a parameter the cmdlet lacks, the sandbox answers PowerShell's binding error
    (before anything else: nothing changes)."""
    reference = parameters_of(name)
    missing = [p for p in TEMPTING if p.lower() not in reference]
    assert missing
    for param in missing:
        with pytest.raises(CmdletError) as info:
            sandbox.send(Cmdlet(BY_LOWER[name], (("Identity", "x"), (param, True))))
        if "identity" in reference:
            assert str(info.value) == facts.NO_SUCH_PARAMETER.format(name=param)
        else:
            assert str(info.value) == facts.NO_SUCH_PARAMETER.format(name="Identity")


def test_every_reference_entry_cites_its_page() -> None:
    """Each cmdlet names the Microsoft page it comes from."""
    for name, entry in TABLE.items():
        assert entry["source"].startswith("https://learn.microsoft.com/powershell/module/"), name
        assert entry["reference"] in ("exchange", "graph-powershell"), name
        assert entry["parameters"] == sorted(entry["parameters"]), name
