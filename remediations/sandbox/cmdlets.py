"""Exchange (and Graph PowerShell) cmdlet semantics over a :class:`SandboxState`.

Each cmdlet validates every parameter before it changes anything, so a cmdlet
that fails leaves the tenant as it was, as Exchange does.  Errors carry
Exchange's own texts (:mod:`remediations.exchange.facts`).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from remediations.errors import CmdletError
from remediations.exchange import facts
from remediations.exchange.cmdlet import AddRemove, Cmdlet, CmdletResult, ParamValue
from remediations.sandbox.state import (
    ALL_GROUP_TYPES,
    GROUP_TYPES,
    INDIVIDUAL_TYPES,
    MAILBOX_TYPES,
    SandboxState,
)

__all__ = ["EXCHANGE_CMDLETS", "Handler", "candidates", "present_recipient", "stable_guid"]

_NAMESPACE = uuid.UUID("6f1c9a52-5f43-4f0e-9f1e-1b7d3c0a5e21")

Types = frozenset[str] | None  # None: every recipient type
Handler = Callable[[SandboxState, Cmdlet], CmdletResult]

# Recipient-valued properties, and the recipient types each accepts.
_REF_PROPS: dict[str, Types] = {
    "AcceptMessagesOnlyFrom": INDIVIDUAL_TYPES,
    "AcceptMessagesOnlyFromDLMembers": ALL_GROUP_TYPES,
    "AcceptMessagesOnlyFromSendersOrMembers": None,
    "ModeratedBy": INDIVIDUAL_TYPES,
    "BypassModerationFromSendersOrMembers": None,
}
_BOOL_PROPS = ("RequireSenderAuthenticationEnabled", "ModerationEnabled")
# Each recipient Set-* takes exactly the parameters its Exchange Online page lists
# (tests/data/cmdlet_parameters.json); only Set-DistributionGroup has
# BypassSecurityGroupManagerCheck.
_SET_RECIPIENT_PARAMS = frozenset({"Identity", *(_REF_PROPS), *_BOOL_PROPS, "Confirm"})
_SET_GROUP_PARAMS = _SET_RECIPIENT_PARAMS | {"BypassSecurityGroupManagerCheck"}
_UNIFIED_PARAMS = frozenset(
    {
        "Identity",
        "AcceptMessagesOnlyFromSendersOrMembers",
        "ModeratedBy",
        *_BOOL_PROPS,
        "Confirm",
    }
)
_GET_PARAMS = frozenset({"Identity", "ResultSize", "RecipientTypeDetails", "Anr"})
# Get-MailPublicFolder, Get-UnifiedGroup and Get-MailUser have no -RecipientTypeDetails.
_GET_NO_TYPE_PARAMS = frozenset({"Identity", "ResultSize", "Anr"})
# Get-MailContact has no -Anr.
_GET_CONTACT_PARAMS = frozenset({"Identity", "ResultSize", "RecipientTypeDetails"})
_RULE_PARAMS = frozenset(
    {
        "SentTo",
        "FromScope",
        "RejectMessageReasonText",
        "RejectMessageEnhancedStatusCode",
        "DeleteMessage",
        "Mode",
        "Priority",
        "StopRuleProcessing",
        "Comments",
        "Confirm",
    }
)
# New-TransportRule has -Enabled; Set-TransportRule does not (Enable-/Disable-TransportRule).
_NEW_RULE_PARAMS = _RULE_PARAMS | {"Name", "Enabled"}
_SET_RULE_PARAMS = _RULE_PARAMS | {"Identity", "Name"}


def stable_guid(*parts: str) -> str:
    """A Guid derived from names, so the same tenant built twice is the same tenant.

    ``str(uuid.uuid5(_NAMESPACE, "/".join(p.lower() for p in parts)))``, written out (twice as
    fast: a tenant of 50,000 recipients makes 100,000 of them as it loads).
    """
    name = "/".join(parts).lower().encode("utf-8")
    raw = bytearray(hashlib.sha1(_NAMESPACE.bytes + name).digest()[:16])  # noqa: S324 - RFC 4122 v5
    raw[6] = (raw[6] & 0x0F) | 0x50  # version 5
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# --- identity resolution ------------------------------------------------------------


def _norm(identity: str) -> str:
    text = identity.strip()
    if text.lower().startswith("smtp:"):
        text = text[5:]
    return text.lower()


def _answers_to(state: SandboxState, rec: dict[str, Any], key: str, by_address: bool) -> bool:
    if key in (rec["Guid"].lower(), rec["Name"].lower()):
        return True
    if rec.get("FolderPath", "").lower() == key:
        return True
    # A Microsoft 365 group's Name carries a suffix; Exchange finds it by DisplayName.
    if rec["RecipientTypeDetails"] == "GroupMailbox" and rec.get("DisplayName", "").lower() == key:
        return True
    if not by_address:
        return False
    if rec.get("Alias", "").lower() == key:
        return True
    return key in state.addresses_of(rec)


def candidates(
    state: SandboxState, identity: str, types: Types, *, by_address: bool = True
) -> list[dict[str, Any]]:
    """The recipients of ``types`` an identity names (looked up in the state's index).

    ``by_address`` False: only Guid, name or path, as Get-/Set-MailPublicFolder
    resolve ``-Identity`` (never an SMTP address or alias).
    """
    key = _norm(identity)
    return [
        r
        for r in state.find(key, ("guid", "name", "folder", "display", "alias", "smtp"))
        if (types is None or r["RecipientTypeDetails"] in types)
        and _answers_to(state, r, key, by_address)
    ]


def _resolve_identity(
    state: SandboxState, cmdlet: Cmdlet, types: Types, *, by_address: bool = True
) -> dict[str, Any]:
    identity = str(cmdlet.get("Identity"))
    found = candidates(state, identity, types, by_address=by_address)
    if not found:
        raise CmdletError(
            facts.NOT_FOUND.format(identity=identity, server=state.server),
            cmdlet=cmdlet,
            category="NotFound",
        )
    if len(found) > 1:
        raise CmdletError(
            facts.AMBIGUOUS.format(identity=identity), cmdlet=cmdlet, category="Ambiguous"
        )
    return found[0]


def _resolve_value(state: SandboxState, cmdlet: Cmdlet, value: str, types: Types) -> dict[str, Any]:
    found = candidates(state, value, types)
    if not found:
        raise CmdletError(
            facts.VALUE_NOT_FOUND.format(value=value), cmdlet=cmdlet, category="NotFound"
        )
    if len(found) > 1:
        raise CmdletError(
            facts.VALUE_AMBIGUOUS.format(value=value), cmdlet=cmdlet, category="Ambiguous"
        )
    return found[0]


# --- presentation ------------------------------------------------------------------


def present_recipient(state: SandboxState, rec: dict[str, Any]) -> dict[str, Any]:
    """A recipient as Get-* cmdlets show it (references as Guids, lists copied)."""
    out: dict[str, Any] = {
        "Identity": rec.get("FolderPath") or rec["Name"],
        "Guid": rec["Guid"],
        "Name": rec["Name"],
        "Alias": rec.get("Alias", ""),
        "DisplayName": rec.get("DisplayName", rec["Name"]),
        "PrimarySmtpAddress": rec.get("PrimarySmtpAddress", ""),
        "EmailAddresses": list(rec.get("EmailAddresses", ())),
        "RecipientType": rec["RecipientType"],
        "RecipientTypeDetails": rec["RecipientTypeDetails"],
        "RequireSenderAuthenticationEnabled": rec.get("RequireSenderAuthenticationEnabled", False),
        "AcceptMessagesOnlyFrom": list(rec.get("AcceptMessagesOnlyFrom", ())),
        "AcceptMessagesOnlyFromDLMembers": list(rec.get("AcceptMessagesOnlyFromDLMembers", ())),
        "AcceptMessagesOnlyFromSendersOrMembers": [
            *rec.get("AcceptMessagesOnlyFrom", ()),
            *rec.get("AcceptMessagesOnlyFromDLMembers", ()),
        ],
        "ModerationEnabled": rec.get("ModerationEnabled", False),
        "ModeratedBy": list(rec.get("ModeratedBy", ())),
        "BypassModerationFromSendersOrMembers": list(
            rec.get("BypassModerationFromSendersOrMembers", ())
        ),
    }
    if "ManagedBy" in rec:
        out["ManagedBy"] = list(rec["ManagedBy"])
    for extra in (
        "ExternalEmailAddress",
        "FolderPath",
        "UserPrincipalName",
        "GroupType",
        "ExternalDirectoryObjectId",
    ):
        if extra in rec:
            out[extra] = rec[extra]
    return out


def _present_rule(rule: dict[str, Any]) -> dict[str, Any]:
    out = dict(rule)
    out["Identity"] = rule["Name"]
    out["SentTo"] = list(rule.get("SentTo", ()))
    return out


# --- Get-* -------------------------------------------------------------------------


def _anr_matches(rec: dict[str, Any], prefix: str) -> bool:
    """Ambiguous name resolution: a prefix of the name, display name, alias or address."""
    values = (
        rec["Name"],
        rec.get("DisplayName", ""),
        rec.get("Alias", ""),
        rec.get("PrimarySmtpAddress", ""),
    )
    return any(v.lower().startswith(prefix) for v in values if v)


def _getter(types: Types, *, by_address: bool = True) -> Handler:
    def get(state: SandboxState, cmdlet: Cmdlet) -> CmdletResult:
        identity = cmdlet.get("Identity")
        anr = cmdlet.get("Anr")
        wanted = cmdlet.get("RecipientTypeDetails")
        kinds: Types = types
        if wanted:
            kinds = frozenset(t for t in _as_tuple(wanted) if types is None or t in types)
        if identity not in (None, ""):
            recs = [_resolve_identity(state, cmdlet, kinds, by_address=by_address)]
        elif anr not in (None, ""):
            prefix = str(anr).strip().lower()
            recs = [
                r
                for r in state.recipients
                if (kinds is None or r["RecipientTypeDetails"] in kinds) and _anr_matches(r, prefix)
            ]
        else:
            # As documented: an empty Identity returns every object of the kind.
            recs = state.recipients if kinds is None else state.recipients_of(kinds)
        recs, warnings = _cut_to_result_size(cmdlet, recs)
        return CmdletResult(
            objects=tuple(present_recipient(state, r) for r in recs), warnings=warnings
        )

    return get


def _cut_to_result_size(
    cmdlet: Cmdlet, found: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], tuple[str, ...]]:
    """Exchange's -ResultSize: 1,000 objects unless told otherwise, and a warning when cut."""
    raw = cmdlet.get("ResultSize")
    if isinstance(raw, str) and raw.strip().lower() == "unlimited":
        return found, ()
    if raw in (None, ""):
        limit = facts.DEFAULT_RESULT_SIZE
    else:
        try:
            limit = int(str(raw))
        except ValueError:
            raise CmdletError(
                facts.NOT_CONVERTIBLE.format(
                    name="ResultSize", value=raw, type="Unlimited[UInt32]"
                ),
                cmdlet=cmdlet,
                category="InvalidArgument",
            ) from None
    if len(found) <= limit:
        return found, ()
    return found[:limit], (facts.RESULT_SIZE_WARNING,)


def _get_group_members(state: SandboxState, cmdlet: Cmdlet) -> CmdletResult:
    """Get-DistributionGroupMember: the members the tenant holds (not MemberCount's rest)."""
    group = _resolve_identity(state, cmdlet, GROUP_TYPES)
    members = [state.by_guid(g) for g in group.get("Members", ())]
    return CmdletResult(
        objects=tuple(present_recipient(state, m) for m in members if m is not None)
    )


def _as_tuple(value: ParamValue) -> tuple[str, ...]:
    if isinstance(value, tuple):
        return value
    if isinstance(value, str):
        return (value,)
    return ()


# --- Set-* on recipients ----------------------------------------------------------


def _acting_admin_manages(state: SandboxState, rec: dict[str, Any]) -> bool:
    """Whether the admin running the cmdlets is in the group's ManagedBy (the sandbox's
    admin is ``admin``, by default admin@<initial domain>, not a recipient: no manager)."""
    admin = str(state.data.get("admin") or "").lower()
    for guid in rec.get("ManagedBy", ()):
        manager = state.by_guid(guid)
        if manager is not None and admin in state.addresses_of(manager):
            return True
    return False


def _setter(
    types: Types,
    *,
    overwrite_only: bool = False,
    by_address: bool = True,
    manager_check: bool = False,
) -> Handler:
    def set_(state: SandboxState, cmdlet: Cmdlet) -> CmdletResult:
        rec = _resolve_identity(state, cmdlet, types, by_address=by_address)
        if (
            manager_check
            and cmdlet.get("BypassSecurityGroupManagerCheck") is not True
            and not _acting_admin_manages(state, rec)
        ):
            raise CmdletError(facts.NOT_GROUP_MANAGER, cmdlet=cmdlet, category="PermissionDenied")
        names = {n.lower(): n for n, _ in cmdlet.params}
        for first, second in (
            ("AcceptMessagesOnlyFrom", "AcceptMessagesOnlyFromSendersOrMembers"),
            ("AcceptMessagesOnlyFromDLMembers", "AcceptMessagesOnlyFromSendersOrMembers"),
        ):
            if first.lower() in names and second.lower() in names:
                raise CmdletError(
                    facts.SAME_COMMAND.format(first=first, second=second),
                    cmdlet=cmdlet,
                    category="InvalidArgument",
                )
        updated = {k: list(v) if isinstance(v, list) else v for k, v in rec.items()}
        for name, value in cmdlet.params:
            prop = _canonical(name)
            if prop in _BOOL_PROPS:
                if not isinstance(value, bool):
                    raise CmdletError(
                        facts.NOT_CONVERTIBLE.format(name=prop, value=value, type="System.Boolean"),
                        cmdlet=cmdlet,
                        category="InvalidArgument",
                    )
                updated[prop] = value
            elif prop in _REF_PROPS:
                if overwrite_only and isinstance(value, AddRemove):
                    raise CmdletError(
                        facts.NO_ADD_REMOVE.format(name=prop),
                        cmdlet=cmdlet,
                        category="InvalidArgument",
                    )
                _set_references(state, cmdlet, updated, prop, value)
        if updated == rec:
            identity = str(cmdlet.get("Identity"))
            return CmdletResult(warnings=(facts.NO_CHANGE_WARNING.format(identity=identity),))
        rec.clear()
        rec.update(updated)
        return CmdletResult()

    return set_


def _canonical(name: str) -> str:
    for known in (*_REF_PROPS, *_BOOL_PROPS):
        if known.lower() == name.lower():
            return known
    return name


def _set_references(
    state: SandboxState,
    cmdlet: Cmdlet,
    rec: dict[str, Any],
    prop: str,
    value: ParamValue,
) -> None:
    types = _REF_PROPS[prop]
    if prop == "AcceptMessagesOnlyFromSendersOrMembers":
        # Exchange keeps the combined list as the two lists it is made of.
        individuals = list(rec.get("AcceptMessagesOnlyFrom", ()))
        groups = list(rec.get("AcceptMessagesOnlyFromDLMembers", ()))
        combined = _apply_mvp(state, cmdlet, [*individuals, *groups], value, types)
        rec["AcceptMessagesOnlyFrom"] = [
            g for g in combined if _type_of(state, g) not in ALL_GROUP_TYPES
        ]
        rec["AcceptMessagesOnlyFromDLMembers"] = [
            g for g in combined if _type_of(state, g) in ALL_GROUP_TYPES
        ]
        return
    rec[prop] = _apply_mvp(state, cmdlet, list(rec.get(prop, ())), value, types)


def _type_of(state: SandboxState, guid: str) -> str:
    rec = state.by_guid(guid)
    return rec["RecipientTypeDetails"] if rec else ""


def _apply_mvp(
    state: SandboxState,
    cmdlet: Cmdlet,
    current: list[str],
    value: ParamValue,
    types: Types,
) -> list[str]:
    def guids(values: Iterable[str]) -> list[str]:
        return [_resolve_value(state, cmdlet, v, types)["Guid"] for v in values]

    if value is None:
        return []
    if isinstance(value, AddRemove):
        result = list(current)
        for guid in guids(value.add):
            if guid not in result:
                result.append(guid)
        removed = set(guids(value.remove))
        return [g for g in result if g not in removed]
    new: list[str] = []
    for guid in guids(_as_tuple(value)):
        if guid not in new:
            new.append(guid)
    return new


# --- New-MailContact -----------------------------------------------------------------

_ALIAS_INVALID = re.compile(r"[^A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]")
_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _new_mail_contact(state: SandboxState, cmdlet: Cmdlet) -> CmdletResult:
    name = str(cmdlet.get("Name"))
    external = str(cmdlet.get("ExternalEmailAddress"))
    if external.lower().startswith("smtp:"):
        external = external[5:]
    if not _ADDRESS.match(external):
        raise CmdletError(
            facts.BAD_SMTP_ADDRESS.format(value=external),
            cmdlet=cmdlet,
            category="InvalidArgument",
        )
    if len(name) > facts.MAX_NAME_LENGTH:
        raise CmdletError(
            facts.TOO_LONG.format(limit=facts.MAX_NAME_LENGTH, length=len(name)),
            cmdlet=cmdlet,
            category="InvalidArgument",
        )
    if state.find(name, ("name",)):
        raise CmdletError(
            facts.DUPLICATE_NAME.format(name=name), cmdlet=cmdlet, category="Duplicate"
        )
    owner = next(iter(state.find(external, ("smtp",))), None)
    if owner is not None:
        raise CmdletError(
            facts.PROXY_IN_USE.format(address=external, owner=owner["Name"]),
            cmdlet=cmdlet,
            category="Duplicate",
        )
    alias = str(cmdlet.get("Alias") or _ALIAS_INVALID.sub("", name)[:64] or "contact")
    rec: dict[str, Any] = {
        "Guid": stable_guid(state.organization, "MailContact", name),
        "Name": name,
        "Alias": alias,
        "DisplayName": str(cmdlet.get("DisplayName") or name),
        "PrimarySmtpAddress": external,
        "EmailAddresses": [f"SMTP:{external}"],
        "ExternalEmailAddress": f"SMTP:{external}",
        "RecipientType": "MailContact",
        "RecipientTypeDetails": "MailContact",
        "RequireSenderAuthenticationEnabled": False,
        "ModerationEnabled": bool(cmdlet.get("ModerationEnabled", False)),
    }
    state.add_recipient(rec)
    return CmdletResult(objects=(present_recipient(state, rec),))


def _remove_mail_contact(state: SandboxState, cmdlet: Cmdlet) -> CmdletResult:
    """Remove-MailContact: the contact goes, and so do the lists' links to it (backlinks)."""
    rec = _resolve_identity(state, cmdlet, _MC)
    guid = str(rec["Guid"])
    linked = state.referring(guid)  # the lists' links go too (found by index, not a scan)
    state.remove_recipient(guid)
    for other in linked:
        for key, value in list(other.items()):
            if isinstance(value, list) and guid in value:
                other[key] = [v for v in value if v != guid]
    return CmdletResult()


# --- transport rules ---------------------------------------------------------------


def _resolve_rule(state: SandboxState, cmdlet: Cmdlet) -> dict[str, Any]:
    identity = str(cmdlet.get("Identity"))
    key = identity.lower()
    found = [r for r in state.transport_rules if key in (r["Name"].lower(), r["Guid"].lower())]
    if not found:
        raise CmdletError(
            facts.NOT_FOUND.format(identity=identity, server=state.server),
            cmdlet=cmdlet,
            category="NotFound",
        )
    return found[0]


def _get_transport_rule(state: SandboxState, cmdlet: Cmdlet) -> CmdletResult:
    if cmdlet.get("Identity") in (None, ""):
        rules = state.transport_rules
    else:
        rules = [_resolve_rule(state, cmdlet)]
    return CmdletResult(objects=tuple(_present_rule(r) for r in rules))


def _rule_fields(state: SandboxState, cmdlet: Cmdlet, rule: dict[str, Any]) -> None:
    """Validate and copy a New-/Set-TransportRule's action and condition parameters."""
    for name, value in cmdlet.params:
        key = name.lower()
        if key == "sentto":
            rule["SentTo"] = [
                _resolve_value(state, cmdlet, v, None)["Guid"] for v in _as_tuple(value)
            ]
        elif (
            key in ("rejectmessageenhancedstatuscode", "rejectmessagereasontext") and value is None
        ):
            # $null clears the reject action (both halves go together).
            rule.pop("RejectMessageEnhancedStatusCode", None)
            rule.pop("RejectMessageReasonText", None)
        elif key == "rejectmessageenhancedstatuscode":
            code = str(value)
            if not _valid_reject_code(code):
                raise CmdletError(
                    facts.BAD_REJECT_CODE.format(value=code),
                    cmdlet=cmdlet,
                    category="InvalidArgument",
                )
            rule["RejectMessageEnhancedStatusCode"] = code
            rule.setdefault("RejectMessageReasonText", facts.DEFAULT_REJECT_TEXT)
        elif key == "rejectmessagereasontext":
            text = str(value)
            if len(text) > facts.MAX_REJECT_TEXT:
                raise CmdletError(
                    facts.TOO_LONG.format(limit=facts.MAX_REJECT_TEXT, length=len(text)),
                    cmdlet=cmdlet,
                    category="InvalidArgument",
                )
            rule["RejectMessageReasonText"] = text
            rule.setdefault("RejectMessageEnhancedStatusCode", facts.DEFAULT_REJECT_CODE)
        elif key == "fromscope":
            if value not in (None, "InOrganization", "NotInOrganization"):
                raise CmdletError(
                    facts.NOT_ONE_OF.format(
                        name="FromScope", value=value, choices="InOrganization, NotInOrganization"
                    ),
                    cmdlet=cmdlet,
                    category="InvalidArgument",
                )
            rule["FromScope"] = value
        elif key == "deletemessage":
            rule["DeleteMessage"] = bool(value)
        elif key == "mode":
            if str(value) not in ("Audit", "AuditAndNotify", "Enforce"):
                raise CmdletError(
                    facts.NOT_ONE_OF.format(
                        name="Mode", value=value, choices="Audit, AuditAndNotify, Enforce"
                    ),
                    cmdlet=cmdlet,
                    category="InvalidArgument",
                )
            rule["Mode"] = str(value)
        elif key == "enabled":
            rule["State"] = "Enabled" if value else "Disabled"
        elif key == "stopruleprocessing":
            rule["StopRuleProcessing"] = bool(value)
        elif key == "comments":
            rule["Comments"] = str(value or "")


def _valid_reject_code(code: str) -> bool:
    if code == "5.7.1":
        return True
    match = re.fullmatch(r"5\.7\.(\d{3})", code)
    return match is not None and int(match.group(1)) in facts.CUSTOM_REJECT_CODES


def _check_priority(state: SandboxState, cmdlet: Cmdlet, highest: int) -> int | None:
    value = cmdlet.get("Priority")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= highest:
        raise CmdletError(
            facts.BAD_PRIORITY.format(highest=highest),
            cmdlet=cmdlet,
            category="InvalidArgument",
        )
    return value


def _place(state: SandboxState, rule: dict[str, Any], priority: int | None) -> None:
    rules = [r for r in state.transport_rules if r is not rule]
    position = len(rules) if priority is None else priority
    rules.insert(position, rule)
    for index, item in enumerate(rules):
        item["Priority"] = index
    state.data["transport_rules"] = rules


def _new_transport_rule(state: SandboxState, cmdlet: Cmdlet) -> CmdletResult:
    name = str(cmdlet.get("Name"))
    if len(name) > facts.MAX_NAME_LENGTH:
        raise CmdletError(
            facts.TOO_LONG.format(limit=facts.MAX_NAME_LENGTH, length=len(name)),
            cmdlet=cmdlet,
            category="InvalidArgument",
        )
    if any(r["Name"].lower() == name.lower() for r in state.transport_rules):
        raise CmdletError(
            facts.DUPLICATE_RULE.format(name=name), cmdlet=cmdlet, category="Duplicate"
        )
    priority = _check_priority(state, cmdlet, len(state.transport_rules))
    rule: dict[str, Any] = {
        "Guid": stable_guid(state.organization, "TransportRule", name),
        "Name": name,
        "State": "Enabled",
        "Mode": "Enforce",
        "SentTo": [],
        "DeleteMessage": False,
        "StopRuleProcessing": False,
        "Comments": "",
        "Priority": 0,
    }
    _rule_fields(state, cmdlet, rule)
    _place(state, rule, priority)
    return CmdletResult(objects=(_present_rule(rule),))


def _set_transport_rule(state: SandboxState, cmdlet: Cmdlet) -> CmdletResult:
    rule = _resolve_rule(state, cmdlet)
    updated = {k: list(v) if isinstance(v, list) else v for k, v in rule.items()}
    priority = _check_priority(state, cmdlet, len(state.transport_rules) - 1)
    _rule_fields(state, cmdlet, updated)
    if updated == rule and priority in (None, rule["Priority"]):
        identity = str(cmdlet.get("Identity"))
        return CmdletResult(warnings=(facts.NO_CHANGE_WARNING.format(identity=identity),))
    rule.clear()
    rule.update(updated)
    if priority is not None:
        _place(state, rule, priority)
    return CmdletResult()


def _rule_state(enabled: bool) -> Handler:
    def set_state(state: SandboxState, cmdlet: Cmdlet) -> CmdletResult:
        rule = _resolve_rule(state, cmdlet)
        wanted = "Enabled" if enabled else "Disabled"
        if rule.get("State") == wanted:
            identity = str(cmdlet.get("Identity"))
            return CmdletResult(warnings=(facts.NO_CHANGE_WARNING.format(identity=identity),))
        rule["State"] = wanted
        return CmdletResult()

    return set_state


def _remove_transport_rule(state: SandboxState, cmdlet: Cmdlet) -> CmdletResult:
    rule = _resolve_rule(state, cmdlet)
    rules = [r for r in state.transport_rules if r is not rule]
    for index, item in enumerate(rules):
        item["Priority"] = index
    state.data["transport_rules"] = rules
    return CmdletResult()


# --- accepted domains and the directory (Graph PowerShell names) ------------------


def _get_accepted_domain(state: SandboxState, cmdlet: Cmdlet) -> CmdletResult:
    return CmdletResult(objects=tuple(dict(d) for d in state.accepted_domains))


def _find_user(state: SandboxState, cmdlet: Cmdlet) -> dict[str, Any]:
    user = state.find_user(str(cmdlet.get("UserId")))
    if user is not None:
        return user
    raise CmdletError(
        facts.GRAPH_NOT_FOUND.format(identity=cmdlet.get("UserId")),
        cmdlet=cmdlet,
        category="NotFound",
    )


def _license_states(user: dict[str, Any]) -> list[dict[str, Any]]:
    """How each license reached the user: directly (AssignedByGroup None) or through a group."""
    states = user.get("LicenseAssignmentStates")
    if states is None:
        states = [{"SkuId": s, "AssignedByGroup": None} for s in user["AssignedLicenses"]]
    return [dict(s) for s in states]


def _present_user(user: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in user.items() if k != "LicenseAssignmentStates"}
    out["AssignedLicenses"] = [{"SkuId": s, "DisabledPlans": []} for s in user["AssignedLicenses"]]
    out["LicenseAssignmentStates"] = [
        {**s, "State": "Active", "DisabledPlans": []} for s in _license_states(user)
    ]
    return out


def _get_mg_user(state: SandboxState, cmdlet: Cmdlet) -> CmdletResult:
    """Graph returns only what -Property ($select) names (plus Id), else its default set.

    Without -UserId: every user with -All, else only Graph's first page
    (:data:`facts.GRAPH_DEFAULT_PAGE_SIZE` users), as Get-MgUser does.
    """
    if cmdlet.get("UserId") in (None, ""):
        users = [_present_user(u) for u in state.users]
        if not cmdlet.get("All"):
            users = users[: facts.GRAPH_DEFAULT_PAGE_SIZE]
    else:
        users = [_present_user(_find_user(state, cmdlet))]
    named = _as_tuple(cmdlet.get("Property"))
    wanted = {p.lower() for p in (named or facts.GRAPH_USER_DEFAULT_PROPERTIES)} | {"id"}
    return CmdletResult(
        objects=tuple({k: v for k, v in user.items() if k.lower() in wanted} for user in users)
    )


def _sku_guids(state: SandboxState, cmdlet: Cmdlet, param: str) -> tuple[str, ...]:
    values = _as_tuple(cmdlet.get(param))
    for value in values:
        try:
            uuid.UUID(value)
        except ValueError:
            raise CmdletError(
                facts.GRAPH_NOT_A_GUID.format(value=value),
                cmdlet=cmdlet,
                category="InvalidArgument",
            ) from None
    return tuple(v.lower() for v in values)


def _set_mg_user_license(state: SandboxState, cmdlet: Cmdlet) -> CmdletResult:
    user = _find_user(state, cmdlet)
    removing = _sku_guids(state, cmdlet, "RemoveLicenses")
    adding = _sku_guids(state, cmdlet, "AddLicenses")
    states = _license_states(user)
    for sku in removing:
        held = [s for s in states if s["SkuId"].lower() == sku]
        if not held:
            raise CmdletError(
                facts.GRAPH_LICENSE_NOT_ASSIGNED.format(sku=sku),
                cmdlet=cmdlet,
                category="InvalidArgument",
            )
        if all(s["AssignedByGroup"] for s in held):
            raise CmdletError(
                facts.GRAPH_LICENSE_INHERITED, cmdlet=cmdlet, category="InvalidArgument"
            )
    skus = {str(s["SkuId"]).lower() for s in state.data.get("subscribed_skus", ())}
    for sku in adding:
        if sku not in skus:
            raise CmdletError(
                facts.GRAPH_NOT_FOUND.format(identity=sku), cmdlet=cmdlet, category="NotFound"
            )
    states = [
        s for s in states if not (s["SkuId"].lower() in removing and s["AssignedByGroup"] is None)
    ]
    for sku in adding:
        if not any(s["SkuId"].lower() == sku and s["AssignedByGroup"] is None for s in states):
            states.append({"SkuId": sku, "AssignedByGroup": None})
    user["LicenseAssignmentStates"] = states
    licenses: list[str] = []
    for entry in states:
        if entry["SkuId"] not in licenses:
            licenses.append(entry["SkuId"])
    user["AssignedLicenses"] = licenses
    return CmdletResult()


def _get_mg_group(state: SandboxState, cmdlet: Cmdlet) -> CmdletResult:
    """A directory group by its id (a group recipient's ExternalDirectoryObjectId)."""
    key = str(cmdlet.get("GroupId")).lower()
    for rec in state.find(key, ("directory",)):
        if str(rec.get("ExternalDirectoryObjectId", "")).lower() == key and (
            rec["RecipientTypeDetails"] in ALL_GROUP_TYPES
        ):
            group = {
                "Id": rec["ExternalDirectoryObjectId"],
                "DisplayName": rec.get("DisplayName", rec["Name"]),
                "Mail": rec.get("PrimarySmtpAddress"),
                "MailEnabled": True,
                "SecurityEnabled": "Security" in str(rec.get("GroupType", "")),
            }
            named = _as_tuple(cmdlet.get("Property"))
            wanted = {p.lower() for p in named} | {"id"} if named else None
            shown = {k: v for k, v in group.items() if wanted is None or k.lower() in wanted}
            return CmdletResult(objects=(shown,))
    raise CmdletError(
        facts.GRAPH_NOT_FOUND.format(identity=cmdlet.get("GroupId")),
        cmdlet=cmdlet,
        category="NotFound",
    )


def _get_mg_subscribed_sku(state: SandboxState, cmdlet: Cmdlet) -> CmdletResult:
    skus = [
        {
            "Id": stable_guid(state.organization, "SubscribedSku", s["SkuId"]),
            "SkuId": s["SkuId"],
            "SkuPartNumber": s["SkuPartNumber"],
            "CapabilityStatus": "Enabled",
            "AppliesTo": "User",
        }
        for s in state.data.get("subscribed_skus", ())
    ]
    return CmdletResult(objects=tuple(skus))


_DG = GROUP_TYPES
_PF = frozenset({"PublicFolder"})
_UG = frozenset({"GroupMailbox"})
_MBX = MAILBOX_TYPES
_MC = frozenset({"MailContact"})
_MU = frozenset({"MailUser", "GuestMailUser"})

# cmdlet name (lower case) -> (allowed parameters, mandatory parameters, handler); the
# connector, domain and DNS cmdlets are in remediations.sandbox.directory.
EXCHANGE_CMDLETS: dict[str, tuple[frozenset[str], tuple[str, ...], Handler]] = {
    "get-recipient": (_GET_PARAMS, (), _getter(None)),
    # -Identity of a mail-enabled public folder is its GUID, name or path, not an address.
    "get-mailpublicfolder": (_GET_NO_TYPE_PARAMS, (), _getter(_PF, by_address=False)),
    "set-mailpublicfolder": (
        _SET_RECIPIENT_PARAMS,
        ("Identity",),
        _setter(_PF, by_address=False),
    ),
    "get-distributiongroup": (_GET_PARAMS, (), _getter(_DG)),
    "set-distributiongroup": (
        _SET_GROUP_PARAMS,
        ("Identity",),
        _setter(_DG, manager_check=True),
    ),
    "get-distributiongroupmember": (
        frozenset({"Identity", "ResultSize"}),
        ("Identity",),
        _get_group_members,
    ),
    "get-unifiedgroup": (_GET_NO_TYPE_PARAMS, (), _getter(_UG)),
    "set-unifiedgroup": (_UNIFIED_PARAMS, ("Identity",), _setter(_UG, overwrite_only=True)),
    "get-mailbox": (_GET_PARAMS, (), _getter(_MBX)),
    "set-mailbox": (_SET_RECIPIENT_PARAMS, ("Identity",), _setter(_MBX)),
    "get-mailuser": (_GET_NO_TYPE_PARAMS, (), _getter(_MU)),
    "set-mailuser": (_SET_RECIPIENT_PARAMS, ("Identity",), _setter(_MU)),
    "get-mailcontact": (_GET_CONTACT_PARAMS, (), _getter(_MC)),
    "new-mailcontact": (
        frozenset(
            {
                "Name",
                "ExternalEmailAddress",
                "Alias",
                "DisplayName",
                "FirstName",
                "LastName",
                "ModerationEnabled",
            }
        ),
        ("Name", "ExternalEmailAddress"),
        _new_mail_contact,
    ),
    "remove-mailcontact": (frozenset({"Identity", "Confirm"}), ("Identity",), _remove_mail_contact),
    "get-transportrule": (frozenset({"Identity", "State", "ResultSize"}), (), _get_transport_rule),
    "new-transportrule": (_NEW_RULE_PARAMS, ("Name",), _new_transport_rule),
    "set-transportrule": (_SET_RULE_PARAMS, ("Identity",), _set_transport_rule),
    "enable-transportrule": (
        frozenset({"Identity", "Confirm"}),
        ("Identity",),
        _rule_state(enabled=True),
    ),
    "disable-transportrule": (
        frozenset({"Identity", "Confirm"}),
        ("Identity",),
        _rule_state(enabled=False),
    ),
    "remove-transportrule": (
        frozenset({"Identity", "Confirm"}),
        ("Identity",),
        _remove_transport_rule,
    ),
    "get-accepteddomain": (frozenset({"Identity", "ResultSize"}), (), _get_accepted_domain),
    "get-mguser": (frozenset({"UserId", "Property", "All"}), (), _get_mg_user),
    "set-mguserlicense": (
        frozenset({"UserId", "AddLicenses", "RemoveLicenses"}),
        ("UserId", "AddLicenses", "RemoveLicenses"),
        _set_mg_user_license,
    ),
    "get-mgsubscribedsku": (frozenset({"All", "Property"}), (), _get_mg_subscribed_sku),
    "get-mggroup": (frozenset({"GroupId", "Property"}), ("GroupId",), _get_mg_group),
}
