"""``sandbox.import``: a real tenant (the loopback admin API and Graph over the demo tenant)
copied into a tenant file that ``sandbox.load`` reads, and on which the diagnosis and the
playbooks give the same answers as on the original."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from remediations.cli.diagnose import diagnose_task
from remediations.cli.playbooks import playbook_run_task
from remediations.cli.sandbox import sandbox_import_task, sandbox_load_task
from remediations.sandbox import SandboxTransport, reset_sandbox
from remediations.testing import LoopbackTenant
from remediations.testing.tenant_server import Fault
from tests.diagnose.test_check import ndr_file
from tests.tenants.conftest import online_target

CANARY = "canary-7f3e9d1c-SECRET-token"


@pytest.fixture
def canary_server(served_path: Path) -> Any:
    """The loopback tenant, accepting only the canary token."""
    with LoopbackTenant(SandboxTransport(served_path), token=CANARY) as tenant:
        yield tenant


@pytest.fixture
def lab_config(
    canary_server: LoopbackTenant, config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """The test's settings plus a target ``lab`` on the loopback server, signed in with a
    token (the canary) from the environment."""
    monkeypatch.setenv("TEST_EXO_TOKEN", CANARY)
    monkeypatch.setenv("TEST_GRAPH_TOKEN", CANARY)
    return {
        **config,
        "targets": {"lab": online_target(canary_server)},
    }


def run_import(config: dict[str, Any], **flags: Any) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = sandbox_import_task(config, out=out, err=err, **flags)
    return code, out.getvalue(), err.getvalue()


def loaded(config: dict[str, Any], file: Path, tmp_path: Path) -> dict[str, Any]:
    """Settings whose sandbox holds the tenant file ``file`` (loaded with sandbox.load)."""
    copy = {**config, "sandbox": {"path": str(tmp_path / "imported.db"), "faults": ""}}
    out, err = io.StringIO(), io.StringIO()
    assert sandbox_load_task(copy, str(file), out=out, err=err) == 0, err.getvalue()
    return copy


def diagnosis(config: dict[str, Any], ndr: Path) -> dict[str, Any]:
    out, err = io.StringIO(), io.StringIO()
    code = diagnose_task(
        config, str(ndr), as_json=True, check=True, out=out, err=err, stdin=io.StringIO()
    )
    assert code == 0, err.getvalue()
    doc: dict[str, Any] = json.loads(out.getvalue())
    return doc


def playbook_plan(config: dict[str, Any], name: str, params: list[str]) -> list[Any]:
    out, err = io.StringIO(), io.StringIO()
    code = playbook_run_task(
        config, name, params, dry_run=True, as_json=True, ticket="", yes=False, out=out, err=err
    )
    assert code == 0, err.getvalue()
    doc = json.loads(out.getvalue())
    return [
        (s["step"], s["status"], [c["powershell"] for c in s.get("changes", [])])
        for s in doc["steps"]
    ]


CASES = [
    ("escalations@contoso.com", "public-folder-auth"),
    ("partners@contoso.com", "group-auth"),
    ("falcon@contoso.com", "unified-group-auth"),
    ("legal@contoso.com", "mailbox-auth"),
    ("taylor.reed@contoso.com", "mail-user-auth"),
    ("finance-approvers@contoso.com", "allowed-senders"),
    ("allstaff@contoso.com", "large-group-members"),
    ("board@contoso.com", "transport-rule"),
    ("jordan.lee@contoso.com", "disabled-account"),
]


def test_an_imported_tenant_gives_the_same_answers_as_the_original(
    lab_config: dict[str, Any],
    canary_server: LoopbackTenant,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Import every mail recipient over HTTP, load the file: diagnose --check and a playbook
    dry run answer exactly as on the demo tenant the server serves; nothing was written to
    the tenant, and the token never reaches the file."""
    monkeypatch.chdir(tmp_path)
    code, out, err = run_import(lab_config, target="lab")
    assert code == 0, err
    file = tmp_path / "tenant-contoso.com.yaml"
    assert out.startswith("Target: lab (exchange-online), tenant contoso.com.\n")
    assert (
        f"Imported 20 recipients, 8 users, 2 transport rules, 2 connectors, 3 accepted "
        f"domains, 3 domains into {file.name}." in out
    )
    assert canary_server.writes() == []
    text = file.read_text(encoding="utf-8")
    assert CANARY not in text
    assert "TEST_EXO_TOKEN" not in text
    listings = [r.parameters for r in canary_server.requests if r.cmdlet == "Get-Mailbox"]
    assert listings
    assert all(p.get("ResultSize") == "Unlimited" for p in listings)

    imported = loaded(lab_config, file, tmp_path)
    original = lab_config  # its sandbox is the demo tenant, as the server's is
    confirmed = 0
    for recipient, key in CASES:
        ndr = ndr_file(tmp_path, recipient, key)
        expected = diagnosis(original, ndr)
        assert diagnosis(imported, ndr) == expected, recipient
        confirmed += expected["check"]["confirmed"] is True
    assert confirmed >= 5  # the checks planned real fixes on both, not empty answers
    for name, params in (
        ("restricted-group-outside-sender", ["group=Finance Approvers", "senders=a@fabrikam.com"]),
        ("large-group-sender", ["group=All Staff", "senders=a@fabrikam.com"]),
        ("public-folder-external-sender", ["folder=\\Support\\Escalations"]),
    ):
        assert playbook_plan(imported, name, params) == playbook_plan(original, name, params)


def test_an_identity_import_holds_the_named_objects_and_what_they_reference(
    lab_config: dict[str, Any], canary_server: LoopbackTenant, tmp_path: Path
) -> None:
    """--identity 'Finance Approvers': the group, the CFO it accepts and its members, their
    directory users; rules that name none of them are left out; nothing else."""
    file = tmp_path / "fa.yaml"
    code, out, err = run_import(
        lab_config, target="lab", identities=["Finance Approvers"], output=str(file)
    )
    assert code == 0, err
    doc = yaml.safe_load(file.read_text(encoding="utf-8"))
    names = sorted(r["name"] for r in doc["recipients"])
    assert names == ["Alex Kim", "CFO", "Finance Approvers"]
    group = next(r for r in doc["recipients"] if r["name"] == "Finance Approvers")
    assert group["accept_messages_only_from"] == ["CFO"]
    assert group["members"] == ["CFO", "Alex Kim"]
    assert group["managed_by"] == ["CFO"]
    assert doc["transport_rules"] == []
    cfo = next(r for r in doc["recipients"] if r["name"] == "CFO")
    assert cfo["user"]["licenses"] == ["ENTERPRISEPACK"]
    assert "Imported 3 recipients" in out
    # The file loads, and the group answers as on the original.
    imported = loaded(lab_config, file, tmp_path)
    ndr = ndr_file(tmp_path, "finance-approvers@contoso.com", "allowed-senders")
    assert diagnosis(imported, ndr) == diagnosis(lab_config, ndr)
    # A rule that names the recipient comes along; one that names others does not.
    board = tmp_path / "board.yaml"
    code, _, err = run_import(lab_config, target="lab", identities=["board"], output=str(board))
    assert code == 0, err
    doc = yaml.safe_load(board.read_text(encoding="utf-8"))
    assert [r["name"] for r in doc["transport_rules"]] == ["Board accepts no external mail"]
    assert sorted(r["name"] for r in doc["recipients"]) == ["Board", "CFO"]


def test_an_unknown_identity_is_one_sentence_and_no_file(
    lab_config: dict[str, Any], tmp_path: Path
) -> None:
    """Bad input: exit 2, one sentence naming the identity, nothing written."""
    file = tmp_path / "x.yaml"
    code, _, err = run_import(lab_config, target="lab", identities=["nobody"], output=str(file))
    assert code == 2
    assert err.count("\n") == 1
    assert "--identity 'nobody'" in err
    assert not file.exists()


def test_an_existing_file_is_kept_without_force(
    lab_config: dict[str, Any], canary_server: LoopbackTenant, tmp_path: Path
) -> None:
    """The output exists: refused (exit 2) before anything is read; --force replaces it."""
    file = tmp_path / "t.yaml"
    file.write_text("mine\n")
    code, _, err = run_import(lab_config, target="lab", output=str(file))
    assert code == 2
    assert err == f"--output {file} already exists; give another file, or --force to replace it.\n"
    assert file.read_text() == "mine\n"
    assert canary_server.requests == []
    code, _, err = run_import(lab_config, target="lab", output=str(file), force=True)
    assert code == 0, err
    assert yaml.safe_load(file.read_text())["organization"] == "contoso.com"


def test_a_failed_read_writes_no_file(
    lab_config: dict[str, Any], canary_server: LoopbackTenant, tmp_path: Path
) -> None:
    """A listing the tenant does not answer: exit 1, the reason, and no file (never a
    file with part of the tenant)."""
    canary_server.inject(Fault(kind="status", status=403, cmdlet="Get-MailContact", times=100))
    file = tmp_path / "t.yaml"
    code, _, err = run_import(lab_config, target="lab", output=str(file))
    assert code == 1
    assert "could not be read" in err
    assert "Nothing was written." in err
    assert not file.exists()


def test_a_cut_listing_is_an_error(
    lab_config: dict[str, Any], canary_server: LoopbackTenant, tmp_path: Path
) -> None:
    """A result-size warning on a listing is an error, never a short tenant."""
    from remediations.exchange import facts

    canary_server.inject(
        Fault(kind="warning", cmdlet="Get-DistributionGroup", warning=facts.RESULT_SIZE_WARNING)
    )
    file = tmp_path / "t.yaml"
    code, _, err = run_import(lab_config, target="lab", output=str(file))
    assert code == 1
    assert "ResultSize" in err
    assert not file.exists()


def test_the_sandbox_imports_with_its_dns_zones(config: dict[str, Any], tmp_path: Path) -> None:
    """From the sandbox target, --dns copies the live MX and TXT its resolver answers; the
    file loads and holds them."""
    file = tmp_path / "s.yaml"
    code, _, err = run_import(config, output=str(file), dns=True)
    assert code == 0, err
    doc = yaml.safe_load(file.read_text())
    zones = doc["dns"]["zones"]
    assert zones["contoso.net"]["MX"] == [
        "0 contoso-net.mail.protection.outlook.com",
        "10 mail.contoso.net",
    ]
    assert "contoso.onmicrosoft.com" not in zones
    reset_sandbox(tmp_path / "check.db")
    loaded(config, file, tmp_path)


def test_references_by_name_and_kinds_a_file_cannot_hold(
    lab_config: dict[str, Any], served_path: Path, tmp_path: Path
) -> None:
    """A list entry shown as a name (as Exchange Server may show it) is matched to its
    recipient; a room mailbox is not copied, and list entries naming it are left out, each
    said in a note, so the file still loads."""
    from remediations.sandbox.store import open_store

    store = open_store(served_path)
    try:
        with store.transaction(write=True) as state:
            state.add_recipient(
                {
                    "Guid": "0b0b0b0b-0000-4000-8000-000000000001",
                    "Name": "Room 1",
                    "Alias": "room1",
                    "DisplayName": "Room 1",
                    "PrimarySmtpAddress": "room1@contoso.com",
                    "EmailAddresses": ["SMTP:room1@contoso.com"],
                    "RecipientType": "UserMailbox",
                    "RecipientTypeDetails": "RoomMailbox",
                    "RequireSenderAuthenticationEnabled": False,
                }
            )
            group = state.find("finance-approvers@contoso.com")[0]
            group["AcceptMessagesOnlyFrom"] = [
                *group["AcceptMessagesOnlyFrom"],
                "0b0b0b0b-0000-4000-8000-000000000001",
            ]
            group["ModeratedBy"] = ["HR"]
    finally:
        store.close()
    file = tmp_path / "t.yaml"
    try:
        code, out, err = run_import(lab_config, target="lab", output=str(file))
    finally:
        reset_sandbox(served_path)  # a room mailbox is no tenant-file kind: not left behind
    assert code == 0, err
    assert "Note: Not copied (a tenant file cannot describe them yet): 1 RoomMailbox." in out
    assert "1 list entr(ies) naming a recipient the file cannot describe were left out" in out
    doc = yaml.safe_load(file.read_text(encoding="utf-8"))
    group_entry = next(r for r in doc["recipients"] if r["name"] == "Finance Approvers")
    assert group_entry["accept_messages_only_from"] == ["CFO"]
    assert group_entry["moderated_by"] == ["HR"]
    loaded(lab_config, file, tmp_path)


def test_an_on_premises_import_over_psrp(
    config: dict[str, Any], served_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exchange Server (PSRP, no Graph): the recipients, lists, rules and connectors come
    through the same converter; a note says there were no directory users; the password
    never reaches the file."""
    from remediations.testing.psrp_server import LoopbackExchangeServer

    monkeypatch.setenv("TEST_ONPREM_PASSWORD", CANARY)
    with LoopbackExchangeServer(SandboxTransport(served_path), password=CANARY) as endpoint:
        hq = {
            **config,
            "targets": {
                "hq": {
                    "kind": "exchange-onprem",
                    "endpoint": endpoint.url,
                    "auth": "basic",
                    "username": "svc-ndr",
                    "password_env": "TEST_ONPREM_PASSWORD",
                }
            },
        }
        file = tmp_path / "hq.yaml"
        code, out, err = run_import(hq, target="hq", output=str(file))
    assert code == 0, err
    assert "Note: This target has no directory" in out
    text = file.read_text(encoding="utf-8")
    assert CANARY not in text
    doc = yaml.safe_load(text)
    assert len(doc["recipients"]) == 20
    group = next(r for r in doc["recipients"] if r["name"] == "Finance Approvers")
    assert group["accept_messages_only_from"] == ["CFO"]
    assert [r["name"] for r in doc["transport_rules"]] == [
        "Board accepts no external mail",
        "Former staff - Casey Morgan",
    ]
    loaded(config, file, tmp_path)
