"""Stop mail to a user who left, with a mail-flow rule (NDR 5.7.129 for a disabled account).

Removing a license alone is not enough: "the user would continue to receive
messages for about 30 days after removal of the license".  The rule's name is
derived from the user, so a rerun finds it instead of adding another.  An
enabled rule of the organisation's own that already rejects or deletes all mail
sent to the user is enough: the user is reported as blocked, naming that rule.
Set-TransportRule has no ``-Enabled``: a disabled rule of ours is turned back on
with ``Enable-TransportRule``.  Shared, room and equipment mailboxes are never
leavers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from remediations.actions.recipients import check_identity, read_mailbox_user
from remediations.actions.remove_license import read_skus
from remediations.errors import InputError, Refused
from remediations.exchange import facts
from remediations.exchange.cmdlet import Cmdlet, Transport
from remediations.exchange.facts import MAX_NAME_LENGTH
from remediations.plan import Change, Plan, Snapshot

RULE_PREFIX = "Block mail to leaver "
REJECT_CODE = facts.DEFAULT_REJECT_CODE


@dataclass(frozen=True, slots=True, kw_only=True)
class Wish:
    """``user`` whose mail to stop; ``mode`` reject (NDR 5.7.1) or delete (silently)."""

    user: str
    mode: Literal["reject", "delete"] = "reject"
    even_if_active: bool = False

    def __post_init__(self) -> None:
        check_identity(self.user, "--user", "jordan.lee@contoso.com")
        if self.mode not in ("reject", "delete"):
            raise InputError(f"--mode {self.mode!r} is not a mode; give reject or delete.")


def rule_name(address: str) -> str:
    """The rule's name for a user: readable, at most 64 characters, stable."""
    name = RULE_PREFIX + address
    if len(name) <= MAX_NAME_LENGTH:
        return name
    digest = hashlib.sha256(address.lower().encode()).hexdigest()[:8]
    return name[: MAX_NAME_LENGTH - 9] + "~" + digest


def reject_text(address: str) -> str:
    """The reason the sender reads in the NDR."""
    return (
        f"The mailbox {address} is no longer in use: this person has left the organisation. "
        "Please contact the organisation by other means."
    )


def action_of(rule: Mapping[str, Any]) -> str:
    """A rule's action in one line, for the diff and for comparing."""
    if rule.get("DeleteMessage"):
        return "delete silently"
    code = rule.get("RejectMessageEnhancedStatusCode")
    if code:
        return f"reject {code}: {rule.get('RejectMessageReasonText')}"
    return "none"


class BlockDelicensedUser:
    """Add (or correct) a mail-flow rule that rejects or deletes mail sent to one user."""

    name: ClassVar[str] = "block-delicensed-user"
    summary: ClassVar[str] = "Stop mail to a user who left, with a mail-flow rule (5.7.129)."
    wish_type: ClassVar[type[Wish]] = Wish

    def read(self, transport: Transport, wish: Wish) -> Snapshot:
        """Read the mailbox, the directory user, and the rules that stop mail to the user."""
        mailbox, user = read_mailbox_user(
            transport, wish.user, ("Id", "UserPrincipalName", "AccountEnabled", "AssignedLicenses")
        )
        address = str(mailbox["PrimarySmtpAddress"])
        name = rule_name(address)
        rules = [dict(r) for r in transport.send(Cmdlet.of("Get-TransportRule")).objects]
        ours = [r for r in rules if str(r.get("Name", "")).lower() == name.lower()]
        values: dict[tuple[str, str], Any] = {(name, "(rule)"): bool(ours)}
        if ours:
            rule = ours[0]
            sent_to = []
            for entry in rule.get("SentTo") or ():
                found = transport.send(Cmdlet.of("Get-Recipient", Identity=entry)).objects
                sent_to.append(str(found[0]["PrimarySmtpAddress"]) if found else str(entry))
            values[(name, "SentTo")] = tuple(sorted(sent_to))
            values[(name, "Action")] = action_of(rule)
            values[(name, "State")] = str(rule.get("State", "Enabled"))
        licenses = tuple(str(lic["SkuId"]) for lic in user.get("AssignedLicenses") or ())
        if licenses:
            skus = read_skus(transport)
            licenses = tuple(skus.get(sku.lower(), sku) for sku in licenses)
        return Snapshot(
            values=values,
            facts={
                "address": address,
                "rule": name,
                "licenses": licenses,
                "enabled": bool(user.get("AccountEnabled")),
                "blocked_by": tuple(
                    str(r["Name"])
                    for r in rules
                    if str(r.get("Name", "")).lower() != name.lower()
                    and stops_all_mail_to(r, mailbox)
                ),
            },
        )

    def plan(self, before: Snapshot, wish: Wish) -> Plan:
        """Create the rule, or bring an existing one back to what is wished."""
        address = before.facts["address"]
        name = before.facts["rule"]
        licenses = before.facts["licenses"]
        if before.facts["enabled"] and licenses and not wish.even_if_active:
            raise Refused(
                f"--user {wish.user!r} looks active (account enabled, licensed: "
                f"{', '.join(licenses)}); blocking mail to an active user is refused. Remove "
                "the license or disable the account first, or pass --even-if-active (in a "
                "playbook, even_if_active=true)."
            )
        notes = []
        if licenses:
            notes.append(
                f"{address} still has licenses ({', '.join(licenses)}); remove them too if "
                "the person has left."
            )
        blocked_by = before.facts["blocked_by"]
        if blocked_by and not before.value(name, "(rule)"):
            rules = " and ".join(repr(r) for r in blocked_by)
            notes.append(
                f"{address} is already blocked: the enabled mail-flow rule {rules} rejects or "
                "deletes all mail sent to it; no second rule is added."
            )
            return Plan(action=self.name, notes=tuple(notes))
        if wish.mode == "reject":
            wanted_action = f"reject {REJECT_CODE}: {reject_text(address)}"
            action_params: dict[str, Any] = {
                "RejectMessageEnhancedStatusCode": REJECT_CODE,
                "RejectMessageReasonText": reject_text(address),
            }
        else:
            wanted_action = "delete silently"
            action_params = {"DeleteMessage": True}
        if not before.value(name, "(rule)"):
            change = Change(
                target=name,
                attribute="(rule)",
                before=False,
                after=True,
                cmdlet=Cmdlet.of(
                    "New-TransportRule",
                    Name=name,
                    SentTo=(address,),
                    **action_params,
                    Comments=f"Mail to {address} stopped: the user left (NDR toolkit).",
                ),
                why=f"{wanted_action} for mail sent to {address}",
            )
            return Plan(action=self.name, changes=(change,), notes=tuple(notes))
        changes = []
        if before.value(name, "SentTo") != (address,):
            changes.append(
                Change(
                    target=name,
                    attribute="SentTo",
                    before=before.value(name, "SentTo"),
                    after=(address,),
                    cmdlet=Cmdlet.of("Set-TransportRule", Identity=name, SentTo=(address,)),
                )
            )
        if before.value(name, "Action") != wanted_action:
            params: dict[str, Any] = (
                {"DeleteMessage": False, **action_params}
                if wish.mode == "reject"
                else {
                    "RejectMessageEnhancedStatusCode": None,
                    "RejectMessageReasonText": None,
                    **action_params,
                }
            )
            changes.append(
                Change(
                    target=name,
                    attribute="Action",
                    before=before.value(name, "Action"),
                    after=wanted_action,
                    cmdlet=Cmdlet.of("Set-TransportRule", Identity=name, **params),
                )
            )
        if before.value(name, "State") != "Enabled":
            changes.append(
                Change(
                    target=name,
                    attribute="State",
                    before=before.value(name, "State"),
                    after="Enabled",
                    # Set-TransportRule has no -Enabled (New-TransportRule's page).
                    cmdlet=Cmdlet.of("Enable-TransportRule", Identity=name),
                    why="a disabled rule stops nothing",
                )
            )
        return Plan(action=self.name, changes=tuple(changes), notes=tuple(notes))


def stops_all_mail_to(rule: Mapping[str, Any], mailbox: Mapping[str, Any]) -> bool:
    """Whether an enabled, enforced rule rejects or deletes every message sent to the mailbox.

    A rule that applies only to some senders (``FromScope``) does not count.  ``SentTo``
    entries are compared with the mailbox's Guid, names and addresses, without a read.
    """
    if str(rule.get("State", "Enabled")) != "Enabled" or str(rule.get("Mode", "Enforce")) != (
        "Enforce"
    ):
        return False
    if rule.get("FromScope"):
        return False
    if action_of(rule) == "none":
        return False
    names = {
        str(mailbox.get(key, "")).lower()
        for key in ("Guid", "Name", "Alias", "DisplayName", "PrimarySmtpAddress", "Identity")
    }
    names |= {str(proxy).partition(":")[2].lower() for proxy in mailbox.get("EmailAddresses") or ()}
    names.discard("")
    return any(str(entry).lower() in names for entry in rule.get("SentTo") or ())
