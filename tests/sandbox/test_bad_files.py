"""Damaged, odd and self-contradicting sandbox files are bad input: one sentence, exit 2."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from remediations.testing import CliRunner, InvokeResult
from tests.conftest import tenant_doc

Invoke = CliRunner
FIX = ("fix-public-folder", "--folder", r"\Support\Escalations")


def one_sentence(proc: InvokeResult, *needles: str) -> None:
    """Exit 2, one line on stderr naming what is wrong, no traceback."""
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


# --- the sandbox store file ------------------------------------------------------------


def test_a_damaged_store(invoke_cli: Invoke, tenant_path: Path) -> None:
    """Pages overwritten with garbage: the store is damaged; reset or load writes a new one."""
    data = bytearray(tenant_path.read_bytes())
    data[4096:] = b"\x5a" * (len(data) - 4096)
    tenant_path.write_bytes(bytes(data))
    for args in (FIX, ("sandbox.show",), ("sandbox.export",)):
        proc = invoke_cli(*args)
        one_sentence(proc, str(tenant_path), "damaged", "sandbox.reset")
    assert tenant_path.read_bytes() == bytes(data)
    assert invoke_cli("sandbox.reset").returncode == 0
    assert invoke_cli(*FIX).returncode == 0


def test_a_file_that_is_not_a_store(invoke_cli: Invoke, tenant_path: Path) -> None:
    """Any other file at the sandbox path (text, or another SQLite database) is named as such."""
    tenant_path.write_text("hello\n")
    one_sentence(invoke_cli(*FIX), str(tenant_path), "not a sandbox store", "sandbox.reset")
    tenant_path.unlink()
    sqlite3.connect(tenant_path).execute("CREATE TABLE t (x)").connection.close()
    one_sentence(invoke_cli(*FIX), str(tenant_path), "not a sandbox store")
    assert invoke_cli("sandbox.reset").returncode == 0


def test_a_store_of_an_earlier_schema(invoke_cli: Invoke, tenant_path: Path) -> None:
    """A store written by an earlier version (its schema number): reset or load writes anew."""
    from remediations.sandbox.state import SCHEMA_VERSION

    with sqlite3.connect(tenant_path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION - 1}")
    conn.close()
    proc = invoke_cli(*FIX)
    one_sentence(proc, str(tenant_path), f"schema {SCHEMA_VERSION - 1}", "sandbox.reset")
    assert invoke_cli("sandbox.reset").returncode == 0
    assert invoke_cli(*FIX).returncode == 0


def test_an_old_json_tenant_file(invoke_cli: Invoke, tenant_path: Path) -> None:
    """The single JSON document of earlier versions: say to run sandbox.reset or sandbox.load."""
    tenant_path.write_text('{"schema": 1, "organization": "contoso.com", "recipients": "oops"}')
    proc = invoke_cli(*FIX)
    one_sentence(proc, str(tenant_path), "earlier version", "sandbox.reset", "sandbox.load")
    assert invoke_cli("sandbox.reset").returncode == 0


def test_the_sandbox_path_a_folder(invoke_cli: Invoke, tmp_path: Path) -> None:
    """A folder is not a sandbox file, for the fixes and for sandbox.reset alike."""
    folder = tmp_path / "folder"
    folder.mkdir()
    env = {"INVOKE_SANDBOX_PATH": str(folder)}
    for args in (FIX, ("sandbox.reset",), ("sandbox.show",)):
        one_sentence(invoke_cli(*args, env=env), str(folder), "is a folder")
    assert list(folder.iterdir()) == []


def test_the_sandbox_path_under_a_file(invoke_cli: Invoke, tmp_path: Path) -> None:
    """A sandbox path below a file cannot exist: say which part is a file."""
    blocker = tmp_path / "plain"
    blocker.write_text("x")
    env = {"INVOKE_SANDBOX_PATH": str(blocker / "tenant.db")}
    for args in (FIX, ("sandbox.reset",)):
        one_sentence(invoke_cli(*args, env=env), str(blocker), "is a file")
    assert blocker.read_text() == "x"


# --- tenant files (sandbox.load) ------------------------------------------------------------


def load_fails(invoke_cli: Invoke, tenant_path: Path, file: Path, *needles: str) -> None:
    """sandbox.load of ``file`` is refused in one sentence and the sandbox keeps its tenant."""
    before = tenant_doc(tenant_path)
    one_sentence(invoke_cli("sandbox.load", str(file)), str(file), *needles)
    assert tenant_doc(tenant_path) == before


def test_a_tenant_file_without_organization(
    invoke_cli: Invoke, tenant_path: Path, tmp_path: Path
) -> None:
    """organization is the one required key."""
    file = tmp_path / "t.yaml"
    file.write_text("recipients: []\n")
    load_fails(invoke_cli, tenant_path, file, "'organization: <domain>'")


def test_a_tenant_file_with_recipients_not_a_list(
    invoke_cli: Invoke, tenant_path: Path, tmp_path: Path
) -> None:
    """recipients: "oops" names the key and what it should be."""
    file = tmp_path / "t.yaml"
    file.write_text('organization: contoso.com\nrecipients: "oops"\n')
    load_fails(invoke_cli, tenant_path, file, "recipients must be a list")


def test_a_tenant_file_not_utf8(invoke_cli: Invoke, tenant_path: Path, tmp_path: Path) -> None:
    """A Latin-1 file is not read as anything: it is named as not UTF-8."""
    file = tmp_path / "t.yaml"
    text = "organization: contoso.com\nrecipients:\n  - {name: Caf\xe9}\n"
    file.write_bytes(text.encode("latin-1"))
    load_fails(invoke_cli, tenant_path, file, "not UTF-8")


def test_a_tenant_file_that_is_a_folder(
    invoke_cli: Invoke, tenant_path: Path, tmp_path: Path
) -> None:
    """sandbox.load of a folder names it."""
    load_fails(invoke_cli, tenant_path, tmp_path, "is a folder")


@pytest.mark.parametrize(
    ("second", "address"),
    [
        ("address: OPS@contoso.com", "OPS@contoso.com"),
        ("address: x@contoso.com, addresses: [Ops@Contoso.com]", "Ops@Contoso.com"),
    ],
    ids=["primary", "proxy"],
)
def test_two_recipients_with_one_address(
    invoke_cli: Invoke, tenant_path: Path, tmp_path: Path, second: str, address: str
) -> None:
    """The same address twice, in any case, primary or proxy: the entry and address named."""
    file = tmp_path / "t.yaml"
    file.write_text(
        "organization: contoso.com\nrecipients:\n"
        "  - {kind: distribution-group, name: Ops, address: ops@contoso.com}\n"
        f"  - {{kind: mailbox, name: Other, {second}}}\n"
    )
    load_fails(invoke_cli, tenant_path, file, "recipients[1] (Other)", repr(address), "'Ops'")


def test_an_address_listed_twice_by_one_recipient(tmp_path: Path) -> None:
    """One recipient naming its own address again is the same contradiction."""
    from remediations.errors import InputError
    from remediations.sandbox.tenant_file import tenant_from_mapping

    with pytest.raises(InputError, match=r"recipients\[0\] \(Ops\): the address 'OPS@contoso"):
        tenant_from_mapping(
            {
                "organization": "contoso.com",
                "recipients": [
                    {
                        "kind": "distribution-group",
                        "name": "Ops",
                        "address": "ops@contoso.com",
                        "addresses": ["OPS@contoso.com"],
                    }
                ],
            }
        )


def test_two_users_with_one_user_principal_name(
    invoke_cli: Invoke, tenant_path: Path, tmp_path: Path
) -> None:
    """Two mailboxes whose users share a UPN (in any case): the second entry and UPN named."""
    file = tmp_path / "t.yaml"
    file.write_text(
        "organization: contoso.com\nrecipients:\n"
        "  - {kind: mailbox, name: A, address: a@contoso.com, user: {upn: x@contoso.com}}\n"
        "  - {kind: mailbox, name: B, address: b@contoso.com, user: {upn: X@contoso.com}}\n"
    )
    load_fails(invoke_cli, tenant_path, file, "recipients[1] (B): user", "'X@contoso.com'", "'A'")


def test_a_duplicate_yaml_key(invoke_cli: Invoke, tenant_path: Path, tmp_path: Path) -> None:
    """YAML would keep the last value; a tenant file refuses the key, with its line."""
    file = tmp_path / "t.yaml"
    file.write_text(
        "organization: contoso.com\nrecipients:\n"
        "  - kind: mailbox\n    name: A\n    address: a@contoso.com\n    name: B\n"
    )
    load_fails(invoke_cli, tenant_path, file, "line 6", "the key 'name' is written twice")


def test_an_address_outside_the_accepted_domains(
    invoke_cli: Invoke, tenant_path: Path, tmp_path: Path
) -> None:
    """A mailbox in a domain the tenant does not accept is an error; a contact is not."""
    file = tmp_path / "t.yaml"
    file.write_text(
        "organization: contoso.com\nrecipients:\n"
        "  - {kind: mail-contact, name: Partner, address: partner@fabrikam.com}\n"
        "  - {kind: mail-user, name: Guest, address: guest@tailspin.com}\n"
        "  - {kind: mailbox, name: Stray, address: stray@fabrikam.com}\n"
    )
    load_fails(
        invoke_cli, tenant_path, file, "recipients[2] (Stray)", "'stray@fabrikam.com'", "contoso"
    )
    file.write_text(file.read_text().rsplit("  - {kind: mailbox", 1)[0])
    assert invoke_cli("sandbox.load", str(file)).returncode == 0
