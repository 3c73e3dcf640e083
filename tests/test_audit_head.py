"""The chain's end cannot be cut off, nor the chain recomputed: heads, counts, keys.

Every run prints (and its ``run-end`` line is) the chain head; ``audit.verify
--head HASH --count N`` proves the log still holds it.  With ``audit.key_file``
every line carries an HMAC, so a chain rewritten without the key is found.
"""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from remediations.audit import AuditLog, ChainError, check_chain, read_events
from remediations.audit.log import GENESIS
from tests.conftest import FIXED_TIME, CliResult

ALLOW = {"recipient": "Finance Approvers", "sender": "partner@fabrikam.com"}


def verify(config: dict[str, Any], **options: Any) -> CliResult:
    from remediations.cli.audit import audit_verify_task

    out, err = io.StringIO(), io.StringIO()
    code = audit_verify_task(config, out=out, err=err, **options)
    return CliResult(code, out.getvalue(), err.getvalue())


def printed_head(result: CliResult) -> tuple[str, int]:
    found = re.search(r"Audit chain head: event (\d+), hash ([0-9a-f]{64})", result.out)
    assert found, result.out
    return found.group(2), int(found.group(1))


def lines_of(audit_dir: Path) -> list[str]:
    return (audit_dir / "audit.jsonl").read_text().splitlines()


def write_lines(audit_dir: Path, lines: list[str]) -> None:
    (audit_dir / "audit.jsonl").write_text("".join(line + "\n" for line in lines))


def recompute(lines: list[str]) -> list[str]:
    """What a forger who can write the file does: rebuild seq, prev and hash, no key."""
    prev, out = GENESIS, []
    for seq, line in enumerate(lines, start=1):
        event = json.loads(line)
        for field in ("prev", "hash", "mac"):
            event.pop(field, None)
        event["seq"] = seq
        body = json.dumps(event, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        digest = hashlib.sha256((prev + "\n" + body).encode()).hexdigest()
        out.append(json.dumps({**event, "prev": prev, "hash": digest}, sort_keys=True))
        prev = digest
    return out


@pytest.fixture
def two_runs(run_task: Callable[..., CliResult]) -> tuple[str, int]:
    """A dry run then a real run; the real run's printed head."""
    assert run_task("add-allowed-sender", ALLOW, dry_run=True).code == 0
    result = run_task("add-allowed-sender", ALLOW)
    assert result.code == 0, result.err
    return printed_head(result)


def test_every_run_prints_its_head_and_its_run_end_line_is_it(
    run_task: Callable[..., CliResult], audit_dir: Path
) -> None:
    dry = run_task("add-allowed-sender", ALLOW, dry_run=True)
    real = run_task("add-allowed-sender", ALLOW, as_json=True)
    refused = run_task("add-allowed-sender", {"recipient": "Nobody Here", "sender": "a@b.com"})
    assert refused.code == 2
    events = list(read_events(audit_dir / "audit.jsonl"))
    ends = [e for e in events if e["event"] == "run-end"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    dry_hash, dry_count = printed_head(dry)
    assert (dry_hash, dry_count) == (ends[0]["hash"], ends[0]["seq"])
    assert real.json()["chain_head"] == {"count": ends[1]["seq"], "hash": ends[1]["hash"]}
    assert printed_head(refused) == (ends[2]["hash"], ends[2]["seq"])
    assert len(refused.err.strip().splitlines()) == 1  # the error stays one sentence


def test_verify_holds_the_head(config: dict[str, Any], two_runs: tuple[str, int]) -> None:
    head, count = two_runs
    result = verify(config, head=head, count=count)
    assert result.code == 0, result.err
    assert f"Holds the head {head} at event {count} (0 events written after it)" in result.out
    assert verify(config, head=head[:12]).code == 0
    doc = verify(config, head=head, count=count, as_json=True).json()
    assert doc["intact"] is True
    assert doc["head"] == {"count": count, "hash": head}


def test_deleting_the_last_run_is_named_with_the_head(
    config: dict[str, Any], audit_dir: Path, two_runs: tuple[str, int]
) -> None:
    head, count = two_runs
    lines = lines_of(audit_dir)
    first_run_end = next(i for i, line in enumerate(lines) if '"run-end"' in line)
    write_lines(audit_dir, lines[: first_run_end + 1])
    assert verify(config).code == 0  # the chain alone cannot see it
    result = verify(config, head=head, count=count)
    assert result.code == 1
    assert (
        f"the head recorded event {count}, but the log now ends at event {first_run_end + 1}"
        in result.err
    )
    assert f"events {first_run_end + 2} to {count} were removed from the end" in result.err
    doc = verify(config, head=head, as_json=True).json()
    assert doc["intact"] is False
    assert f"does not hold the head {head}" in doc["error"]


def test_deleting_the_last_line_is_named_with_the_count(
    config: dict[str, Any], audit_dir: Path, two_runs: tuple[str, int]
) -> None:
    _, count = two_runs
    write_lines(audit_dir, lines_of(audit_dir)[:-1])
    result = verify(config, count=count)
    assert result.code == 1
    assert f"event {count} were removed from the end" in result.err


def test_edit_middle_delete_and_reorder_are_named(
    config: dict[str, Any], audit_dir: Path, two_runs: tuple[str, int]
) -> None:
    original = lines_of(audit_dir)
    edited = [*original]
    edited[3] = edited[3].replace('"ticket":"T-1"', '"ticket":"T-9"')
    assert edited[3] != original[3]
    write_lines(audit_dir, edited)
    assert "line 4: was changed after it was written" in verify(config).err
    write_lines(audit_dir, original[:3] + original[4:])
    assert "line 4: does not follow the line before it" in verify(config).err
    write_lines(audit_dir, [original[0], original[2], original[1], *original[3:]])
    result = verify(config)
    assert result.code == 1
    assert "line 2: does not follow the line before it (deleted or moved)" in result.err


def test_a_recomputed_chain_is_found_by_the_head(
    config: dict[str, Any], audit_dir: Path, two_runs: tuple[str, int]
) -> None:
    head, count = two_runs
    lines = lines_of(audit_dir)
    lines[3] = lines[3].replace('"ticket":"T-1"', '"ticket":"T-9"')
    write_lines(audit_dir, recompute(lines))
    assert verify(config).code == 0  # consistent in itself
    result = verify(config, head=head, count=count)
    assert result.code == 1
    assert f"does not hold the head {head} at event {count}" in result.err


@pytest.fixture
def keyed(config: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    key = tmp_path / "audit.key"
    key.write_text("correct horse battery staple\n")
    return {**config, "audit": {**config["audit"], "key_file": str(key)}}


def test_a_keyed_chain_finds_a_recomputed_chain_without_any_head(
    keyed: dict[str, Any], audit_dir: Path, run_task: Callable[..., CliResult]
) -> None:
    from remediations.cli import run_action_task

    out, err = io.StringIO(), io.StringIO()
    code = run_action_task(
        keyed, "add-allowed-sender", ALLOW, dry_run=False, as_json=False, ticket="T", yes=True,
        out=out, err=err,
    )  # fmt: skip
    assert code == 0, err.getvalue()
    lines = lines_of(audit_dir)
    assert all(json.loads(line)["mac"] for line in lines)
    assert "correct horse" not in "".join(lines) + out.getvalue()
    good = verify(keyed)
    assert good.code == 0, good.err
    assert "every HMAC matches the key" in good.out
    lines[2] = lines[2].replace('"ticket":"T"', '"ticket":"T-9"')
    write_lines(audit_dir, recompute(lines))
    assert verify(config_without_key(keyed)).code == 0
    result = verify(keyed)
    assert result.code == 1
    assert "line 1: carries no HMAC" in result.err
    # a forger who keeps the old MACs gets caught at the first line they changed
    forged = recompute(lines)
    originals = lines_of_macs(lines)
    forged = [
        json.dumps({**json.loads(f), "mac": m}, sort_keys=True)
        for f, m in zip(forged, originals, strict=True)
    ]
    write_lines(audit_dir, forged)
    result = verify(keyed)
    assert result.code == 1
    assert "line 3: has an HMAC the key does not give" in result.err


def config_without_key(config: dict[str, Any]) -> dict[str, Any]:
    return {**config, "audit": {"dir": config["audit"]["dir"]}}


def lines_of_macs(lines: list[str]) -> list[str]:
    return [json.loads(line)["mac"] for line in lines]


def test_an_unreadable_key_or_a_bad_head_is_bad_input(
    config: dict[str, Any], tmp_path: Path, run_task: Callable[..., CliResult]
) -> None:
    missing = {**config, "audit": {**config["audit"], "key_file": str(tmp_path / "nokey")}}
    result = verify(missing)
    assert result.code == 2
    assert "The audit key file" in result.err
    assert "audit.key_file" in result.err
    bad = verify(config, head="not-a-hash")
    assert bad.code == 2
    assert "--head 'not-a-hash' is not a chain hash" in bad.err


def test_a_trailing_blank_line_is_whitespace(
    config: dict[str, Any], audit_dir: Path, audit: AuditLog
) -> None:
    for n in range(3):
        audit.event("note", n=n)
    path = audit_dir / "audit.jsonl"
    path.write_text(path.read_text() + "\n  \n")
    assert check_chain(path).count == 3
    assert check_chain(path).damaged == ()
    path.write_text(path.read_text() + "   ")  # blank space without a newline
    head = audit.event("note", n=3)
    assert head.count == 4
    report = check_chain(path)
    assert (report.count, report.damaged, report.head) == (4, (), head)


def _append_many(directory: str, tag: str, count: int) -> None:
    log = AuditLog(Path(directory), clock=lambda: FIXED_TIME, context={"writer": tag})
    for n in range(count):
        log.event("note", n=n)


@pytest.mark.subprocess
def test_two_processes_appending_1000_each_leave_one_chain(audit_dir: Path) -> None:
    audit_dir.mkdir()
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_append_many, args=(str(audit_dir), tag, 1000)) for tag in "ab"
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    report = check_chain(audit_dir / "audit.jsonl")
    assert report.count == 2000
    assert report.damaged == ()
    events = list(read_events(audit_dir / "audit.jsonl"))
    for tag in "ab":
        assert sorted(e["n"] for e in events if e["writer"] == tag) == list(range(1000))


def test_a_log_from_before_numbering_goes_on_counting(audit_dir: Path, audit: AuditLog) -> None:
    for n in range(3):
        audit.event("note", n=n)
    path = audit_dir / "audit.jsonl"
    old = recompute(path.read_text().splitlines())
    unnumbered, prev = [], GENESIS
    for line in old:  # the same events as an older version wrote them: no seq
        event = json.loads(line)
        for field in ("prev", "hash", "seq"):
            event.pop(field)
        body = json.dumps(event, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        digest = hashlib.sha256((prev + "\n" + body).encode()).hexdigest()
        unnumbered.append(json.dumps({**event, "prev": prev, "hash": digest}))
        prev = digest
    write_lines(audit_dir, unnumbered)
    assert audit.event("note", n=3).count == 4
    assert check_chain(path).count == 4
    write_lines(audit_dir, lines_of(audit_dir)[:2] + lines_of(audit_dir)[3:])
    with pytest.raises(ChainError, match="line 3: does not follow"):
        check_chain(path)
