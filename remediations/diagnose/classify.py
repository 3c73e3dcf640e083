"""Turn an NDR into diagnoses: the cause of each failure and how to fix it.

:func:`diagnose` gives one :class:`Diagnosis` per failed recipient; the causes
and their fixes follow the table in ``shared/DESIGN.md``. A fix is either an
``invoke`` command of this toolkit (``automatable``) or concrete steps saying
who must do what. :func:`render_text` and :func:`render_json` present them.

Errors: ``ValueError`` for a recipient kind other than public-folder, group or mailbox.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

from remediations.actions.block_delicensed_user import RULE_PREFIX
from remediations.diagnose.ndr import NdrFailure, NdrReport
from remediations.exchange.cmdlet import ps_quote
from remediations.ndr.codes import (
    RECIPIENT_KINDS,
    Cause,
    CodeMatch,
    Confidence,
    RecipientKind,
    lookup,
)

__all__ = [
    "AUTOMATED",
    "LEAVER_RULE_PREFIX",
    "Diagnosis",
    "Fix",
    "JsonValue",
    "command_line",
    "diagnose",
    "render_json",
    "render_text",
]

JsonValue: TypeAlias = str | int | bool | list["JsonValue"] | dict[str, "JsonValue"] | None

NDR_TABLE_URL = (
    "https://learn.microsoft.com/troubleshoot/exchange/email-delivery/ndr/"
    "non-delivery-reports-in-exchange-online"
)
DELIST_PORTAL = "https://sender.office.com"


@dataclass(frozen=True, slots=True, kw_only=True)
class Fix:
    """How to fix one cause: this toolkit's command, if it has one, and the steps."""

    command: str | None
    steps: tuple[str, ...]
    action: str | None = None
    params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Diagnosis:
    """The cause of one failed delivery and its fix.

    Attributes:
        status: the enhanced status code found, e.g. ``"5.7.1"``.
        cause: the cause id (see ``codes.CAUSES``).
        confidence: high, medium or low (see ``codes.CodeMatch``).
        evidence: what was found where, and which table row it matched.
        recipient: the failed recipient, if the NDR names it.
        sender: the original sender, if the NDR names it.
        automatable: True when ``fix.command`` fixes it with nothing left to fill in.
        fix: the command and steps.
        diagnostic: the SMTP reply as found.
        found_in: where in the NDR it was found.
        reason: which row of the table it matched, and how.
    """

    status: str | None
    cause: Cause
    confidence: Confidence
    evidence: str
    recipient: str | None
    sender: str | None
    automatable: bool
    fix: Fix
    diagnostic: str
    found_in: str
    reason: str

    def to_json(self) -> dict[str, JsonValue]:
        """Return the diagnosis as a JSON-ready mapping."""
        return {
            "status": self.status,
            "cause": self.cause,
            "confidence": self.confidence,
            "evidence": self.evidence,
            "recipient": self.recipient,
            "sender": self.sender,
            "automatable": self.automatable,
            "fix": {"command": self.fix.command, "steps": list(self.fix.steps)},
        }


def diagnose(report: NdrReport, *, recipient_kind: str | None = None) -> tuple[Diagnosis, ...]:
    """Diagnose each failure of an NDR.

    Args:
        report: the parsed NDR.
        recipient_kind: ``"public-folder"``, ``"group"`` or ``"mailbox"`` when the
            failed recipient's kind is known; it settles codes such as 5.7.1
            AuthRequired whose cause depends on it.

    Returns:
        One diagnosis per failure, in the report's order.

    Raises:
        ValueError: ``recipient_kind`` is not one of the kinds above.
    """
    kind = _recipient_kind(recipient_kind)
    return tuple(_diagnose_one(failure, report.sender, kind) for failure in report.failures)


def _recipient_kind(value: str | None) -> RecipientKind | None:
    if value is None:
        return None
    for kind in RECIPIENT_KINDS:
        if value == kind:
            return kind
    msg = f"recipient kind {value!r} is not known; use one of {', '.join(RECIPIENT_KINDS)}"
    raise ValueError(msg)


def _diagnose_one(failure: NdrFailure, sender: str | None, kind: RecipientKind | None) -> Diagnosis:
    match = lookup(status=failure.status, diagnostic=failure.diagnostic, recipient_kind=kind)
    command, steps = _fix(match, failure, sender)
    if match.caveats:
        steps = (*steps, *(f"To be sure: {caveat}." for caveat in match.caveats))
    automatable = command is not None and not _PLACEHOLDER.search(command)
    action: str | None = None
    params: tuple[tuple[str, str], ...] = ()
    if automatable and match.cause in AUTOMATED:
        action, slots = AUTOMATED[match.cause]
        values = {"recipient": failure.recipient or "", "sender": sender or ""}
        params = tuple((flag, values[src]) for flag, src in slots)
    return Diagnosis(
        status=failure.status,
        cause=match.cause,
        confidence=match.confidence,
        evidence=f"{failure.reply!r} in the {failure.evidence}; {match.reason}",
        recipient=failure.recipient,
        sender=sender,
        automatable=automatable,
        fix=Fix(command=command, steps=steps, action=action, params=params),
        diagnostic=failure.reply,
        found_in=failure.evidence,
        reason=match.reason,
    )


# cause -> the remediation that fixes it, and which NDR value fills each of its flags.
AUTOMATED: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "public-folder-auth": ("fix-public-folder", (("folder", "recipient"),)),
    "group-auth": ("open-group-to-external", (("group", "recipient"),)),
    "recipient-auth": ("open-to-external", (("recipient", "recipient"),)),
    "restricted-recipient": (
        "add-allowed-sender",
        (("recipient", "recipient"), ("sender", "sender")),
    ),
    "large-group-moderation": ("bypass-moderation", (("group", "recipient"), ("sender", "sender"))),
    "disabled-account": ("block-delicensed-user", (("user", "recipient"),)),
}


# The name block-delicensed-user gives its rule: "Block mail to leaver <address>".
LEAVER_RULE_PREFIX = RULE_PREFIX


def command_line(action: str, params: Sequence[tuple[str, str]]) -> str:
    """The exact ``invoke`` command line for an action and its flags, quoted for a shell."""
    return "invoke " + action + "".join(f" --{flag} {shlex.quote(v)}" for flag, v in params)


def _command(cause: str, recipient: str | None, sender: str | None) -> str:
    """The exact command line for an automated cause; a missing value stays a placeholder."""
    action, slots = AUTOMATED[cause]
    values = {"recipient": recipient, "sender": sender}
    flags = "".join(f" --{flag} {_value(values[src], flag.upper())}" for flag, src in slots)
    return f"invoke {action}{flags}"


# A placeholder left in a command: the NDR did not name that value.
_PLACEHOLDER = re.compile(r"(?<=\s)(?:RECIPIENT|SENDER|FOLDER|GROUP|USER)(?=\s|$)")


def _value(value: str | None, placeholder: str) -> str:
    return shlex.quote(value) if value else placeholder


def _domain(address: str | None) -> str | None:
    if not address or "@" not in address:
        return None
    return address.rsplit("@", 1)[1]


def _missing(failure: NdrFailure, sender: str | None, *, needs_sender: bool) -> tuple[str, ...]:
    steps: list[str] = []
    if not failure.recipient:
        steps.append(
            "The NDR does not name the failed recipient: replace the placeholder with the"
            " recipient's address before running the command."
        )
    if needs_sender and not sender:
        steps.append(
            "The NDR does not name the original sender: replace SENDER with the sender's"
            " address before running the command."
        )
    return tuple(steps)


def _preview(command: str) -> str:
    return f"preview with `{command} --dry-run`, then run it without --dry-run."


def _fix(
    match: CodeMatch, failure: NdrFailure, sender: str | None
) -> tuple[str | None, tuple[str, ...]]:
    """Return (command, steps) for the cause; each step says who takes it."""
    recipient = failure.recipient
    status = failure.status or ""
    cause = match.cause
    if cause == "public-folder-auth":
        command = _command(cause, recipient, sender)
        return command, (
            *_missing(failure, sender, needs_sender=False),
            f"Recipient's Exchange admin: {_preview(command)} It clears 'Require that all"
            " senders are authenticated' on the mail-enabled public folder"
            " (Set-MailPublicFolder -RequireSenderAuthenticationEnabled $false).",
        )
    if cause == "group-auth":
        command = _command(cause, recipient, sender)
        steps = [
            *_missing(failure, sender, needs_sender=False),
            f"Recipient's Exchange admin: {_preview(command)} It lets the group accept mail"
            " from outside senders (RequireSenderAuthenticationEnabled $false).",
        ]
        if status == "5.7.193":
            steps.append(
                "This is a Microsoft 365 group: the command sets Set-UnifiedGroup"
                " -RequireSenderAuthenticationEnabled $false; or add the sender to the group"
                " as a guest member."
            )
        if status == "5.7.133":
            steps.append(
                "If the sender is inside the organization (hybrid), the message arrived"
                " unauthenticated: check the inbound connector from on-premises instead of"
                " opening the group."
            )
        return command, tuple(steps)
    if cause == "recipient-auth":
        command = _command(cause, recipient, sender)
        return command, _recipient_auth_steps(failure, command)
    if cause == "restricted-recipient":
        command = _command(cause, recipient, sender)
        return command, (
            *_missing(failure, sender, needs_sender=True),
            f"Recipient's Exchange admin: {_preview(command)} An outside sender must first"
            " exist as a mail contact or mail user, and a requirement that senders be"
            " authenticated must go too; the preview shows both.",
            *(
                (
                    "Or, for a group that accepts only its members (every group over 5,000"
                    " members does), make the sender a member.",
                )
                if status == "5.7.124"
                else ()
            ),
            "Or, if a mail flow rule restricts the sender, change that rule instead.",
        )
    if cause == "large-group-moderation":
        return _large_group_fix(failure, sender)
    if cause == "disabled-account":
        command = _command(cause, recipient, sender)
        return command, (
            *_missing(failure, sender, needs_sender=False),
            "Recipient's Exchange admin: confirm that the user has left (the on-premises"
            " account is disabled). Deleting the account is the cleanest fix.",
            f"If the account stays: remove its license, then {_preview(command)} It adds a"
            " mail flow rule that rejects mail to the user; without the rule, mail keeps"
            " arriving for about 30 days.",
            "If the user has not left, the sender is missing from the recipient's accept list:"
            f" `invoke add-allowed-sender --recipient {_value(recipient, 'RECIPIENT')}"
            f" --sender {_value(sender, 'SENDER')}`.",
        )
    return None, _manual_steps(match, failure, sender)


def _recipient_auth_steps(failure: NdrFailure, command: str) -> tuple[str, ...]:
    recipient = failure.recipient or "RECIPIENT"
    cmdlet = "Set-MailUser" if failure.status == "5.7.136" else "Set-Mailbox"
    what = "mail user" if cmdlet == "Set-MailUser" else "mailbox"
    return (
        *_missing(failure, None, needs_sender=False),
        f"Recipient's Exchange admin: {_preview(command)} It lets the {what} accept mail from"
        " outside senders; in Exchange Online PowerShell that is:",
        f"{cmdlet} -Identity {ps_quote(recipient)} -RequireSenderAuthenticationEnabled $false",
        f"Or keep the restriction and add the sender to the {what}'s allowed senders"
        " (AcceptMessagesOnlyFrom); an outside sender needs a mail contact first.",
    )


def _large_group_fix(failure: NdrFailure, sender: str | None) -> tuple[str | None, tuple[str, ...]]:
    if (failure.status or "").startswith("5.2."):
        return None, (
            "Sender: send the message again without large attachments; a group of more than"
            " 5,000 members does not accept large messages.",
            "Recipient's Exchange admin: nothing to change in the toolkit; the limit comes"
            " with the group's size.",
        )
    command = _command("large-group-moderation", failure.recipient, sender)
    return command, (
        *_missing(failure, sender, needs_sender=True),
        f"Recipient's Exchange admin: {_preview(command)} It lets the sender bypass the"
        " moderation that groups over 5,000 members require.",
        "Or: a moderator approves the message, or the sender joins the group.",
    )


def _manual_steps(match: CodeMatch, failure: NdrFailure, sender: str | None) -> tuple[str, ...]:
    """Steps for the causes this toolkit only diagnoses."""
    cause = match.cause
    text = failure.diagnostic
    recipient_domain = _domain(failure.recipient)
    sender_domain = _domain(sender)
    if cause == "transport-rule":
        return _rule_steps(match, failure)
    if cause == "ip-blocklist":
        ip = re.search(r"\[(\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f:]+)\]", text)
        address = f" {ip.group(1)}" if ip else ""
        return (
            f"Sender's email admin (not the recipient's): Microsoft blocks the sending IP"
            f" address{address}.",
            f"Request delisting at the delist portal {DELIST_PORTAL}, or forward this NDR to"
            " delist@microsoft.com.",
            "Find why the IP was listed (a compromised account or a spam source) and stop it,"
            " or delisting will not last.",
        )
    if cause == "banned-sender":
        return (
            "Sender's email admin: Microsoft has banned the sending account for spam.",
            "Secure the account (reset its password, check for compromise and forwarding"
            " rules), then contact Microsoft support to lift the ban.",
        )
    if cause == "tenant-blocked":
        if failure.status == "5.7.703":
            return (
                "Sender's email admin: your own organization's Tenant Allow/Block List blocks"
                f" mail to {failure.recipient or 'this recipient'}.",
                "Remove or change that entry in the Microsoft Defender portal (Tenant"
                " Allow/Block Lists) if the block is unwanted.",
            )
        return (
            "Sender's email admin: Microsoft blocked the sending tenant or its IP address"
            " (spam, a compromised account, or an expired subscription).",
            "Fix the cause, then contact Microsoft support to restore sending.",
        )
    if cause == "unregistered-domain":
        domain = sender_domain or "SENDER-DOMAIN"
        return (
            "Sender's Microsoft 365 admin: the tenant sends mail from domains it has not added"
            " and verified as accepted domains.",
            f"Add and verify the sending domain in the Microsoft 365 admin center (Settings >"
            f" Domains), and check it with `invoke check-domain --domain {shlex.quote(domain)}`.",
            "Review inbound connectors for any that relay mail from unknown domains.",
        )
    if cause == "domain-dns":
        spf = failure.status == "5.7.23" or "sender policy framework" in text.lower()
        domain = (sender_domain if spf else recipient_domain) or "DOMAIN"
        owner = "sender's" if spf else "recipient's"
        return (
            f"The {owner} domain owner: fix the domain's DNS at the registrar or DNS host:"
            " exactly one MX record, the one Microsoft 365 gives, and an SPF record that"
            " includes spf.protection.outlook.com.",
            f"Compare live DNS with the expected records: `invoke check-domain --domain"
            f" {shlex.quote(domain)}`.",
        )
    if cause == "relay-denied":
        return _relay_steps(failure, recipient_domain)
    if cause == "hybrid-connector":
        return (
            "Recipient's Exchange admin: check the hybrid connectors: the outbound connector's"
            " smart hosts (or MX) and its domains, which must include every on-premises domain.",
            "If a connector is wrong, rerun the Hybrid Configuration Wizard on premises.",
        )
    status = failure.status
    if status in ("5.4.1", "5.1.10"):
        where = failure.recipient or "the recipient's address"
        return (
            f"This is a {status} NDR, not a 5.7.x one: the address does not exist.",
            f"Sender: {where} does not exist in the receiving organization (5.4.1 with"
            " AS(201806281) is Exchange Online's directory-based edge blocking, which refuses"
            " an outside sender at SMTP time; an internal sender gets 5.1.10). Check the"
            " address for typing errors and send again.",
            "Recipient's Exchange admin, if the address should exist: create the recipient or"
            " add the address to the right one (a recipient synced from on premises may not"
            " have reached Exchange Online yet).",
        )
    if status is not None and not status.startswith("5.7."):
        first = f"This is a {status} NDR, not a 5.7.x one: outside what this toolkit fixes."
    else:
        first = f"No documented 5.7.x cause matches this NDR ({match.reason})."
    return (
        first,
        f"Evidence: {failure.reply!r} in the {failure.evidence}.",
        f"Look the code up in Microsoft's NDR table ({NDR_TABLE_URL}); if the recipient is in"
        " your tenant, diagnose --check reads its settings.",
    )


def _rule_steps(match: CodeMatch, failure: NdrFailure) -> tuple[str, ...]:
    recipient = failure.recipient or "RECIPIENT"
    if match.rule is not None and match.rule.name == "leaver-rule":
        name = LEAVER_RULE_PREFIX + recipient
        return (
            f"Nobody needs to act: this is the toolkit's own leaver rule ('{name}', made by"
            " block-delicensed-user); the person has left and the rejection is intended.",
            "If the person has come back: remove the rule in Exchange Online PowerShell:"
            f" Remove-TransportRule -Identity {ps_quote(name)}",
        )
    status = failure.status or "a reject status"
    return (
        f"Recipient's Exchange admin: a mail flow rule rejected the message with {status}"
        f" and the text {failure.diagnostic or '(no text in the NDR)'!r}; the text does not"
        " name the rule (a rule without its own code answers with Exchange's generic"
        " TRANSPORT.RULES.RejectMessage text).",
        f"Find the rule by the recipient, not by the text:"
        f" `invoke diagnose --ndr FILE --check` names the rules that reject mail to {recipient}"
        " (by SentTo, the sender's scope, state and priority).",
        "Or list them in Exchange Online PowerShell: Get-TransportRule | Where-Object {"
        f" $_.SentTo -contains {ps_quote(recipient)} -and $_.State -eq 'Enabled' }} |"
        " Format-List Name,Priority,FromScope,RejectMessageEnhancedStatusCode,"
        "RejectMessageReasonText,DeleteMessage; message trace detail"
        " (Get-MessageTraceDetailV2) names the rule too.",
        "Change or disable that rule if the rejection is unwanted; the toolkit does not"
        " guess which rule it was, nor change mail flow rules it did not make.",
    )


def _relay_steps(failure: NdrFailure, recipient_domain: str | None) -> tuple[str, ...]:
    if failure.status == "5.7.57":
        return (
            "Owner of the sending device or application: it submits to smtp.office365.com"
            " without signing in.",
            "Configure SMTP AUTH with a licensed mailbox over TLS (port 587), or send through"
            " a connector instead.",
        )
    if failure.status == "5.7.64" or "tenantattribution" in failure.diagnostic.lower():
        return (
            "Sender's Exchange admin: the inbound connector from on-premises no longer matches"
            " the sending server.",
            "Fix the connector's TlsSenderCertificateName or SenderIPAddresses to match the"
            " server's certificate or IP address.",
        )
    domain = recipient_domain or "DOMAIN"
    return (
        "Recipient's email admin: the receiving server would not relay for this domain: the"
        " MX record may point at a system that does not accept it, or a connector or relay"
        " setting is wrong.",
        f"Check the domain's MX and connectors: `invoke check-domain --domain"
        f" {shlex.quote(domain)}`.",
    )


def render_text(diagnoses: Sequence[Diagnosis]) -> str:
    """Render diagnoses for people: what was found where, the cause, and the fix."""
    blocks: list[str] = []
    for number, item in enumerate(diagnoses, start=1):
        lines = [
            f"Failure {number} of {len(diagnoses)}: {item.recipient or '(recipient not named)'}",
            f"  found:      {item.diagnostic}",
            f"  where:      {item.found_in}",
            f"  cause:      {item.cause} (confidence: {item.confidence})",
            f"  why:        {item.reason}",
            f"  sender:     {item.sender or '(not named in the NDR)'}",
        ]
        if item.fix.command is not None:
            ready = "" if item.automatable else "  (fill in the placeholders first)"
            lines.append(f"  fix:        {item.fix.command}{ready}")
        else:
            lines.append("  fix:        not automated; steps below")
        lines.extend(f"    {step_no}. {step}" for step_no, step in enumerate(item.fix.steps, 1))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n" if blocks else "No failures to diagnose.\n"


def render_json(diagnoses: Sequence[Diagnosis]) -> dict[str, JsonValue]:
    """Render diagnoses as JSON: one document for one, ``{"diagnoses": [...]}`` for several."""
    if len(diagnoses) == 1:
        return diagnoses[0].to_json()
    items: list[JsonValue] = [item.to_json() for item in diagnoses]
    return {"diagnoses": items}
