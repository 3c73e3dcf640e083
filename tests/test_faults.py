"""A failure while applying says exactly what changed; a rerun then completes the job."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.actions.test_lifecycle import DEMO_CASES, IDS, Case
from tests.conftest import CliResult, events, tenant_doc


def tenant_state(path: Path) -> dict[str, Any]:
    """The tenant as it stands, without the journal of cmdlets that got it there."""
    data = tenant_doc(path)
    data.pop("journal")
    return data


def fault_cases() -> list[Any]:
    """Every demo case, with every write it makes failing in turn."""
    writes = {"add-allowed-sender": 3}
    return [
        pytest.param(case, k, id=f"{name}-write{k}")
        for case, name in zip(DEMO_CASES, IDS, strict=True)
        for k in range(1, writes.get(case.action, 1) + 1)
    ]


@pytest.mark.parametrize(("case", "k"), fault_cases())
def test_failing_kth_write_is_reported_and_a_rerun_converges(
    case: Case,
    k: int,
    tenant_path: Path,
    audit_dir: Path,
    tmp_path: Path,
    run_task: Callable[..., CliResult],
) -> None:
    """Exit 1; the audit log names what changed and what did not; a rerun ends as a clean run."""
    clean = tmp_path / "clean.json"
    shutil.copy(tenant_path, clean)

    planned = run_task(case.action, case.wish, dry_run=True, as_json=True).json()["changes"]
    assert len(planned) >= k

    failed = run_task(case.action, case.wish, faults=f"fail_write={k}", as_json=True)
    assert failed.code == 1
    doc = failed.json()
    assert doc["outcome"] == "failed"
    assert [c["status"] for c in doc["changes"]] == (
        ["applied"] * (k - 1) + ["failed"] + ["not-applied"] * (len(planned) - k)
    )
    assert "Changed:" in failed.err
    assert "Not changed:" in failed.err

    run = [e for e in events(audit_dir) if e["run_id"] == doc["run_id"]]
    kinds = [e["event"] for e in run]
    assert kinds.count("change-applied") == k - 1
    assert kinds.count("change-failed") == 1
    end = run[-1]
    assert (end["event"], end["outcome"]) == ("run-end", "failed")
    assert [c["attribute"] for c in end["applied"]] == [c["attribute"] for c in planned[: k - 1]]
    assert [c["attribute"] for c in end["not_applied"]] == [
        c["attribute"] for c in planned[k - 1 :]
    ]

    rerun = run_task(case.action, case.wish)
    assert rerun.code == 0, rerun.err

    # The same job on an untouched copy, with no fault, must end in the same state.
    from remediations.actions import ACTIONS, parse_wish
    from remediations.audit import AuditLog
    from remediations.engine import run_action
    from remediations.sandbox import SandboxTransport
    from tests.conftest import FIXED_TIME

    action = ACTIONS[case.action]
    run_action(
        action,
        parse_wish(action, case.wish),
        transport=SandboxTransport(clean),
        audit=AuditLog(tmp_path / "other-audit", clock=lambda: FIXED_TIME, context={}),
        dry_run=False,
    )
    assert tenant_state(tenant_path) == tenant_state(clean)


def test_throttled_read_is_an_error_never_absent(run_task: Callable[..., CliResult]) -> None:
    """A read that fails is not taken for "not there": exit 1, nothing planned."""
    result = run_task(
        "add-allowed-sender",
        {"recipient": "Finance Approvers", "sender": "partner@fabrikam.com"},
        faults="throttle_call=4",
        as_json=True,
    )
    assert result.code == 1
    assert result.json()["outcome"] == "failed"
    assert "maximum number of concurrent requests" in result.err
