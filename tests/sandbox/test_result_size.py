"""Listing cmdlets stop at 1,000 objects unless -ResultSize says otherwise, as Exchange's do."""

from __future__ import annotations

import pytest

from remediations.diagnose.scan import scan_tenant
from remediations.dns_lookup import ZoneResolver
from remediations.errors import CmdletError
from remediations.exchange import facts
from remediations.exchange.cmdlet import Cmdlet
from remediations.sandbox import SandboxTransport, load_tenant
from remediations.sandbox.directory import zone_data
from tests.sandbox.test_store import many_groups_tenant


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> SandboxTransport:
    """A tenant of 1,005 distribution groups."""
    folder = tmp_path_factory.mktemp("big")
    many_groups_tenant(folder / "big.yaml", groups=1005)
    load_tenant(folder / "big.yaml", folder / "tenant.db")
    return SandboxTransport(folder / "tenant.db")


def test_a_listing_without_result_size_is_cut_at_1000_with_exchanges_warning(
    big: SandboxTransport,
) -> None:
    """A caller that forgets -ResultSize gets 1,000 objects and the warning, never silently all."""
    result = big.send(Cmdlet.of("Get-DistributionGroup"))
    assert len(result.objects) == facts.DEFAULT_RESULT_SIZE
    assert result.warnings == (facts.RESULT_SIZE_WARNING,)


def test_result_size_unlimited_returns_every_object(big: SandboxTransport) -> None:
    """-ResultSize Unlimited lists them all, with no warning."""
    result = big.send(Cmdlet.of("Get-DistributionGroup", ResultSize="Unlimited"))
    assert len(result.objects) == 1005
    assert result.warnings == ()


def test_a_number_caps_the_listing(big: SandboxTransport) -> None:
    """-ResultSize 10 returns ten and says more are available."""
    result = big.send(Cmdlet.of("Get-Recipient", ResultSize=10))
    assert len(result.objects) == 10
    assert result.warnings == (facts.RESULT_SIZE_WARNING,)


def test_a_result_size_that_is_not_a_number_is_refused(big: SandboxTransport) -> None:
    """PowerShell's conversion error, as for any value of the wrong type."""
    with pytest.raises(CmdletError, match="ResultSize"):
        big.send(Cmdlet.of("Get-Recipient", ResultSize="lots"))


def test_scan_of_a_big_tenant_reads_every_group(big: SandboxTransport) -> None:
    """scan asks for every object, so none of 1,005 groups is missed."""
    report = scan_tenant(big, ZoneResolver(zone_data(big.state)))
    found = {f.target for f in report.findings if f.cause == "group-auth"}
    assert len(found) == 1005
