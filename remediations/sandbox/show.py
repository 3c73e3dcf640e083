"""``sandbox.show``: the tenant for people, references shown as addresses."""

from __future__ import annotations

from typing import Any

from remediations.errors import AmbiguousIdentity, UnknownIdentity
from remediations.sandbox.cmdlets import candidates
from remediations.sandbox.state import SandboxState

__all__ = ["render_object", "render_tenant"]

_REFS = (
    "AcceptMessagesOnlyFrom",
    "AcceptMessagesOnlyFromDLMembers",
    "ModeratedBy",
    "BypassModerationFromSendersOrMembers",
    "Members",
    "SentTo",
)


def _name(state: SandboxState, guid: str) -> str:
    rec = state.by_guid(guid)
    return str(rec["PrimarySmtpAddress"]) if rec else guid


def _readable(state: SandboxState, obj: dict[str, Any]) -> dict[str, Any]:
    out = dict(obj)
    for key in _REFS:
        if key in out:
            out[key] = [_name(state, g) for g in out[key]]
    return out


def render_tenant(state: SandboxState) -> str:
    """Every recipient, rule and user, one line each."""
    lines = [f"Tenant {state.organization} ({state.data.get('tenant_domain', '')})", ""]
    lines.append("Recipients:")
    for rec in state.recipients:
        flags = []
        if rec.get("RequireSenderAuthenticationEnabled"):
            flags.append("requires authenticated senders")
        accept = [
            _name(state, g)
            for g in (
                *rec.get("AcceptMessagesOnlyFrom", ()),
                *rec.get("AcceptMessagesOnlyFromDLMembers", ()),
            )
        ]
        if accept:
            flags.append("accepts only from " + ", ".join(accept))
        if rec.get("ModerationEnabled"):
            moderators = ", ".join(_name(state, g) for g in rec.get("ModeratedBy", ())) or "owners"
            flags.append(f"moderated by {moderators}")
        if "MemberCount" in rec:
            flags.append(f"{rec['MemberCount']} members")
        where = rec.get("FolderPath") or rec["Name"]
        lines.append(
            f"  {rec['RecipientTypeDetails']:<31} {where:<24} {rec['PrimarySmtpAddress']}"
            + (f"  [{'; '.join(flags)}]" if flags else "")
        )
    lines.append("")
    lines.append("Transport rules:" if state.transport_rules else "Transport rules: none")
    for rule in state.transport_rules:
        sent_to = ", ".join(_name(state, g) for g in rule.get("SentTo", ()))
        action = (
            "delete"
            if rule.get("DeleteMessage")
            else f"reject {rule.get('RejectMessageEnhancedStatusCode')}"
        )
        lines.append(
            f"  {rule['Priority']}. {rule['Name']}  [{rule['State']}; to {sent_to}; {action}]"
        )
    lines.append("")
    lines.append("Users:")
    for user in state.users:
        licenses = ", ".join(user["AssignedLicenses"]) or "no license"
        enabled = "enabled" if user["AccountEnabled"] else "disabled"
        lines.append(f"  {user['UserPrincipalName']:<32} {enabled:<9} {licenses}")
    return "\n".join(lines) + "\n"


def render_object(state: SandboxState, identity: str) -> str:
    """One recipient or transport rule with every property."""
    found: list[dict[str, Any]] = list(candidates(state, identity, None))
    found += [r for r in state.transport_rules if r["Name"].lower() == identity.strip().lower()]
    if not found:
        raise UnknownIdentity(
            f"--identity {identity!r}: no recipient or rule in {state.organization} has that "
            "name, alias or address; 'invoke sandbox.show' lists them all."
        )
    if len(found) > 1:
        raise AmbiguousIdentity(
            f"--identity {identity!r} matches {len(found)} objects; give an email address."
        )
    obj = _readable(state, found[0])
    width = max(len(k) for k in obj)
    lines = []
    for key in sorted(obj):
        value = obj[key]
        shown = ", ".join(map(str, value)) if isinstance(value, list) else value
        lines.append(f"{key:<{width}} : {shown}")
    return "\n".join(lines) + "\n"
