"""Every Exchange text and default lives in facts.py with its source, or is marked
UNCONFIRMED; the sandbox and the actions state none of their own."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import remediations.exchange.facts as facts_module

ROOT = Path(__file__).resolve().parent.parent
FACTS = Path(facts_module.__file__)
MARKERS = re.compile(r"\[doc\b|\[code\]|\[PowerShell\]|UNCONFIRMED")


def test_every_fact_cites_its_source_or_is_marked_unconfirmed() -> None:
    """The comment right above each entry names where it comes from."""
    lines = FACTS.read_text(encoding="utf-8").splitlines()
    tree = ast.parse(FACTS.read_text(encoding="utf-8"))
    names = []
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            assert isinstance(target, ast.Name)
            names.append(target.id)
            comments = []
            row = node.lineno - 2
            while row >= 0 and lines[row].startswith("#"):
                comments.append(lines[row])
                row -= 1
            assert comments, f"{target.id} has no comment citing its source"
            assert MARKERS.search(" ".join(comments)), (
                f"{target.id}: its comment cites no source ([doc: ...], [code], [PowerShell]) "
                "and is not marked UNCONFIRMED"
            )
    assert len(names) > 30


# Exchange's own phrases that must come from facts.py, never be written inline.
PHRASES = (
    "Cannot process argument transformation",
    "The length of the property is too long",
    "Cannot bind parameter",
    "You don't have sufficient permissions",
    "is not recognized as a name of a cmdlet",
    "does not exist or one of its queried",
    "User license is",
    "Edm.Guid",
    "must be between 0 and",
    "Delivery not authorized",
)
OWN_FILES = sorted(
    [
        *(ROOT / "remediations" / "actions").glob("*.py"),
        ROOT / "remediations" / "sandbox" / "cmdlets.py",
        ROOT / "remediations" / "sandbox" / "directory.py",
        ROOT / "remediations" / "sandbox" / "tenant_file.py",
    ]
)


@pytest.mark.parametrize("path", OWN_FILES, ids=[p.name for p in OWN_FILES])
def test_no_exchange_text_outside_the_facts_table(path: Path) -> None:
    """The sandbox's cmdlets and the actions take Exchange's texts from facts.py."""
    text = path.read_text(encoding="utf-8")
    for phrase in PHRASES:
        assert phrase not in text, f"{path.name} states {phrase!r}; put it in facts.py"
