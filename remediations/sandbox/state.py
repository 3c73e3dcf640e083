"""The sandbox tenant's state: one JSON document on disk, written atomically.

Recipients are stored with Exchange's own property names; every reference to
another recipient (accept lists, moderators, members, a rule's SentTo) is that
recipient's Guid, as Exchange stores a link, so renaming or re-addressing a
recipient keeps its links.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["SCHEMA_VERSION", "SandboxState", "load_state", "save_state"]

SCHEMA_VERSION = 1

GROUP_TYPES = frozenset(
    {
        "MailUniversalDistributionGroup",
        "MailUniversalSecurityGroup",
        "MailNonUniversalGroup",
        "RoomList",
    }
)
MAILBOX_TYPES = frozenset({"UserMailbox", "SharedMailbox", "RoomMailbox", "EquipmentMailbox"})
ALL_GROUP_TYPES = GROUP_TYPES | {"GroupMailbox", "DynamicDistributionGroup"}
INDIVIDUAL_TYPES = MAILBOX_TYPES | {"MailUser", "GuestMailUser", "MailContact"}


class SandboxState:
    """The whole simulated organisation as plain, JSON-able data."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self._by_guid: dict[str, dict[str, Any]] | None = None

    # --- plain accessors -------------------------------------------------------
    @property
    def organization(self) -> str:
        """The organisation's name, e.g. ``contoso.com``."""
        return str(self.data["organization"])

    @property
    def server(self) -> str:
        """The server name Exchange puts in its error texts."""
        return str(self.data["server"])

    @property
    def recipients(self) -> list[dict[str, Any]]:
        """Every recipient, in a stable order."""
        return self.data["recipients"]  # type: ignore[no-any-return]

    @property
    def transport_rules(self) -> list[dict[str, Any]]:
        """The mail-flow rules, in priority order."""
        rules: list[dict[str, Any]] = self.data["transport_rules"]
        rules.sort(key=lambda r: r["Priority"])
        return rules

    @property
    def users(self) -> list[dict[str, Any]]:
        """The directory's users (Entra ID), with licenses."""
        return self.data["users"]  # type: ignore[no-any-return]

    @property
    def accepted_domains(self) -> list[dict[str, Any]]:
        """The accepted domains."""
        return self.data["accepted_domains"]  # type: ignore[no-any-return]

    def by_guid(self, guid: str) -> dict[str, Any] | None:
        """The recipient with this Guid, if any."""
        if self._by_guid is None:
            self._by_guid = {r["Guid"]: r for r in self.recipients}
        return self._by_guid.get(guid)

    def invalidate(self) -> None:
        """Forget cached indexes after recipients were added or removed."""
        self._by_guid = None

    def is_internal(self, address: str) -> bool:
        """Whether the address's domain is one of the organisation's accepted domains."""
        domain = address.rpartition("@")[2].lower()
        return any(d["DomainName"].lower() == domain for d in self.accepted_domains)

    def addresses_of(self, recipient: dict[str, Any]) -> Iterator[str]:
        """Every SMTP address a recipient answers to (lower case)."""
        for proxy in recipient.get("EmailAddresses", ()):
            kind, _, addr = proxy.partition(":")
            if kind.lower() == "smtp":
                yield addr.lower()
        external = recipient.get("ExternalEmailAddress")
        if external:
            yield external.partition(":")[2].lower()

    def journal(self, entry: dict[str, Any]) -> None:
        """Record one write cmdlet, in order, so tests can see exactly what was sent."""
        self.data.setdefault("journal", []).append(entry)


def load_state(path: Path) -> SandboxState:
    """Read the state file; a missing or unreadable file is an error, never "empty"."""
    from remediations.errors import InputError

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(
            f"No sandbox tenant at {path}; run 'invoke sandbox.reset' to create the demo "
            "tenant, or set sandbox.path (INVOKE_SANDBOX_PATH) to an existing file."
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"The sandbox tenant file {path} is not valid JSON ({exc.msg}, line {exc.lineno}); "
            "run 'invoke sandbox.reset' or 'invoke sandbox.load FILE' to write a new one."
        ) from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA_VERSION:
        raise InputError(
            f"The sandbox tenant file {path} is not a sandbox tenant of schema {SCHEMA_VERSION}; "
            "run 'invoke sandbox.reset' or 'invoke sandbox.load FILE' to write a new one."
        )
    return SandboxState(data)


def save_state(state: SandboxState, path: Path) -> None:
    """Write the state atomically (temp file, fsync, rename), so a crash never half-writes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(state.data, handle, indent=1, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
