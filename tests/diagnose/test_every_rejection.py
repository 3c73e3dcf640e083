"""Every tenant-state rejection the mail-flow model can give leads, through
diagnose --check --fix, to a delivered re-send (or, for a leaver, to the toolkit's
rule stopping the mail on purpose)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from remediations.cli.diagnose import diagnose_task
from remediations.cli.sandbox import sandbox_send_task
from remediations.exchange.cmdlet import Cmdlet
from remediations.ndr.codes import SANDBOX_REJECTIONS
from remediations.ndr.mailflow import REJECTION_CAUSES
from remediations.sandbox import SandboxTransport
from remediations.sandbox.store import save_state
from remediations.sandbox.tenant_file import DEMO_TENANT, tenant_from_mapping

# A mail user that requires authenticated senders (5.7.136), beside the demo tenant.
CONTRACTOR = {
    "kind": "mail-user",
    "name": "Contractor",
    "address": "contractor@contoso.com",
    "external_address": "contractor@tailspintoys.com",
    "require_sender_authentication": True,
}

# rejection key -> (sender, recipient, cmdlets that set the case up, how it must end)
CASES: dict[str, tuple[str, str, tuple[Cmdlet, ...], str]] = {
    "public-folder-auth": ("partner@fabrikam.com", "escalations@contoso.com", (), "delivered"),
    "group-auth": ("partner@fabrikam.com", "partners@contoso.com", (), "delivered"),
    "unified-group-auth": ("partner@fabrikam.com", "falcon@contoso.com", (), "delivered"),
    "mailbox-auth": ("partner@fabrikam.com", "legal@contoso.com", (), "delivered"),
    "mail-user-auth": ("partner@fabrikam.com", "contractor@contoso.com", (), "delivered"),
    "not-authorized": (
        "sam.rivera@contoso.com",
        "cfo@contoso.com",
        (Cmdlet.of("Set-Mailbox", Identity="cfo@contoso.com", AcceptMessagesOnlyFrom=("hr",)),),
        "delivered",
    ),
    "allowed-senders": (
        "sam.rivera@contoso.com",
        "finance-approvers@contoso.com",
        (),
        "delivered",
    ),
    "disabled-account": ("partner@fabrikam.com", "jordan.lee@contoso.com", (), "leaver rule"),
}

# Keys the model never emits: on-premises constants or wording kept for diagnosis only.
NEVER_EMITTED = {"group-not-authorized", "large-group-members"}
TENANT_STATE = {
    "public-folder-auth",
    "group-auth",
    "recipient-auth",
    "restricted-recipient",
    "disabled-account",
}


def test_every_tenant_state_rejection_has_a_case() -> None:
    """The cases below cover every tenant-state rejection the model gives."""
    emitted = {
        key
        for key, cause in REJECTION_CAUSES.items()
        if cause in TENANT_STATE and key not in NEVER_EMITTED
    }
    assert emitted == set(CASES)


def _json(fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    out, err = io.StringIO(), io.StringIO()
    assert fn(*args, out=out, err=err, **kwargs) == 0, err.getvalue()
    return json.loads(out.getvalue())  # type: ignore[no-any-return]


@pytest.mark.parametrize("key", sorted(CASES))
def test_rejection_leads_to_delivery(config: dict[str, Any], key: str) -> None:
    """The bounce has the expected code; --check confirms a fix; --fix re-sends."""
    sender, recipient, cmdlets, end = CASES[key]
    path = Path(config["sandbox"]["path"])
    data = yaml.safe_load(DEMO_TENANT.read_text(encoding="utf-8"))
    data["recipients"].append(CONTRACTOR)
    save_state(tenant_from_mapping(data, source="test"), path)
    transport = SandboxTransport(path)
    for cmdlet in cmdlets:
        transport.send(cmdlet)
    sent = _json(sandbox_send_task, config, sender=sender, recipient=recipient, as_json=True)
    assert sent["status"] == SANDBOX_REJECTIONS[key].status
    doc = _json(diagnose_task, config, sent["ndr"], as_json=True, check=True, fix=True, yes=True)
    assert doc["check"]["confirmed"] is True, doc["check"]
    (resent,) = doc["resent"]
    if end == "delivered":
        assert resent["outcome"] == "delivered", resent
    else:
        assert str(resent["rule"]).startswith("Block mail to leaver "), resent
