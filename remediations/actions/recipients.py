"""Recipient look-ups and wish checks the actions (and diagnose, scan, playbooks) share:
resolving identities, senders and lists; checking addresses and identities given."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from remediations.errors import (
    AmbiguousIdentity,
    CmdletError,
    InputError,
    Refused,
    UnknownIdentity,
)
from remediations.exchange.cmdlet import Cmdlet, ParamValue, Transport
from remediations.exchange.facts import MAX_NAME_LENGTH
from remediations.plan import Change
from remediations.terminal import quoted

__all__ = [
    "GROUP_DETAILS",
    "KIND_NAMES",
    "MAILBOX_DETAILS",
    "Family",
    "Sender",
    "ambiguity",
    "check_address",
    "check_identity",
    "exact_identity",
    "family_of",
    "find_recipient",
    "get_one",
    "identity_of",
    "plan_sender_contact",
    "read_mailbox_user",
    "read_sender",
    "resolve_entries",
]

GROUP_DETAILS = frozenset(
    {
        "MailUniversalDistributionGroup",
        "MailUniversalSecurityGroup",
        "MailNonUniversalGroup",
        "RoomList",
    }
)
MAILBOX_DETAILS = frozenset({"UserMailbox", "SharedMailbox", "RoomMailbox", "EquipmentMailbox"})
MAIL_USER_DETAILS = frozenset({"MailUser", "GuestMailUser"})
# How a kind of recipient is named in messages, by RecipientTypeDetails.
KIND_NAMES = {
    "PublicFolder": "public folder",
    "GroupMailbox": "Microsoft 365 group",
    "UserMailbox": "mailbox",
    "SharedMailbox": "shared mailbox",
    "RoomMailbox": "room mailbox",
    "EquipmentMailbox": "equipment mailbox",
    "MailUser": "mail user",
    "GuestMailUser": "guest mail user",
    "MailContact": "mail contact",
    "DynamicDistributionGroup": "dynamic distribution group",
    **dict.fromkeys(GROUP_DETAILS, "distribution group"),
}

# RFC 5322 dot-atom local part and a DNS domain name.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ADDRESS = re.compile(
    rf"{_ATOM}(?:\.{_ATOM})*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?\.)+[A-Za-z]{{2,63}}"
)


def check_address(value: str, flag: str) -> str:
    """Return ``value`` if it is a plain email address, else raise a one-sentence error."""
    text = value.strip()
    if not _ADDRESS.fullmatch(text) or len(text) > 254:
        raise InputError(
            f"{flag} {quoted(value)} is not an email address; give one like partner@fabrikam.com."
        )
    return text


def check_identity(value: str, flag: str, example: str) -> str:
    """Return a non-empty identity; an empty one would make Exchange return every object."""
    if not value or not value.strip():
        raise InputError(
            f"{flag} is empty; give the name or address of one object, e.g. {example}."
        )
    if "\x00" in value:
        raise InputError(
            f"{flag} {quoted(value)} holds a NUL character; no Exchange identity does."
        )
    return value


def get_one(transport: Transport, cmdlet: Cmdlet, *, what: str, flag: str) -> Mapping[str, Any]:
    """Run a Get-* for one identity; not found and ambiguous become input errors (exit 2)."""
    identity = str(cmdlet.get("Identity"))
    try:
        result = transport.send(cmdlet)
    except CmdletError as exc:
        if exc.category == "NotFound":
            raise UnknownIdentity(
                f"{flag} {quoted(identity)}: no {what} has that identity in {transport.tenant} "
                f"({transport.name}); give its name, alias or email address "
                f"(Exchange said: {exc})"
            ) from None
        if exc.category == "Ambiguous":
            raise AmbiguousIdentity(ambiguity(transport, identity, flag, what, str(exc))) from None
        raise
    if len(result.objects) != 1:
        raise AmbiguousIdentity(
            f"{flag} {quoted(identity)} matches {len(result.objects)} objects; "
            "give one email address."
        )
    return result.objects[0]


def exact_identity(obj: Mapping[str, Any]) -> str:
    """The identity that names exactly this object: a folder's path, else its address."""
    return identity_of(obj)


def ambiguity(transport: Transport, identity: str, flag: str, what: str, said: str) -> str:
    """One sentence naming every object an identity matches, with its kind and the exact
    identity to give instead, e.g. "'Orders' matches a public folder (\\Orders) and a
    distribution group (orders@contoso.com); give one of those."
    """
    key = identity.strip().lower()
    try:
        found = transport.send(Cmdlet.of("Get-Recipient", Anr=identity.strip())).objects
    except CmdletError:
        found = ()
    names = ("Name", "DisplayName", "Alias", "PrimarySmtpAddress", "FolderPath", "Guid")
    matches = [o for o in found if any(str(o.get(n) or "").lower() == key for n in names)]
    if len(matches) < 2:
        return (
            f"{flag} {quoted(identity)} matches more than one {what} in {transport.tenant}; "
            f"give its primary email address instead (Exchange said: {said})"
        )
    parts = []
    for obj in matches:
        kind = KIND_NAMES.get(str(obj.get("RecipientTypeDetails")), "recipient")
        article = "an" if kind[0] in "aeiou" else "a"
        parts.append(f"{article} {kind} ({exact_identity(obj)})")
    listed = ", ".join(parts[:-1]) + f" and {parts[-1]}"
    return f"{flag} {quoted(identity)} matches {listed}; give one of those."


def find_recipient(transport: Transport, identity: str) -> Mapping[str, Any] | None:
    """The recipient with this identity, or None when Exchange answers "not found".

    Any other failure (throttling, a dead connection) is raised: a failed read
    is never taken for "absent".
    """
    try:
        result = transport.send(Cmdlet.of("Get-Recipient", Identity=identity))
    except CmdletError as exc:
        if exc.category == "NotFound":
            return None
        if exc.category == "Ambiguous":
            raise AmbiguousIdentity(
                ambiguity(transport, identity, "--sender", "recipient", str(exc))
            ) from None
        raise
    return result.objects[0] if result.objects else None


def identity_of(obj: Mapping[str, Any]) -> str:
    """The identity we pass back to Set-*: a public folder's path (or Guid: Get-/Set-
    MailPublicFolder never take its SMTP address), else the primary address."""
    if obj.get("RecipientTypeDetails") == "PublicFolder" or obj.get("FolderPath"):
        return str(obj.get("FolderPath") or obj["Guid"])
    return str(obj.get("PrimarySmtpAddress") or obj["Identity"])


#: from this many entries on, a list is resolved with one listing call, not a call per entry
BATCH_AT = 25
_KEY_PROPERTIES = (
    "Guid",
    "Name",
    "Alias",
    "Identity",
    "PrimarySmtpAddress",
    "DistinguishedName",
    "ExternalDirectoryObjectId",
)


def resolve_entries(transport: Transport, entries: Iterable[str]) -> tuple[str, ...]:
    """Turn list entries (Guids, names or addresses) into primary addresses, sorted.

    A long list is resolved in one batch (one ``Get-Recipient -ResultSize Unlimited``,
    indexed by every identity a list entry may hold); an entry the batch does not match
    exactly once is looked up on its own, so the answer is the same as one look-up per entry.
    """
    entries = tuple(entries)
    index: dict[str, list[Mapping[str, Any]]] = {}
    if len(entries) >= BATCH_AT:
        listed = transport.send(Cmdlet.of("Get-Recipient", ResultSize="Unlimited")).objects
        for obj in listed:
            keys = {str(obj[n]).lower() for n in _KEY_PROPERTIES if obj.get(n)}
            keys.update(
                str(a)[5:].lower()
                for a in obj.get("EmailAddresses") or ()
                if str(a).lower().startswith("smtp:")
            )
            for key in keys:
                index.setdefault(key, []).append(obj)
    out = []
    for entry in entries:
        matches = index.get(entry.strip().lower(), [])
        rec: Mapping[str, Any] | None = (
            matches[0] if len(matches) == 1 else find_recipient(transport, entry)
        )
        out.append(str(rec["PrimarySmtpAddress"]) if rec else entry)
    return tuple(sorted(out, key=str.lower))


@dataclass(frozen=True, slots=True, kw_only=True)
class Family:
    """The cmdlets that read and write one kind of recipient."""

    kind: str  # "public folder", "distribution group", "Microsoft 365 group", "mailbox", ...
    get: str
    set: str
    add_remove: bool  # whether Set-* takes @{Add=...; Remove=...}
    # Set-DistributionGroup: an admin who is not in ManagedBy needs
    # -BypassSecurityGroupManagerCheck (no other Set-* has the switch).
    manager_check: bool = False

    def set_cmdlet(self, identity: str, /, **params: ParamValue) -> Cmdlet:
        """The Set-* for one recipient of this family, with the switches it needs."""
        if self.manager_check:
            params = {**params, "BypassSecurityGroupManagerCheck": True}
        return Cmdlet.of(self.set, Identity=identity, **params)


_FAMILIES = {
    "PublicFolder": Family(
        kind="public folder",
        get="Get-MailPublicFolder",
        set="Set-MailPublicFolder",
        add_remove=True,
    ),
    "GroupMailbox": Family(
        kind="Microsoft 365 group",
        get="Get-UnifiedGroup",
        set="Set-UnifiedGroup",
        add_remove=False,
    ),
}
_DG = Family(
    kind="distribution group",
    get="Get-DistributionGroup",
    set="Set-DistributionGroup",
    add_remove=True,
    manager_check=True,
)
_MBX = Family(kind="mailbox", get="Get-Mailbox", set="Set-Mailbox", add_remove=True)
_MU = Family(kind="mail user", get="Get-MailUser", set="Set-MailUser", add_remove=True)


def family_of(details: str) -> Family | None:
    """The cmdlet family for a RecipientTypeDetails value (None: not one we change)."""
    if details in GROUP_DETAILS:
        return _DG
    if details in MAILBOX_DETAILS:
        return _MBX
    if details in MAIL_USER_DETAILS:
        return _MU
    return _FAMILIES.get(details)


@dataclass(frozen=True, slots=True, kw_only=True)
class Sender:
    """A sender as read: the address, its recipient (if any), and whether it is outside."""

    address: str
    recipient: Mapping[str, Any] | None
    outside: bool

    @property
    def is_group(self) -> bool:
        """Whether the sender is itself a group (listed through ...DLMembers)."""
        details = self.recipient["RecipientTypeDetails"] if self.recipient else ""
        return details in GROUP_DETAILS or details == "GroupMailbox"


def read_sender(transport: Transport, address: str) -> Sender:
    """Read a sender: its recipient object and whether its domain is outside the tenant."""
    domains = transport.send(Cmdlet.of("Get-AcceptedDomain")).objects
    domain = address.rpartition("@")[2].lower()
    outside = not any(str(d["DomainName"]).lower() == domain for d in domains)
    recipient = find_recipient(transport, address)
    if recipient is None and not outside:
        raise UnknownIdentity(
            f"--sender {address!r} is in your organisation's domain {domain} but no recipient "
            "has that address; check the spelling, or give the sender's primary address."
        )
    return Sender(address=address, recipient=recipient, outside=outside)


def contact_name(address: str) -> str:
    """The Name of the mail contact we create for an outside sender (unique, at most 64)."""
    return address if len(address) <= MAX_NAME_LENGTH else address[:MAX_NAME_LENGTH]


def plan_sender_contact(sender: Sender) -> tuple[Change, ...]:
    """The mail contact an outside sender needs before it can be listed, if missing."""
    if sender.recipient is not None:
        return ()
    return (
        Change(
            target=sender.address,
            attribute="MailContact",
            before=None,
            after=sender.address,
            cmdlet=Cmdlet.of(
                "New-MailContact",
                Name=contact_name(sender.address),
                ExternalEmailAddress=sender.address,
            ),
            why="an outside sender must exist as a mail contact before it can be listed",
        ),
    )


def refuse_kind(flag: str, identity: str, details: str, accepted: str) -> Refused:
    """The error for a recipient of a kind the action does not change."""
    return Refused(f"{flag} {quoted(identity)} is a {details}; this action works on {accepted}.")


def read_mailbox_user(
    transport: Transport, identity: str, properties: tuple[str, ...]
) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """A leaver's user mailbox and its directory user (Graph), read by the mailbox's UPN.

    ``properties`` must name every property the caller reads: with ``-Property``
    (``$select``) Graph returns only those (and ``Id``).

    Raises:
        UnknownIdentity: no mailbox has that identity (exit 2).
        Refused: a shared, room or equipment mailbox, which is never a leaver (exit 2).
    """
    mailbox = get_one(
        transport, Cmdlet.of("Get-Mailbox", Identity=identity), what="mailbox", flag="--user"
    )
    details = str(mailbox.get("RecipientTypeDetails", "UserMailbox"))
    if details != "UserMailbox":
        raise Refused(
            f"--user {quoted(identity)} is a {KIND_NAMES.get(details, details)}, not a person's "
            "mailbox; only a user mailbox belongs to someone who can leave, so nothing was "
            "changed."
        )
    upn = str(mailbox.get("UserPrincipalName") or mailbox["PrimarySmtpAddress"])
    user = transport.send(Cmdlet.of("Get-MgUser", UserId=upn, Property=properties)).objects[0]
    return mailbox, user
