"""``load(export(t))`` is ``t``: the check every stored test tenant goes through."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from remediations.sandbox.cmdlets import present_recipient
from remediations.sandbox.state import SandboxState
from remediations.sandbox.tenant_file import export_tenant, tenant_from_mapping

#: export (its SHA-256) -> ``comparable`` of the tenant loaded from it, for exports already
#: checked in this process: loading an export is a function of the export alone, so a
#: second tenant with the same export is checked against the first one's reload.
_RELOADED: dict[bytes, dict[str, Any]] = {}


def comparable(state: SandboxState) -> dict[str, Any]:
    """The tenant as Exchange shows it (Get-* presentations, members, users, rules, settings)."""
    recipients = [
        {
            **present_recipient(state, r),
            "Members": r.get("Members"),
            "MemberCount": r.get("MemberCount"),
        }
        for r in state.recipients
    ]
    rules = [{k: v for k, v in rule.items() if v is not None} for rule in state.transport_rules]
    settings = {k: v for k, v in state.data.items() if k != "transport_rules"}
    return {"settings": settings, "recipients": recipients, "users": state.users, "rules": rules}


def assert_round_trip(state: SandboxState) -> None:
    """Exporting the tenant and loading the export gives the same tenant."""
    exported = export_tenant(state)
    key = hashlib.sha256(json.dumps(exported, sort_keys=True, default=repr).encode()).digest()
    reloaded = _RELOADED.get(key)
    if reloaded is None:
        again = tenant_from_mapping(exported, source="export")
        assert export_tenant(again) == exported
        reloaded = _RELOADED[key] = comparable(again)
    assert comparable(state) == reloaded
