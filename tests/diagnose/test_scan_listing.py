"""The scan lists everything: ``-ResultSize Unlimited`` on every listing call, and a warning
that a result was cut is an error, never a short report."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from remediations.diagnose.scan import scan_tenant
from remediations.dns_lookup import ZoneResolver
from remediations.errors import ResultTruncated
from remediations.exchange import facts
from remediations.exchange.cmdlet import Cmdlet, CmdletResult
from remediations.sandbox import SandboxTransport
from remediations.sandbox.directory import zone_data

LISTING = (
    "Get-Recipient",
    "Get-MailPublicFolder",
    "Get-DistributionGroup",
    "Get-UnifiedGroup",
    "Get-Mailbox",
    "Get-MailContact",
    "Get-TransportRule",
)


class Recording:
    """The sandbox, keeping every cmdlet sent; one cmdlet's answer can carry a warning,
    as Exchange Online's does when -ResultSize stopped it."""

    def __init__(self, inner: SandboxTransport, *, cut: str = "") -> None:
        self.inner = inner
        self.name = inner.name
        self.tenant = inner.tenant
        self.sent: list[Cmdlet] = []
        self.cut = cut

    def send(self, cmdlet: Cmdlet) -> CmdletResult:
        self.sent.append(cmdlet)
        result = self.inner.send(cmdlet)
        if cmdlet.name == self.cut:
            return replace(result, warnings=(*result.warnings, facts.RESULT_SIZE_WARNING))
        return result

    def close(self) -> None:
        self.inner.close()


def test_every_listing_call_asks_for_every_object(tenant_path: Path) -> None:
    sandbox = SandboxTransport(tenant_path)
    recording = Recording(sandbox)
    scan_tenant(recording, ZoneResolver(zone_data(sandbox.state)))
    listed = {c.name: c.get("ResultSize") for c in recording.sent if c.name in LISTING}
    assert set(listed) == set(LISTING)
    assert set(listed.values()) == {"Unlimited"}


@pytest.mark.parametrize("cut", LISTING)
def test_a_cut_result_stops_the_scan(tenant_path: Path, cut: str) -> None:
    sandbox = SandboxTransport(tenant_path)
    with pytest.raises(ResultTruncated, match=f"{cut} returned part of its result"):
        scan_tenant(Recording(sandbox, cut=cut), ZoneResolver(zone_data(sandbox.state)))
