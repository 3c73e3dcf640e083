"""The run's retry budget: Retry-After first, else doubling back-off, never past the end."""

from __future__ import annotations

from remediations.budget import RetryBudget

from .conftest import FakeClock


def test_retry_after_first_then_doubling_back_off(clock: FakeClock) -> None:
    """Retry-After is obeyed as given; without it the wait doubles up to the cap."""
    budget = RetryBudget(seconds=100, base_delay=1, max_delay=5, clock=clock, sleep=clock.sleep)
    assert budget.wait(0, 7.5)
    for attempt in range(4):
        assert budget.wait(attempt, None)
    assert clock.sleeps == [7.5, 1, 2, 4, 5]


def test_a_wait_past_the_budget_is_refused_without_waiting(clock: FakeClock) -> None:
    """The budget is one per run: a wait that would overrun it is not taken."""
    budget = RetryBudget(seconds=10, clock=clock, sleep=clock.sleep)
    assert budget.wait(0, 6)
    assert not budget.wait(0, 6)
    assert clock.sleeps == [6]
    assert budget.remaining == 4
