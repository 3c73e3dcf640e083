"""The playbook format: loading a YAML runbook safely and checking every key.

A playbook is data, never code: it is read with a safe YAML loader (no tags,
no objects, duplicate keys refused), and everything in it is checked before
anything runs.  The format, for people, is ``playbooks/README.md``; in short::

    name: restricted-group-outside-sender      # the file is <name>.yaml
    description: What it fixes, in a sentence or two.
    answers:
      codes: ["5.7.1", "5.7.124"]              # NDR codes it answers
      causes: [restricted-recipient]           # cause ids (shared/DESIGN.md)
    parameters:
      group:
        type: string                           # string | address | bool | list
        description: the restricted group
      notify:
        type: bool
        description: ...
        default: false                         # optional: no default = required
    steps:
      - name: Allow each sender
        action: add-allowed-sender             # a name from remediations.actions.ACTIONS
        for_each: ${senders}                   # optional: run once per list entry
        inputs:
          recipient: ${group}                  # ${parameter}; ${item} inside for_each
          sender: ${item}

Problems are collected and reported together, each naming the file, the step
and the key (:class:`PlaybookError`, exit status 2).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from remediations.action_inputs import inputs_of
from remediations.actions import ACTIONS
from remediations.errors import InputError
from remediations.ndr.codes import CAUSES as _DIAGNOSE_CAUSES

__all__ = [
    "CAUSES",
    "ITEM",
    "PARAM_TYPES",
    "ParamType",
    "Parameter",
    "Playbook",
    "PlaybookError",
    "Ref",
    "Step",
    "convert_value",
    "display_path",
    "load_playbook",
    "parse_playbook",
    "split_references",
]

ParamType = Literal["string", "address", "bool", "list"]
PARAM_TYPES: tuple[ParamType, ...] = ("string", "address", "bool", "list")

#: The name a step's inputs use for the current entry of its ``for_each`` list.
ITEM = "item"

#: The cause ids of shared/DESIGN.md ("The causes and their fixes").
#: The design's cause ids (one list, kept with the NDR classification table).
CAUSES = frozenset(_DIAGNOSE_CAUSES)

_TOP_KEYS = ("name", "description", "answers", "parameters", "steps")
_ANSWER_KEYS = ("codes", "causes")
_PARAM_KEYS = ("type", "description", "default", "choices")
_STEP_KEYS = ("name", "action", "inputs", "for_each")
_PLAYBOOK_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*\Z")
_PARAM_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")
_CODE = re.compile(r"5\.7\.\d{1,3}\Z")
# ``$${`` is a literal ``${``; ``${name}`` a reference; a lone ``${`` is malformed.
_TOKEN = re.compile(r"\$\$\{|\$\{(?P<name>[^{}]*)\}|\$\{")


class PlaybookError(InputError):
    """A playbook (or its parameters) is wrong; nothing was read or changed.

    ``problems`` holds one sentence per problem, each naming file, step and key.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        if len(self.problems) == 1:
            message = self.problems[0]
        else:
            message = f"{len(self.problems)} problems:\n" + "\n".join(
                f"  - {p}" for p in self.problems
            )
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Ref:
    """A ``${name}`` reference inside a text value."""

    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Parameter:
    """One typed parameter; ``required`` when it has no default."""

    name: str
    type: ParamType
    description: str
    default: Any = None
    required: bool = True
    choices: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The parameter as shown by ``playbook.show --json``."""
        doc: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "description": self.description,
            "required": self.required,
        }
        if not self.required:
            doc["default"] = self.default
        if self.choices:
            doc["choices"] = list(self.choices)
        return doc


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """One step as written: inputs and ``for_each`` still hold their references."""

    number: int
    name: str
    action: str
    inputs: Mapping[str, Any]
    for_each: Any = None

    def to_json(self) -> dict[str, Any]:
        """The step as shown by ``playbook.show --json``."""
        doc: dict[str, Any] = {
            "number": self.number,
            "name": self.name,
            "action": self.action,
            "inputs": dict(self.inputs),
        }
        if self.for_each is not None:
            doc["for_each"] = self.for_each
        return doc


@dataclass(frozen=True, slots=True, kw_only=True)
class Playbook:
    """A checked playbook; ``version`` is the hash of the file's content."""

    name: str
    description: str
    codes: tuple[str, ...]
    causes: tuple[str, ...]
    parameters: tuple[Parameter, ...]
    steps: tuple[Step, ...]
    path: Path
    version: str

    @property
    def source(self) -> str:
        """The file, as messages name it."""
        return display_path(self.path)

    def parameter(self, name: str) -> Parameter | None:
        """The parameter called ``name``, if there is one."""
        return next((p for p in self.parameters if p.name == name), None)

    def to_json(self) -> dict[str, Any]:
        """The playbook as ``playbook.show --json`` prints it."""
        return {
            "name": self.name,
            "description": self.description,
            "version": self.version,
            "path": self.source,
            "codes": list(self.codes),
            "causes": list(self.causes),
            "parameters": [p.to_json() for p in self.parameters],
            "steps": [s.to_json() for s in self.steps],
        }


def display_path(path: Path) -> str:
    """A path relative to the working folder when it is under it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def load_playbook(path: Path) -> Playbook:
    """Read and check one playbook file.

    Raises:
        PlaybookError: the file cannot be read, is not YAML, or breaks the format.
    """
    source = display_path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PlaybookError([f"{source}: cannot read the playbook ({exc.strerror})."]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PlaybookError([f"{source}: not UTF-8 text."]) from None
    data = _safe_load(text, source)
    version = hashlib.sha256(raw).hexdigest()[:12]
    return parse_playbook(data, path=path, version=version)


def _safe_load(text: str, source: str) -> Any:
    from remediations.yaml_loader import load_yaml

    try:
        return load_yaml(text, source)
    except InputError as exc:
        raise PlaybookError([str(exc)]) from None


def split_references(text: str) -> list[str | Ref]:
    """Split a text value into literal parts and ``${name}`` references.

    Raises:
        ValueError: a malformed reference (the message says which).
    """
    parts: list[str | Ref] = []
    literal = ""
    pos = 0
    for match in _TOKEN.finditer(text):
        literal += text[pos : match.start()]
        pos = match.end()
        if match.group(0) == "$${":
            literal += "${"
            continue
        name = match.group("name")
        if name is None:
            raise ValueError(f"{text!r} has '${{' without a closing '}}'")
        if not _PARAM_NAME.fullmatch(name):
            raise ValueError(
                f"{text!r} has the reference ${{{name}}}; a reference is ${{name}} with a "
                "lower-case parameter name (write $${ for a literal ${)"
            )
        if literal:
            parts.append(literal)
            literal = ""
        parts.append(Ref(name))
    literal += text[pos:]
    if literal:
        parts.append(literal)
    return parts


# --- checking ------------------------------------------------------------------------


class _Problems:
    """Collects problems; the playbook is refused when there is any."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{where}: {message}")


def _expect(expected: Sequence[str]) -> str:
    return ", ".join(expected)


def _check_keys(
    data: Mapping[Any, Any], allowed: Sequence[str], where: str, what: str, problems: _Problems
) -> None:
    for key in data:
        if key not in allowed:
            problems.add(where, f"unknown key {key!r}; {what} has {_expect(allowed)}.")


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def parse_playbook(data: Any, *, path: Path, version: str) -> Playbook:
    """Check a loaded YAML document and build the playbook.

    Raises:
        PlaybookError: every problem found, each naming the file, step and key.
    """
    source = display_path(path)
    problems = _Problems()
    if not isinstance(data, dict):
        raise PlaybookError(
            [f"{source}: a playbook is a mapping with the keys {_expect(_TOP_KEYS)}."]
        )
    _check_keys(data, _TOP_KEYS, source, "a playbook", problems)
    name = data.get("name")
    if not isinstance(name, str) or not _PLAYBOOK_NAME.fullmatch(name):
        problems.add(
            source,
            f"key 'name' is {name!r}; give lower-case words joined by hyphens, "
            "e.g. leaver-block-mail.",
        )
    elif path.suffix in (".yaml", ".yml") and path.stem != name:
        problems.add(
            source,
            f"key 'name' is {name!r} but the file is {path.name}; name the file {name}.yaml "
            "so that 'invoke playbook.run NAME' finds it.",
        )
    description = data.get("description")
    if not _text(description):
        problems.add(source, "key 'description' is missing; say in a sentence what it fixes.")
    codes, causes = _check_answers(data.get("answers"), source, problems)
    parameters = _check_parameters(data.get("parameters"), source, problems)
    steps = _check_steps(data.get("steps"), source, parameters, problems)
    if problems.items:
        raise PlaybookError(problems.items)
    return Playbook(
        name=str(name),
        description=" ".join(str(description).split()),
        codes=codes,
        causes=causes,
        parameters=parameters,
        steps=steps,
        path=path,
        version=version,
    )


def _check_answers(
    answers: Any, source: str, problems: _Problems
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    where = f"{source}: answers"
    if not isinstance(answers, dict):
        problems.add(source, "key 'answers' is missing; list the NDR codes and causes it fixes.")
        return (), ()
    _check_keys(answers, _ANSWER_KEYS, where, "answers", problems)
    codes = answers.get("codes", [])
    causes = answers.get("causes", [])
    if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
        problems.add(where, "key 'codes' must be a list of quoted codes, e.g. [\"5.7.1\"].")
        codes = []
    if not isinstance(causes, list) or not all(isinstance(c, str) for c in causes):
        problems.add(where, "key 'causes' must be a list of cause ids.")
        causes = []
    for code in codes:
        if not _CODE.fullmatch(code):
            problems.add(where, f"code {code!r} is not an NDR code 5.7.0 to 5.7.999.")
    for cause in causes:
        if cause not in CAUSES:
            problems.add(
                where, f"cause {cause!r} is not a cause id; use one of {_expect(sorted(CAUSES))}."
            )
    if not codes and not causes:
        problems.add(where, "give at least one code or cause.")
    return tuple(codes), tuple(causes)


def _check_parameters(raw: Any, source: str, problems: _Problems) -> tuple[Parameter, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        problems.add(source, "key 'parameters' must map each parameter's name to its type etc.")
        return ()
    out = []
    for name, spec in raw.items():
        where = f"{source}: parameter {name!r}"
        if not isinstance(name, str) or not _PARAM_NAME.fullmatch(name) or name == ITEM:
            problems.add(
                where,
                "a parameter's name is lower-case letters, digits and _ (and not 'item', "
                "which for_each uses).",
            )
            continue
        if not isinstance(spec, dict):
            problems.add(where, "give a mapping with type and description.")
            continue
        _check_keys(spec, _PARAM_KEYS, where, "a parameter", problems)
        kind = spec.get("type")
        if kind not in PARAM_TYPES:
            problems.add(where, f"type {kind!r} is not a type; use {_expect(PARAM_TYPES)}.")
            continue
        if not _text(spec.get("description")):
            problems.add(where, "key 'description' is missing; say what to give.")
        choices = spec.get("choices", [])
        if choices and (
            kind != "string"
            or not isinstance(choices, list)
            or not all(isinstance(c, str) for c in choices)
        ):
            problems.add(where, "key 'choices' is a list of texts, for string parameters only.")
            choices = []
        required = "default" not in spec
        default = spec.get("default")
        if not required:
            try:
                default = convert_value(kind, default, tuple(choices))
            except ValueError as exc:
                problems.add(where, f"default {default!r}: {exc}.")
        out.append(
            Parameter(
                name=name,
                type=kind,
                description=" ".join(str(spec.get("description", "")).split()),
                default=default,
                required=required,
                choices=tuple(choices),
            )
        )
    return tuple(out)


def convert_value(kind: ParamType, value: Any, choices: tuple[str, ...] = ()) -> Any:
    """Check (and, from command-line text, convert) one parameter value.

    Strings from ``--param`` become booleans (true/false/yes/no) or lists
    (comma-separated); values from YAML or an audit log are checked as they are.

    Raises:
        ValueError: the value does not fit the type (the message says what would).
    """
    from remediations.actions.recipients import check_address

    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _BOOLS:
            return _BOOLS[value.strip().lower()]
        raise ValueError("give true or false")
    if kind == "list":
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ValueError("give a list of texts (on the command line: comma-separated)")
    if not isinstance(value, str):
        raise ValueError("give a text value (quote it in YAML)")
    if kind == "address":
        try:
            return check_address(value, "")
        except InputError:
            raise ValueError("give an email address like partner@fabrikam.com") from None
    if choices and value not in choices:
        raise ValueError(f"give one of {_expect(choices)}")
    return value


_BOOLS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def _check_steps(
    raw: Any, source: str, parameters: tuple[Parameter, ...], problems: _Problems
) -> tuple[Step, ...]:
    if not isinstance(raw, list) or not raw:
        problems.add(source, "key 'steps' must be a list of at least one step.")
        return ()
    params = {p.name: p for p in parameters}
    out = []
    for number, entry in enumerate(raw, start=1):
        where = f"{source}: step {number}"
        if not isinstance(entry, dict):
            problems.add(where, f"a step is a mapping with {_expect(_STEP_KEYS)}.")
            continue
        if _text(entry.get("name")):
            where = f'{where} "{str(entry["name"]).strip()}"'
        else:
            problems.add(where, "key 'name' is missing; say what the step does.")
        _check_keys(entry, _STEP_KEYS, where, "a step", problems)
        action_name = entry.get("action")
        action = ACTIONS.get(action_name) if isinstance(action_name, str) else None
        if action is None:
            problems.add(
                where,
                f"key 'action' is {action_name!r}, which is not an action; use one of "
                f"{_expect(sorted(ACTIONS))}.",
            )
        for_each = entry.get("for_each")
        if for_each is not None:
            _check_for_each(for_each, where, params, problems)
        inputs = entry.get("inputs", {})
        if not isinstance(inputs, dict):
            problems.add(where, "key 'inputs' must map each input to its value.")
            inputs = {}
        if action is not None:
            _check_inputs(inputs, action.name, where, params, for_each, problems)
        out.append(
            Step(
                number=number,
                name=str(entry.get("name", "")).strip(),
                action=str(action_name),
                inputs=dict(inputs),
                for_each=for_each,
            )
        )
    return tuple(out)


def _check_for_each(
    value: Any, where: str, params: Mapping[str, Parameter], problems: _Problems
) -> None:
    if isinstance(value, list):
        for entry in value:
            kind = _value_kind(entry, f"{where}: for_each", params, None, problems)
            if kind not in ("string", None):
                problems.add(f"{where}: for_each", f"entry {entry!r} is not a text value.")
        return
    if isinstance(value, str):
        kind = _value_kind(value, f"{where}: for_each", params, None, problems)
        if kind in ("list", None):
            return
        problems.add(
            f"{where}: for_each", f"{value!r} is a {kind}; for_each takes a list parameter."
        )
        return
    problems.add(f"{where}: for_each", "give a list parameter (${name}) or a list of values.")


def _value_kind(
    value: Any,
    where: str,
    params: Mapping[str, Parameter],
    for_each: Any,
    problems: _Problems,
) -> str | None:
    """The kind a value will have once resolved: string, bool, list; None if unknown."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, list):
        for entry in value:
            if _value_kind(entry, where, params, for_each, problems) not in ("string", None):
                problems.add(where, f"list entry {entry!r} is not a text value.")
        return "list"
    if not isinstance(value, str):
        problems.add(where, f"{value!r} is not a text, true/false or list value (quote it).")
        return None
    try:
        parts = split_references(value)
    except ValueError as exc:
        problems.add(where, f"{exc}.")
        return None
    kinds = []
    for part in parts:
        if isinstance(part, str):
            kinds.append("string")
            continue
        kind = _ref_kind(part.name, where, params, for_each, problems)
        if kind is None:
            return None
        kinds.append(kind)
    if len(parts) == 1:
        return kinds[0]
    for part, kind in zip(parts, kinds, strict=True):
        if isinstance(part, Ref) and kind != "string":
            problems.add(
                where,
                f"${{{part.name}}} is a {kind} parameter and cannot be part of a text; "
                f"write it alone, as '${{{part.name}}}'.",
            )
            return None
    return "string"


def _ref_kind(
    name: str,
    where: str,
    params: Mapping[str, Parameter],
    for_each: Any,
    problems: _Problems,
) -> str | None:
    if name == ITEM:
        if for_each is None:
            problems.add(where, "${item} is only defined in a step with for_each.")
            return None
        return "string"
    param = params.get(name)
    if param is None:
        defined = [f"${{{p}}}" for p in params] + (["${item}"] if for_each is not None else [])
        problems.add(
            where,
            f"${{{name}}} is not defined; "
            + (f"the defined values are {_expect(defined)}." if defined else "nothing is."),
        )
        return None
    return "string" if param.type in ("string", "address") else param.type


def _check_inputs(
    inputs: Mapping[Any, Any],
    action: str,
    where: str,
    params: Mapping[str, Parameter],
    for_each: Any,
    problems: _Problems,
) -> None:
    specs = {i.name: i for i in inputs_of(action)}
    for key, value in inputs.items():
        if key not in specs:
            problems.add(
                where,
                f"input {key!r} is not an input of {action}; its inputs are "
                f"{_expect(sorted(specs))}.",
            )
            continue
        spec = specs[key]
        kind = _value_kind(value, f"{where}: input {key!r}", params, for_each, problems)
        wanted = _KINDS[spec.kind]
        if kind is not None and kind != wanted:
            problems.add(
                f"{where}: input {key!r}",
                f"{value!r} is a {kind} value; {action} takes {_describe_kind(wanted)} here.",
            )
        literal = isinstance(value, str) and not _has_reference(value)
        if spec.choices and literal and value not in spec.choices:
            problems.add(
                f"{where}: input {key!r}", f"{value!r} is not one of {_expect(spec.choices)}."
            )
    for name, spec in specs.items():
        # A step always names its target: "every target" is for the command line alone.
        if (spec.required or spec.every) and name not in inputs:
            problems.add(where, f"{action} needs the input {name!r}.")


#: an input's kind -> the kind of value a playbook gives it
_KINDS = {"text": "string", "bool": "bool", "list": "list"}


def _has_reference(value: str) -> bool:
    """Whether a text holds a reference (False when it is malformed or plain)."""
    try:
        return any(isinstance(p, Ref) for p in split_references(value))
    except ValueError:
        return False


def _describe_kind(kind: str) -> str:
    return {"bool": "true or false", "string": "a text", "list": "a list"}[kind]
