"""The remediations, one module each, looked up by name in :data:`ACTIONS`.

Every action has the same contract: ``read(transport, wish) -> Snapshot`` and a
pure ``plan(snapshot, wish) -> Plan``.  Actions never apply anything; the
engine does.
"""

from __future__ import annotations

import dataclasses
import importlib
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, Literal, Protocol, get_args, get_origin

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
    """Build an action's wish from flags or a playbook step, checking names and types.

    A wish whose class names an ``all_targets_field`` (its target, ``None`` meaning
    "every object in the tenant with the cause") needs that field unless
    ``all_targets`` is true: only the command line asks for every target at once,
    never a playbook step that forgot its key.

    Raises:
        InputError: naming ``source`` (e.g. ``playbooks/x.yaml step 2``) and the key.
    """
    prefix = f"{source}: " if source else ""
    fields = {f.name: f for f in dataclasses.fields(action.wish_type)}
    hints = typing.get_type_hints(action.wish_type)
    for key in values:
        if key not in fields:
            raise InputError(
                f"{prefix}unknown key {key!r} for {action.name}; expected "
                f"{' or '.join(sorted(fields))}."
            )
    kwargs: dict[str, Any] = {}
    target_field = getattr(action.wish_type, "all_targets_field", None)
    for name, field in fields.items():
        if name not in values or (name == target_field and values[name] is None):
            if field.default is dataclasses.MISSING or (name == target_field and not all_targets):
                raise InputError(f"{prefix}{action.name} needs {name!r} (--{_flag(name)}).")
            continue
        kwargs[name] = _check_type(values[name], hints[name], f"{prefix}{name}")
    return action.wish_type(**kwargs)


def _flag(name: str) -> str:
    return name.replace("_", "-")


def _check_type(value: Any, hint: Any, where: str) -> Any:
    origin = get_origin(hint)
    if origin is Literal:
        choices = get_args(hint)
        if value not in choices:
            raise InputError(f"{where} is {value!r}; give one of {', '.join(map(str, choices))}.")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise InputError(f"{where} is {value!r}; give true or false.")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise InputError(f"{where} is {value!r}; give a text value.")
        return value
    if origin in (types.UnionType, typing.Union):  # pragma: no cover - no such wish yet
        return value
    return value
