"""A long list is resolved with one listing call, with the same answer as one look-up each."""

from __future__ import annotations

from pathlib import Path

import pytest

from remediations.actions import ACTIONS, parse_wish, recipients
from remediations.exchange.cmdlet import Cmdlet
from remediations.sandbox import SandboxTransport
from remediations.testing import RecordingTransport

FOLDER = "\\Support\\Escalations"


def test_forty_entries_take_one_listing_call(
    tenant_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = SandboxTransport(tenant_path)
    addresses = [f"partner{i:02d}@fabrikam{i % 3}.com" for i in range(40)]
    for address in addresses:
        sandbox.send(
            Cmdlet.of(
                "New-MailContact",
                Name=address.split("@")[0] + address[-5],
                ExternalEmailAddress=address,
            )
        )
    sandbox.send(
        Cmdlet.of(
            "Set-MailPublicFolder",
            Identity=FOLDER,
            AcceptMessagesOnlyFromSendersOrMembers=tuple(addresses),
        )
    )
    stored = sandbox.send(Cmdlet.of("Get-MailPublicFolder", Identity=FOLDER)).objects[0]
    assert len(stored["AcceptMessagesOnlyFromSendersOrMembers"]) == 40
    action = ACTIONS["fix-public-folder"]
    wish = parse_wish(action, {"folder": FOLDER})

    counting = RecordingTransport(sandbox)
    batched = action.read(counting, wish)
    assert [c.name for c in counting.cmdlets].count("Get-Recipient") == 1

    one_by_one = RecordingTransport(sandbox)
    monkeypatch.setattr(recipients, "BATCH_AT", 10_000)  # below the batch size: one call each
    single = action.read(one_by_one, wish)
    assert [c.name for c in one_by_one.cmdlets].count("Get-Recipient") == 40
    assert batched.values == single.values
