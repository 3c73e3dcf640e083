"""diagnose --fix on a ``kind: sandbox`` target with its own file sends the message again there."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from remediations.cli.diagnose import diagnose_task
from remediations.cli.sandbox import sandbox_send_task
from remediations.sandbox import reset_sandbox
from tests.conftest import tenant_doc


def test_the_resend_goes_through_the_run_targets_sandbox_file(
    config: dict[str, Any], tenant_path: Path, tmp_path: Path
) -> None:
    """The fix changes the lab file; the resend is delivered there, and the default
    sandbox (still broken) is neither changed nor used."""
    lab_path = tmp_path / "lab" / "tenant.db"
    lab_path.parent.mkdir()
    reset_sandbox(lab_path)
    settings = {**config, "targets": {"lab": {"kind": "sandbox", "path": str(lab_path)}}}
    lab_only = {**settings, "sandbox": {**config["sandbox"], "path": str(lab_path)}}
    out = io.StringIO()
    sent = sandbox_send_task(
        lab_only,
        sender="partner@fabrikam.com",
        recipient="finance-approvers@contoso.com",
        as_json=True,
        out=out,
    )
    assert sent == 0
    ndr = json.loads(out.getvalue())["ndr"]
    default_before = tenant_doc(tenant_path)

    out, err = io.StringIO(), io.StringIO()
    code = diagnose_task(
        settings, ndr, as_json=True, check=True, fix=True, yes=True, target="lab", out=out, err=err
    )

    assert code == 0, err.getvalue()
    doc = json.loads(out.getvalue())
    assert [run["outcome"] for run in doc["fix_runs"]] == ["applied"]
    (resent,) = doc["resent"]
    assert resent["outcome"] == "delivered"
    assert tenant_doc(tenant_path) == default_before
    assert not (tenant_path.parent / "ndr").exists() or not any(
        (tenant_path.parent / "ndr").iterdir()
    )
