"""Fixtures for playbooks: the run task in-process, a leaver tenant, playbooks in a folder."""

from __future__ import annotations

import io
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from remediations.sandbox import save_state
from remediations.sandbox.tenant_file import tenant_from_mapping
from tests.conftest import CliResult

# A leaver who still has a license, with the on-premises account disabled.
LEAVER_TENANT = {
    "organization": "contoso.com",
    "recipients": [
        {
            "kind": "mailbox",
            "name": "Jordan Lee",
            "address": "jordan.lee@contoso.com",
            "user": {
                "licenses": ["ENTERPRISEPACK", "POWER_BI_STANDARD"],
                "account_enabled": False,
                "synced": True,
            },
        },
        {
            "kind": "mailbox",
            "name": "Alex Kim",
            "address": "alex.kim@contoso.com",
            "user": {"licenses": ["ENTERPRISEPACK"]},
        },
    ],
}


@pytest.fixture
def leaver_tenant(tenant_path: Path) -> Path:
    """The test's tenant file, holding a leaver who still has two licenses."""
    save_state(tenant_from_mapping(LEAVER_TENANT, source="leaver"), tenant_path)
    return tenant_path


@pytest.fixture
def run_pb(config: dict[str, Any]) -> Callable[..., CliResult]:
    """Run ``playbook.run`` in-process exactly as tasks.py does."""
    from remediations.cli.playbooks import playbook_run_task

    def run(
        name: str,
        *params: str,
        dry_run: bool = False,
        as_json: bool = False,
        resume: str = "",
        faults: str = "",
        ticket: str = "T-1",
    ) -> CliResult:
        out, err = io.StringIO(), io.StringIO()
        cfg = {**config, "sandbox": {**config["sandbox"], "faults": faults}}
        code = playbook_run_task(
            cfg,
            name,
            list(params),
            dry_run=dry_run,
            as_json=as_json,
            ticket=ticket,
            yes=True,
            resume=resume,
            out=out,
            err=err,
        )
        return CliResult(code, out.getvalue(), err.getvalue())

    return run


@pytest.fixture
def write_playbook(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a playbook file ``<name>.yaml`` into a fresh folder and return its path."""
    folder = tmp_path / "my-playbooks"
    folder.mkdir()

    def write(name: str, text: str) -> Path:
        path = folder / f"{name}.yaml"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write
