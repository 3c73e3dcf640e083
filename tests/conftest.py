"""Shared fixtures: a fresh demo tenant, an audit log, and the CLI run as a user runs it.

``tenant_path``, ``audit_dir`` and ``invoke_cli`` (the command line, in-process) are the
shipped ones (:mod:`remediations.testing.fixtures`); ``invoke_process`` runs the real
``invoke`` command in a subprocess, for the few tests about the process itself (start-up,
imports, signals, two processes at once), marked ``subprocess``.

The sandbox is the fake: nothing of our own is mocked.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from remediations.audit import AuditLog, read_events
from remediations.sandbox import SandboxTransport

ROOT = Path(__file__).resolve().parent.parent
pytest_plugins = ["remediations.testing.fixtures"]
FIXED_TIME = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

# Temporary files (tmp_path) in memory where the machine has a tmpfs: the sandbox store
# and the audit log sync every commit to disk, and on a shared disk those waits were
# most of the suite's time.  PYTEST_DEBUG_TEMPROOT is pytest's documented root for them.
_TMPFS = Path("/dev/shm")
if "PYTEST_DEBUG_TEMPROOT" not in os.environ and _TMPFS.is_dir() and os.access(_TMPFS, os.W_OK):
    os.environ["PYTEST_DEBUG_TEMPROOT"] = str(_TMPFS)


def pytest_configure(config: pytest.Config) -> None:
    """Byte-compile the package, ``tasks.py`` and the rewritten tests once, before any
    worker starts.

    Where ``PYTHONDONTWRITEBYTECODE`` is set (as on the CI machines), every worker, every
    in-process ``invoke`` run (its ``tasks.py``) and every ``invoke`` child process would
    compile the project's modules from source again; ``compileall`` writes the cache once
    (what ``pip install .`` does) and they all read it.  Nothing else changes.
    """
    if hasattr(config, "workerinput"):  # an xdist worker: the controller did it
        return
    import compileall

    compileall.compile_dir(ROOT / "remediations", quiet=1)
    compileall.compile_file(ROOT / "tasks.py", quiet=1)
    _cache_rewritten_tests(config, sorted(ROOT.joinpath("tests").rglob("*.py")))


def _cache_rewritten_tests(config: pytest.Config, sources: list[Path]) -> None:
    """Rewrite the test modules' asserts once, into pytest's own cache, for every worker.

    pytest caches a rewritten test module only where bytecode may be written, so under
    ``PYTHONDONTWRITEBYTECODE`` each xdist worker rewrote every test module again, about
    2.5 CPU-seconds a worker.  pytest reads its cache whatever that setting says, and
    checks each entry against its source's hash; this writes the entries a worker would
    have written, as it would have, two processes sharing the work.  These are pytest's
    internals: under a pytest without them (or with others), or ``--assert=plain``, it
    stops and each worker rewrites as before.
    """
    try:
        from _pytest.assertion.rewrite import (
            PYC_TAIL,
            _read_pyc,
            _rewrite_test,
            _write_pyc,
            assertstate_key,
            get_cache_dir,
        )

        state = config.stash[assertstate_key]
    except (ImportError, KeyError):
        return
    pattern = ("test_*.py", "conftest.py")

    def rewrite(share: list[Path]) -> None:
        for source in share:
            try:
                pyc = get_cache_dir(source) / (source.name[:-3] + PYC_TAIL)
                if _read_pyc(source, pyc, state.trace) is not None:
                    continue  # cached already (and still the source's)
                pyc.parent.mkdir(exist_ok=True)
                source_hash, code = _rewrite_test(source, config)
                _write_pyc(state, code, source_hash, pyc)
            except (OSError, SyntaxError):
                continue  # the worker that imports it reports it
            except Exception:  # pytest's internals changed: warming a cache must not fail a run
                return

    tests = [s for s in sources if any(s.match(p) for p in pattern)]
    child = os.fork() if hasattr(os, "fork") else -1
    if child == 0:  # the second process: every other module, then out at once
        try:
            rewrite(tests[1::2])
        finally:
            os._exit(0)
    rewrite(tests[0::2] if child > 0 else tests)
    if child > 0:
        os.waitpid(child, 0)


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # an xdist hook: without xdist, unused
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto``: one worker more than the machine has cores.

    A share of the suite waits rather than computes (child processes starting, signals
    landing, the sandbox's injected latency, loopback servers answering); on two cores a
    third worker fills those waits.  ``PYTEST_XDIST_AUTO_NUM_WORKERS`` still decides
    when set, as xdist documents; None leaves the count to xdist.
    """
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS") or config.option.numprocesses != "auto":
        return None
    return len(os.sched_getaffinity(0)) + 1 if hasattr(os, "sched_getaffinity") else None


def _assert_store_round_trips(path: Path) -> None:
    """The store at ``path`` passes ``load(export(t)) == t`` (nothing if it is no store)."""
    from remediations.errors import InputError
    from remediations.sandbox.store import open_store
    from tests.sandbox.roundtrip import assert_round_trip

    try:
        with path.open("rb") as handle:
            if handle.read(16) != b"SQLite format 3\x00":
                return
        store = open_store(path)
    except (OSError, InputError):
        return
    try:
        with store.transaction(write=False) as state:
            assert_round_trip(state)
    finally:
        store.close()


@pytest.fixture(scope="session")
def _pristine_bytes(_pristine_tenant: Path) -> bytes:
    """The demo tenant every ``tenant_path`` starts as, checked to round-trip once."""
    _assert_store_round_trips(_pristine_tenant)
    return _pristine_tenant.read_bytes()


@pytest.fixture(autouse=True)
def _tenants_round_trip(tmp_path: Path, _pristine_bytes: bytes) -> Iterator[None]:
    """After each test, every sandbox store it left passes ``load(export(t)) == t``.

    A store still byte for byte the demo tenant (nothing pending in its write-ahead
    log either) was checked once for the session.
    """
    yield
    for path in sorted(tmp_path.glob("**/*")):
        if not _is_the_demo_tenant(path, _pristine_bytes):
            _assert_store_round_trips(path)


def _is_the_demo_tenant(path: Path, pristine: bytes) -> bool:
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size:
        return False
    return path.is_file() and path.stat().st_size == len(pristine) and path.read_bytes() == pristine


@pytest.fixture
def sandbox(tenant_path: Path) -> SandboxTransport:
    """The sandbox transport over a fresh demo tenant."""
    return SandboxTransport(tenant_path)


@pytest.fixture
def audit(audit_dir: Path) -> AuditLog:
    """An audit log with a fixed clock."""
    return AuditLog(
        audit_dir,
        clock=lambda: FIXED_TIME,
        context={"actor": "tester", "tenant": "contoso.com", "transport": "sandbox"},
    )


def tenant_doc(path: Path) -> dict[str, Any]:
    """The whole sandbox tenant at ``path`` as one mapping (Exchange's names, with the journal).

    Read from the committed store, so comparing two of them shows any change.
    """
    from remediations.sandbox.store import document, open_store

    store = open_store(path)
    try:
        with store.transaction(write=False) as state:
            return document(state)
    finally:
        store.close()


def events(audit_dir: Path) -> list[dict[str, Any]]:
    """Every audit event written so far."""
    return list(read_events(audit_dir / "audit.jsonl"))


@dataclass
class CliResult:
    """What one in-process task call printed and returned."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        """The --json document."""
        return json.loads(self.out)


@pytest.fixture
def config(tenant_path: Path, audit_dir: Path) -> dict[str, Any]:
    """Invoke-style settings pointing at the test's tenant and audit folder."""
    return {
        "sandbox": {"path": str(tenant_path), "faults": ""},
        "audit": {"dir": str(audit_dir)},
        "actor": "tester",
        "target": "sandbox",
    }


def run_task_with(
    config: dict[str, Any],
    action: str,
    values: dict[str, Any],
    *,
    dry_run: bool = False,
    as_json: bool = False,
    ticket: str = "T-1",
    yes: bool = True,
    target: str | None = None,
    interactive: bool | None = None,
    ask: Callable[[str], str] = lambda prompt: "n",
    all_targets: bool = False,
    targets_file: Any = "",
) -> CliResult:
    """Run a remediation task in-process exactly as tasks.py does, with these settings
    (``ask`` answers the confirmation when ``interactive``; ``yes`` skips it)."""
    from remediations.cli import run_action_task

    out, err = io.StringIO(), io.StringIO()
    code = run_action_task(
        config,
        action,
        values,
        dry_run=dry_run,
        as_json=as_json,
        ticket=ticket,
        yes=yes,
        target=target,
        interactive=interactive,
        ask=ask,
        all_targets=all_targets,
        targets_file=str(targets_file),
        out=out,
        err=err,
    )
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture
def run_task(config: dict[str, Any]) -> Callable[..., CliResult]:
    """Run a remediation task in-process exactly as tasks.py does (``faults``: the sandbox's)."""

    def run(action: str, values: dict[str, Any], *, faults: str = "", **flags: Any) -> CliResult:
        cfg = {**config, "sandbox": {**config["sandbox"], "faults": faults}}
        return run_task_with(cfg, action, values, **flags)

    return run


@pytest.fixture
def invoke_process(
    tenant_path: Path, audit_dir: Path
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the real ``invoke`` command in a subprocess against the test's tenant.

    For what only a process shows; behaviour is tested with ``invoke_cli`` (in-process).
    """

    def run(
        *args: str, env: dict[str, str] | None = None, binary: str = "invoke"
    ) -> subprocess.CompletedProcess[str]:
        full_env = {
            **os.environ,
            "INVOKE_SANDBOX_PATH": str(tenant_path),
            "INVOKE_AUDIT_DIR": str(audit_dir),
            **(env or {}),
        }
        invoke = Path(sys.executable).with_name(binary)
        return subprocess.run(
            [str(invoke), *args],
            cwd=ROOT,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    return run
