"""The remediations, one module each, looked up by name in :data:`ACTIONS`.

Every action has the same contract: ``read(transport, wish) -> Snapshot`` and a
pure ``plan(snapshot, wish) -> Plan``.  Actions never apply anything; the
engine does.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, Protocol

from remediations.action_inputs import Input, inputs_of
from remediations.errors import InputError
from remediations.exchange.cmdlet import Transport
from remediations.plan import Plan, Snapshot

__all__ = ["ACTIONS", "Action", "parse_wish"]


class Action(Protocol):
    """What every remediation provides."""

    name: ClassVar[str]
    summary: ClassVar[str]
    wish_type: ClassVar[type[Any]]

    def read(self, transport: Transport, wish: Any) -> Snapshot:
        """Read the live state the plan depends on (never a cached guess)."""
        ...

    def plan(self, before: Snapshot, wish: Any) -> Plan:
        """Compare the state with the wish; pure."""
        ...


# name -> (module, class): one module per action, imported when first asked for, so a
# run loads only the action it runs.
_REGISTRY = {
    "fix-public-folder": ("fix_public_folder", "FixPublicFolder"),
    "add-allowed-sender": ("add_allowed_sender", "AddAllowedSender"),
    "open-to-external": ("open_to_external", "OpenToExternal"),
    "open-group-to-external": ("open_group_to_external", "OpenGroupToExternal"),
    "bypass-moderation": ("bypass_moderation", "BypassModeration"),
    "block-delicensed-user": ("block_delicensed_user", "BlockDelicensedUser"),
    "remove-license": ("remove_license", "RemoveLicense"),
}


class _Actions(Mapping[str, Action]):
    """The registry: a read-only mapping of action name to action."""

    def __init__(self) -> None:
        self._loaded: dict[str, Action] = {}

    def __getitem__(self, name: str) -> Action:
        if name not in self._loaded:
            module, cls = _REGISTRY[name]
            found = getattr(importlib.import_module(f"{__name__}.{module}"), cls)
            self._loaded[name] = found()
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(_REGISTRY)

    def __len__(self) -> int:
        return len(_REGISTRY)


ACTIONS: Mapping[str, Action] = _Actions()


def parse_wish(
    action: Action, values: Mapping[str, Any], *, source: str = "", all_targets: bool = False
) -> Any:
    """Build an action's wish from flags or a playbook step, checking names and types
    against the action's inputs (:data:`remediations.action_inputs.ACTION_INPUTS`).

    An input marked ``every`` (the action's target, ``None`` meaning "every object in
    the tenant with the cause") is needed unless ``all_targets`` is true: only the
    command line asks for every target at once, never a playbook step that forgot its key.

    Raises:
        InputError: naming ``source`` (e.g. ``playbooks/x.yaml step 2``) and the key.
    """
    prefix = f"{source}: " if source else ""
    inputs = {i.name: i for i in inputs_of(action.name)}
    for key in values:
        if key not in inputs:
            raise InputError(
                f"{prefix}unknown key {key!r} for {action.name}; expected "
                f"{' or '.join(sorted(inputs))}."
            )
    kwargs: dict[str, Any] = {}
    for name, spec in inputs.items():
        given = values.get(name)
        if name not in values or (spec.every and given is None):
            if spec.required or (spec.every and not all_targets):
                raise InputError(f"{prefix}{action.name} needs {name!r} ({spec.flag}).")
            continue
        kwargs[name] = _check_value(given, spec, f"{prefix}{name}")
    return action.wish_type(**kwargs)


def _check_value(value: Any, spec: Input, where: str) -> Any:
    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise InputError(f"{where} is {value!r}; give true or false.")
        return value
    if spec.kind == "list":
        if isinstance(value, str) or not all(isinstance(v, str) for v in value):
            raise InputError(f"{where} is {value!r}; give a list of text values.")
        return tuple(value)
    if not isinstance(value, str):
        raise InputError(f"{where} is {value!r}; give a text value.")
    if spec.choices and value not in spec.choices:
        raise InputError(f"{where} is {value!r}; give one of {', '.join(spec.choices)}.")
    return value
