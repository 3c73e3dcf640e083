"""Fleet fixtures: a recording transport (counts calls at the boundary) and a fleet tenant."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from remediations.exchange.cmdlet import Cmdlet, CmdletResult, Transport
from remediations.testing.fleet_tenant import write_fleet_tenant


class Recording:
    """Any transport, with every cmdlet it was asked to send recorded (a real client)."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.name = inner.name
        self.tenant = inner.tenant
        self.sent: list[Cmdlet] = []

    def send(self, cmdlet: Cmdlet) -> CmdletResult:
        self.sent.append(cmdlet)
        return self.inner.send(cmdlet)

    @property
    def reads(self) -> list[Cmdlet]:
        return [c for c in self.sent if not c.is_write]

    @property
    def writes(self) -> list[Cmdlet]:
        return [c for c in self.sent if c.is_write]

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def fleet_path(tmp_path: Path) -> Path:
    """A sandbox with 40 restricted distribution groups (accept only cfo@contoso.com)."""
    path = tmp_path / "fleet.db"
    write_fleet_tenant(path, groups=40, restricted=True)
    return path


@pytest.fixture
def fleet_config(fleet_path: Path, audit_dir: Path) -> dict[str, Any]:
    """Settings pointing at the fleet tenant."""
    return {
        "sandbox": {"path": str(fleet_path), "faults": ""},
        "audit": {"dir": str(audit_dir)},
        "actor": "tester",
        "target": "sandbox",
    }
