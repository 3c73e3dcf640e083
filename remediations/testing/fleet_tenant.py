"""A sandbox tenant with many groups of one kind, for fleet tests and the fleet benchmark.

``write_fleet_tenant(path, groups=2000)`` writes a tenant file and loads it into the
sandbox store at ``path``: ``groups`` distribution groups ``group0001@contoso.com``...,
each requiring authenticated senders; ``restricted`` ones also accept mail only from
``cfo@contoso.com`` (the case ``add-allowed-sender`` fixes), the others have no list
(the case ``open-group-to-external`` fixes).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

__all__ = ["fleet_group", "write_fleet_tenant"]


def fleet_group(number: int) -> str:
    """The address of the fleet tenant's group ``number`` (from 1)."""
    return f"group{number:05d}@contoso.com"


def write_fleet_tenant(path: Path, *, groups: int, restricted: bool = True) -> list[str]:
    """Write the fleet tenant to the sandbox store at ``path``; return the groups' addresses."""
    from remediations.sandbox import load_tenant

    addresses = [fleet_group(n) for n in range(1, groups + 1)]
    recipients: list[dict[str, object]] = [
        {"kind": "mailbox", "name": "CFO", "address": "cfo@contoso.com"},
    ]
    for number, address in enumerate(addresses, 1):
        group: dict[str, object] = {
            "kind": "distribution-group",
            "name": f"Group {number:05d}",
            "address": address,
            "require_sender_authentication": True,
        }
        if restricted:
            group["accept_messages_only_from"] = ["cfo@contoso.com"]
        recipients.append(group)
    doc = {"organization": "contoso.com", "recipients": recipients}
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "fleet.yaml"
        source.write_text(json.dumps(doc), encoding="utf-8")  # JSON is YAML too
        load_tenant(source, path)
    return addresses
