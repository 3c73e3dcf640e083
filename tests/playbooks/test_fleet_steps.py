"""A for_each step over many entries runs as one fleet step.

Its entries are read in one batched pass, planned as a whole, applied by the run's
writers and verified in one batched pass, yet the plan and the end state are those of
running the entries one by one; each entry keeps its step id, so resume, saved plans,
rollback and the audit log work as before.  Reads and writes are counted at the
transport boundary (a real client over the sandbox), never by mocking our code.
"""

from __future__ import annotations

import io
import json
import shutil
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from remediations.audit import AuditLog, read_events
from remediations.engine import Writers
from remediations.exchange.cmdlet import Cmdlet
from remediations.playbooks import bind, load_playbook, run_playbook
from remediations.playbooks.fleet import FLEET_AT
from remediations.sandbox import SandboxTransport
from remediations.sandbox.planning import PlanningCopy
from remediations.testing import RecordingTransport
from remediations.testing.fleet_tenant import write_fleet_tenant
from tests.conftest import CliResult
from tests.tenants.conftest import online_target
from tests.test_rollback import tenant

SENDER = "partner@fabrikam.com"

ALLOW_EVERYWHERE = """\
    name: allow-everywhere
    description: Let one outside sender mail every listed restricted group.
    answers:
      causes: [restricted-recipient]
    parameters:
      groups:
        type: list
        description: the groups
      sender:
        type: address
        description: the outside sender
    steps:
      - name: Allow the sender
        action: add-allowed-sender
        for_each: ${groups}
        inputs:
          recipient: ${item}
          sender: ${sender}
"""

OPEN_EVERY_GROUP = """\
    name: open-every-group
    description: Open every listed group to outside senders.
    answers:
      causes: [group-auth]
    parameters:
      groups:
        type: list
        description: the groups
    steps:
      - name: Open the group
        action: open-group-to-external
        for_each: ${groups}
        inputs:
          group: ${item}
"""


def book(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "books"
    folder.mkdir(exist_ok=True)
    name = text.split("name: ", 1)[1].split("\n", 1)[0].strip()
    path = folder / f"{name}.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def fleet_tenant(tmp_path: Path, groups: int, *, restricted: bool = True) -> tuple[Path, list[str]]:
    seed = tmp_path / f"seed-{groups}-{restricted}" / "tenant.db"
    seed.parent.mkdir()
    return seed, write_fleet_tenant(seed, groups=groups, restricted=restricted)


def copy_of(seed: Path, name: str) -> Path:
    """A copy of the seed store under a new name (no stale write-ahead log beside it)."""
    path = seed.parent / f"{name}.db"
    shutil.copy(seed, path)
    return path


def audit_log(folder: Path) -> AuditLog:
    return AuditLog(folder, clock=lambda: datetime.now(UTC), context={"actor": "tester"})


def groups_state(path: Path) -> list[dict[str, Any]]:
    """Every group's and contact's restrictions as the tenant answers them."""
    transport = SandboxTransport(path)
    try:
        out = []
        for getter in ("Get-DistributionGroup", "Get-MailContact"):
            for obj in transport.send(Cmdlet.of(getter, ResultSize="Unlimited")).objects:
                out.append(
                    {
                        "name": obj.get("Name"),
                        "accept": sorted(map(str, obj.get("AcceptMessagesOnlyFrom") or ())),
                        "auth": obj.get("RequireSenderAuthenticationEnabled"),
                        "address": obj.get("PrimarySmtpAddress"),
                    }
                )
        return sorted(out, key=lambda o: str(o["name"]))
    finally:
        transport.close()


def apply_playbook(
    playbook: Any, given: dict[str, Any], path: Path, audit_dir: Path, fleet_at: int | None
) -> tuple[Any, RecordingTransport]:
    """Apply a playbook on the sandbox at ``path`` with 4 writers, every call recorded;
    ``fleet_at=None`` runs every for_each entry on its own."""
    live = RecordingTransport(SandboxTransport(path))
    outcome = run_playbook(
        bind(playbook, given),
        transport=live,
        audit=audit_log(audit_dir),
        dry_run=False,
        planning_copy=live.inner.fork,
        writers=Writers(concurrency=4),
        fleet_at=fleet_at,
    )
    assert outcome.outcome == "applied"
    return outcome, live


def plans_of(outcome: Any) -> list[tuple[str, str, list[Any]]]:
    return [
        (r.bound.id, r.status, [c.to_json() for c in r.plan.changes] if r.plan else [])
        for r in outcome.steps
    ]


@pytest.mark.parametrize("text", [ALLOW_EVERYWHERE, OPEN_EVERY_GROUP], ids=["allow", "open"])
def test_a_fleet_step_plans_and_ends_as_its_entries_run_one_by_one(
    text: str, tmp_path: Path
) -> None:
    restricted = text is ALLOW_EVERYWHERE
    seed, groups = fleet_tenant(tmp_path, 30, restricted=restricted)
    playbook = load_playbook(book(tmp_path, text))
    given: dict[str, Any] = {"groups": groups}
    if restricted:
        given["sender"] = SENDER
    runs = {}
    for mode, fleet_at in (("fleet", FLEET_AT), ("one-by-one", None)):
        path = copy_of(seed, mode)
        outcome, live = apply_playbook(playbook, given, path, tmp_path / f"audit-{mode}", fleet_at)
        runs[mode] = (outcome, path, live)
    fleet, fleet_path, fleet_live = runs["fleet"]
    single, single_path, single_live = runs["one-by-one"]
    # The same plan, entry by entry (the contact once, in the first entry's share) ...
    assert plans_of(fleet) == plans_of(single)
    assert {r.status for r in fleet.steps} == {"verified"}
    # ... the same end state, for a fraction of the calls.
    assert groups_state(fleet_path) == groups_state(single_path)
    assert groups_state(fleet_path) != groups_state(seed)
    assert len(fleet_live.reads) * 10 < len(single_live.reads)
    changed = len({c.target.lower() for r in fleet.steps if r.plan for c in r.plan.changes})
    assert len(fleet_live.writes) == changed <= len(single_live.writes)


@pytest.mark.parametrize("text", [ALLOW_EVERYWHERE, OPEN_EVERY_GROUP], ids=["allow", "open"])
def test_a_fleet_step_reads_a_few_pages_and_writes_each_changed_object_once(
    text: str, tmp_path: Path
) -> None:
    """Every read that reaches the tenant is counted: planning on a planning copy reads
    the tenant once, as for a real target."""
    count = 150
    restricted = text is ALLOW_EVERYWHERE
    seed, groups = fleet_tenant(tmp_path, count, restricted=restricted)
    playbook = load_playbook(book(tmp_path, text))
    given: dict[str, Any] = {"groups": groups}
    if restricted:
        given["sender"] = SENDER
    path = copy_of(seed, "run")
    seen = []
    for _attempt in range(2):
        live = RecordingTransport(SandboxTransport(path))
        outcome = run_playbook(
            bind(playbook, given),
            transport=live,
            audit=audit_log(tmp_path / "audit"),
            dry_run=False,
            planning_copy=lambda live=live: PlanningCopy(live),
            writers=Writers(concurrency=4),
        )
        live.close()
        seen.append((outcome, live))
    (first, live), (again, rerun) = seen
    assert first.outcome == "applied"
    changed = {c.target.lower() for r in first.steps if r.plan for c in r.plan.changes}
    assert len(changed) == count + restricted  # every group, and the sender's contact
    assert len(live.writes) == len(changed)  # one write per changed object
    assert len(live.reads) / count < 0.1, [c.to_powershell() for c in live.reads]
    # A rerun with everything fixed writes nothing and reads a few listings.
    assert again.outcome == "no-change"
    assert rerun.writes == []
    assert len(rerun.reads) <= 5, [c.to_powershell() for c in rerun.reads]


def step_events(folder: Path, run_id: str) -> dict[tuple[str, str], list[int]]:
    """(step, event) -> the sizes of those events' lines (less their line number's digits)."""
    sizes: dict[tuple[str, str], list[int]] = {}
    for line in (folder / "audit.jsonl").read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        if event.get("run_id") == run_id and "step" in event:
            size = len(line.encode()) - len(str(event.get("seq", "")))
            sizes.setdefault((str(event["step"]), str(event["event"])), []).append(size)
    return sizes


def test_audit_events_of_a_fleet_step_do_not_grow_with_its_entries(tmp_path: Path) -> None:
    playbook = load_playbook(book(tmp_path, ALLOW_EVERYWHERE))
    runs = {}
    for count in (25, 75):
        seed, groups = fleet_tenant(tmp_path, count)
        folder = tmp_path / f"audit-{count}"
        live = SandboxTransport(copy_of(seed, "run"))
        outcome = run_playbook(
            bind(playbook, {"groups": groups, "sender": SENDER}),
            transport=live,
            audit=audit_log(folder),
            dry_run=False,
            planning_copy=live.fork,
            writers=Writers(concurrency=4),
        )
        live.close()
        assert outcome.outcome == "applied"
        runs[count] = (folder, outcome.run_id, groups)
    small = step_events(*runs[25][:2])
    large = step_events(*runs[75][:2])
    first = {key: sizes for key, sizes in large.items() if key[0] == "1.1"}
    assert {"step-planned", "change-planned", "change-applying", "change-applied"} <= {
        event for _, event in first
    }
    assert {"change-verified", "step-end"} <= {event for _, event in first}
    # The first entry's events are exactly as large with 25 entries as with 75.
    assert first == {key: sizes for key, sizes in small.items() if key[0] == "1.1"}
    ends = {}
    for count, (folder, run_id, _groups) in runs.items():
        for event in read_events(folder / "audit.jsonl"):
            if event["run_id"] == run_id and event["event"] == "playbook-end":
                ends[count] = event
    # The run's end names its entries by range: it does not grow with them either.
    assert ends[25]["verified"] == ["1.1-1.25"]
    assert ends[75]["verified"] == ["1.1-1.75"]
    folder, run_id, groups = runs[75]
    for event in read_events(folder / "audit.jsonl"):
        if event["run_id"] != run_id or event["event"] in ("playbook-start", "playbook-end"):
            continue
        assert "parameters" not in event
        line = json.dumps(event)
        assert sum(1 for g in groups if g in line) <= 1, event["event"]
        if event["event"].startswith("change-"):
            # each change event names the entry whose change it is
            assert event["step"].startswith("1.")
            entry = int(event["step"].split(".")[1])
            assert event["target"] in (groups[entry - 1], SENDER)


def run_cli(config: dict[str, Any], name: str, *params: str, **kw: Any) -> CliResult:
    from remediations.cli.playbooks import playbook_run_task

    out, err = io.StringIO(), io.StringIO()
    options: dict[str, Any] = {"dry_run": False, "as_json": False, "ticket": "T-1", "yes": True}
    options.update(kw)
    code = playbook_run_task(config, name, list(params), out=out, err=err, **options)
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture
def fleet_config(tmp_path: Path, config: dict[str, Any]) -> dict[str, Any]:
    seed, groups = fleet_tenant(tmp_path, 30)
    path = copy_of(seed, "cli")
    config = {**config, "sandbox": {"path": str(path), "faults": ""}}
    config["groups"] = ",".join(groups)
    config["book"] = str(book(tmp_path, ALLOW_EVERYWHERE))
    config["playbooks"] = {"dir": str(Path(config["book"]).parent)}
    return config


def test_the_preview_of_a_fleet_step_is_summarised_and_json_holds_every_entry(
    fleet_config: dict[str, Any],
) -> None:
    params = (f"groups={fleet_config['groups']}", f"sender={SENDER}")
    shown = run_cli(fleet_config, fleet_config["book"], *params, dry_run=True)
    assert shown.code == 0, shown.err
    assert "Step 1  Allow the sender: add-allowed-sender, for each of 30 entries" in shown.out
    assert "Plan (61 changes to 31 objects), by kind of change:" in shown.out
    assert "30  Set-DistributionGroup AcceptMessagesOnlyFrom" in shown.out
    assert " 1  New-MailContact MailContact" in shown.out
    assert "... and 51 more" in shown.out
    assert "group00030@contoso.com" not in shown.out.split("Parameters:")[1].split("\n", 1)[1]
    assert "1.1-1.30  Allow the sender, 30 entries  (61 changes)" in shown.out
    doc = run_cli(fleet_config, fleet_config["book"], *params, dry_run=True, as_json=True).json()
    assert [s["step"] for s in doc["steps"]] == [f"1.{n}" for n in range(1, 31)]
    assert sum(len(s["changes"]) for s in doc["steps"]) == 61
    assert doc["outcome"] == "planned"


def test_a_fleet_step_stopped_by_a_fault_is_resumed_and_finished(
    fleet_config: dict[str, Any],
) -> None:
    params = (f"groups={fleet_config['groups']}", f"sender={SENDER}")
    faulty = {**fleet_config, "sandbox": {**fleet_config["sandbox"], "faults": "fail_write=12"}}
    failed = run_cli(faulty, fleet_config["book"], *params, as_json=True)
    assert failed.code == 1, failed.err
    doc = failed.json()
    assert doc["outcome"] == "failed"
    statuses = {s["status"] for s in doc["steps"]}
    assert "failed" in statuses
    assert statuses <= {"failed", "not-started", "applied", "verified"}
    changes = [c for s in doc["steps"] for c in s["changes"]]
    applied = [c for c in changes if c["status"] == "applied"]
    assert applied
    assert len(applied) < len(changes)
    assert f"--resume {doc['run_id']}" in failed.err
    path = Path(fleet_config["sandbox"]["path"])
    assert any(g["auth"] for g in groups_state(path) if g["name"].startswith("Group"))

    resumed = run_cli(fleet_config, fleet_config["book"], resume=doc["run_id"], as_json=True)
    assert resumed.code == 0, resumed.err
    assert resumed.json()["outcome"] == "applied"
    assert resumed.json()["resume_of"] == doc["run_id"]
    state = [g for g in groups_state(path) if g["name"].startswith("Group")]
    assert len(state) == 30
    # every group: open to outside senders, its list the CFO and the sender's contact
    assert all(g["auth"] is False and len(g["accept"]) == 2 for g in state)
    again = run_cli(fleet_config, fleet_config["book"], *params, as_json=True)
    assert again.json()["outcome"] == "no-change"


def test_a_saved_fleet_plan_applies_exactly_and_rolls_back(
    fleet_config: dict[str, Any], tmp_path: Path
) -> None:
    from remediations.cli.review import plan_apply_task
    from tests.test_rollback import rollback

    params = (f"groups={fleet_config['groups']}", f"sender={SENDER}")
    path = Path(fleet_config["sandbox"]["path"])
    before = tenant(path)
    saved = tmp_path / "chg.json"
    made = run_cli(fleet_config, fleet_config["book"], *params, dry_run=True, save_plan=str(saved))
    assert made.code == 0, made.err
    plan = json.loads(saved.read_text(encoding="utf-8"))
    assert len(plan["changes"]) == 61
    assert [c["step"] for c in plan["changes"]][:2] == ["1.1", "1.1"]
    out, err = io.StringIO(), io.StringIO()
    code = plan_apply_task(fleet_config, str(saved), yes=True, as_json=True, out=out, err=err)
    assert code == 0, err.getvalue()
    applied = json.loads(out.getvalue())
    assert applied["outcome"] == "applied"
    assert tenant(path) != before
    undone = rollback(fleet_config, applied["run_id"], as_json=True)
    assert undone.code == 0, undone.err
    assert tenant(path) == before


def test_an_unknown_entry_refuses_the_whole_fleet_step_and_changes_nothing(
    fleet_config: dict[str, Any],
) -> None:
    groups = fleet_config["groups"].split(",")
    groups[16] = "no-such-group@contoso.com"
    path = Path(fleet_config["sandbox"]["path"])
    before = tenant(path)
    result = run_cli(fleet_config, fleet_config["book"], f"groups={','.join(groups)}",
                     f"sender={SENDER}")  # fmt: skip
    assert result.code == 2, result.err
    assert 'step 1.17 "Allow the sender" (no-such-group@contoso.com) cannot be planned' in (
        result.err
    )
    assert "Nothing was changed." in result.err
    assert tenant(path) == before


@pytest.mark.subprocess
def test_sigint_mid_fleet_step_stops_cleanly_and_resume_finishes(tmp_path: Path) -> None:
    """Ctrl-C while a fleet step's writers run: the writes in flight finish, exit 130, the
    log says interrupted, and --resume finishes every entry."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import ROOT

    seed, groups = fleet_tenant(tmp_path, 30)
    path = copy_of(seed, "sig")
    playbook = book(tmp_path, ALLOW_EVERYWHERE)
    audit_dir = tmp_path / "audit"
    env = {**os.environ, "INVOKE_SANDBOX_PATH": str(path), "INVOKE_AUDIT_DIR": str(audit_dir),
           "INVOKE_SANDBOX_FAULTS": "latency_ms=100"}  # fmt: skip
    invoke = str(Path(sys.executable).with_name("invoke"))
    args = [invoke, "playbook.run", str(playbook), "--param", "groups=" + ",".join(groups),
            "--param", f"sender={SENDER}"]  # fmt: skip
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    log = audit_dir / "audit.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if log.exists() and log.read_bytes().count(b'"change-applied"') >= 3:
            proc.send_signal(signal.SIGINT)
            break
        time.sleep(0.02)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "interrupted (SIGINT)" in err
    events = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    end = events[-1]
    assert (end["event"], end["outcome"]) == ("playbook-end", "interrupted")
    announced = {(e["target"], e["attribute"]) for e in events if e["event"] == "change-applying"}
    applied = {(e["target"], e["attribute"]) for e in events if e["event"] == "change-applied"}
    not_sent = {(e["target"], e["attribute"]) for e in events if e["event"] == "change-not-sent"}
    # every write in flight finished and was recorded; each change announced ahead but
    # never sent is closed as such: none is left "may have been applied"
    assert announced == applied | not_sent
    assert not applied & not_sent
    assert 0 < len(applied) < 61
    env["INVOKE_SANDBOX_FAULTS"] = ""
    resumed = subprocess.run([*args[:3], "--resume", end["run_id"]], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    state = [g for g in groups_state(path) if g["name"].startswith("Group")]
    assert all(g["auth"] is False and len(g["accept"]) == 2 for g in state)


def test_a_fleet_step_on_the_admin_api_reads_pages_not_targets(
    tmp_path: Path, config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a real target (the loopback admin API, planned ahead on its planning copy) the
    batching holds on the wire: a few requests per read pass, one write per object."""
    from remediations.testing import LoopbackTenant

    count = 120
    seed, groups = fleet_tenant(tmp_path, count)
    served = copy_of(seed, "served")
    monkeypatch.setenv("TEST_EXO_TOKEN", "loopback-token")
    monkeypatch.setenv("TEST_GRAPH_TOKEN", "loopback-token")
    params = (f"groups={','.join(groups)}", f"sender={SENDER}")
    with LoopbackTenant(SandboxTransport(served), token="loopback-token") as server:
        lab = {**config, "target": "lab", "targets": {"lab": online_target(server)}}
        playbook = str(book(tmp_path, ALLOW_EVERYWHERE))
        result = run_cli(lab, playbook, *params, as_json=True)
        assert result.code == 0, result.err
        assert result.json()["outcome"] == "applied"
        assert result.json()["planned_ahead"] is True
        writes = len(server.writes())
        reads = len(server.requests) - writes
        assert writes == count + 1  # each group once (list and authentication), the contact
        assert reads / count < 0.1, reads
        before = len(server.requests)
        again = run_cli(lab, playbook, *params, as_json=True)
        assert again.json()["outcome"] == "no-change"
        assert server.writes()[writes:] == []
        assert len(server.requests) - before <= 5
    state = [g for g in groups_state(served) if g["name"].startswith("Group")]
    assert all(g["auth"] is False and len(g["accept"]) == 2 for g in state)


def test_many_senders_to_one_group_merge_into_one_list_change(tmp_path: Path) -> None:
    """The shipped playbook with 22 senders: the entries' additions to the group's list are
    one change (in the first entry's share), the end state that of entry by entry."""
    from remediations.playbooks import SHIPPED_DIR, find_playbook
    from remediations.sandbox import reset_sandbox

    playbook = find_playbook("restricted-group-outside-sender", SHIPPED_DIR)
    senders = [f"partner{n:02d}@fabrikam.com" for n in range(22)]
    given = {"group": "finance-approvers@contoso.com", "senders": senders}
    ends = {}
    for mode, fleet_at in (("fleet", FLEET_AT), ("one-by-one", None)):
        path = tmp_path / mode / "tenant.db"
        reset_sandbox(path)
        outcome, live = apply_playbook(playbook, given, path, tmp_path / f"audit-{mode}", fleet_at)
        ends[mode] = (tenant(path), outcome, live)
    fleet, entries = ends["fleet"], ends["one-by-one"]
    assert fleet[0] == entries[0]
    lists = [
        c
        for r in fleet[1].steps
        if r.plan
        for c in r.plan.changes
        if c.attribute == "AcceptMessagesOnlyFrom"
    ]
    assert len(lists) == 1
    assert set(senders) <= {str(v) for v in lists[0].after or ()}
    assert len(fleet[2].writes) < len(entries[2].writes)
