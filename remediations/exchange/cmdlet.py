"""A cmdlet is a name and typed parameters; transports send it as structured data.

No transport ever builds script text from user input.  The only place that
quotes is :meth:`Cmdlet.to_powershell`, which renders the preview a person may
paste into an Exchange Online PowerShell session.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "AddRemove",
    "Cmdlet",
    "CmdletResult",
    "ParamValue",
    "Transport",
    "ps_quote",
]


@dataclass(frozen=True, slots=True)
class AddRemove:
    """The ``@{Add=...; Remove=...}`` form of a multi-valued property."""

    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()

    def to_wire(self) -> dict[str, list[str]]:
        """The hashtable as sent: only the keys that have values."""
        wire: dict[str, list[str]] = {}
        if self.add:
            wire["Add"] = list(self.add)
        if self.remove:
            wire["Remove"] = list(self.remove)
        return wire


ParamValue = str | bool | int | None | tuple[str, ...] | AddRemove


@dataclass(frozen=True, slots=True)
class Cmdlet:
    """One cmdlet call: a name and its parameters, in the order they are shown."""

    name: str
    params: tuple[tuple[str, ParamValue], ...] = ()

    @classmethod
    def of(cls, name: str, /, **params: ParamValue) -> Cmdlet:
        """Build a cmdlet from keyword parameters (order kept, Identity first by habit)."""
        return cls(name, tuple(params.items()))

    @property
    def is_write(self) -> bool:
        """Whether the cmdlet changes the tenant (every verb but Get)."""
        return not self.name.startswith("Get-")

    def get(self, key: str, default: ParamValue = None) -> ParamValue:
        """The value of one parameter (case-insensitive, as PowerShell binds)."""
        lowered = key.lower()
        for name, value in self.params:
            if name.lower() == lowered:
                return value
        return default

    def wire_params(self) -> dict[str, Any]:
        """Parameters as plain JSON-able data: lists for tuples, dicts for Add/Remove."""
        return {name: _to_wire(value) for name, value in self.params}

    def to_json(self) -> dict[str, Any]:
        """The cmdlet as one JSON object (for the audit log and ``--json``)."""
        return {"name": self.name, "parameters": self.wire_params()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Cmdlet:
        """The inverse of :meth:`to_json`."""
        return cls(data["name"], tuple((k, _from_wire(v)) for k, v in data["parameters"].items()))

    def to_powershell(self) -> str:
        """The equivalent PowerShell line, every value quoted so that it pastes as data."""
        parts = [self.name]
        for name, value in self.params:
            if isinstance(value, bool):
                parts.append(f"-{name}:{'$true' if value else '$false'}")
            elif (self.name.lower(), name.lower()) in _HASHTABLE_ARRAYS and value:
                key = _HASHTABLE_ARRAYS[self.name.lower(), name.lower()]
                items = value if isinstance(value, tuple) else (str(value),)
                tables = ",".join(f"@{{{key}={ps_quote(str(v))}}}" for v in items)
                parts.append(f"-{name} @({tables})")
            else:
                parts.append(f"-{name} {_ps_value(value)}")
        return " ".join(parts)


@dataclass(frozen=True, slots=True, kw_only=True)
class CmdletResult:
    """What a cmdlet returned: objects (property maps) and warnings."""

    objects: tuple[Mapping[str, Any], ...] = ()
    warnings: tuple[str, ...] = field(default=())


class Transport(Protocol):
    """Everything that talks to a tenant goes through this one method."""

    name: str
    tenant: str

    def send(self, cmdlet: Cmdlet) -> CmdletResult:
        """Run one cmdlet; raise a ``TransportError`` on failure."""
        ...

    def close(self) -> None:
        """Release connections; idempotent."""
        ...


# PowerShell treats the typographic single quotes as quote characters too.
_PS_SINGLE_QUOTES = ("'", "\u2018", "\u2019", "\u201a", "\u201b")


def ps_quote(text: str) -> str:
    """Quote a string for PowerShell: single quotes, each quote character doubled.

    Inside single quotes PowerShell expands nothing (``$``, backticks, ``;``
    and ``$()`` are plain text), so doubling the quote characters is enough.
    """
    for quote in _PS_SINGLE_QUOTES:
        text = text.replace(quote, quote * 2)
    return f"'{text}'"


#: Parameters whose values are hashtables, one per value, keyed as shown: Set-MgUserLicense's
#: -AddLicenses takes IMicrosoftGraphAssignedLicense[] (``@(@{SkuId='...'})``), where
#: -RemoveLicenses takes plain SKU GUIDs [doc: Set-MgUserLicense, Microsoft Graph PowerShell].
_HASHTABLE_ARRAYS = {("set-mguserlicense", "addlicenses"): "SkuId"}


def _ps_value(value: ParamValue) -> str:
    if value is None:
        return "$null"
    if isinstance(value, bool):
        return "$true" if value else "$false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return ps_quote(value)
    if isinstance(value, AddRemove):
        pairs = []
        if value.add:
            pairs.append("Add=" + ",".join(ps_quote(v) for v in value.add))
        if value.remove:
            pairs.append("Remove=" + ",".join(ps_quote(v) for v in value.remove))
        return "@{" + "; ".join(pairs) + "}"
    if not value:
        return "@()"  # an empty array; None is the one that renders as $null
    return ",".join(ps_quote(v) for v in value)


def _to_wire(value: ParamValue) -> Any:
    if isinstance(value, AddRemove):
        return value.to_wire()
    if isinstance(value, tuple):
        return list(value)
    return value


def _from_wire(value: Any) -> ParamValue:
    if isinstance(value, dict):
        return AddRemove(
            add=tuple(value.get("Add", ())),
            remove=tuple(value.get("Remove", ())),
        )
    if isinstance(value, list):
        return tuple(value)
    if value is None or isinstance(value, str | bool | int):
        return value
    raise TypeError(f"not a cmdlet parameter value: {value!r}")
