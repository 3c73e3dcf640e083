"""Exit statuses and Invoke integration, in-process: one error tree, one helper, no patching."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from invoke.program import Program

from remediations.audit import ChainError
from remediations.cli.program import NdrFixProgram
from remediations.diagnose import NotAnNdr, parse_ndr
from remediations.errors import (
    ExitStatus,
    InputError,
    RemediationError,
    UnknownIdentity,
    exit_status,
)
from remediations.interrupts import Interrupted
from tests.conftest import ROOT, tenant_doc


def test_every_documented_exit_status_is_in_the_tree() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert {int(s) for s in ExitStatus} == {0, 1, 2, 3, 130, 143}
    for status in ("130", "143", "exit 3", "2 bad input"):
        assert status in readme


@pytest.mark.parametrize(
    ("result", "status"),
    [
        (None, 0),
        (ExitStatus.PROBLEMS_FOUND, 3),
        (UnknownIdentity("x"), 2),
        (NotAnNdr("x"), 2),
        (ChainError(3, "was changed"), 1),
        (RemediationError("x"), 1),
        (Interrupted(2), 130),
        (Interrupted(15), 143),
        (KeyboardInterrupt(), 130),
    ],
)
def test_exit_status_of_results_and_errors(result: object, status: int) -> None:
    assert exit_status(result) == status  # type: ignore[arg-type]


def test_a_bug_gets_no_exit_status() -> None:
    with pytest.raises(TypeError):
        exit_status(KeyError("x"))


def test_not_an_ndr_is_bad_input_and_a_value_error() -> None:
    with pytest.raises(NotAnNdr) as caught:
        parse_ndr(b"Subject: hello\n\njust a message\n")
    assert isinstance(caught.value, InputError)
    assert isinstance(caught.value, ValueError)
    assert caught.value.exit_code == 2


def test_no_exit_status_is_a_literal_in_the_edge() -> None:
    """The edge returns ExitStatus names or an error's exit_code, never a bare number."""
    literals = []
    for path in [ROOT / "tasks.py", *sorted((ROOT / "remediations" / "cli").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Return)
                and isinstance(node.value, ast.Constant)
                and type(node.value.value) is int
            ):
                literals.append(f"{path.name}:{node.lineno}")
    assert literals == []


def test_tasks_py_does_not_patch_invoke() -> None:
    """Importing tasks.py leaves Invoke's Program as Invoke ships it."""
    parse_tasks = Program.parse_tasks
    execute = Program.execute
    import tasks  # noqa: F401

    assert Program.parse_tasks is parse_tasks
    assert Program.execute is execute
    assert not hasattr(Program.parse_tasks, "wrapped")


@pytest.fixture
def in_project(monkeypatch: pytest.MonkeyPatch, tenant_path: Path, audit_dir: Path) -> Path:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("INVOKE_SANDBOX_PATH", str(tenant_path))
    monkeypatch.setenv("INVOKE_AUDIT_DIR", str(audit_dir))
    return tenant_path


def run(argv: list[str]) -> int:
    program = NdrFixProgram(name="ndr-fix", binary="ndr-fix", binary_names=["ndr-fix"])
    try:
        program.run(["ndr-fix", *argv])
    except SystemExit as done:
        return int(done.code or 0)
    return 0


@pytest.mark.parametrize(
    ("argv", "sentence"),
    [
        (
            ["fix-public-folder", "--foldr", "x"],
            "'--foldr' is neither a flag of fix-public-folder nor a task",
        ),
        (["fix-public-folder", "--folder"], "--folder needs a value"),
        (["add-allowed-sender", "--sender", "--dry-run"], "--sender needs a value"),
        (["playbook.show"], "playbook.show needs NAME"),
        (
            ["sandbox.reset", "scan", "--partnr", "a@b.c"],
            "'--partnr' is neither a flag of scan nor a task",
        ),
    ],
)
def test_ndr_fix_parse_errors_are_one_sentence_and_exit_2(
    in_project: Path, capsys: pytest.CaptureFixture[str], argv: list[str], sentence: str
) -> None:
    before = tenant_doc(in_project)
    assert run(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(sentence + ";")
    assert err.endswith("' lists the flags and what they take.")
    assert len(err.splitlines()) == 1
    assert tenant_doc(in_project) == before


def test_ndr_fix_runs_tasks_and_passes_their_exit_status(in_project: Path) -> None:
    assert run(["check-domain", "--domain", "contoso.net"]) == 3
    assert run(["check-domain", "--domain", "contoso.com"]) == 0
    assert run(["fix-public-folder", "--folder", "no such folder", "--dry-run"]) == 2
