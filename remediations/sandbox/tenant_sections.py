"""A tenant file's ``dns`` and ``connectors`` sections, checked as a tenant file loads.

The format is in :mod:`remediations.sandbox.tenant_file`'s docstring; the
sandbox answers from these sections in :mod:`remediations.sandbox.directory`
(connectors, domains, DNS).  Every problem is one sentence naming the entry and key.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from remediations.errors import InputError
from remediations.exchange import facts
from remediations.sandbox.directory import normalize_name

__all__ = ["check_connectors_section", "check_dns_section"]

_CHOICES: dict[str, tuple[str | None, ...]] = {
    "ConnectorType": ("Partner", "OnPremises"),
    "ConnectorSource": ("Default", "HybridWizard", "Migrated"),
    "TlsSettings": (None, "EncryptionOnly", "CertificateValidation", "DomainValidation"),
}
# property -> default, per direction (facts.py); the type of the default is the type a
# tenant file must give (a list means a multi-valued property of strings).
_DIRECTIONS: dict[str, dict[str, Any]] = {
    "outbound": dict(facts.OUTBOUND_CONNECTOR_DEFAULTS),
    "inbound": dict(facts.INBOUND_CONNECTOR_DEFAULTS),
}
_DOMAIN_KEYS = frozenset({"verified", "services", "mx", "spf"})
_RECORD_TYPES = ("MX", "TXT", "A")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_MX = re.compile(r"^(\d{1,5})\s+(\S+)$")


def check_dns_section(value: Any, where: str) -> None:
    """Check a tenant file's ``dns`` section; raise InputError naming the entry and key."""
    if value is None:
        return
    if not isinstance(value, dict):
        raise InputError(f"{where} must be a mapping with 'domains' and/or 'zones'.")
    unknown = sorted(set(value) - {"domains", "zones"})
    if unknown:
        raise InputError(f"{where}: unknown key {unknown[0]!r}; expected domains or zones.")
    domains = value.get("domains") or {}
    if not isinstance(domains, dict):
        raise InputError(f"{where}.domains must map each domain name to its settings.")
    for name, entry in domains.items():
        here = f"{where}.domains.{name}"
        _check_name(name, here)
        if not isinstance(entry, dict):
            raise InputError(f"{here} must be a mapping (verified, services, mx, spf).")
        bad = sorted(set(entry) - _DOMAIN_KEYS)
        if bad:
            raise InputError(
                f"{here}: unknown key {bad[0]!r}; expected one of "
                f"{', '.join(sorted(_DOMAIN_KEYS))}."
            )
        if not isinstance(entry.get("verified", True), bool):
            raise InputError(f"{here}.verified must be true or false.")
        _check_strings(entry.get("services", []), f"{here}.services")
        for key in ("mx", "spf"):
            if key in entry and not isinstance(entry[key], str):
                raise InputError(f"{here}.{key} must be one text value.")
    zones = value.get("zones") or {}
    if not isinstance(zones, dict):
        raise InputError(f"{where}.zones must map each DNS name to its records.")
    for name, records in zones.items():
        here = f"{where}.zones.{name}"
        _check_name(name, here)
        if not isinstance(records, dict):
            raise InputError(f"{here} must map record types (MX, TXT, A) to lists.")
        for rdtype, values in records.items():
            if rdtype not in _RECORD_TYPES:
                raise InputError(f"{here}: record type {rdtype!r} is not one of MX, TXT, A.")
            for item in _check_strings(values, f"{here}.{rdtype}"):
                _check_record(rdtype, item, f"{here}.{rdtype}")


def check_connectors_section(value: Any, where: str) -> None:
    """Check a tenant file's ``connectors`` section; raise InputError naming the entry and key."""
    if value is None:
        return
    if not isinstance(value, dict):
        raise InputError(f"{where} must be a mapping with 'outbound' and/or 'inbound' lists.")
    unknown = sorted(set(value) - set(_DIRECTIONS))
    if unknown:
        raise InputError(f"{where}: unknown key {unknown[0]!r}; expected outbound or inbound.")
    for direction, defaults in _DIRECTIONS.items():
        entries = value.get(direction) or []
        if not isinstance(entries, list):
            raise InputError(f"{where}.{direction} must be a list of connectors.")
        names: set[str] = set()
        for index, entry in enumerate(entries):
            here = f"{where}.{direction}[{index}]"
            if not isinstance(entry, dict) or not isinstance(entry.get("Name"), str):
                raise InputError(f"{here}: each connector is a mapping with a 'Name'.")
            if entry["Name"].lower() in names:
                raise InputError(f"{here}: the name {entry['Name']!r} is used twice.")
            names.add(entry["Name"].lower())
            for key, given in entry.items():
                if key == "Name":
                    continue
                if key not in defaults:
                    raise InputError(
                        f"{here} ({entry['Name']}): unknown property {key!r}; expected one of "
                        f"Name, {', '.join(sorted(defaults))}."
                    )
                _check_property(key, given, defaults[key], f"{here} ({entry['Name']}).{key}")


def _check_property(key: str, given: Any, default: Any, where: str) -> None:
    if key in _CHOICES:
        if given not in _CHOICES[key]:
            choices = ", ".join(c for c in _CHOICES[key] if c)
            raise InputError(f"{where} is {given!r}; give one of {choices}.")
    elif isinstance(default, bool):
        if not isinstance(given, bool):
            raise InputError(f"{where} must be true or false.")
    elif isinstance(default, list):
        _check_strings(given, where)
    elif given is not None and not isinstance(given, str):
        raise InputError(f"{where} must be one text value.")


def _check_strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{where} must be a list of strings.")
    return value


def _check_name(name: Any, where: str) -> None:
    text = normalize_name(name) if isinstance(name, str) else ""
    if not text or not all(_LABEL.match(label) for label in text.split(".")):
        raise InputError(f"{where}: {name!r} is not a DNS name.")


def _check_record(rdtype: str, item: str, where: str) -> None:
    if rdtype == "MX" and not _MX.match(item.strip()):
        raise InputError(f"{where}: {item!r} is not 'PREFERENCE HOST', e.g. '0 mx.contoso.com'.")
    if rdtype == "A":
        try:
            ipaddress.IPv4Address(item)
        except ValueError:
            raise InputError(f"{where}: {item!r} is not an IPv4 address.") from None
