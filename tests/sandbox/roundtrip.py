"""``load(export(t))`` is ``t``: the check every stored test tenant goes through."""

from __future__ import annotations

from typing import Any

from remediations.sandbox.cmdlets import present_recipient
from remediations.sandbox.state import SandboxState
from remediations.sandbox.tenant_file import export_tenant, tenant_from_mapping


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
    again = tenant_from_mapping(exported, source="export")
    assert comparable(again) == comparable(state)
    assert export_tenant(again) == exported
