"""Binding a playbook to its parameters: every step becomes a checked wish.

Binding happens before any read of the tenant: parameters are typed and
checked, ``for_each`` lists are expanded, references are resolved, and each
step's inputs go through :func:`remediations.actions.parse_wish`, so a bad
input is reported with the file, the step and the key (exit status 2).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from remediations.actions import ACTIONS, Action, parse_wish
from remediations.errors import InputError
from remediations.playbooks.schema import (
    ITEM,
    Playbook,
    PlaybookError,
    Ref,
    Step,
    convert_value,
    split_references,
)

__all__ = ["BoundPlaybook", "BoundStep", "bind", "bind_parameters", "parse_param_args"]


@dataclass(frozen=True, slots=True, kw_only=True)
class BoundStep:
    """One step (or one ``for_each`` entry of a step) with its checked wish.

    ``id`` is ``"2"`` for step 2, ``"2.1"`` for the first entry of step 2's list.
    """

    id: str
    step: Step
    item: str | None
    inputs: Mapping[str, Any]
    wish: Any

    @property
    def action(self) -> Action:
        """The remediation this step runs."""
        return ACTIONS[self.step.action]

    @property
    def label(self) -> str:
        """``step 2.1 'Allow each sender' (partner@fabrikam.com)`` for messages."""
        item = f" ({self.item})" if self.item is not None else ""
        return f'step {self.id} "{self.step.name}"{item}'

    def to_json(self) -> dict[str, Any]:
        """The step's identity and resolved inputs (audit log, ``--json``)."""
        return {
            "step": self.id,
            "name": self.step.name,
            "action": self.step.action,
            "item": self.item,
            "inputs": {k: list(v) if isinstance(v, tuple) else v for k, v in self.inputs.items()},
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class BoundPlaybook:
    """A playbook, the values of its parameters, and its steps ready to plan."""

    playbook: Playbook
    parameters: Mapping[str, Any]
    steps: tuple[BoundStep, ...]

    def parameters_json(self) -> dict[str, Any]:
        """The parameters as JSON values (lists for tuples), as the audit log keeps them."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.parameters.items()}


def parse_param_args(items: Sequence[str]) -> dict[str, str | list[str]]:
    """Read ``--param KEY=VALUE`` flags; a key given twice collects a list.

    Raises:
        InputError: a flag without ``=``.
    """
    out: dict[str, str | list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(
                f"--param {item!r} is not KEY=VALUE; write e.g. --param "
                "group=finance-approvers@contoso.com."
            )
        if key in out:
            earlier = out[key]
            out[key] = [*(earlier if isinstance(earlier, list) else [earlier]), value]
        else:
            out[key] = value
    return out


def bind_parameters(playbook: Playbook, given: Mapping[str, Any]) -> dict[str, Any]:
    """Check the given values against the parameters, add defaults, convert types.

    Values are command-line text (``"true"``, ``"a@x.com,b@x.com"``) or typed
    values (from an audit log); a list of texts for a list parameter joins.

    Raises:
        PlaybookError: an unknown, missing or mistyped parameter (all are listed).
    """
    source = playbook.source
    problems = []
    names = [p.name for p in playbook.parameters]
    for key in given:
        if playbook.parameter(key) is None:
            known = ", ".join(names) if names else "none"
            problems.append(
                f"{source}: --param {key!r} is not a parameter of {playbook.name}; "
                f"its parameters are {known}."
            )
    values: dict[str, Any] = {}
    for param in playbook.parameters:
        if param.name not in given:
            if param.required:
                problems.append(
                    f"{source}: parameter {param.name!r} is required ({param.description}); "
                    f"pass --param {param.name}=VALUE."
                )
            else:
                values[param.name] = param.default
            continue
        raw = given[param.name]
        if isinstance(raw, list) and param.type == "list":
            raw = [v for entry in raw for v in convert_value("list", entry)]
        elif isinstance(raw, list) and all(isinstance(v, str) for v in raw):
            problems.append(
                f"{source}: parameter {param.name!r} is given {len(raw)} times; it takes one value."
            )
            continue
        try:
            values[param.name] = convert_value(param.type, raw, param.choices)
        except ValueError as exc:
            problems.append(
                f"{source}: parameter {param.name!r} is {raw!r}; {exc} ({param.description})."
            )
    if problems:
        raise PlaybookError(problems)
    return values


def bind(playbook: Playbook, given: Mapping[str, Any]) -> BoundPlaybook:
    """Bind parameters, expand ``for_each``, and check every step's wish.

    Raises:
        PlaybookError: a parameter or a step's input is wrong (file, step, key).
    """
    values = bind_parameters(playbook, given)
    source = playbook.source
    problems: list[str] = []
    steps: list[BoundStep] = []
    for step in playbook.steps:
        if step.for_each is None:
            items: tuple[str | None, ...] = (None,)
        else:
            resolved = _resolve(step.for_each, values)
            items = tuple(resolved) if isinstance(resolved, tuple) else (str(resolved),)
        for index, item in enumerate(items, start=1):
            step_id = str(step.number) if step.for_each is None else f"{step.number}.{index}"
            env = dict(values) if item is None else {**values, ITEM: item}
            inputs = {key: _resolve(value, env) for key, value in step.inputs.items()}
            label = f'{source}: step {step_id} "{step.name}"'
            if item is not None:
                label += f" (item {item!r})"
            try:
                wish = parse_wish(step_action(step), inputs, source=label)
            except InputError as exc:
                problems.append(_name_the_key(str(exc), label, inputs))
                continue
            steps.append(BoundStep(id=step_id, step=step, item=item, inputs=inputs, wish=wish))
    if problems:
        raise PlaybookError(problems)
    return BoundPlaybook(playbook=playbook, parameters=values, steps=tuple(steps))


def step_action(step: Step) -> Action:
    """The action a (checked) step names."""
    return ACTIONS[step.action]


def _resolve(value: Any, env: Mapping[str, Any]) -> Any:
    """A value with its references replaced; a lone reference keeps its type."""
    if isinstance(value, list):
        return tuple(_resolve(v, env) for v in value)
    if not isinstance(value, str):
        return value
    parts = split_references(value)
    if len(parts) == 1 and isinstance(parts[0], Ref):
        return env[parts[0].name]
    return "".join(str(env[p.name]) if isinstance(p, Ref) else p for p in parts)


def _name_the_key(message: str, label: str, inputs: Mapping[str, Any]) -> str:
    """Prefix an action's own check (``--sender 'x' is not...``) with file, step and key."""
    if message.startswith(label):
        return message
    for key in inputs:
        flag = "--" + key.replace("_", "-")
        if message.startswith(flag + " "):
            rest = message[len(flag) + 1 :]
            rest = f"the value {rest}" if rest.startswith("is ") else rest
            return f"{label}: input {key!r}: {rest}"
        if flag in message:
            return f"{label}: input {key!r}: {message}"
    return f"{label}: {message}"
