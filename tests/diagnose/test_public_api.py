"""The package's public surface."""

from __future__ import annotations

import remediations.diagnose as package


def test_all_names_exist() -> None:
    """Every name in __all__ is importable from the package."""
    missing = [name for name in package.__all__ if not hasattr(package, name)]
    assert missing == []


def test_all_is_sorted_and_unique() -> None:
    """__all__ lists each name once, sorted (constants, classes, functions)."""
    assert len(package.__all__) == len(set(package.__all__))
    assert package.__all__ == sorted(package.__all__, key=lambda n: (not n.isupper(), n))


def test_entry_points() -> None:
    """The functions other layers call are exported."""
    assert {"parse_ndr", "diagnose", "render_text", "render_json", "build_ndr"} <= set(
        package.__all__
    )
