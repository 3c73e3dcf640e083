"""audit.verify hashes each line as written; a line changed in any way is still caught."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from remediations.audit import AuditLog, ChainError, check_chain
from remediations.audit.log import AUDIT_FILE


def _log(audit: AuditLog, audit_dir: Path) -> Path:
    audit.event("run-started", target="group000001@contoso.com")
    audit.event("change-applied", target="group000001@contoso.com", note="hash prev mac")
    audit.event("run-finished", outcome="applied")
    return audit_dir / AUDIT_FILE


def _edit(path: Path, index: int, change: object) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[index] = change(lines[index])  # type: ignore[operator]
    path.write_text("".join(lines), encoding="utf-8")


def test_a_line_spaced_again_by_hand_still_verifies(audit: AuditLog, audit_dir: Path) -> None:
    path = _log(audit, audit_dir)
    _edit(path, 1, lambda line: json.dumps(json.loads(line), indent=1).replace("\n", " ") + "\n")
    assert check_chain(path).count == 3


def test_a_changed_value_is_caught(audit: AuditLog, audit_dir: Path) -> None:
    path = _log(audit, audit_dir)
    _edit(path, 1, lambda line: line.replace("group000001", "group000002"))
    with pytest.raises(ChainError, match="line 2: was changed after it was written"):
        check_chain(path)


def test_the_hash_copied_into_a_value_is_caught(audit: AuditLog, audit_dir: Path) -> None:
    path = _log(audit, audit_dir)

    def copy_hash(line: str) -> str:
        event = json.loads(line)
        event["note"] = f'"hash":"{event["hash"]}"'
        return json.dumps(event, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"

    _edit(path, 1, copy_hash)
    with pytest.raises(ChainError, match="line 2: was changed after it was written"):
        check_chain(path)


def test_the_hash_moved_inside_the_event_is_caught(audit: AuditLog, audit_dir: Path) -> None:
    path = _log(audit, audit_dir)

    def move_hash(line: str) -> str:
        event = json.loads(line)
        event["target"] = {"hash": event.pop("hash")}
        return json.dumps(event, sort_keys=True, separators=(",", ":")) + "\n"

    _edit(path, 1, move_hash)
    with pytest.raises(ChainError, match="line 2"):
        check_chain(path)
