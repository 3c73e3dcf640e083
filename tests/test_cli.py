"""The commands as a user types them: exit codes, messages, --json, speed-critical imports."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from remediations.testing import CliRunner
from tests.conftest import ROOT, CliResult, events, tenant_doc

HEAVY = ("msgraph", "azure", "pypsrp", "kiota", "psrpcore")
Invoke = CliRunner


def imported_modules(args: list[str], env: dict[str, str], *, full: bool = False) -> set[str]:
    """The top-level packages a command imports (python -X importtime); ``full``: the
    modules by their full names."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "invoke", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            names.add(name if full else name.split(".")[0])
    return names


@pytest.mark.subprocess
@pytest.mark.parametrize(
    "args",
    [
        ["--list"],
        ["fix-public-folder", "--help"],
        ["fix-public-folder", "--folder", "\\Support\\Escalations", "--dry-run"],
    ],
    ids=["list", "help", "sandbox-dry-run"],
)
def test_fast_paths_never_import_tenant_sdks(
    args: list[str], tenant_path: Path, audit_dir: Path
) -> None:
    """--list, --help and sandbox runs load no tenant SDK (msgraph alone costs seconds)."""
    import os

    env = {
        **os.environ,
        "INVOKE_SANDBOX_PATH": str(tenant_path),
        "INVOKE_AUDIT_DIR": str(audit_dir),
    }
    loaded = imported_modules(args, env)
    assert "invoke" in loaded
    assert not {m for m in loaded if m.startswith(HEAVY)}
    # rich draws the progress bar on a terminal only; structlog must not pull it in either
    # (its hidden attempt at "rich" itself is listed; no module of rich is loaded)
    assert not {m for m in imported_modules(args, env, full=True) if m.startswith("rich.")}
    if args == ["--list"]:
        # (Invoke itself loads yaml.)  Of ours, only the table of the actions' inputs, which
        # the tasks' flags and help are made from; it imports nothing.
        assert "structlog" not in loaded
        ours = {m for m in imported_modules(args, env, full=True) if m.startswith("remediations")}
        assert ours == {"remediations", "remediations.action_inputs"}


def test_dry_run_then_apply_then_rerun_from_the_shell(
    invoke_cli: Invoke, tenant_path: Path
) -> None:
    """The support engineer's path: preview, apply, and a rerun that does nothing."""
    dry = invoke_cli("fix-public-folder", "--folder", "\\Support\\Escalations", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "- $true\n    + $false" in dry.stdout
    assert (
        "Set-MailPublicFolder -Identity '\\Support\\Escalations' "
        "-RequireSenderAuthenticationEnabled:$false" in dry.stdout
    )
    assert "Dry run: nothing changed" in dry.stdout
    applied = invoke_cli(
        "fix-public-folder", "--folder", "\\Support\\Escalations", "--ticket", "INC-7"
    )
    assert applied.returncode == 0
    assert "Applied and verified 1 change" in applied.stdout
    again = invoke_cli("fix-public-folder", "--folder", "\\Support\\Escalations", "--json")
    assert again.returncode == 0
    doc = json.loads(again.stdout)
    assert (doc["outcome"], doc["changes"]) == ("no-change", [])


def test_json_document(run_task: Callable[..., CliResult]) -> None:
    """--json prints one document with run_id, dry_run, outcome and each change in full."""
    result = run_task(
        "add-allowed-sender",
        {"recipient": "finance-approvers@contoso.com", "sender": "partner@fabrikam.com"},
        dry_run=True,
        as_json=True,
    )
    doc = result.json()
    assert doc["dry_run"] is True
    assert doc["outcome"] == "planned"
    assert len(doc["run_id"]) == 12
    first = doc["changes"][0]
    assert set(first) >= {"target", "attribute", "before", "after", "powershell"}
    assert first["powershell"] == (
        "New-MailContact -Name 'partner@fabrikam.com' -ExternalEmailAddress 'partner@fabrikam.com'"
    )
    assert doc["changes"][1]["before"] == ["cfo@contoso.com"]
    assert doc["changes"][1]["after"] == ["cfo@contoso.com", "partner@fabrikam.com"]


BAD_INPUTS = [
    (
        "fix-public-folder",
        {"folder": "\\Support\\Escalatons"},
        # the path as typed: one backslash each, not Python's repr of it
        "--folder '\\Support\\Escalatons': no mail-enabled public folder has that identity",
    ),
    # Without --folder the fix covers every folder with the cause; applying needs --all.
    ("fix-public-folder", {"folder": None}, "run it again with --all to apply this plan"),
    ("add-allowed-sender", {"recipient": "Partners", "sender": None}, "--sender is required"),
    ("fix-public-folder", {"folder": "  "}, "--folder is empty"),
    (
        "add-allowed-sender",
        {"recipient": "Partners", "sender": "not an address"},
        "is not an email address",
    ),
    ("add-allowed-sender", {"recipient": "Partners", "sender": "a@b"}, "is not an email address"),
    (
        "add-allowed-sender",
        {"recipient": "Nobody", "sender": "p@fabrikam.com"},
        "no recipient has that identity",
    ),
    (
        "add-allowed-sender",
        {"recipient": "Partners", "sender": "p@fabrikam.com"},
        "requires authenticated senders",
    ),
    ("open-group-to-external", {"group": "cfo@contoso.com"}, "is a UserMailbox"),
    ("bypass-moderation", {"group": "falcon", "sender": "cfo@contoso.com"}, "Microsoft 365 group"),
    (
        "block-delicensed-user",
        {"user": "Jordan Lee", "mode": "bounce"},
        "give one of reject, delete",
    ),
    ("block-delicensed-user", {"user": "cfo@contoso.com"}, "looks active"),
]


@pytest.mark.parametrize(
    ("action", "values", "message"), BAD_INPUTS, ids=[m for *_, m in BAD_INPUTS]
)
def test_bad_input_exits_2_with_one_sentence_and_changes_nothing(
    action: str,
    values: dict[str, object],
    message: str,
    tenant_path: Path,
    audit_dir: Path,
    run_task: Callable[..., CliResult],
) -> None:
    """One clear sentence naming the input, exit 2, tenant and earlier audit lines untouched."""
    run_task("fix-public-folder", {"folder": "\\Support\\Escalations"}, dry_run=True)
    tenant_before = tenant_doc(tenant_path)
    log = audit_dir / "audit.jsonl"
    log_before = log.read_bytes()
    result = run_task(action, values)
    assert result.code == 2
    assert message in result.err
    assert result.err.count("\n") == 1
    assert "Traceback" not in result.err
    assert tenant_doc(tenant_path) == tenant_before
    assert log.read_bytes().startswith(log_before)


@pytest.mark.subprocess
def test_bad_input_from_the_shell_has_no_traceback(
    invoke_process: Callable[..., subprocess.CompletedProcess[str]], tenant_path: Path
) -> None:
    """The real command, in its own process: exit 2, the sentence on stderr."""
    before = tenant_doc(tenant_path)
    proc = invoke_process(
        "add-allowed-sender", "--recipient", "Finance Approvers", "--sender", "nope"
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "--sender 'nope' is not an email address; give one like partner@fabrikam.com."
    )
    assert tenant_doc(tenant_path) == before


def test_missing_sandbox_file_is_explained(invoke_cli: Invoke, tmp_path: Path) -> None:
    """A configured sandbox path that does not exist says how to create one."""
    proc = invoke_cli(
        "open-group-to-external",
        "--group",
        "Partners",
        env={"INVOKE_SANDBOX_PATH": str(tmp_path / "missing.json")},
    )
    assert proc.returncode == 2
    assert "invoke sandbox.reset" in proc.stderr


def test_sandbox_reset_show_and_load(invoke_cli: Invoke, tmp_path: Path) -> None:
    """reset restores the demo; show prints objects; load reads a tenant file."""
    assert invoke_cli("open-group-to-external", "--group", "Partners").returncode == 0
    reset = invoke_cli("sandbox.reset")
    assert "demo tenant contoso.com" in reset.stdout
    shown = invoke_cli("sandbox.show")
    assert "partners@contoso.com  [requires authenticated senders" in shown.stdout
    one = invoke_cli("sandbox.show", "--identity", "All Staff")
    assert "MemberCount" in one.stdout
    assert "5214" in one.stdout
    tenant = tmp_path / "mine.yaml"
    tenant.write_text(
        "organization: fabrikam.com\nrecipients:\n"
        "  - {kind: distribution-group, name: Ops, address: ops@fabrikam.com}\n"
    )
    loaded = invoke_cli("sandbox.load", str(tenant))
    assert loaded.returncode == 0, loaded.stderr
    assert "Ops" in invoke_cli("sandbox.show").stdout


def test_sandbox_load_reports_file_entry_and_key(invoke_cli: Invoke, tmp_path: Path) -> None:
    """A tenant file with a typo names the file, the entry and the key."""
    tenant = tmp_path / "typo.yaml"
    tenant.write_text(
        "organization: fabrikam.com\nrecipients:\n"
        "  - {kind: mailbox, name: A, adress: a@fabrikam.com}\n"
    )
    proc = invoke_cli("sandbox.load", str(tenant))
    assert proc.returncode == 2
    assert f"{tenant}: recipients[0]: unknown key 'adress'" in proc.stderr


def test_audit_verify_detects_an_edited_line(invoke_cli: Invoke, audit_dir: Path) -> None:
    """audit.verify passes on an intact log and names the line that was changed."""
    invoke_cli("open-group-to-external", "--group", "Partners")
    ok = invoke_cli("audit.verify")
    assert ok.returncode == 0
    assert "hash chain intact" in ok.stdout
    log = audit_dir / "audit.jsonl"
    lines = log.read_text().splitlines()
    lines[2] = lines[2].replace("Partners", "Partnerz").replace("partners", "partnerz")
    log.write_text("\n".join(lines) + "\n")
    bad = invoke_cli("audit.verify")
    assert bad.returncode == 1
    assert "line 3: was changed after it was written" in bad.stderr
    assert len(events(audit_dir)) == len(lines)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["fix-public-folder", "--foldr", "x"],
            "'--foldr' is neither a flag of fix-public-folder nor a task; "
            "'ndr-fix --help fix-public-folder' lists the flags and what they take.",
        ),
        (
            ["fix-public-folder", "--folder"],
            "--folder needs a value; 'ndr-fix --help fix-public-folder' lists the flags and what "
            "they take.",
        ),
        (
            [
                "sandbox.send",
                "--sender",
                "a@fabrikam.com",
                "--recipient",
                "cfo@contoso.com",
                "--size-kb",
                "abc",
            ],
            "--size-kb 'abc' is not a size; give a whole number of KB, 1 or more.",
        ),
    ],
    ids=["unknown-flag", "flag-without-value", "not-a-number"],
)
def test_flags_invoke_cannot_parse_exit_2(
    invoke_cli: Invoke, tenant_path: Path, args: list[str], message: str
) -> None:
    """Misspelt flags and missing values are bad input too: one sentence, exit 2 (the
    ndr-fix console script: Invoke's own program keeps Invoke's own parse errors)."""
    before = tenant_doc(tenant_path)
    proc = invoke_cli(*args, binary="ndr-fix")
    assert proc.returncode == 2
    assert proc.stderr.strip() == message
    assert tenant_doc(tenant_path) == before
