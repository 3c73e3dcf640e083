"""Ctrl-C and SIGTERM during a run: never half-send a cmdlet, never half-write a log line.

While a run is :func:`interruptible`, SIGINT and SIGTERM raise :class:`Interrupted`
at once, except inside :func:`deferred` blocks (a cmdlet being sent and recorded,
an audit line being written): there the signal is noted and raised when the block
ends, so the cmdlet in flight finishes and its record is written first.  The run
then records what was and was not applied and exits 130 (SIGINT) or 143 (SIGTERM).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from remediations.errors import ExitStatus, RemediationError

__all__ = ["Interrupted", "deferred", "interruptible", "pending"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(RemediationError):
    """The run was stopped by SIGINT or SIGTERM; exit 128 + the signal's number."""

    def __init__(self, signum: int, message: str = "") -> None:
        self.signum = signum
        self.exit_code = ExitStatus(128 + signum)
        super().__init__(message or f"Interrupted by {signal.Signals(signum).name}.")

    @property
    def signal_name(self) -> str:
        """SIGINT or SIGTERM."""
        return signal.Signals(self.signum).name


class _State:
    depth = 0  # how many interruptible() blocks are open
    deferring = 0  # how many deferred() blocks are open
    pending: int | None = None  # a signal that arrived while deferring


_state = _State()


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    if _state.deferring:
        _state.pending = signum
        return
    raise Interrupted(signum)


@contextmanager
def interruptible() -> Iterator[None]:
    """Turn SIGINT/SIGTERM into :class:`Interrupted` for the block (re-entrant).

    Outside the main thread (where Python cannot install handlers) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[signal.Signals, Any] = {}
    if _state.depth == 0:
        _state.pending = None
        for sig in _SIGNALS:
            previous[sig] = signal.signal(sig, _on_signal)
    _state.depth += 1
    try:
        yield
    finally:
        _state.depth -= 1
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM until the block ends, then raise :class:`Interrupted`."""
    _state.deferring += 1
    try:
        yield
    finally:
        _state.deferring -= 1
    if not _state.deferring and _state.pending is not None and _state.depth:
        signum, _state.pending = _state.pending, None
        raise Interrupted(signum)


def pending() -> int | None:
    """The signal waiting to be raised, if any (checked between cmdlets)."""
    return _state.pending
