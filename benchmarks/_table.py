"""The benchmark table: one row per figure (what, target, measured, met?)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Row", "print_table"]


@dataclass(frozen=True, slots=True)
class Row:
    """One figure: what was measured, its target, the measurement, whether it is met.

    ``met`` is None for a figure shown for information (no target).
    """

    figure: str
    target: str
    measured: str
    met: bool | None


def print_table(rows: Iterable[Row], *, title: str = "") -> None:
    """Print the rows as one table, with the machine's core count."""
    rows = list(rows)
    print(title or f"machine: {os.cpu_count()} cores")
    width = max([len("figure"), *(len(r.figure) for r in rows)])
    target = max([len("target"), *(len(r.target) for r in rows)])
    measured = max([len("measured"), *(len(r.measured) for r in rows)])
    print(f"{'figure':<{width}}  {'target':<{target}}  {'measured':>{measured}}  met?")
    print(f"{'-' * width}  {'-' * target}  {'-' * measured}  ----")
    for r in rows:
        met = "-" if r.met is None else ("yes" if r.met else "NO")
        print(f"{r.figure:<{width}}  {r.target:<{target}}  {r.measured:>{measured}}  {met}")
