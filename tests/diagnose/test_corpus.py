"""The sample corpus: every sample gives the failures and causes its manifest expects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from remediations.diagnose import diagnose, parse_ndr

SAMPLES = Path(__file__).parent / "samples"
MANIFEST: list[dict[str, Any]] = yaml.safe_load(
    (SAMPLES / "expected.yaml").read_text(encoding="utf-8")
)["samples"]

# Every code in exchange.md §5.1 (ranges by their documented members), each of which the
# corpus must hold at least once.
DOCUMENTED_CODES = {
    "5.7.1", "5.7.12", "5.7.13", "5.7.23", "5.7.57", "5.7.64", "5.7.124", "5.7.129",
    "5.7.133", "5.7.134", "5.7.135", "5.7.136", "5.7.501", "5.7.502", "5.7.503",
    "5.7.606", "5.7.649", "5.7.703", "5.7.705", "5.7.708", "5.7.750",
    # exchange.md §9
    "5.7.54", "5.7.193", "5.7.511", "5.4.1",
}  # fmt: skip


def _sample_id(entry: dict[str, Any]) -> str:
    name = entry.get("file") or entry["line"][:48]
    return f"{name}[{entry['kind']}]" if entry.get("kind") else str(name)


def _raw(entry: dict[str, Any]) -> bytes | str:
    if "file" in entry:
        return (SAMPLES / str(entry["file"])).read_bytes()
    return str(entry["line"])


@pytest.mark.parametrize("entry", MANIFEST, ids=_sample_id)
def test_sample(entry: dict[str, Any]) -> None:
    """The sample's failures, statuses, causes (and confidence, sender) are as written."""
    report = parse_ndr(_raw(entry))
    diagnoses = diagnose(report, recipient_kind=entry.get("kind"))
    expected = entry["failures"]
    got = [
        {
            "recipient": d.recipient,
            "status": d.status,
            "cause": d.cause,
            **({"confidence": d.confidence} if "confidence" in want else {}),
        }
        for d, want in zip(diagnoses, expected, strict=False)
    ]
    assert len(diagnoses) == len(expected)
    assert got == expected
    assert report.sender == entry.get("sender")


def test_every_sample_file_is_in_the_manifest() -> None:
    """No sample sits in the folder untested."""
    files = {
        str(path.relative_to(SAMPLES))
        for path in SAMPLES.rglob("*")
        if path.is_file() and path.name != "expected.yaml"
    }
    assert files == {entry["file"] for entry in MANIFEST if "file" in entry}


def test_every_documented_code_is_covered() -> None:
    """Each code of exchange.md §5.1 appears in at least one sample."""
    covered = {f["status"] for entry in MANIFEST for f in entry["failures"]}
    assert DOCUMENTED_CODES - covered == set()


def test_corpus_has_each_form() -> None:
    """.eml files, pasted bodies, single lines, and a non-Microsoft MTA are all present."""
    files = [entry["file"] for entry in MANIFEST if "file" in entry]
    assert any(name.endswith(".eml") for name in files)
    assert any(name.startswith("pasted/") for name in files)
    assert any("line" in entry for entry in MANIFEST)
    assert any("postfix" in name and name.endswith(".eml") for name in files)
    assert any(len(entry["failures"]) > 1 for entry in MANIFEST)
