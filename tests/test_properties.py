"""Property: over generated tenants and wishes, apply then plan again gives an empty plan."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from remediations.actions import ACTIONS, parse_wish
from remediations.audit import AuditLog
from remediations.engine import prepare, run_action
from remediations.errors import InputError
from remediations.sandbox import SandboxTransport, save_state
from remediations.sandbox.tenant_file import tenant_from_mapping
from tests.conftest import FIXED_TIME

PEOPLE = [f"user{i}@contoso.com" for i in range(4)]
OUTSIDERS = ["partner@fabrikam.com", "vendor@tailspin.com"]


@st.composite
def tenants(draw: st.DrawFn) -> dict[str, Any]:
    """A small organisation: people, groups, a public folder, a leaver."""
    recipients: list[dict[str, Any]] = [
        {"kind": "mailbox", "name": f"User {i}", "address": a, "user": {"licenses": ["E3"]}}
        for i, a in enumerate(PEOPLE)
    ]
    recipients.append(
        {
            "kind": "mailbox",
            "name": "Leaver",
            "address": "leaver@contoso.com",
            "user": {"licenses": [], "account_enabled": False},
        }
    )
    for i in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["distribution-group", "security-group", "m365-group"]))
        recipients.append(
            {
                "kind": kind,
                "name": f"Group {i}",
                "address": f"group{i}@contoso.com",
                "require_sender_authentication": draw(st.booleans()),
                "accept_messages_only_from": draw(
                    st.lists(st.sampled_from(PEOPLE), unique=True, max_size=3)
                ),
                "moderation_enabled": draw(st.booleans()),
                "moderated_by": draw(st.lists(st.sampled_from(PEOPLE), unique=True, max_size=1)),
                "bypass_moderation": draw(
                    st.lists(st.sampled_from(PEOPLE), unique=True, max_size=2)
                ),
                "members": draw(st.lists(st.sampled_from(PEOPLE), unique=True)),
            }
        )
    recipients.append(
        {
            "kind": "public-folder",
            "name": "Folder",
            "path": "\\Top\\Folder",
            "address": "folder@contoso.com",
            "require_sender_authentication": draw(st.booleans()),
            "accept_messages_only_from": draw(
                st.lists(st.sampled_from(PEOPLE), unique=True, max_size=2)
            ),
        }
    )
    return {"organization": "contoso.com", "recipients": recipients}


@st.composite
def wishes(draw: st.DrawFn, tenant: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Any action with targets and senders from the tenant (or outside it)."""
    groups = [r["address"] for r in tenant["recipients"] if "group" in r["kind"]]
    sender = draw(st.sampled_from(PEOPLE + OUTSIDERS))
    action = draw(st.sampled_from(sorted(ACTIONS)))
    if action == "fix-public-folder":
        return action, {"folder": "\\Top\\Folder", "all_senders": draw(st.booleans())}
    if action == "add-allowed-sender":
        target = draw(st.sampled_from([*groups, "folder@contoso.com", *PEOPLE]))
        return action, {
            "recipient": target,
            "sender": sender,
            "only_listed_senders": draw(st.booleans()),
        }
    if action == "open-group-to-external":
        return action, {"group": draw(st.sampled_from(groups))}
    if action == "open-to-external":
        return action, {"recipient": draw(st.sampled_from([*groups, *PEOPLE]))}
    if action == "bypass-moderation":
        return action, {"group": draw(st.sampled_from(groups)), "sender": sender}
    if action == "block-delicensed-user":
        return action, {
            "user": draw(st.sampled_from(["leaver@contoso.com", *PEOPLE])),
            "mode": draw(st.sampled_from(["reject", "delete"])),
            "even_if_active": draw(st.booleans()),
        }
    return action, {  # remove-license
        "user": draw(st.sampled_from(["leaver@contoso.com", *PEOPLE])),
        "even_if_active": draw(st.booleans()),
    }


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_apply_then_plan_again_is_empty(data: st.DataObject) -> None:
    """Whatever the tenant and the wish, once applied (and verified) nothing is left to do."""
    tenant = data.draw(tenants())
    steps = data.draw(st.lists(wishes(tenant), min_size=1, max_size=3))
    with tempfile.TemporaryDirectory(dir=os.environ.get("PYTEST_DEBUG_TEMPROOT")) as tmp:
        path = Path(tmp) / "tenant.json"
        save_state(tenant_from_mapping(tenant), path)
        audit = AuditLog(Path(tmp) / "audit", clock=lambda: FIXED_TIME, context={})
        applied_any = False
        for name, values in steps:
            action = ACTIONS[name]
            wish = parse_wish(action, values)
            try:
                outcome = run_action(
                    action, wish, transport=SandboxTransport(path), audit=audit, dry_run=False
                )
            except InputError:
                continue  # refused or not applicable: nothing was changed
            applied_any = True
            assert outcome.outcome in ("applied", "no-change")
            again = SandboxTransport(path)
            assert prepare(action, wish, again).is_noop
            assert again.writes == 0
        assume(applied_any)
