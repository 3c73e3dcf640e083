"""One time budget per run for waiting on a tenant that asks us to slow down.

Every transport of a run (Exchange admin API, PSRP, Graph) draws on the same
:class:`RetryBudget`: a throttled or failing read is retried with back-off,
honouring ``Retry-After``, until the budget is spent; then it is an error, never
an empty result.

Concurrent writers share one budget too: a throttling answer to any of them sets a
pause every worker honours (:meth:`RetryBudget.gate` before each request), so the
run as a whole slows down instead of each worker hammering on alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["RetryBudget"]


@dataclass(slots=True, kw_only=True)
class RetryBudget:
    """Seconds a run may spend waiting before retries, shared by its transports.

    ``clock`` and ``sleep`` are injectable so that tests need not wait.
    """

    seconds: float = 120.0
    #: the first back-off when the server names no delay; doubled each attempt
    base_delay: float = 1.0
    #: the longest single back-off when the server names no delay
    max_delay: float = 30.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _deadline: float | None = field(default=None, init=False, repr=False)
    #: no worker sends before this clock time (set by a throttling answer)
    _resume_at: float = field(default=0.0, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def remaining(self) -> float:
        """Seconds left to wait in this run."""
        with self._lock:
            if self._deadline is None:
                self._deadline = self.clock() + self.seconds
            deadline = self._deadline
        return max(0.0, deadline - self.clock())

    @property
    def spent(self) -> bool:
        """Whether the run's time to wait is used up."""
        return self.remaining <= 0.0

    def gate(self) -> None:
        """Wait out a pause another worker's throttling answer set (no pause: return at once)."""
        with self._lock:
            resume_at = self._resume_at
        pause = resume_at - self.clock()
        if pause > 0:
            self.sleep(pause)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """How long to wait before attempt ``attempt + 1`` (the server's word first)."""
        if retry_after is not None:
            return max(0.0, retry_after)
        return float(min(self.max_delay, self.base_delay * (2**attempt)))

    def wait(self, attempt: int, retry_after: float | None) -> bool:
        """Wait before the next attempt; False (and no wait) when the budget would be overrun."""
        pause = self.delay(attempt, retry_after)
        if pause > self.remaining:
            return False
        with self._lock:
            self._resume_at = max(self._resume_at, self.clock() + pause)
        self.gate()
        return True
