"""Each remediation task is built from its action's description: every input of every
action is a flag of its task with the right kind, default and help; the run flags and
``--all`` are there as described; a command line's values reach the action by name.
A new action, or a new input of one, therefore cannot be left out of the command line."""

from __future__ import annotations

import copy
import dataclasses
import inspect
from typing import Any

import pytest
from invoke.parser import Argument, Parser, ParserContext
from invoke.tasks import Task

import tasks
from remediations.action_inputs import (
    ACTION_DOCS,
    ACTION_INPUTS,
    ALL_FLAG,
    RUN_FLAGS,
    Input,
    inputs_of,
    task_flags,
)
from remediations.actions import ACTIONS

NAMES = sorted(ACTIONS)


def _task(name: str) -> Task[Any]:
    found = tasks.ns.tasks[name]
    assert isinstance(found, Task)
    return found


def _arguments(name: str) -> dict[str, Argument]:
    """The task's flags as Invoke's parser sees them, by attribute name (a copy: Invoke
    takes the help texts out of a task whose arguments it reads)."""
    found = copy.copy(_task(name))
    found.help = dict(found.help)
    return {arg.attr_name or arg.name: arg for arg in found.get_arguments()}


def test_every_action_is_a_task_and_every_action_task_an_action() -> None:
    task_names = set(tasks.ns.task_names)
    assert set(NAMES) <= task_names
    assert set(ACTION_INPUTS) == set(ACTION_DOCS) == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_every_input_and_run_flag_is_a_flag_of_the_task(name: str) -> None:
    args = _arguments(name)
    every = any(s.every for s in inputs_of(name))
    specs = (*inputs_of(name), *((ALL_FLAG,) if every else ()), *RUN_FLAGS)
    assert task_flags(name) == specs
    assert list(args) == [s.name for s in specs]
    wish_fields = [f.name for f in dataclasses.fields(ACTIONS[name].wish_type)]
    assert set(wish_fields) <= set(args)
    for spec in specs:
        arg = args[spec.name]
        assert f"--{arg.names[0]}" == spec.flag
        assert arg.help == spec.help, spec.name
        assert not arg.positional, spec.name
        if spec.kind == "bool":
            assert (arg.kind, arg.default) == (bool, spec.default), spec.name
        elif spec.kind == "list":
            assert (arg.kind, arg.default) == (list, []), spec.name
        else:
            assert arg.kind is str, spec.name
            assert arg.default == (None if spec.required else spec.default), spec.name


@pytest.mark.parametrize("name", NAMES)
def test_the_docstring_is_the_described_one(name: str) -> None:
    found = _task(name)
    assert inspect.getdoc(found) == ACTION_DOCS[name]
    first = ACTION_DOCS[name].splitlines()[0]
    assert first.endswith(".")
    assert len(first) <= 100


@pytest.mark.parametrize("name", NAMES)
def test_the_run_flags_keep_their_short_flags(name: str) -> None:
    """Scripts may write ``-d`` for ``--dry-run``: an input added before the run flags
    must not take their letters (Invoke gives short flags in the order of the flags)."""
    args = _arguments(name)
    shorts = {s: [n for n in args[s].names if len(n) == 1] for s in ("dry_run", "json", "yes")}
    assert shorts == {"dry_run": ["d"], "json": ["j"], "yes": ["y"]}
    assert "t" in args["ticket"].names


def _words(spec: Input) -> list[str]:
    flag = spec.flag
    if spec.kind == "bool":
        return [flag]
    if spec.kind == "list":
        return [flag, f"{spec.name}-1", flag, f"{spec.name}-2"]
    return [flag, spec.choices[-1] if spec.choices else f"{spec.name}-value"]


@pytest.mark.parametrize("name", NAMES)
def test_every_flag_given_reaches_the_task_under_its_input_name(name: str) -> None:
    args = list(_arguments(name).values())
    parser = Parser(contexts=[ParserContext(name=name, args=args)])
    specs = task_flags(name)
    argv = [name, *(word for spec in specs for word in _words(spec))]
    given = parser.parse_argv(argv)[0].as_kwargs
    for spec in specs:
        expected: Any = {"bool": True, "list": [f"{spec.name}-1", f"{spec.name}-2"]}.get(
            spec.kind, _words(spec)[-1]
        )
        assert given[spec.name] == expected, spec.name
    # and the task's body takes exactly these keywords
    params = inspect.signature(_task(name).body).parameters
    assert list(params)[1:] == [s.name for s in specs]
    assert all(p.kind is p.KEYWORD_ONLY for p in list(params.values())[1:])
