"""A failure in the middle of a playbook stops it and says what was done; resuming the
run (or simply running it again) ends in exactly the state an undisturbed run leaves."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from remediations.sandbox import reset_sandbox
from tests.conftest import CliResult, events, tenant_doc

RESTRICTED = (
    "restricted-group-outside-sender",
    "group=finance-approvers@contoso.com",
    "senders=partner@fabrikam.com,other@fabrikam.com",
)
# Its writes in order: 1.1 contact, list, authentication; 1.2 contact, list.
WRITES = 5


def state(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = tenant_doc(path)
    return data


@pytest.fixture
def reference_end_state(
    tmp_path: Path, tenant_path: Path, run_pb: Callable[..., CliResult]
) -> dict[str, Any]:
    """The state an undisturbed run of RESTRICTED leaves (the tenant is then reset)."""
    result = run_pb(*RESTRICTED)
    assert result.code == 0, result.err
    end = state(tenant_path)
    reset_sandbox(tenant_path)
    return end


@pytest.mark.parametrize("fail_write", range(1, WRITES + 1))
def test_resume_after_a_fault_equals_an_undisturbed_run(
    fail_write: int,
    tenant_path: Path,
    audit_dir: Path,
    run_pb: Callable[..., CliResult],
    reference_end_state: dict[str, Any],
) -> None:
    """Whichever write fails, resuming the run converges on the undisturbed end state."""
    failed = run_pb(*RESTRICTED, faults=f"fail_write={fail_write}", as_json=True)
    assert failed.code == 1
    doc = failed.json()
    assert doc["outcome"] == "failed"
    assert "injected fault" in doc["error"]
    assert f"--resume {doc['run_id']}" in doc["error"]
    statuses = [s["status"] for s in doc["steps"]]
    assert statuses == (
        ["failed", "not-started", "not-started"]
        if fail_write <= 3
        else ["verified", "failed", "not-started"]
    )
    assert state(tenant_path) != reference_end_state

    resumed = run_pb(RESTRICTED[0], resume=doc["run_id"], as_json=True)
    assert resumed.code == 0, resumed.err
    again = resumed.json()
    assert again["outcome"] == "applied"
    assert again["resume_of"] == doc["run_id"]
    assert again["parameters"] == doc["parameters"]
    if fail_write > 3:
        assert again["steps"][0]["status"] == "ok"
        assert again["steps"][0]["note"] == f"applied by run {doc['run_id']}"
    assert state(tenant_path) == reference_end_state

    start = next(
        e
        for e in events(audit_dir)
        if e["run_id"] == again["run_id"] and e["event"] == "playbook-start"
    )
    assert start["resume_of"] == doc["run_id"]


def test_a_failed_run_reports_applied_failed_and_not_started_steps(
    run_pb: Callable[..., CliResult],
) -> None:
    """The words say which steps were verified, which failed, which never started."""
    failed = run_pb(*RESTRICTED, faults="fail_write=4")
    assert failed.code == 1
    assert "stopped at step 1.2" in failed.err
    assert "Applied and verified: step 1.1." in failed.err
    assert "Not started: step 2." in failed.err
    assert "Changed: nothing. Not changed: other@fabrikam.com MailContact" in failed.err
    assert "1.2  FAILED" in failed.out
    assert "2    not started" in failed.out


def test_a_plain_rerun_also_converges(
    tenant_path: Path, run_pb: Callable[..., CliResult], reference_end_state: dict[str, Any]
) -> None:
    """Every action is idempotent, so running the same command again finishes the work."""
    assert run_pb(*RESTRICTED, faults="fail_write=2").code == 1
    assert run_pb(*RESTRICTED).code == 0
    assert state(tenant_path) == reference_end_state


def test_resume_the_leaver_after_the_rule_failed(
    leaver_tenant: Path, run_pb: Callable[..., CliResult]
) -> None:
    """The license is removed, the rule fails; resuming adds the rule without touching licenses."""
    failed = run_pb("leaver-block-mail", "user=jordan.lee@contoso.com", faults="fail_write=2")
    assert failed.code == 1
    run_id = failed.err.rsplit("--resume ", 1)[1].strip()
    users = state(leaver_tenant)["users"]
    assert users[0]["AssignedLicenses"] == []
    assert state(leaver_tenant)["transport_rules"] == []

    resumed = run_pb("leaver-block-mail", resume=run_id, as_json=True)
    assert resumed.code == 0, resumed.err
    steps = resumed.json()["steps"]
    assert [s["status"] for s in steps] == ["ok", "verified"]
    assert steps[0]["note"] == f"applied by run {run_id}"
    assert [r["Name"] for r in state(leaver_tenant)["transport_rules"]] == [
        "Block mail to leaver jordan.lee@contoso.com"
    ]


class TestResumeRefuses:
    """--resume checks the run before anything is read (exit 2)."""

    def test_an_unknown_run_id(self, run_pb: Callable[..., CliResult]) -> None:
        """A run id that is not in the log is bad input."""
        result = run_pb("leaver-block-mail", resume="0123456789ab")
        assert result.code == 2
        assert "no playbook run has that id" in result.err

    def test_another_playbooks_run(self, run_pb: Callable[..., CliResult]) -> None:
        """A run of another playbook names that playbook."""
        first = run_pb(*RESTRICTED, faults="fail_write=1", as_json=True)
        result = run_pb("leaver-block-mail", resume=first.json()["run_id"])
        assert result.code == 2
        assert "is a run of the playbook 'restricted-group-outside-sender'" in result.err

    def test_different_parameters(self, run_pb: Callable[..., CliResult]) -> None:
        """Parameters given with --resume must be the recorded ones."""
        first = run_pb(*RESTRICTED, faults="fail_write=1", as_json=True)
        result = run_pb(
            RESTRICTED[0], "senders=someone@fabrikam.com", resume=first.json()["run_id"]
        )
        assert result.code == 2
        assert "ran with senders=partner@fabrikam.com,other@fabrikam.com" in result.err

    def test_the_same_parameters_are_fine(self, run_pb: Callable[..., CliResult]) -> None:
        """Repeating the original command with --resume added works."""
        first = run_pb(*RESTRICTED, faults="fail_write=1", as_json=True)
        result = run_pb(*RESTRICTED, resume=first.json()["run_id"])
        assert result.code == 0, result.err

    def test_a_changed_playbook(
        self, run_pb: Callable[..., CliResult], write_playbook: Callable[[str, str], Path]
    ) -> None:
        """A playbook edited since the run has another version: start afresh instead."""
        text = """\
            name: open-partners
            description: Open the partners group.
            answers: {causes: [group-auth]}
            steps:
              - name: Open it
                action: open-group-to-external
                inputs:
                  group: partners@contoso.com
        """
        path = write_playbook("open-partners", text)
        first = run_pb(str(path), faults="fail_write=1", as_json=True)
        assert first.code == 1
        path.write_text(path.read_text() + "# edited\n")
        result = run_pb(str(path), resume=first.json()["run_id"])
        assert result.code == 2
        assert "has changed since that run" in result.err
