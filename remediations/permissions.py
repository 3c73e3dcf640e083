"""What each action reads and changes, and the Exchange role / Graph permission it needs.

Each action declares it here (a test keeps the table complete); ``target.check``
probes the target read-only and reports, per action, what is missing by name.

Sources: Exchange Online management roles (the role a cmdlet belongs to) [doc:
learn.microsoft.com "Permissions in Exchange Online" and each cmdlet's "you need to
be assigned permissions" note — the role names below are those of the built-in
roles, UNCONFIRMED per cmdlet against a live tenant]; app-only Exchange needs the
application permission Exchange.ManageAsApp plus an Entra role such as Exchange
Administrator (reference exchange.md §3); Graph permissions from each call's
Graph reference page (reference exchange.md, Graph table).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ACTION_NEEDS",
    "EXCHANGE_APP_PERMISSION",
    "EXCHANGE_ENTRA_ROLE",
    "GRAPH_PROBE_PERMISSION",
    "Needs",
]

#: the application permission app-only Exchange Online needs [doc: app-only-auth-powershell-v2]
EXCHANGE_APP_PERMISSION = "Exchange.ManageAsApp"
#: the Entra role that holds every Exchange role below [doc: app-only-auth-powershell-v2]
EXCHANGE_ENTRA_ROLE = "Exchange Administrator"
#: what ``GET /subscribedSkus`` (the check's Graph read) needs [doc: Graph subscribedsku-list]
GRAPH_PROBE_PERMISSION = "Organization.Read.All"


@dataclass(frozen=True, slots=True, kw_only=True)
class Needs:
    """What one action reads and changes, and what that takes."""

    reads: tuple[str, ...]
    changes: tuple[str, ...]
    #: Exchange management roles the cmdlets belong to
    exchange_roles: tuple[str, ...] = ()
    #: Microsoft Graph application permissions
    graph: tuple[str, ...] = ()


_RECIPIENT_READS = ("Get-Recipient", "Get-DistributionGroup", "Get-UnifiedGroup", "Get-Mailbox")

ACTION_NEEDS: dict[str, Needs] = {
    "fix-public-folder": Needs(
        reads=("Get-MailPublicFolder",),
        changes=("Set-MailPublicFolder",),
        exchange_roles=("Mail Enabled Public Folders",),
    ),
    "add-allowed-sender": Needs(
        reads=(*_RECIPIENT_READS, "Get-MailPublicFolder", "Get-MailUser"),
        changes=(
            "New-MailContact",
            "Set-DistributionGroup",
            "Set-UnifiedGroup",
            "Set-Mailbox",
            "Set-MailPublicFolder",
        ),
        exchange_roles=(
            "Mail Recipients",
            "Mail Recipient Creation",
            "Distribution Groups",
            "Mail Enabled Public Folders",
        ),
    ),
    "open-to-external": Needs(
        reads=(*_RECIPIENT_READS, "Get-MailUser"),
        changes=("Set-DistributionGroup", "Set-UnifiedGroup", "Set-Mailbox", "Set-MailUser"),
        exchange_roles=("Mail Recipients", "Distribution Groups"),
    ),
    "open-group-to-external": Needs(
        reads=("Get-Recipient", "Get-DistributionGroup", "Get-UnifiedGroup"),
        changes=("Set-DistributionGroup", "Set-UnifiedGroup"),
        exchange_roles=("Distribution Groups", "Mail Recipients"),
    ),
    "bypass-moderation": Needs(
        reads=("Get-Recipient", "Get-DistributionGroup", "Get-UnifiedGroup"),
        changes=("New-MailContact", "Set-DistributionGroup", "Set-UnifiedGroup"),
        exchange_roles=("Distribution Groups", "Mail Recipient Creation", "Mail Recipients"),
    ),
    "block-delicensed-user": Needs(
        # GET /subscribedSkus names the licenses a user still holds (the refusal and note)
        reads=("Get-Mailbox", "Get-TransportRule", "GET /users/{id}", "GET /subscribedSkus"),
        changes=("New-TransportRule", "Set-TransportRule", "Enable-TransportRule"),
        exchange_roles=("Transport Rules", "Mail Recipients"),
        graph=("User.Read.All", "Organization.Read.All"),
    ),
    "remove-license": Needs(
        reads=("Get-Mailbox", "GET /users/{id}", "GET /subscribedSkus", "GET /groups/{id}"),
        changes=("POST /users/{id}/assignLicense",),
        exchange_roles=("Mail Recipients",),
        graph=(
            "User.Read.All",
            "Organization.Read.All",
            "GroupMember.Read.All",
            "User.ReadWrite.All",
        ),
    ),
}
