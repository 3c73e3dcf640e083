"""A long list is resolved with one listing call, with the same answer as one look-up each."""

from __future__ import annotations

from pathlib import Path

import pytest

from remediations.actions import ACTIONS, parse_wish, recipients
from remediations.exchange.cmdlet import Cmdlet, CmdletResult
from remediations.sandbox import SandboxTransport

FOLDER = "\\Support\\Escalations"


class Counting:
    """The sandbox, counting the cmdlets sent by name."""

    def __init__(self, inner: SandboxTransport) -> None:
        self.inner = inner
        self.name = inner.name
        self.tenant = inner.tenant
        self.sent: list[str] = []

    def send(self, cmdlet: Cmdlet) -> CmdletResult:
        self.sent.append(cmdlet.name)
        return self.inner.send(cmdlet)

    def close(self) -> None:
        self.inner.close()


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

    counting = Counting(sandbox)
    batched = action.read(counting, wish)
    assert counting.sent.count("Get-Recipient") == 1

    one_by_one = Counting(sandbox)
    monkeypatch.setattr(recipients, "BATCH_AT", 10_000)  # below the batch size: one call each
    single = action.read(one_by_one, wish)
    assert one_by_one.sent.count("Get-Recipient") == 40
    assert batched.values == single.values
