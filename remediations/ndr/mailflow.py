"""The mail-flow decision: would this sender's message reach this recipient, and with what code.

:func:`decide` is pure: it takes typed views of the tenant (:class:`TenantView`),
the recipient (:class:`RecipientView`) and the sender (:class:`SenderView`) and
answers delivered, held for moderation, deleted by a rule, or rejected with the
exact rejection Exchange Online sends (:data:`remediations.ndr.codes.SANDBOX_REJECTIONS`).
The views are built from what the ``Get-*`` cmdlets return
(:func:`recipient_view`, :func:`rule_view`, and :func:`read_views`, which
reads them through any transport), so the same decision serves the sandbox's
mail flow, ``scan`` and ``diagnose --check`` on a real tenant alike.

The order is Exchange Online's:

1. the connection: a client IP on Microsoft's blocklist is refused before the
   message is accepted, so the *sender's* server writes that NDR;
2. the accepted domain: an outside sender's message to a domain the tenant does
   not accept is not relayed (5.7.54); an outside sender's message to an address
   no recipient has is refused at SMTP time by directory-based edge blocking
   (5.4.1, written by the sender's server); an internal sender gets 5.1.10;
3. transport rules, by priority: enabled and enforced, ``SentTo`` the recipient,
   ``FromScope`` matching the sender; delete silently or reject; a rule with
   ``StopRuleProcessing`` ends the rules;
4. the recipient's restrictions: sender authentication for outside senders
   (public folder 5.7.1 AuthRequired, group 5.7.133, Microsoft 365 group 5.7.193,
   mailbox 5.7.134, mail user 5.7.136), a disabled on-premises account (5.7.129),
   the accept list including members of listed groups (a group 5.7.124, others
   5.7.1 NotAuthorized), the size limit of groups over 5,000 members (5.2.3),
   then moderation (held, no NDR; moderators and the bypass list pass).

A recipient that requires authenticated senders rejects an outside sender even
when that sender is on its accept list; an empty accept list means "everyone".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from remediations.errors import CmdletError
from remediations.exchange import facts
from remediations.exchange.cmdlet import Cmdlet, Transport
from remediations.ndr.codes import SANDBOX_REJECTIONS, Cause, Rejection, transport_rule_rejection

__all__ = [
    "Decision",
    "Outcome",
    "RecipientView",
    "RuleView",
    "SenderView",
    "TenantView",
    "decide",
    "read_recipient_view",
    "read_sender_view",
    "read_tenant_view",
    "read_views",
    "recipient_view",
    "ref_key",
    "rule_view",
]

Outcome = Literal["delivered", "held", "rejected", "deleted"]

GROUP_DETAILS = frozenset(
    {
        "MailUniversalDistributionGroup",
        "MailUniversalSecurityGroup",
        "MailNonUniversalGroup",
        "RoomList",
        "DynamicDistributionGroup",
    }
)
MAILBOX_DETAILS = frozenset({"UserMailbox", "SharedMailbox", "RoomMailbox", "EquipmentMailbox"})
MAIL_USER_DETAILS = frozenset({"MailUser", "GuestMailUser"})

# The rejection key -> the cause it is (the diagnosis table's cause ids).
REJECTION_CAUSES: Mapping[str, Cause] = {
    "public-folder-auth": "public-folder-auth",
    "group-auth": "group-auth",
    "unified-group-auth": "group-auth",
    "mailbox-auth": "recipient-auth",
    "mail-user-auth": "recipient-auth",
    "not-authorized": "restricted-recipient",
    "group-not-authorized": "restricted-recipient",
    "allowed-senders": "restricted-recipient",
    "large-group-members": "restricted-recipient",
    "large-group-size": "large-group-moderation",
    "disabled-account": "disabled-account",
    "transport-rule": "transport-rule",
    "relay-denied": "relay-denied",
    "recipient-not-found": "unknown",
    "recipient-not-found-edge": "unknown",
    "ip-blocklist": "ip-blocklist",
}


def ref_key(text: object) -> str:
    """A reference as a comparable key: ``SMTP:a@b`` -> ``a@b``, lower case."""
    value = str(text).strip()
    if value.lower().startswith("smtp:"):
        value = value[5:]
    return value.lower()


def _keys_of(rec: Mapping[str, Any]) -> frozenset[str]:
    """Every value a reference to this recipient may hold (Guid, name, alias, address...)."""
    keys = {
        ref_key(rec[name])
        for name in (
            "Guid",
            "Name",
            "Alias",
            "Identity",
            "DisplayName",
            "PrimarySmtpAddress",
            "ExternalEmailAddress",
            "ExternalDirectoryObjectId",
            "DistinguishedName",
            "FolderPath",
        )
        if rec.get(name)
    }
    proxies = rec.get("EmailAddresses") or ()
    keys.update(ref_key(a) for a in proxies if str(a).lower().startswith("smtp:"))
    return frozenset(keys)


def _entries(rec: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = rec.get(name) or ()
    return (value,) if isinstance(value, str) else tuple(str(v) for v in value)


# --- the views ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleView:
    """One mail-flow rule as far as the decision needs it (from Get-TransportRule)."""

    name: str
    priority: int
    enforced: bool
    sent_to: frozenset[str]
    from_scope: str | None = None
    delete: bool = False
    reject_status: str | None = None
    reject_text: str | None = None
    stop: bool = False

    @property
    def blocks(self) -> bool:
        """Whether the rule rejects or deletes what it matches."""
        return self.delete or bool(self.reject_status or self.reject_text)

    def applies(self, recipient: RecipientView, *, outside: bool) -> bool:
        """Whether the rule acts on a message from such a sender to this recipient."""
        if not self.enforced or not (self.sent_to & recipient.keys):
            return False
        if self.from_scope == "NotInOrganization":
            return outside
        if self.from_scope == "InOrganization":
            return not outside
        return True


def rule_view(rule: Mapping[str, Any]) -> RuleView:
    """A rule from what Get-TransportRule returns."""
    return RuleView(
        name=str(rule.get("Name") or rule.get("Identity")),
        priority=int(rule.get("Priority") or 0),
        enforced=rule.get("State", "Enabled") == "Enabled"
        and rule.get("Mode", "Enforce") in (None, "Enforce"),
        sent_to=frozenset(ref_key(e) for e in _entries(rule, "SentTo")),
        from_scope=rule.get("FromScope") or None,
        delete=bool(rule.get("DeleteMessage")),
        reject_status=rule.get("RejectMessageEnhancedStatusCode") or None,
        reject_text=rule.get("RejectMessageReasonText") or None,
        stop=bool(rule.get("StopRuleProcessing")),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class RecipientView:
    """What decides whether a recipient takes a message.

    Attributes:
        address: the recipient's primary address.
        details: its RecipientTypeDetails.
        keys: every value a reference to it may hold (rules' SentTo match these).
        require_auth: RequireSenderAuthenticationEnabled.
        accept_from: the accept list (AcceptMessagesOnlyFromSendersOrMembers: senders
            and groups), as reference keys.
        accept_members: the keys of every member, at any depth, of the listed groups.
        moderation: ModerationEnabled.
        exempt: the keys of the moderators and the bypass list, with the members of
            listed groups.
        member_count: the group's member count, if known.
        disabled_on_premises: a synced user whose on-premises account is disabled.
    """

    address: str
    details: str
    keys: frozenset[str]
    require_auth: bool = False
    accept_from: frozenset[str] = frozenset()
    accept_members: frozenset[str] = frozenset()
    moderation: bool = False
    exempt: frozenset[str] = frozenset()
    member_count: int | None = None
    disabled_on_premises: bool = False

    @property
    def is_group(self) -> bool:
        """A distribution group or a Microsoft 365 group."""
        return self.details in GROUP_DETAILS or self.details == "GroupMailbox"

    @property
    def large(self) -> bool:
        """More members than Exchange lets mail reach without moderation."""
        return (self.member_count or 0) > facts.LARGE_GROUP_MEMBERS


MembersOf = Callable[[Mapping[str, Any]], Iterable[Mapping[str, Any]]]


def recipient_view(
    rec: Mapping[str, Any],
    *,
    resolve: Callable[[str], Mapping[str, Any] | None] | None = None,
    members_of: MembersOf | None = None,
    member_count: int | None = None,
    disabled_on_premises: bool = False,
) -> RecipientView:
    """A recipient from what its Get-* cmdlet returns.

    Args:
        rec: the recipient as Get-Recipient / Get-DistributionGroup / ... return it.
        resolve: looks a referenced entry (Guid, name, address) up; listed groups are
            expanded only when it and ``members_of`` are given.
        members_of: the direct members of a group (Get-DistributionGroupMember).
        member_count: the group's member count (Get-MgGroupMemberCount), if known.
        disabled_on_premises: from the recipient's user (Get-MgUser).
    """
    listed = _entries(rec, "AcceptMessagesOnlyFromSendersOrMembers") or (
        *_entries(rec, "AcceptMessagesOnlyFrom"),
        *_entries(rec, "AcceptMessagesOnlyFromDLMembers"),
    )
    exempt_entries = (
        *_entries(rec, "ModeratedBy"),
        *_entries(rec, "BypassModerationFromSendersOrMembers"),
    )
    count = member_count
    if count is None and rec.get("MemberCount") is not None:
        count = int(rec["MemberCount"])
    return RecipientView(
        address=str(rec.get("PrimarySmtpAddress") or rec.get("Identity") or ""),
        details=str(rec.get("RecipientTypeDetails") or ""),
        keys=_keys_of(rec),
        require_auth=bool(rec.get("RequireSenderAuthenticationEnabled")),
        accept_from=frozenset(ref_key(e) for e in listed),
        accept_members=_expand(listed, resolve, members_of),
        moderation=bool(rec.get("ModerationEnabled")),
        exempt=frozenset(ref_key(e) for e in exempt_entries)
        | _expand(exempt_entries, resolve, members_of),
        member_count=count,
        disabled_on_premises=disabled_on_premises,
    )


def _expand(
    entries: Sequence[str],
    resolve: Callable[[str], Mapping[str, Any] | None] | None,
    members_of: MembersOf | None,
) -> frozenset[str]:
    """The keys of every member, at any depth, of the groups among ``entries``."""
    if resolve is None or members_of is None:
        return frozenset()
    keys: set[str] = set()
    seen: set[str] = set()
    todo: list[Mapping[str, Any]] = []
    for entry in entries:
        found = resolve(entry)
        if found is not None:
            todo.append(found)
    while todo:
        group = todo.pop()
        ident = ref_key(group.get("Guid") or group.get("Identity") or "")
        if ident in seen or not _is_group(group):
            continue
        seen.add(ident)
        for member in members_of(group):
            keys |= _keys_of(member)
            if _is_group(member):
                todo.append(member)
    return frozenset(keys)


def _is_group(rec: Mapping[str, Any]) -> bool:
    details = str(rec.get("RecipientTypeDetails") or "")
    return details in GROUP_DETAILS or details == "GroupMailbox"


@dataclass(frozen=True, slots=True, kw_only=True)
class SenderView:
    """The sender: its address, every key a list entry may name it by, inside or not."""

    address: str
    keys: frozenset[str]
    internal: bool

    @classmethod
    def unknown(cls, address: str, *, internal: bool) -> SenderView:
        """A sender the tenant has no recipient for (an outside sender without a contact)."""
        return cls(address=address, keys=frozenset({ref_key(address)}), internal=internal)


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantView:
    """The organisation: accepted domains (the initial ``*.onmicrosoft.com`` one included),
    mail-flow rules in priority order, and (sandbox only) blocklisted client IPs."""

    accepted_domains: frozenset[str]
    rules: tuple[RuleView, ...] = ()
    blocked_ips: frozenset[str] = frozenset()

    def accepts(self, address: str) -> bool:
        """Whether an address's domain is one the tenant accepts mail for."""
        return address.rpartition("@")[2].lower() in self.accepted_domains


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """What the tenant does with one message, and why.

    Attributes:
        outcome: delivered, held, rejected or deleted.
        reason: one sentence saying why.
        key: the rejection's key in ``SANDBOX_REJECTIONS`` (``transport-rule`` for a rule).
        rejection: the SMTP reply and user text, for a rejection.
        rule: the rule that rejected or deleted it.
        by_sender: refused at SMTP time: the sender's own server writes the NDR.
    """

    outcome: Outcome
    reason: str
    key: str | None = None
    rejection: Rejection | None = None
    rule: str | None = None
    by_sender: bool = False

    @property
    def status(self) -> str | None:
        """The enhanced status code of a rejection."""
        return self.rejection.status if self.rejection is not None else None

    @property
    def cause(self) -> Cause | None:
        """The cause id of a rejection (``large-group-moderation`` for a hold)."""
        if self.outcome == "held":
            return "large-group-moderation"
        return REJECTION_CAUSES.get(self.key or "")


def _reject(key: str, reason: str, **kw: Any) -> Decision:
    return Decision(
        outcome="rejected", reason=reason, key=key, rejection=SANDBOX_REJECTIONS[key], **kw
    )


def decide(
    tenant: TenantView,
    recipient: RecipientView | None,
    sender: SenderView,
    *,
    recipient_address: str,
    size_kb: int = 10,
    client_ip: str | None = None,
) -> Decision:
    """Decide what the tenant does with one message (see the module's docstring for the order).

    ``recipient`` is None when no recipient of the tenant has ``recipient_address``.
    """
    outside = not sender.internal
    if client_ip and client_ip in tenant.blocked_ips:
        return Decision(
            outcome="rejected",
            reason=f"the client IP {client_ip} is on Microsoft's blocklist",
            key="ip-blocklist",
            rejection=SANDBOX_REJECTIONS["ip-blocklist"].fill(ip=client_ip),
            by_sender=True,
        )
    if not tenant.accepts(recipient_address):
        if outside:
            domain = recipient_address.rpartition("@")[2]
            return _reject("relay-denied", f"{domain} is not an accepted domain")
        return Decision(outcome="delivered", reason="sent out to the recipient's own organisation")
    if recipient is None:
        why = f"no recipient has the address {recipient_address}"
        if outside:  # directory-based edge blocking, at SMTP time
            return _reject("recipient-not-found-edge", why, by_sender=True)
        return _reject("recipient-not-found", why)

    for rule in tenant.rules:
        if not rule.applies(recipient, outside=outside):
            continue
        if rule.delete:
            return Decision(
                outcome="deleted",
                reason=f"the mail flow rule '{rule.name}' deletes it silently",
                rule=rule.name,
            )
        if rule.blocks:
            return Decision(
                outcome="rejected",
                reason=f"the mail flow rule '{rule.name}' rejects it",
                key="transport-rule",
                rejection=transport_rule_rejection(
                    status=rule.reject_status, text=rule.reject_text
                ),
                rule=rule.name,
            )
        if rule.stop:
            break

    details = recipient.details
    address = recipient.address or recipient_address
    if outside and recipient.require_auth:
        key = (
            "public-folder-auth"
            if details == "PublicFolder"
            else "unified-group-auth"
            if details == "GroupMailbox"
            else "group-auth"
            if recipient.is_group
            else "mail-user-auth"
            if details in MAIL_USER_DETAILS
            else "mailbox-auth"
        )
        return _reject(
            key,
            f"{address} requires authenticated senders and {sender.address} is outside the "
            "organisation",
        )
    if details in MAILBOX_DETAILS and recipient.disabled_on_premises:
        return _reject("disabled-account", f"the on-premises account of {address} is disabled")
    if recipient.accept_from and not (
        sender.keys & (recipient.accept_from | recipient.accept_members)
    ):
        return _reject(
            "allowed-senders" if recipient.is_group else "not-authorized",
            f"{sender.address} is not on the accept list of {address}",
        )
    if recipient.large and size_kb > facts.LARGE_GROUP_MAX_MESSAGE_KB:
        return _reject(
            "large-group-size",
            f"{address} has more than {facts.LARGE_GROUP_MEMBERS:,} members and the message "
            f"is larger than {facts.LARGE_GROUP_MAX_MESSAGE_KB} KB",
        )
    moderated = recipient.is_group and (recipient.moderation or recipient.large)
    if moderated and not (sender.keys & recipient.exempt):
        why = "moderation is on" if recipient.moderation else "it has over 5,000 members"
        return Decision(outcome="held", reason=f"held for a moderator of {address}: {why}")
    return Decision(outcome="delivered", reason="no check stopped it")


# --- reading the views through a transport ---------------------------------------------

# The Get-* cmdlet that shows all of a recipient kind's delivery settings.
_GETTERS: Mapping[str, str] = {
    **dict.fromkeys(GROUP_DETAILS - {"DynamicDistributionGroup"}, "Get-DistributionGroup"),
    "GroupMailbox": "Get-UnifiedGroup",
    **dict.fromkeys(MAILBOX_DETAILS, "Get-Mailbox"),
    **dict.fromkeys(MAIL_USER_DETAILS, "Get-MailUser"),
    "PublicFolder": "Get-MailPublicFolder",
}


def _get(
    transport: Transport, name: str, *, several_ok: bool = False, **params: str | tuple[str, ...]
) -> tuple[Mapping[str, Any], ...]:
    """Run a Get-*; NotFound is an answer (no such object), and so is Ambiguous where
    ``several_ok`` (a reference that names no single recipient); every other failure raises."""
    try:
        return transport.send(Cmdlet.of(name, **params)).objects
    except CmdletError as exc:
        if exc.category == "NotFound" or (several_ok and exc.category == "Ambiguous"):
            return ()
        raise


def read_tenant_view(transport: Transport, *, blocked_ips: Iterable[str] = ()) -> TenantView:
    """The accepted domains and mail-flow rules, read with Get-AcceptedDomain / Get-TransportRule.

    Raises:
        TransportError: a read failed (never taken for "none").
    """
    domains = frozenset(
        str(d.get("DomainName") or d.get("Name")).lower()
        for d in transport.send(Cmdlet.of("Get-AcceptedDomain")).objects
    )
    rules = sorted(
        (rule_view(r) for r in transport.send(Cmdlet.of("Get-TransportRule")).objects),
        key=lambda r: r.priority,
    )
    return TenantView(
        accepted_domains=domains, rules=tuple(rules), blocked_ips=frozenset(blocked_ips)
    )


def _resolver(transport: Transport) -> Callable[[str], Mapping[str, Any] | None]:
    cache: dict[str, Mapping[str, Any] | None] = {}

    def resolve(entry: str) -> Mapping[str, Any] | None:
        key = ref_key(entry)
        if key not in cache:
            found = _get(transport, "Get-Recipient", several_ok=True, Identity=entry)
            cache[key] = found[0] if len(found) == 1 else None
        return cache[key]

    return resolve


def _members_reader(transport: Transport) -> MembersOf:
    def members_of(group: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
        # Distribution groups only: a Microsoft 365 group's members are not expanded.
        if group.get("RecipientTypeDetails") not in GROUP_DETAILS:
            return ()
        identity = str(group.get("Guid") or group.get("Identity"))
        return _get(transport, "Get-DistributionGroupMember", Identity=identity)

    return members_of


def read_recipient_view(transport: Transport, address: str) -> RecipientView | None:
    """The recipient with this address, as the decision needs it; None if there is none.

    Reads Get-Recipient, then the kind's own Get-* (all its delivery settings), the
    members of listed groups, the group's member count and, for a mailbox, its user.

    Raises:
        TransportError: a read failed (never taken for "absent").
    """
    found = _get(transport, "Get-Recipient", Identity=address)
    if len(found) != 1:
        return None
    rec = found[0]
    details = str(rec.get("RecipientTypeDetails") or "")
    getter = _GETTERS.get(details)
    if getter is not None:
        full = _get(transport, getter, Identity=str(rec.get("Guid") or address))
        if len(full) == 1:
            rec = {**rec, **full[0]}
    count: int | None = None
    if details in GROUP_DETAILS or details == "GroupMailbox":
        group_id = str(rec.get("ExternalDirectoryObjectId") or rec.get("Guid"))
        counted = _get(
            transport, "Get-MgGroupMemberCount", GroupId=group_id, ConsistencyLevel="eventual"
        )
        if counted:
            count = int(counted[0].get("Count") or 0)
    disabled = False
    if details in MAILBOX_DETAILS and rec.get("UserPrincipalName"):
        users = _get(
            transport,
            "Get-MgUser",
            UserId=str(rec["UserPrincipalName"]),
            Property=("UserPrincipalName", "AccountEnabled", "OnPremisesSyncEnabled"),
        )
        if users:
            user = users[0]
            disabled = bool(user.get("OnPremisesSyncEnabled")) and not user.get(
                "AccountEnabled", True
            )
    return recipient_view(
        rec,
        resolve=_resolver(transport),
        members_of=_members_reader(transport),
        member_count=count,
        disabled_on_premises=disabled,
    )


def read_sender_view(transport: Transport, tenant: TenantView, address: str) -> SenderView:
    """The sender: a recipient of the tenant (a mailbox, or a mail contact for an outside
    sender) is known by all its keys; any other address by itself.

    Raises:
        TransportError: a read failed.
    """
    internal = tenant.accepts(address)
    found = _get(transport, "Get-Recipient", several_ok=True, Identity=address)
    if len(found) != 1:
        return SenderView.unknown(address, internal=internal)
    return SenderView(
        address=address, keys=_keys_of(found[0]) | {ref_key(address)}, internal=internal
    )


def read_views(
    transport: Transport, *, sender: str, recipient: str, blocked_ips: Iterable[str] = ()
) -> tuple[TenantView, RecipientView | None, SenderView]:
    """Everything :func:`decide` needs for one message, read through ``transport``."""
    tenant = read_tenant_view(transport, blocked_ips=blocked_ips)
    rec = read_recipient_view(transport, recipient) if tenant.accepts(recipient) else None
    return tenant, rec, read_sender_view(transport, tenant, sender)
