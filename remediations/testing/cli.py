"""Run the ``invoke`` command line in-process, as a shell would, in a few milliseconds.

:func:`run_cli` runs one command line through Invoke's own :class:`invoke.program.Program`
(the object behind the ``invoke`` command; ``binary="ndr-fix"``: the project's console
script; or any program you pass) and returns what a subprocess would have given: the
exit status, stdout and stderr::

    from remediations.testing import run_cli

    result = run_cli(
        ["fix-public-folder", "--folder", r"\\Support\\Escalations", "--dry-run"],
        cwd=project,                                  # where tasks.py is found, as by invoke
        env={"INVOKE_SANDBOX_PATH": str(tenant)},     # the only INVOKE_* settings it sees
    )
    assert result.returncode == 0, result.stderr
    assert "Dry run: nothing changed" in result.stdout

:class:`CliRunner` keeps a ``cwd`` and an ``env`` for many calls; the pytest fixture
``invoke_cli`` (:mod:`remediations.testing.fixtures`) gives one pointed at a fresh sandbox
tenant and audit folder under the test's ``tmp_path``.

What a call controls, and puts back afterwards: the working directory, the ``INVOKE_*``
environment (the surrounding shell's are hidden; ``env`` gives the call's own, and any other
variable it names), ``sys.stdout``/``sys.stderr``/``sys.stdin``, ``sys.path`` and the loaded
``tasks`` module, and the signal handlers a run installs.  The exit status is the one the
process would exit with: ``SystemExit`` from the program (``Exit(code=...)``, a parse error,
``--help``) is caught and read.  An exception the program does not handle is a bug and is
raised to the caller, as a traceback would end a real process.

What only a real process shows (start-up time, which modules ``--list`` imports, a signal
from outside, two processes at once) needs a subprocess; this runner is for behaviour.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import signal
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from invoke.program import Program

__all__ = ["CliRunner", "InvokeResult", "invoke_program", "ndr_fix_program", "run_cli"]

#: The signals a run (or tasks.py) may take over; each call puts their handlers back.
_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGPIPE") if hasattr(signal, name)
)


@dataclass(frozen=True)
class InvokeResult:
    """One command line's exit status and output (the fields of ``CompletedProcess``)."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """The ``--json`` document on stdout."""
        return json.loads(self.stdout)


def invoke_program() -> Program:
    """A fresh program equal to the ``invoke`` command's own (``invoke.main.program``).

    It finds ``tasks.py`` from the working directory upwards and reads the project's
    ``invoke.yaml`` beside it, exactly as the command does.
    """
    from invoke.main import program

    return copy.copy(program)


def ndr_fix_program() -> Program:
    """A fresh program equal to the ``ndr-fix`` console script's (bad flags: exit 2)."""
    from remediations.cli.program import NdrFixProgram

    return NdrFixProgram(name="ndr-fix", binary="ndr-fix", binary_names=["ndr-fix"])


#: The project's commands by name: ``invoke`` (Invoke's own) and the ``ndr-fix`` script.
PROGRAMS = {"invoke": invoke_program, "ndr-fix": ndr_fix_program}


def run_cli(
    argv: Sequence[str],
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    stdin: str = "",
    program: Program | None = None,
    binary: str = "invoke",
) -> InvokeResult:
    """Run ``invoke *argv`` in this process; see the module's docstring for what it controls.

    ``binary`` names the command (``invoke`` or ``ndr-fix``, see :data:`PROGRAMS`);
    ``program`` instead runs any program, copied first (a program keeps state from
    its last run).
    """
    args = tuple(str(arg) for arg in argv)
    runner = copy.copy(program) if program is not None else PROGRAMS[binary]()
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with (
        _environment(env or {}),
        _working_directory(cwd),
        _imports_restored(),
        _signals_restored(),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        _stdin(stdin),
    ):
        try:
            runner.run([_binary_name(runner), *args], exit=True)
        except SystemExit as exc:
            code = _exit_status(exc.code, err)
    return InvokeResult(args, code, out.getvalue(), err.getvalue())


@dataclass
class CliRunner:
    """:func:`run_cli` with a working directory and environment kept for every call."""

    cwd: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    program: Program | None = None

    def __call__(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        stdin: str = "",
        binary: str = "invoke",
    ) -> InvokeResult:
        """Run ``invoke *args`` (or ``ndr-fix *args``); ``env`` adds to the runner's."""
        return run_cli(
            args,
            cwd=self.cwd,
            env={**self.env, **(env or {})},
            stdin=stdin,
            program=self.program,
            binary=binary,
        )


def _binary_name(program: Program) -> str:
    names = getattr(program, "_binary_names", None) or ["invoke"]
    return str(names[0])


def _exit_status(code: object, err: io.StringIO) -> int:
    """What the process would exit with for ``sys.exit(code)``."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=err)  # sys.exit("text") prints the text and exits 1
    return 1


@contextlib.contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    try:
        for name in [name for name in os.environ if name.startswith("INVOKE_")]:
            del os.environ[name]
        os.environ.update(env)
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _working_directory(cwd: str | os.PathLike[str] | None) -> Iterator[None]:
    if cwd is None:
        yield
        return
    with contextlib.chdir(cwd):
        yield


@contextlib.contextmanager
def _imports_restored() -> Iterator[None]:
    """Invoke's loader puts the project on ``sys.path`` and ``tasks`` in ``sys.modules``."""
    path = list(sys.path)
    tasks = sys.modules.get("tasks")
    try:
        yield
    finally:
        sys.path[:] = path
        if tasks is None:
            sys.modules.pop("tasks", None)
        else:
            sys.modules["tasks"] = tasks


@contextlib.contextmanager
def _signals_restored() -> Iterator[None]:
    saved = {signum: signal.getsignal(signum) for signum in _SIGNALS}
    try:
        yield
    finally:
        for signum, handler in saved.items():
            if handler is not None:
                signal.signal(signum, handler)


@contextlib.contextmanager
def _stdin(text: str) -> Iterator[None]:
    saved = sys.stdin
    sys.stdin = io.StringIO(text)
    try:
        yield
    finally:
        sys.stdin = saved
