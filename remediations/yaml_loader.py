"""YAML as the toolkit reads it: the safe loader, refusing a key written twice.

Playbooks and tenant files both come through here, so a duplicate key is an
error naming the file, line and key everywhere (YAML itself keeps the last).
"""

from __future__ import annotations

import typing
from typing import Any

from remediations.errors import InputError

__all__ = ["load_yaml"]


def load_yaml(text: str, source: str) -> Any:
    """Parse YAML text; any problem is an :class:`InputError` naming ``source`` and the line."""
    import yaml

    # libyaml's parser (CSafeLoader, about 5x faster) when PyYAML was built with it; both
    # build Python objects with the same SafeConstructor, so the result is the same.
    base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class _Loader(base):  # type: ignore[misc]
        """The safe loader, refusing a key written twice (YAML would keep the last)."""

    def _mapping(loader: Any, node: yaml.MappingNode) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node)
            if isinstance(key, typing.Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} is written twice", key_node.start_mark
                )
            seen.add(key)
        mapping: dict[Any, Any] = loader.construct_mapping(node)
        return mapping

    _Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise InputError(f"{source}: not valid YAML{where}: {exc.problem}.") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{source}: not valid YAML: {exc}.") from None
