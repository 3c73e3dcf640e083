"""A progress bar for long runs: counts, rate and time left, on a terminal only.

A run over many targets reads them, then writes the changes; each phase shows a
bar on standard error when it is a terminal (rich draws it, and removes it when
the phase ends).  With ``--json``, or when standard error is not a terminal (a
pipe, a log file, CI), nothing is drawn and rich is not even imported: the output
is the result alone.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol, TextIO

__all__ = ["PROGRESS_AT", "Progress", "open_progress"]

#: a phase with at least this many steps gets a bar
PROGRESS_AT = 20


class Progress(Protocol):
    """Where a long phase reports how far it got (thread-safe)."""

    def start(self, description: str, total: int) -> None:
        """A phase of ``total`` steps begins."""
        ...

    def advance(self, steps: int = 1) -> None:
        """``steps`` more are done."""
        ...

    def stop(self) -> None:
        """The phase is over (finished or not); the bar goes."""
        ...


class _Bar:
    """rich's progress bar on one stream: description, bar, done/total, rate, time left."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._lock = threading.Lock()
        self._progress: Any = None
        self._task: Any = None

    def start(self, description: str, total: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        with self._lock:
            self._close()
            if total < PROGRESS_AT:
                return
            self._progress = RichProgress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("left"),
                TimeRemainingColumn(),
                console=Console(file=self.stream),
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(description, total=total, rate="")

    def advance(self, steps: int = 1) -> None:
        with self._lock:
            if self._progress is None:
                return
            self._progress.advance(self._task, steps)
            speed = self._progress.tasks[0].speed
            rate = f"{speed:,.1f}/s" if speed else ""
            self._progress.update(self._task, rate=rate)

    def stop(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            self._task = None


def open_progress(stream: TextIO, *, enabled: bool = True) -> Progress | None:
    """A bar on ``stream`` if it is a terminal and ``enabled`` (not ``--json``), else None."""
    isatty = getattr(stream, "isatty", None)
    if not enabled or isatty is None or not isatty():
        return None
    return _Bar(stream)
