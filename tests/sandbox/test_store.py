"""The sandbox's SQLite store: concurrent runs, committed reads, export, forks, the index."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from remediations.audit import read_events
from remediations.cli.sandbox import sandbox_export_task, sandbox_load_task
from remediations.exchange.cmdlet import Cmdlet
from remediations.sandbox import SandboxTransport, reset_sandbox
from remediations.sandbox.store import open_store
from remediations.sandbox.tenant_file import DEMO_TENANT, export_tenant, load_tenant_file
from tests.conftest import ROOT, tenant_doc
from tests.sandbox.roundtrip import assert_round_trip, comparable

GROUPS = 44


def many_groups_tenant(path: Path, groups: int = GROUPS) -> list[str]:
    """A tenant file with ``groups`` distribution groups closed to outside senders."""
    names = [f"team{i:02}@contoso.com" for i in range(groups)]
    path.write_text(
        yaml.safe_dump(
            {
                "organization": "contoso.com",
                "recipients": [
                    {"kind": "distribution-group", "name": f"Team {i:02}", "address": a}
                    for i, a in enumerate(names)
                ],
            }
        ),
        encoding="utf-8",
    )
    return names


_DRIVER = textwrap.dedent(
    """
    import io, json, sys
    from remediations.cli import run_action_task

    config = json.loads(sys.argv[1])
    failed = 0
    for group in json.loads(sys.argv[2]):
        err = io.StringIO()
        code = run_action_task(
            config, "open-group-to-external", {"group": group},
            dry_run=False, as_json=False, ticket="T-8", yes=True, out=io.StringIO(), err=err,
        )
        if code:
            print(group, code, err.getvalue(), file=sys.stderr)
            failed = 1
    sys.exit(failed)
    """
)


@pytest.mark.subprocess
@pytest.mark.parametrize("latency", [0, 20], ids=["no-latency", "latency"])
def test_two_processes_twenty_fixes_each_lose_nothing(
    tmp_path: Path, config: dict[str, Any], audit_dir: Path, latency: int
) -> None:
    """Two runs at once, 20 different fixes each: all 40 changes land, verified and logged."""
    source = tmp_path / "teams.yaml"
    groups = many_groups_tenant(source)
    assert sandbox_load_task(config, str(source), out=io.StringIO()) == 0
    run_config = {**config, "sandbox": {**config["sandbox"], "faults": f"latency_ms={latency}"}}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _DRIVER, json.dumps(run_config), json.dumps(part)],
            cwd=ROOT,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for part in (groups[0:40:2], groups[1:40:2])
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err

    out = io.StringIO()
    assert sandbox_export_task(config, fmt="json", out=out) == 0
    exported = {r["address"]: r for r in json.loads(out.getvalue())["recipients"]}
    opened = [g for g in groups if not exported[g]["require_sender_authentication"]]
    assert opened == groups[:40]
    events = list(read_events(audit_dir / "audit.jsonl"))
    verified = [e for e in events if e["event"] == "change-verified"]
    assert len(verified) == 40
    assert len({e["target"] for e in verified}) == 40
    from remediations.audit.log import verify_chain

    assert verify_chain(audit_dir / "audit.jsonl") == len(events)


def test_a_cmdlet_reads_what_another_run_committed(sandbox: SandboxTransport) -> None:
    """Verification reads committed state: a change by another transport is seen at once."""
    other = SandboxTransport(sandbox.path)
    read = Cmdlet("Get-DistributionGroup", (("Identity", "Partners"),))
    assert sandbox.send(read).objects[0]["RequireSenderAuthenticationEnabled"] is True
    other.send(
        Cmdlet(
            "Set-DistributionGroup",
            (
                ("Identity", "Partners"),
                ("RequireSenderAuthenticationEnabled", False),
                ("BypassSecurityGroupManagerCheck", True),
            ),
        )
    )
    assert sandbox.send(read).objects[0]["RequireSenderAuthenticationEnabled"] is False


def test_a_fork_plans_ahead_without_touching_the_store(sandbox: SandboxTransport) -> None:
    """A fork is a copy in memory: its writes are its own, the store's stay the store's."""
    before = tenant_doc(sandbox.path)
    fork = sandbox.fork()
    fork.send(
        Cmdlet(
            "Set-DistributionGroup",
            (
                ("Identity", "Partners"),
                ("RequireSenderAuthenticationEnabled", False),
                ("BypassSecurityGroupManagerCheck", True),
            ),
        )
    )
    read = Cmdlet("Get-DistributionGroup", (("Identity", "Partners"),))
    assert fork.send(read).objects[0]["RequireSenderAuthenticationEnabled"] is False
    assert sandbox.send(read).objects[0]["RequireSenderAuthenticationEnabled"] is True
    assert tenant_doc(sandbox.path) == before
    assert fork.fork().send(read).objects[0]["RequireSenderAuthenticationEnabled"] is False


def test_a_write_changes_only_its_own_rows(sandbox: SandboxTransport) -> None:
    """A cmdlet writes back the rows it changed, not the whole tenant, and journals itself."""
    store = open_store(sandbox.path)
    changes_before = store.conn.total_changes
    sandbox.send(
        Cmdlet(
            "Set-DistributionGroup",
            (
                ("Identity", "Partners"),
                ("RequireSenderAuthenticationEnabled", False),
                ("BypassSecurityGroupManagerCheck", True),
            ),
        )
    )
    assert store.conn.total_changes == changes_before  # another connection did the write
    rows = sandbox.store.conn.total_changes
    assert rows <= 3  # the group's row and one journal row (no index keys changed)
    with store.transaction(write=False) as state:
        journal = state.journal_entries()
    assert journal[-1]["name"] == "Set-DistributionGroup"
    store.close()


def test_identity_look_ups_use_the_index(sandbox: SandboxTransport) -> None:
    """Look-ups by name, alias, any address or folder path are index searches, not scans."""
    with sandbox.store.transaction(write=False) as state:
        plan = state.conn.execute(
            "EXPLAIN QUERY PLAN SELECT n FROM keys WHERE key = ?",
            ("partners",),
        ).fetchall()
        assert any("USING INDEX keys_by_key" in str(row) for row in plan)
        for key in ("Partners", "PARTNERS@contoso.com", r"\Support\Escalations"):
            assert len(state.find(key)) == 1
        assert state.find("nobody@contoso.com") == []


def test_export_then_load_gives_the_demo_tenant_back(
    tmp_path: Path, config: dict[str, Any]
) -> None:
    """sandbox.export writes the tenant-file format; sandbox.load of it gives the same tenant."""
    demo = load_tenant_file(DEMO_TENANT)
    assert_round_trip(demo)
    for fmt in ("yaml", "json"):
        target = tmp_path / f"export.{fmt}"
        err = io.StringIO()
        assert sandbox_export_task(config, output=str(target), fmt=fmt, err=err) == 0
        assert str(target) in err.getvalue()
        assert sandbox_load_task(config, str(target), out=io.StringIO()) == 0
        with open_store(Path(config["sandbox"]["path"])).transaction(write=False) as state:
            assert comparable(state) == comparable(demo)
            assert export_tenant(state) == export_tenant(demo)


def test_export_refuses_an_unknown_format(config: dict[str, Any]) -> None:
    """--format is yaml or json."""
    err = io.StringIO()
    assert sandbox_export_task(config, fmt="xml", err=err) == 2
    assert err.getvalue() == "--format 'xml' is not a format; give yaml or json.\n"


def test_reset_replaces_a_store_in_use(tmp_path: Path) -> None:
    """sandbox.reset over a store another transport has open: the open one sees the reset."""
    path = tmp_path / "tenant.db"
    reset_sandbox(path)
    transport = SandboxTransport(path)
    transport.send(
        Cmdlet(
            "Set-DistributionGroup",
            (
                ("Identity", "Partners"),
                ("RequireSenderAuthenticationEnabled", False),
                ("BypassSecurityGroupManagerCheck", True),
            ),
        )
    )
    reset_sandbox(path)
    read = Cmdlet("Get-DistributionGroup", (("Identity", "Partners"),))
    assert transport.send(read).objects[0]["RequireSenderAuthenticationEnabled"] is True
    assert tenant_doc(path)["journal"] == []


def test_reset_and_load_are_recorded_in_the_audit_log(
    tmp_path: Path, config: dict[str, Any], audit_dir: Path
) -> None:
    """sandbox-replaced: the replaced tenant's hash, the file loaded and its hash, the new one's."""
    import hashlib

    from remediations.cli.sandbox import sandbox_reset_task
    from remediations.sandbox.store import tenant_hash

    path = Path(config["sandbox"]["path"])
    path.unlink()
    assert sandbox_reset_task(config, out=io.StringIO()) == 0
    with open_store(path).transaction(write=False) as state:
        demo_hash = tenant_hash(state)
    source = tmp_path / "teams.yaml"
    many_groups_tenant(source, groups=2)
    assert sandbox_load_task(config, str(source), out=io.StringIO()) == 0
    with open_store(path).transaction(write=False) as state:
        teams_hash = tenant_hash(state)
    first, second = list(read_events(audit_dir / "audit.jsonl"))
    assert first["event"] == second["event"] == "sandbox-replaced"
    assert first["action"] == "sandbox.reset"
    assert first["replaced_tenant_hash"] is None
    assert first["replaced_note"] == "none"
    assert first["source"] == str(DEMO_TENANT)
    assert first["source_hash"] == hashlib.sha256(DEMO_TENANT.read_bytes()).hexdigest()
    assert first["tenant_hash"] == demo_hash
    assert second["action"] == "sandbox.load"
    assert second["replaced_tenant_hash"] == demo_hash
    assert second["source"] == str(source)
    assert second["source_hash"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert second["tenant_hash"] == teams_hash != demo_hash
    from remediations.audit.log import verify_chain

    assert verify_chain(audit_dir / "audit.jsonl") == 2


def test_a_refused_load_is_not_recorded(
    tmp_path: Path, config: dict[str, Any], audit_dir: Path
) -> None:
    """A tenant file that does not load changes nothing, so nothing is recorded."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("recipients: []\n")
    assert sandbox_load_task(config, str(bad), err=io.StringIO()) == 2
    assert not (audit_dir / "audit.jsonl").exists()


def test_adds_removes_and_members_reach_the_store(sandbox: SandboxTransport) -> None:
    """Recipients added or removed (through the state's methods or its list) and group
    members changed inside a transaction are committed as rows, with their index keys."""
    with sandbox.store.transaction(write=True) as state:
        partners = state.find("partners@contoso.com")[0]
        cfo = state.find("cfo@contoso.com")[0]
        contact = {
            "Guid": "0000-new",
            "Name": "New Contact",
            "PrimarySmtpAddress": "new@fabrikam.com",
            "EmailAddresses": ["SMTP:new@fabrikam.com"],
            "ExternalEmailAddress": "SMTP:new@fabrikam.com",
            "RecipientType": "MailContact",
            "RecipientTypeDetails": "MailContact",
        }
        state.recipients.append(contact)
        partners["Members"] = [*partners["Members"], cfo["Guid"]]
        partners["PrimarySmtpAddress"] = "allies@contoso.com"
        partners["EmailAddresses"] = ["SMTP:allies@contoso.com"]
    with sandbox.store.transaction(write=False) as state:
        assert [r["Name"] for r in state.find("NEW@fabrikam.com")] == ["New Contact"]
        assert state.find("partners@contoso.com") == []
        group = state.find("allies@contoso.com")[0]
        assert cfo["Guid"] in group["Members"]
        assert group["Guid"] in state.member_of(cfo["Guid"])
    with sandbox.store.transaction(write=True) as state:
        state.recipients.remove(state.find("New Contact")[0])
        state.remove_recipient(group["Guid"])
    with sandbox.store.transaction(write=False) as state:
        assert state.find("new@fabrikam.com") == []
        assert state.find("allies@contoso.com") == []
        assert group["Guid"] not in state.member_of(cfo["Guid"])


def test_a_failed_cmdlet_leaves_nothing_behind(sandbox: SandboxTransport) -> None:
    """A write that fails inside its transaction is rolled back, journal row and all."""
    from remediations.errors import CmdletError

    before = tenant_doc(sandbox.path)
    with pytest.raises(CmdletError):
        sandbox.send(
            Cmdlet(
                "Set-DistributionGroup",
                (
                    ("Identity", "Partners"),
                    ("AcceptMessagesOnlyFrom", ("nobody@nowhere.example",)),
                    ("BypassSecurityGroupManagerCheck", True),
                ),
            )
        )
    assert tenant_doc(sandbox.path) == before


def test_every_tenant_file_key_survives_export() -> None:
    """A tenant using every key of the format exports to a file that loads back the same."""
    from remediations.sandbox.tenant_file import tenant_from_mapping

    mapping = {
        "organization": "contoso.com",
        "accepted_domains": ["contoso.com", "contoso.net"],
        "recipients": [
            {
                "kind": "mailbox",
                "name": "Ann",
                "address": "ann@contoso.com",
                "addresses": ["ann@contoso.net", "a.n@contoso.com"],
                "alias": "annie",
                "display_name": "Ann N.",
                "user": {
                    "licenses": ["ENTERPRISEPACK", "VISIO"],
                    "account_enabled": False,
                    "synced": True,
                    "upn": "ann.n@contoso.com",
                },
            },
            {"kind": "shared-mailbox", "name": "Desk", "address": "desk@contoso.com"},
            {
                "kind": "mail-user",
                "name": "Guest",
                "address": "guest@contoso.com",
                "external_address": "guest@tailspin.com",
            },
            {"kind": "mail-contact", "name": "Partner", "address": "partner@fabrikam.com"},
            {
                "kind": "security-group",
                "name": "Sec",
                "address": "sec@contoso.com",
                "members": ["Ann", "desk@contoso.com"],
                "member_count": 12,
                "require_sender_authentication": False,
            },
            {
                "kind": "m365-group",
                "name": "Falcon",
                "address": "falcon@contoso.com",
                "accept_messages_only_from": ["Partner", "Sec"],
                "moderation_enabled": True,
                "moderated_by": ["Ann"],
                "bypass_moderation": ["Partner"],
            },
            {
                "kind": "public-folder",
                "name": "Escalations",
                "path": "\\Support\\Escalations",
                "address": "escalations@contoso.com",
            },
        ],
        "transport_rules": [
            {
                "name": "Block",
                "sent_to": ["Desk"],
                "from_scope": "NotInOrganization",
                "reject": {"status": "5.7.900", "text": "No"},
                "priority": 0,
                "enabled": False,
                "mode": "Audit",
                "stop_rule_processing": True,
                "comments": "why",
            },
            {"name": "Drop", "sent_to": ["Guest"], "delete": True},
        ],
        "external_senders": ["partner@fabrikam.com"],
        "blocked_ips": ["192.0.2.25"],
        "dns": {"zones": {"contoso.com": {"MX": ["0 contoso-com.mail.protection.outlook.com"]}}},
        "connectors": {"outbound": [{"Name": "Out", "SmartHosts": ["mail.contoso.com"]}]},
    }
    state = tenant_from_mapping(mapping)
    assert_round_trip(state)
    exported = export_tenant(state)
    assert exported["transport_rules"][0]["stop_rule_processing"] is True
    assert exported["recipients"][0]["user"]["upn"] == "ann.n@contoso.com"
    assert exported["recipients"][4]["member_count"] == 12


def test_threads_sharing_one_transport_take_turns(tmp_path: Path) -> None:
    """Threads of one process (the loopback servers') send through one transport safely."""
    from concurrent.futures import ThreadPoolExecutor

    from remediations.sandbox import load_tenant

    source = tmp_path / "teams.yaml"
    groups = many_groups_tenant(source, groups=16)
    path = tmp_path / "tenant.db"
    load_tenant(source, path)
    transport = SandboxTransport(path)

    def open_group(address: str) -> None:
        transport.send(
            Cmdlet(
                "Set-DistributionGroup",
                (
                    ("Identity", address),
                    ("RequireSenderAuthenticationEnabled", False),
                    ("BypassSecurityGroupManagerCheck", True),
                ),
            )
        )
        transport.send(Cmdlet("Get-DistributionGroup", (("Identity", address),)))

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(open_group, groups))
    doc = tenant_doc(path)
    assert all(not r["RequireSenderAuthenticationEnabled"] for r in doc["recipients"])
    assert len(doc["journal"]) == 16
