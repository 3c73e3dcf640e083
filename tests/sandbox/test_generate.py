"""``sandbox.generate``: large tenants that load, with the causes scan finds planted."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from remediations.cli.diagnose import scan_task
from remediations.cli.sandbox import sandbox_generate_task, sandbox_load_task
from remediations.exchange.cmdlet import Cmdlet
from remediations.sandbox import SandboxTransport
from remediations.sandbox.generate import generate_tenant
from remediations.sandbox.store import open_store, tenant_hash


def _generate(path: Path, recipients: int = 200, **extra: Any) -> tuple[int, str]:
    err = io.StringIO()
    code = sandbox_generate_task(recipients=recipients, output=str(path), err=err, **extra)
    return code, err.getvalue()


def _load(config: dict[str, Any], path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert sandbox_load_task(config, str(path), out=out, err=err) == 0, err.getvalue()


def _hash(config: dict[str, Any]) -> str:
    store = open_store(Path(config["sandbox"]["path"]))
    try:
        with store.transaction(write=False) as state:
            return tenant_hash(state)
    finally:
        store.close()


def test_a_generated_tenant_loads_and_scan_finds_every_planted_cause(
    config: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "big.yaml"
    code, said = _generate(path)
    assert code == 0
    assert "sandbox.load" in said
    _load(config, path)
    out = io.StringIO()
    assert scan_task(config, as_json=True, out=out, err=io.StringIO()) == 3
    report = json.loads(out.getvalue())
    found = Counter({cause: len(items) for cause, items in report["causes"].items()})
    planted = generate_tenant(200).planted
    assert set(planted) >= {
        "public-folder-auth",
        "group-auth",
        "recipient-auth",
        "restricted-recipient",
        "large-group-moderation",
        "disabled-account",
        "transport-rule",
    }
    assert found == planted
    assert report["errors"] == []


def test_json_and_yaml_give_the_same_tenant(config: dict[str, Any], tmp_path: Path) -> None:
    hashes = []
    for name in ("t.json", "t.yaml"):
        assert _generate(tmp_path / name, 120)[0] == 0
        _load(config, tmp_path / name)
        hashes.append(_hash(config))
    assert hashes[0] == hashes[1]
    # the same arguments, the same tenant; another seed, another one
    assert generate_tenant(120).mapping == generate_tenant(120).mapping
    assert generate_tenant(120, seed=2).mapping != generate_tenant(120).mapping


def test_everyone_has_the_members_asked_for(config: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    assert _generate(path, 100, members=99)[0] == 0
    _load(config, path)
    transport = SandboxTransport(Path(config["sandbox"]["path"]))
    members = transport.send(
        Cmdlet.of("Get-DistributionGroupMember", Identity="Everyone", ResultSize="Unlimited")
    ).objects
    assert len(members) == 99


@pytest.mark.parametrize(
    ("recipients", "members", "expected"),
    [
        ("lots", "", "--recipients 'lots' is not a number"),
        (10, "", "--recipients 10 is too small; give 50 or more"),
        (100, "100", "--members 100 is out of range; give 0 to 99"),
    ],
)
def test_bad_sizes_are_one_sentence_exit_2(
    tmp_path: Path, recipients: Any, members: str, expected: str
) -> None:
    path = tmp_path / "t.yaml"
    code, said = _generate(path, recipients, members=members)
    assert code == 2
    assert said.startswith(expected)
    assert said.count("\n") == 1
    assert not path.exists()


def test_get_mguser_lists_one_page_or_every_user(config: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    assert _generate(path, 300)[0] == 0
    _load(config, path)
    transport = SandboxTransport(Path(config["sandbox"]["path"]))
    page = transport.send(Cmdlet.of("Get-MgUser", Property=("UserPrincipalName",))).objects
    every = transport.send(
        Cmdlet.of("Get-MgUser", All=True, Property=("UserPrincipalName",))
    ).objects
    assert len(page) == 100
    assert len(every) == sum(1 for r in generate_tenant(300).mapping["recipients"] if "user" in r)
    assert len({u["UserPrincipalName"] for u in every}) == len(every)
