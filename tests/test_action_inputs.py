"""One description of each action's inputs: the Wish dataclasses, the task flags and their
help, playbook validation and parse_wish all agree with ``remediations.action_inputs``."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import pytest

import tasks
from remediations.action_inputs import (
    ACTION_INPUTS,
    ALL_FLAG_HELP,
    RUN_FLAG_HELP,
    inputs_of,
    task_help,
)
from remediations.actions import ACTIONS, parse_wish
from remediations.errors import InputError
from remediations.playbooks import PlaybookError
from remediations.playbooks.schema import load_playbook

NAMES = sorted(ACTIONS)
ROOT = Path(tasks.__file__).resolve().parent


def test_every_action_has_its_inputs_described() -> None:
    assert sorted(ACTION_INPUTS) == NAMES


def _kind(hint: Any) -> tuple[str, tuple[str, ...]]:
    if hint is bool:
        return "bool", ()
    if get_origin(hint) is Literal:
        return "text", tuple(str(a) for a in get_args(hint))
    if get_origin(hint) is tuple:
        return "list", ()
    assert hint in (str, str | None), hint
    return "text", ()


@pytest.mark.parametrize("name", NAMES)
def test_the_wish_dataclass_matches_the_description(name: str) -> None:
    wish = ACTIONS[name].wish_type
    hints = typing.get_type_hints(wish)
    fields = dataclasses.fields(wish)
    specs = inputs_of(name)
    assert [f.name for f in fields] == [s.name for s in specs]
    for field, spec in zip(fields, specs, strict=True):
        assert _kind(hints[field.name]) == (spec.kind, spec.choices), field.name
        if spec.required:
            assert field.default is dataclasses.MISSING, field.name
        else:
            assert field.default == spec.default, field.name
        assert spec.every == (getattr(wish, "all_targets_field", None) == field.name)


def _task(name: str) -> Any:
    return tasks.ns.tasks[name]


@pytest.mark.parametrize("name", NAMES)
def test_the_task_flags_and_help_come_from_the_description(name: str) -> None:
    found = _task(name)
    params = dict(inspect.signature(found.body).parameters)
    params.pop("c")
    specs = inputs_of(name)
    every = any(s.every for s in specs)
    expected = [s.name for s in specs] + (["all_"] if every else []) + list(RUN_FLAG_HELP)
    assert sorted(params) == sorted(expected)
    assert found.help == task_help(name)
    for spec in specs:
        default = params[spec.name].default
        assert default == (None if spec.required else spec.default), spec.name
    for flag in RUN_FLAG_HELP:
        assert found.help[flag] == RUN_FLAG_HELP[flag]
    if every:
        assert found.help["all_"] == ALL_FLAG_HELP["all_"]


@pytest.mark.parametrize("name", NAMES)
def test_help_names_each_input(
    name: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``invoke --help TASK`` lists each input's flag and help (tasks.py loaded afresh, as
    ``invoke`` loads it: Invoke's parser takes the help texts out of the tasks it reads)."""
    from invoke.program import Program

    monkeypatch.chdir(ROOT)
    program = Program(name="invoke", binary="invoke")
    with pytest.raises(SystemExit):
        program.run(["invoke", "--help", name])
    shown = " ".join(capsys.readouterr().out.split())
    for spec in inputs_of(name):
        assert spec.flag in shown
        assert " ".join(spec.help.split())[:30] in shown


def _playbook(tmp_path: Path, action: str, inputs: dict[str, Any]) -> Path:
    import yaml

    path = tmp_path / "p.yaml"
    doc = {
        "name": "p",
        "description": "a test playbook",
        "steps": [{"action": action, "inputs": inputs}],
    }
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize(
    ("inputs", "words"),
    [
        ({"user": "a@contoso.com", "mode": "bounce"}, "'bounce'"),
        ({"user": "a@contoso.com", "colour": "red"}, "'colour'"),
        ({"mode": "reject"}, "'user'"),
        ({"user": "a@contoso.com", "even_if_active": "yes"}, "'yes'"),
    ],
    ids=["not-a-choice", "unknown-key", "missing", "not-a-bool"],
)
def test_a_playbook_and_the_flags_refuse_the_same_inputs(
    tmp_path: Path, inputs: dict[str, Any], words: str
) -> None:
    with pytest.raises(InputError, match=words):
        parse_wish(ACTIONS["block-delicensed-user"], inputs)
    with pytest.raises(PlaybookError, match=words):
        load_playbook(_playbook(tmp_path, "block-delicensed-user", inputs))


def test_a_step_names_its_target_though_the_flag_may_be_left_out(tmp_path: Path) -> None:
    assert parse_wish(ACTIONS["open-to-external"], {}, all_targets=True).recipient is None
    with pytest.raises(InputError, match="'recipient'"):
        parse_wish(ACTIONS["open-to-external"], {})
    with pytest.raises(PlaybookError, match="'recipient'"):
        load_playbook(_playbook(tmp_path, "open-to-external", {}))
