"""Exchange texts and defaults the toolkit relies on, in one place.

Each entry says where it comes from (see ``shared/reference/exchange.md``, whose
section 9 corrects the earlier ones): ``[doc: <page>]`` a Microsoft page,
``[code]`` an open-source client that quotes the text, ``[PowerShell]`` the
shell's own binder.
Entries marked ``UNCONFIRMED`` are assumptions that no source states; they are
kept here so that a check against a real tenant changes one line.  The texts
of NDRs (status codes, diagnostic and user texts) are the other table of facts,
in :mod:`remediations.ndr.codes`, with its assumptions marked
``# unconfirmed:``; nothing else in the code states an Exchange text.
"""

from __future__ import annotations

from typing import Any

# --- error texts (exchange.md 2.5) -----------------------------------------------

# [doc/code] ManagementObjectNotFoundException for -Identity.
NOT_FOUND = (
    "The operation couldn't be performed because object '{identity}' couldn't be found on "
    "'{server}'."
)
# [doc] ManagementObjectAmbiguousException for -Identity.
AMBIGUOUS = "The operation couldn't be performed because '{identity}' matches multiple entries."
# [code] a parameter value (a sender, a member) that names no object.
VALUE_NOT_FOUND = (
    'Couldn\'t find object "{value}". Please make sure that it was spelled correctly '
    "or specify a different object."
)
# [doc] KB 3001960: a parameter value that names several objects.
VALUE_AMBIGUOUS = (
    'There are multiple recipients matching the identity "{value}". Please specify a unique value.'
)
# [code] the warning a Set-* that changed nothing returns.
NO_CHANGE_WARNING = (
    "The command completed successfully but no settings of '{identity}' have been modified."
)
# [PowerShell] parameter binding: a parameter the cmdlet does not have.
NO_SUCH_PARAMETER = "A parameter cannot be found that matches parameter name '{name}'."
# [PowerShell] parameter binding: a mandatory parameter not given.
MISSING_MANDATORY = (
    "Cannot process command because of one or more missing mandatory parameters: {names}."
)
# [PowerShell] command lookup: no such cmdlet.
NO_SUCH_CMDLET = (
    "The term '{name}' is not recognized as a name of a cmdlet, function, script file, "
    "or executable program."
)
# [code] New-MailContact with an address another recipient already has.
PROXY_IN_USE = (
    'The proxy address "SMTP:{address}" is already being used by the proxy addresses or '
    'LegacyExchangeDN of "{owner}". Please choose another proxy address.'
)
# UNCONFIRMED: the exact text for a duplicate transport-rule name (exchange.md 2.5).
DUPLICATE_RULE = "A transport rule with the name '{name}' already exists. Specify a different name."
# [doc: exchange.md 9, "Duplicate names"] a recipient name that is already taken.
DUPLICATE_NAME = 'The name "{name}" is already being used. Please try another name.'
# UNCONFIRMED: text for Add/Remove on a property that takes only overwrite (Set-UnifiedGroup).
NO_ADD_REMOVE = (
    "Cannot process argument transformation on parameter '{name}'. "
    "Add and Remove are not supported for this parameter."
)
# UNCONFIRMED: paraphrase of the pages' "you can't use ... in the same command".
SAME_COMMAND = "The {first} and {second} parameters can't be used in the same command."
# UNCONFIRMED: the text; the range is [doc: New-TransportRule] RejectMessageEnhancedStatusCode
# "5.7.1 or between 5.7.900 and 5.7.999".
BAD_REJECT_CODE = (
    "The value '{value}' isn't a valid enhanced status code. Valid values are 5.7.1 or "
    "5.7.900 through 5.7.999."
)
# [doc] Graph 404 body.
GRAPH_NOT_FOUND = (
    "Resource '{identity}' does not exist or one of its queried reference-property objects "
    "are not present."
)
# [code] EXO admin API throttling text.
THROTTLED = (
    "You have reached the maximum number of concurrent requests per tenant. "
    "Please wait and try again."
)
# UNCONFIRMED: how many requests one run may have in flight against a tenant (the default of
# the fleet.concurrency setting).  Microsoft publishes no number for the REST admin API; it
# answers an excess with 429 or THROTTLED above [code], which every writer of a run honours
# through one RetryBudget (Retry-After first), so a limit lower than this slows a run down and
# never fails a change.  The only published tenant-wide figure is Remote PowerShell's default
# throttling policy, PowerShellMaxTenantConcurrency 9 (sessions, not requests; reported by
# blog.quadrotech-it.com, "Exchange Online PowerShell Throttling in Office 365", 2013), and 8
# stays under even that.
CONCURRENT_REQUESTS = 8

# [doc: Set-DistributionGroup; KB 2731947] Set-DistributionGroup by an admin who is not in
# the group's ManagedBy, without -BypassSecurityGroupManagerCheck.
NOT_GROUP_MANAGER = (
    "You don't have sufficient permissions. This operation can only be performed by a "
    "manager of the group."
)
# [PowerShell] a value that does not convert to the parameter's type.
NOT_CONVERTIBLE = (
    "Cannot process argument transformation on parameter '{name}'. "
    'Cannot convert value "{value}" to type "{type}".'
)
# [PowerShell] a value outside a parameter's enumeration.
NOT_ONE_OF = "Cannot bind parameter '{name}'. \"{value}\" is not one of {choices}."
# UNCONFIRMED: the text for a property value longer than its limit (Name, reason text).
TOO_LONG = (
    "The length of the property is too long. The maximum length is {limit} and the length "
    "of the value provided is {length}."
)
# UNCONFIRMED: the text for a -Priority outside the rules' range.
BAD_PRIORITY = "The value of parameter Priority must be between 0 and {highest}."
# UNCONFIRMED: New-MailContact with an ExternalEmailAddress that is not an SMTP address.
BAD_SMTP_ADDRESS = (
    "Cannot process argument transformation on parameter 'ExternalEmailAddress'. "
    '"{value}" is not a valid SMTP address.'
)
# UNCONFIRMED: Graph's 400 for a value of removeLicenses/addLicenses that is not a GUID
# (OData's literal-conversion error; assignLicense takes skuId GUIDs [doc: user:
# assignLicense]).
GRAPH_NOT_A_GUID = "Cannot convert the literal '{value}' to the expected type 'Edm.Guid'."
# UNCONFIRMED: Graph's 400 for removing a license the user does not hold.
GRAPH_LICENSE_NOT_ASSIGNED = "User license is not assigned: {sku}."
# UNCONFIRMED: Graph's 400 for removing a license the user holds through a group
# (group-based licensing [doc: assign licenses to a group]).
GRAPH_LICENSE_INHERITED = (
    "User license is inherited from a group membership and it cannot be removed directly "
    "from the user."
)
# [doc: Get-MgUser -All "List all pages"; Graph paging] without -All, Get-MgUser lists
# one page, 100 users by default.
GRAPH_DEFAULT_PAGE_SIZE = 100
# [doc: Get-MgUser; Microsoft Q&A 973533] the properties Graph returns without $select
# (-Property): the default set (a subset; AccountEnabled and AssignedLicenses are not in it).
GRAPH_USER_DEFAULT_PROPERTIES = (
    "Id",
    "DisplayName",
    "GivenName",
    "Surname",
    "Mail",
    "UserPrincipalName",
)
# [doc: Get-Recipient, Get-Mailbox, Get-DistributionGroup ...] -ResultSize: "The default value is
# 1000"; "Unlimited" returns every object.
DEFAULT_RESULT_SIZE = 1000
# [code] the warning a Get-* gives when -ResultSize stopped it (default 1000); that the admin
# API sends it in @adminapi.warnings (rather than paging) is UNCONFIRMED.
RESULT_SIZE_WARNING = (
    "There are more results available than are currently displayed. To view them, increase "
    "the value for the ResultSize parameter."
)
# [code] how that warning begins (the transport matches on it).
RESULT_SIZE_WARNING_START = "There are more results available"
# UNCONFIRMED (widely quoted, not in exchange.md): Exchange Online refusing a change to a
# directory-synced object (exchange.md 9: such objects are changed on premises).
DIR_SYNCED_REFUSAL = (
    "The action '{cmdlet}', '{parameter}', can't be performed on the object '{identity}' "
    "because the object is being synchronized from your on-premises organization. This "
    "action should be performed on the object in your on-premises organization."
)
# UNCONFIRMED: the part of that refusal the admin-API transport recognises.
DIR_SYNCED_MARK = "being synchronized from your on-premises organization"
# [code] Graph's 403 text for a missing permission (code Authorization_RequestDenied).
GRAPH_FORBIDDEN = "Insufficient privileges to complete the operation."
# UNCONFIRMED: Graph's 429 text (code TooManyRequests); clients go by the status.
GRAPH_THROTTLED = "Too many requests."
# [doc: Graph advanced queries] $count needs the ConsistencyLevel: eventual header;
# the text of the 400 without it is UNCONFIRMED.
GRAPH_COUNT_NEEDS_EVENTUAL = (
    "Count is not supported without the ConsistencyLevel header set to eventual."
)
# UNCONFIRMED: the admin API's 401 text for a bad or expired token.
ADMINAPI_UNAUTHORIZED = "Access token is invalid."

# --- defaults (exchange.md 2.2, 2.3) ------------------------------------------------

# [doc] New-TransportRule: text and code when a reject action gives only one of them.
DEFAULT_REJECT_TEXT = "Delivery not authorized, message refused"
# [doc: New-TransportRule] the code when a reject action gives only its text.
DEFAULT_REJECT_CODE = "5.7.1"
# [doc: New-TransportRule] RejectMessageEnhancedStatusCode: 5.7.1, or 5.7.900 to 5.7.999.
CUSTOM_REJECT_CODES = range(900, 1000)
# [doc] groups: RequireSenderAuthenticationEnabled defaults to $true.
DEFAULT_GROUP_REQUIRES_AUTH = True
# UNCONFIRMED: user mailboxes default to $false.
DEFAULT_MAILBOX_REQUIRES_AUTH = False
# UNCONFIRMED: mail-enabled public folders in EXO behave as $true (the 5.7.1 article).
DEFAULT_PUBLIC_FOLDER_REQUIRES_AUTH = True
# [doc] Exchange applies moderation to groups over this many members.
LARGE_GROUP_MEMBERS = 5000
# [doc] New-TransportRule / New-MailContact: Name at most 64 characters.
MAX_NAME_LENGTH = 64
# [doc] RejectMessageReasonText at most 1024 characters in EXO.
MAX_REJECT_TEXT = 1024

# UNCONFIRMED (no constant: nothing depends on it): Get-* cmdlets in EXO return
# recipient-valued properties (AcceptMessagesOnlyFrom*, ModeratedBy, Bypass*, SentTo) as
# GUIDs unless an Include...WithDisplayNames switch is given; the sandbox does so for all
# of them, and actions resolve every entry with Get-Recipient whatever its form.

# [doc: Get-OutboundConnector, Get-InboundConnector, New-OutboundConnector,
# New-InboundConnector] (exchange.md 2.2) what Get-*Connector shows for a property a
# connector was created without.
OUTBOUND_CONNECTOR_DEFAULTS: dict[str, Any] = {
    "ConnectorType": "Partner",
    "SmartHosts": [],
    "RecipientDomains": [],
    "UseMXRecord": True,
    "Enabled": True,
    "IsTransportRuleScoped": False,
    "RouteAllMessagesViaOnPremises": False,
    "CloudServicesMailEnabled": False,
    "TlsSettings": None,
    "TlsDomain": None,
    "Comment": "",
}
# [doc: Get-InboundConnector, New-InboundConnector] (exchange.md 2.2) likewise, inbound.
INBOUND_CONNECTOR_DEFAULTS: dict[str, Any] = {
    "ConnectorType": "Partner",
    "ConnectorSource": "Default",
    "SenderDomains": [],
    "SenderIPAddresses": [],
    "RestrictDomainsToIPAddresses": False,
    "RestrictDomainsToCertificate": False,
    "RequireTls": True,
    "TlsSenderCertificateName": None,
    "CloudServicesMailEnabled": False,
    "Enabled": True,
    "Comment": "",
}


# --- mail flow (the 5.7.1 article, the NDR table) -----------------------------------

# UNCONFIRMED: the size above which a group of more than 5,000 members rejects a message
# (the article says only "large messages can't be sent").
LARGE_GROUP_MAX_MESSAGE_KB = 2048

# --- licensing and the directory (exchange.md 9) ------------------------------------

# [doc: Microsoft 365 product names and service plan identifiers for licensing] the
# skuId of Office 365 E3 (ENTERPRISEPACK); other SKUs in tenant files get a stable GUID.
KNOWN_SKU_IDS = {"ENTERPRISEPACK": "6fd2c87f-b296-42f0-b197-1e91e994b900"}
# [doc: Get-AcceptedDomain] the initial domain every tenant has: <name>.onmicrosoft.com.
INITIAL_DOMAIN_SUFFIX = ".onmicrosoft.com"
# UNCONFIRMED: the MX and SPF Microsoft publishes for an initial domain (its DNS is
# Microsoft's): <name>.mail.protection.outlook.com and Exchange Online's SPF include.
INITIAL_DOMAIN_MX = "{name}.mail.protection.outlook.com"
# UNCONFIRMED: likewise, the initial domain's SPF record.
INITIAL_DOMAIN_SPF = "v=spf1 include:spf.protection.outlook.com -all"

# --- message trace (diagnose.trace) --------------------------------------------------

# [doc: Get-MessageTraceV2; Graph exchangeMessageTrace] the properties of a message trace
# row, as Export-Csv writes them: Received, SenderAddress, RecipientAddress, Subject,
# Status, ToIP, FromIP, Size, MessageId, MessageTraceId.  The names are matched without
# case, spaces or underscores, so the EAC reports' sender_address also fits.
TRACE_SENDER_COLUMNS = ("SenderAddress", "sender_address")
# [doc: Get-MessageTraceV2] the recipient's column (one row per recipient).
TRACE_RECIPIENT_COLUMNS = ("RecipientAddress", "recipient_address")
# [doc: Get-MessageTraceV2 -Status] the Status of a message that was not delivered.
TRACE_STATUS_COLUMN = "Status"
# [doc: Get-MessageTraceV2 -Status] "Failed": the message was not delivered.
TRACE_FAILED_STATUS = "Failed"
# [doc: EAC message trace, enhanced summary report] recipient_status holds
# "<address>##<events>", e.g. "user@contoso.com##Receive, Fail"; Fail means not delivered.
TRACE_RECIPIENT_STATUS_COLUMN = "recipient_status"
# [doc: EAC message trace, enhanced summary report] the event of a failed delivery.
TRACE_FAIL_EVENT = "Fail"
# UNCONFIRMED: where a trace export carries the SMTP reply of a failed delivery: the
# Detail of Get-MessageTraceDetailV2's Fail event (exported next to the row, e.g.
# "Reason: [{LED=550 5.7.1 RESOLVER.RST.AuthRequired; authentication required};{MSG=};...]"),
# or the extended report's recipient_status.  A summary row without either has no reply;
# its cause stays unknown and the fix is to read the detail.
TRACE_REASON_COLUMNS = ("Detail", "recipient_status", "Reason")
# UNCONFIRMED: the reply sits in the LED= field of that text.
TRACE_REPLY_FIELD = "LED="
# [doc: Get-MessageTraceDetailV2] the cmdlet that gives a failed row's reason.
TRACE_DETAIL_CMDLET = "Get-MessageTraceDetailV2"
