"""Exchange texts and defaults the toolkit relies on, in one place.

Each entry says where it comes from (see ``shared/reference/exchange.md``).
Entries marked ``UNCONFIRMED`` are assumptions that no source states; they are
kept here so that a check against a real tenant changes one line.  The texts
of NDRs (status codes, diagnostic and user texts) are the other table of facts,
in :mod:`remediations.ndr.codes`, with its assumptions marked
``# unconfirmed:``; nothing else in the code states an Exchange text.
"""

from __future__ import annotations

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
# PowerShell's own parameter-binding and command-lookup texts.
NO_SUCH_PARAMETER = "A parameter cannot be found that matches parameter name '{name}'."
MISSING_MANDATORY = (
    "Cannot process command because of one or more missing mandatory parameters: {names}."
)
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
# UNCONFIRMED: the text for a recipient name that is already taken.
DUPLICATE_NAME = "The name '{name}' is already being used. Please try another name."
# UNCONFIRMED: text for Add/Remove on a property that takes only overwrite (Set-UnifiedGroup).
NO_ADD_REMOVE = (
    "Cannot process argument transformation on parameter '{name}'. "
    "Add and Remove are not supported for this parameter."
)
# [doc] paraphrase of "you can't use ... in the same command".
SAME_COMMAND = "The {first} and {second} parameters can't be used in the same command."
# [doc] New-TransportRule: RejectMessageEnhancedStatusCode "5.7.1 or between 5.7.900 and 5.7.999".
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

# --- defaults (exchange.md 2.2, 2.3) ------------------------------------------------

# [doc] New-TransportRule: text and code when a reject action gives only one of them.
DEFAULT_REJECT_TEXT = "Delivery not authorized, message refused"
DEFAULT_REJECT_CODE = "5.7.1"
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

# UNCONFIRMED: Get-* cmdlets in EXO return recipient-valued properties
# (AcceptMessagesOnlyFrom*, ModeratedBy, Bypass*, SentTo) as GUIDs unless an
# Include...WithDisplayNames switch is given; the sandbox does so for all of
# them, and actions resolve every entry with Get-Recipient whatever its form.
REFERENCES_AS_GUIDS = True

# --- mail flow (the 5.7.1 article, the NDR table) -----------------------------------

# UNCONFIRMED: the size above which a group of more than 5,000 members rejects a message
# (the article says only "large messages can't be sent").
LARGE_GROUP_MAX_MESSAGE_KB = 2048
