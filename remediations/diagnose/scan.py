"""``scan``: read the whole tenant and list what will bounce outside or restricted senders.

Everything is read through the transport (``Get-*`` without ``Identity``
returns every object); a read that fails stops the scan with the error
(exit 1), never with an empty result.  Findings are grouped by the cause ids
of ``shared/DESIGN.md``, each with the exact fix:

* ``public-folder-auth``: mail-enabled public folders that require
  authenticated senders; ``invoke fix-public-folder --folder PATH``.
* ``group-auth``: distribution and Microsoft 365 groups that do;
  ``invoke open-group-to-external --group G``.
* ``recipient-auth``: mailboxes and mail users that do;
  ``invoke open-to-external --recipient R`` (and the PowerShell it equals).
* ``restricted-recipient``: recipients with a non-empty accept list;
  ``invoke add-allowed-sender --recipient R --sender SENDER``.
* ``large-group-moderation``: moderated groups, and groups over 5,000 members
  (``Get-MgGroupMemberCount``), that a known partner cannot bypass;
  ``invoke bypass-moderation --group G --sender P``, one per partner.
* ``disabled-account``: user mailboxes whose user is disabled or has no
  license (``Get-MgUser``) and no enabled rule rejecting or deleting mail sent
  to them; ``invoke block-delicensed-user --user U``.
* ``transport-rule``: enabled rules that reject or delete mail, other than
  those stopping mail to such users; diagnose only (which rule, and how).
* ``domain-dns``, ``unregistered-domain``, ``hybrid-connector``: the failing
  checks of every accepted domain and every domain Microsoft 365 knows, and of
  the hybrid connectors (:mod:`remediations.diagnose.domain`), with the steps
  ``check-domain`` gives.

The status code each finding names is the one the mail-flow model
(:func:`remediations.ndr.mailflow.decide`, which ``sandbox.send`` and
``diagnose --check`` use too) gives for an outside sender, and for an internal
sender not on the list, so that the scan and a test message agree.

A recipient that requires authenticated senders *and* has an accept list is
listed once, as ``restricted-recipient``: ``add-allowed-sender`` also lifts
the authentication requirement for an outside sender, whereas opening it
alone would leave outside senders rejected by the list.

Known partners are the tenant's mail contacts plus any ``--partner`` given;
a moderated group is listed with one ``bypass-moderation`` command per
partner not yet on its bypass list (with ``SENDER`` to fill in when no
partner is known).  Shared, room and equipment mailboxes have disabled,
unlicensed users by design and are not taken for leavers.

Exit status as for ``check-domain``: 0 nothing found, 3 findings, 1 a DNS
lookup could not be answered (the rest is reported) or a tenant read failed
(nothing is reported), 2 bad input.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from remediations.diagnose.domain import (
    STATUS_EXIT,
    Check,
    check_domain,
    connector_checks,
    prop,
    read_graph_domains,
    read_tenant_view,
    render_check_lines,
)
from remediations.dns_lookup import Resolver, normalize_name
from remediations.errors import CmdletError
from remediations.exchange.cmdlet import Cmdlet, Transport
from remediations.exchange.facts import LARGE_GROUP_MEMBERS
from remediations.ndr.codes import CAUSES, Cause
from remediations.ndr.mailflow import SenderView, TenantView, decide, recipient_view

__all__ = ["Finding", "ScanReport", "render_scan_text", "scan_tenant"]

AUTH = "RequireSenderAuthenticationEnabled"
ACCEPT = "AcceptMessagesOnlyFromSendersOrMembers"
BYPASS = "BypassModerationFromSendersOrMembers"

_HEADINGS: dict[str, str] = {
    "public-folder-auth": "public folders outside senders cannot mail (5.7.1 AuthRequired)",
    "group-auth": "groups outside senders cannot mail (5.7.133; Microsoft 365 groups 5.7.193)",
    "recipient-auth": "mailboxes and mail users outside senders cannot mail (5.7.134, 5.7.136)",
    "restricted-recipient": "recipients that accept mail only from listed senders (5.7.1 "
    "NotAuthorized, 5.7.124)",
    "large-group-moderation": "moderated or large groups that hold partners' mail (held: no NDR)",
    "disabled-account": "users who left whose mail is not stopped (5.7.129)",
    "transport-rule": "mail-flow rules that reject or delete mail",
    "unregistered-domain": "domains not verified or not accepted (5.7.750)",
    "domain-dns": "domains whose DNS differs from what Microsoft 365 expects",
    "hybrid-connector": "hybrid connectors that misroute mail",
}
_PLACEHOLDER = "SENDER"


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One object that bounces mail, and how to fix it.

    Attributes:
        cause: the cause id.
        target: the object (address, public folder path, rule, domain or connector).
        kind: what the object is (``public folder``, ``distribution group``, ``domain`` ...).
        problem: one sentence: what bounces, and why.
        commands: this toolkit's commands that fix it, quoted for a POSIX shell.
        powershell: PowerShell to run by hand where the toolkit does not automate the fix.
        steps: further steps, each naming who takes it.
        seen: the evidence as read.
        expected: what it should be (domain and connector checks).
        status: the status code a sender gets (outside senders; for an accept list
            without an authentication requirement, internal senders not on it), as the
            mail-flow model gives it.
    """

    cause: Cause
    target: str
    kind: str
    problem: str
    commands: tuple[str, ...] = ()
    powershell: tuple[str, ...] = ()
    steps: tuple[str, ...] = ()
    seen: tuple[str, ...] = ()
    expected: tuple[str, ...] = ()
    status: str | None = None

    @property
    def automatable(self) -> bool:
        """Whether the commands fix it with nothing left to fill in."""
        return bool(self.commands) and not any(
            c.endswith(f" {_PLACEHOLDER}") for c in self.commands
        )

    def to_json(self) -> dict[str, Any]:
        """The finding as one JSON object."""
        return {
            "cause": self.cause,
            "target": self.target,
            "kind": self.kind,
            "problem": self.problem,
            "automatable": self.automatable,
            "commands": list(self.commands),
            "powershell": list(self.powershell),
            "steps": list(self.steps),
            "seen": list(self.seen),
            "expected": list(self.expected),
            "status": self.status,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanReport:
    """Every finding of one scan, and the checks that could not run."""

    tenant: str
    transport: str
    partners: tuple[str, ...]
    findings: tuple[Finding, ...]
    errors: tuple[Check, ...] = field(default=())

    @property
    def by_cause(self) -> dict[str, tuple[Finding, ...]]:
        """Findings grouped by cause id, in the design's order of causes."""
        grouped = {cause: tuple(f for f in self.findings if f.cause == cause) for cause in CAUSES}
        return {cause: found for cause, found in grouped.items() if found}

    @property
    def status(self) -> Literal["ok", "problems", "error"]:
        """``error`` if a check could not run, else ``problems`` if anything was found."""
        if self.errors:
            return "error"
        return "problems" if self.findings else "ok"

    @property
    def exit_code(self) -> int:
        """0 nothing found, 3 findings, 1 a check could not run."""
        return STATUS_EXIT[self.status]

    def to_json(self) -> dict[str, Any]:
        """The scan as one JSON document, grouped by cause (``scan --json``)."""
        return {
            "tenant": self.tenant,
            "transport": self.transport,
            "status": self.status,
            "partners": list(self.partners),
            "problems": len(self.findings),
            "causes": {
                cause: [f.to_json() for f in found] for cause, found in self.by_cause.items()
            },
            "errors": [c.to_json() for c in self.errors],
        }


# --- reading ------------------------------------------------------------------------------


class _Directory:
    """Every recipient, indexed by whatever a reference may hold (Guid, name, address)."""

    def __init__(self, recipients: Iterable[Mapping[str, Any]]) -> None:
        self._index: dict[str, Mapping[str, Any]] = {}
        for rec in recipients:
            for key in _keys(rec):
                self._index.setdefault(key, rec)

    def address(self, entry: str) -> str:
        """The primary address of the recipient a reference names (the entry if unknown)."""
        rec = self._index.get(_key(entry))
        return str(rec.get("PrimarySmtpAddress") or entry) if rec else entry


def _key(text: str) -> str:
    value = str(text).strip()
    if value.lower().startswith("smtp:"):
        value = value[5:]
    return value.lower()


def _keys(rec: Mapping[str, Any]) -> set[str]:
    keys = {
        _key(str(rec[name]))
        for name in (
            "Guid",
            "Name",
            "Alias",
            "Identity",
            "PrimarySmtpAddress",
            "ExternalEmailAddress",
            "ExternalDirectoryObjectId",
            "DistinguishedName",
            "FolderPath",
        )
        if rec.get(name)
    }
    keys.update(
        _key(a) for a in rec.get("EmailAddresses", ()) if str(a).lower().startswith("smtp:")
    )
    return keys


def _all(transport: Transport, name: str) -> tuple[Mapping[str, Any], ...]:
    """Every object a listing cmdlet returns: ``-ResultSize Unlimited`` (Exchange Online
    stops at 1,000 otherwise), and a warning that the result was cut is an error."""
    from remediations.errors import ResultTruncated
    from remediations.exchange import facts

    cmdlet = Cmdlet.of(name, ResultSize="Unlimited")
    result = transport.send(cmdlet)
    for warning in result.warnings:
        if warning.startswith(facts.RESULT_SIZE_WARNING_START):
            raise ResultTruncated(
                f"{name} returned part of its result and said so ({warning}); "
                "nothing is reported from a short list.",
                cmdlet=cmdlet,
            )
    return result.objects


def _identity(rec: Mapping[str, Any]) -> str:
    return str(rec.get("FolderPath") or rec.get("PrimarySmtpAddress") or rec.get("Identity"))


def _entries(rec: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = rec.get(name) or ()
    return (value,) if isinstance(value, str) else tuple(str(v) for v in value)


def _check_partners(partners: Sequence[str]) -> tuple[str, ...]:
    from remediations.actions.recipients import check_address

    return tuple(check_address(p, "--partner").lower() for p in partners)


def scan_tenant(
    transport: Transport, resolver: Resolver, *, partners: Sequence[str] = ()
) -> ScanReport:
    """Read the tenant and list every object that bounces outside or restricted senders.

    Args:
        transport: the tenant.
        resolver: DNS, for the domain and connector checks.
        partners: outside addresses that must reach moderated groups, besides the
            tenant's mail contacts.

    Raises:
        InputError: a partner is not an email address (exit 2).
        TransportError: a read failed; nothing is reported (exit 1).
    """
    extra = _check_partners(partners)
    recipients = _all(transport, "Get-Recipient")
    directory = _Directory(recipients)
    folders = _all(transport, "Get-MailPublicFolder")
    groups = _all(transport, "Get-DistributionGroup")
    unified = _all(transport, "Get-UnifiedGroup")
    mailboxes = _all(transport, "Get-Mailbox")
    contacts = _all(transport, "Get-MailContact")
    rules = _all(transport, "Get-TransportRule")
    mail_users = tuple(
        r for r in recipients if r.get("RecipientTypeDetails") in ("MailUser", "GuestMailUser")
    )
    known = tuple(
        dict.fromkeys(
            (
                *(
                    _key(str(c.get("ExternalEmailAddress") or c.get("PrimarySmtpAddress")))
                    for c in contacts
                ),
                *extra,
            )
        )
    )

    findings: list[Finding] = []
    for rec, kind in (
        *((f, "public folder") for f in folders),
        *((g, "distribution group") for g in groups),
        *((g, "Microsoft 365 group") for g in unified),
        *((m, "mailbox") for m in mailboxes),
        *((u, "mail user") for u in mail_users),
    ):
        findings.extend(_access_findings(rec, kind, directory))
    for rec, kind in (
        *((g, "distribution group") for g in groups),
        *((g, "Microsoft 365 group") for g in unified),
    ):
        count = _member_count(transport, rec)
        finding = _moderation_finding(rec, kind, count, known, directory)
        if finding is not None:
            findings.append(finding)
    leavers = _leavers(transport, mailboxes)
    findings.extend(_leaver_findings(leavers, rules, directory))
    findings.extend(_rule_findings(rules, leavers, directory))

    view = read_tenant_view(transport)
    domains = dict.fromkeys(view.accepted)
    for graph in read_graph_domains(transport):
        domains.setdefault(normalize_name(str(prop(graph, "Id"))), None)
    checks: list[Check] = []
    for domain in domains:
        report = check_domain(transport, resolver, domain, view=view, hybrid=False)
        checks.extend(report.checks)
    checks.extend(connector_checks(view, resolver))
    findings.extend(_check_finding(c) for c in checks if c.status == "problem")
    return ScanReport(
        tenant=transport.tenant,
        transport=transport.name,
        partners=known,
        findings=tuple(findings),
        errors=tuple(c for c in checks if c.status == "error"),
    )


# --- recipients ---------------------------------------------------------------------------


def _bounce(rec: Mapping[str, Any], *, internal: bool) -> str | None:
    """The reply a sender gets from this recipient's own settings (the mail-flow model),
    short: the status and the diagnostic up to its first ``;``."""
    address = str(rec.get("PrimarySmtpAddress") or "")
    domain = address.rpartition("@")[2].lower()
    sender = f"someone@{domain}" if internal else "someone@outside.example"
    decision = decide(
        TenantView(accepted_domains=frozenset({domain})),
        recipient_view(rec),
        SenderView.unknown(sender, internal=internal),
        recipient_address=address,
    )
    if decision.rejection is None:
        return None
    return f"{decision.rejection.status} {decision.rejection.diagnostic.split(';')[0]}"


def _code(line: str | None) -> str | None:
    return line.split()[0] if line else None


def _access_findings(rec: Mapping[str, Any], kind: str, directory: _Directory) -> Iterable[Finding]:
    identity = _identity(rec)
    quoted = shlex.quote(identity)
    listed = tuple(sorted({directory.address(e) for e in _entries(rec, ACCEPT)}, key=str.lower))
    requires_auth = bool(rec.get(AUTH))
    outside = _bounce(rec, internal=False)
    if listed:
        inside = _bounce(rec, internal=True)
        auth_note = (
            f"; it also requires authenticated senders (outside senders get {_code(outside)}),"
            " which add-allowed-sender lifts for an outside sender"
            if requires_auth
            else ""
        )
        yield Finding(
            cause="restricted-recipient",
            target=identity,
            kind=kind,
            problem=(
                f"accepts mail only from {', '.join(listed)}: every other sender gets "
                f"{inside}{auth_note}."
            ),
            status=_code(outside) if requires_auth else _code(inside),
            commands=(f"invoke add-allowed-sender --recipient {quoted} --sender {_PLACEHOLDER}",),
            steps=(
                f"Recipient's Exchange admin: if a sender must reach {identity}, replace "
                f"{_PLACEHOLDER} with its address; preview with --dry-run first. An outside "
                "sender gets a mail contact in the same run.",
            ),
            seen=(f"{ACCEPT}: {', '.join(listed)}", f"{AUTH}: {str(requires_auth).lower()}"),
        )
        return
    if not requires_auth:
        return
    seen = (f"{AUTH}: true",)
    if kind == "public folder":
        yield Finding(
            cause="public-folder-auth",
            target=identity,
            kind=kind,
            problem=f"requires authenticated senders: outside senders get {outside}.",
            commands=(f"invoke fix-public-folder --folder {quoted}",),
            seen=seen,
            status=_code(outside),
        )
    elif kind in ("distribution group", "Microsoft 365 group"):
        yield Finding(
            cause="group-auth",
            target=identity,
            kind=kind,
            problem=f"requires authenticated senders: outside senders get {outside}.",
            commands=(f"invoke open-group-to-external --group {quoted}",),
            seen=seen,
            status=_code(outside),
        )
    else:
        cmdlet = "Set-MailUser" if kind == "mail user" else "Set-Mailbox"
        yield Finding(
            cause="recipient-auth",
            target=identity,
            kind=kind,
            problem=f"requires authenticated senders: outside senders get {outside}.",
            commands=(f"invoke open-to-external --recipient {quoted}",),
            powershell=(Cmdlet.of(cmdlet, Identity=identity, **{AUTH: False}).to_powershell(),),
            steps=(
                f"Recipient's Exchange admin: if outside senders must reach this {kind}, preview "
                "the command with --dry-run, then run it; the PowerShell above is what it sends.",
            ),
            seen=seen,
            status=_code(outside),
        )


def _member_count(transport: Transport, rec: Mapping[str, Any]) -> int | None:
    group_id = str(rec.get("ExternalDirectoryObjectId") or rec.get("Guid") or _identity(rec))
    try:
        found = transport.send(
            Cmdlet.of("Get-MgGroupMemberCount", GroupId=group_id, ConsistencyLevel="eventual")
        ).objects
    except CmdletError as exc:
        if exc.category == "NotFound":  # not a Graph group (e.g. dynamic): no count to read
            return None
        raise
    return int(prop(found[0], "Count", 0)) if found else None


def _moderation_finding(
    rec: Mapping[str, Any],
    kind: str,
    count: int | None,
    partners: Sequence[str],
    directory: _Directory,
) -> Finding | None:
    moderated = bool(rec.get("ModerationEnabled"))
    large = count is not None and count > LARGE_GROUP_MEMBERS
    if not (moderated or large):
        return None
    identity = _identity(rec)
    bypass = {directory.address(e).lower() for e in _entries(rec, BYPASS)}
    moderators = {directory.address(e).lower() for e in _entries(rec, "ModeratedBy")}
    missing = [p for p in partners if p not in bypass and p not in moderators]
    if partners and not missing:
        return None
    why = []
    if moderated:
        why.append("moderation is on")
    if large:
        why.append(f"it has {count:,} members (over {LARGE_GROUP_MEMBERS:,})")
    held = f"partners' mail is held for a moderator ({' and '.join(why)})"
    seen = (
        f"ModerationEnabled: {str(moderated).lower()}",
        f"members: {count if count is not None else 'unknown'}",
        f"{BYPASS}: {', '.join(sorted(bypass)) or '(none)'}",
    )
    senders = missing or [_PLACEHOLDER]
    who = ", ".join(missing) if missing else "outside senders"
    if kind == "Microsoft 365 group":
        return Finding(
            cause="large-group-moderation",
            target=identity,
            kind=kind,
            problem=f"{held}: {who} cannot bypass it.",
            steps=(
                "Recipient's Exchange admin: Set-UnifiedGroup has no moderation bypass list; "
                "a moderator approves the held messages, or the sender is made a moderator or "
                "joins the group.",
            ),
            seen=seen,
        )
    quoted = shlex.quote(identity)
    commands = tuple(
        f"invoke bypass-moderation --group {quoted} --sender "
        f"{s if s == _PLACEHOLDER else shlex.quote(s)}"
        for s in senders
    )
    steps: tuple[str, ...] = ()
    if not missing:
        steps = (
            "No partner is known (no mail contacts, no --partner): replace SENDER with each "
            "outside sender that must reach the group.",
        )
    return Finding(
        cause="large-group-moderation",
        target=identity,
        kind=kind,
        problem=f"{held}: {who} cannot bypass it.",
        commands=commands,
        steps=steps,
        seen=seen,
    )


# --- users who left -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _Leaver:
    mailbox: Mapping[str, Any]
    enabled: bool
    licenses: tuple[str, ...]


def _leavers(transport: Transport, mailboxes: Iterable[Mapping[str, Any]]) -> tuple[_Leaver, ...]:
    """User mailboxes whose directory user is disabled or unlicensed: one listing of every
    user (``Get-MgUser -All``), not one read per mailbox."""
    listed = transport.send(
        Cmdlet.of(
            "Get-MgUser",
            All=True,
            Property=("UserPrincipalName", "AccountEnabled", "AssignedLicenses"),
        )
    ).objects
    users = {str(prop(u, "UserPrincipalName", "")).lower(): u for u in listed}
    out = []
    for mailbox in mailboxes:
        if mailbox.get("RecipientTypeDetails") != "UserMailbox":
            continue
        upn = str(mailbox.get("UserPrincipalName") or mailbox.get("PrimarySmtpAddress"))
        user = users.get(upn.lower())
        if user is None:  # no directory user to judge
            continue
        enabled = bool(prop(user, "AccountEnabled", True))
        licenses = tuple(
            str(prop(lic, "SkuId")) if isinstance(lic, Mapping) else str(lic)
            for lic in prop(user, "AssignedLicenses", ()) or ()
        )
        if not enabled or not licenses:
            out.append(_Leaver(mailbox=mailbox, enabled=enabled, licenses=licenses))
    return tuple(out)


def _blocks(rule: Mapping[str, Any]) -> bool:
    enabled = str(rule.get("State", "Enabled")).lower() == "enabled"
    enforced = str(rule.get("Mode", "Enforce")).lower() == "enforce"
    acts = bool(rule.get("DeleteMessage")) or bool(rule.get("RejectMessageEnhancedStatusCode"))
    return enabled and enforced and acts


def _sent_to(rule: Mapping[str, Any], directory: _Directory) -> set[str]:
    return {directory.address(e).lower() for e in _entries(rule, "SentTo")}


def _leaver_findings(
    leavers: Iterable[_Leaver], rules: Sequence[Mapping[str, Any]], directory: _Directory
) -> Iterable[Finding]:
    for leaver in leavers:
        address = str(leaver.mailbox.get("PrimarySmtpAddress"))
        if any(_blocks(r) and address.lower() in _sent_to(r, directory) for r in rules):
            continue
        state = []
        if not leaver.enabled:
            state.append("the account is disabled")
        if not leaver.licenses:
            state.append("it has no license")
        yield Finding(
            cause="disabled-account",
            target=address,
            kind="mailbox",
            problem=(
                f"{' and '.join(state).capitalize()}, and no mail-flow rule stops mail to it: "
                "senders get 5.7.129, or mail keeps arriving for about 30 days."
            ),
            commands=(f"invoke block-delicensed-user --user {shlex.quote(address)}",),
            steps=(
                "Recipient's Exchange admin: if the person has left, deleting the account is "
                "the cleanest fix; otherwise the command adds a rule that rejects mail to it.",
            ),
            seen=(
                f"AccountEnabled: {str(leaver.enabled).lower()}",
                f"AssignedLicenses: {', '.join(leaver.licenses) or '(none)'}",
                "no enabled rule rejects or deletes mail sent to it",
            ),
        )


def _rule_findings(
    rules: Iterable[Mapping[str, Any]], leavers: Iterable[_Leaver], directory: _Directory
) -> Iterable[Finding]:
    gone = {str(leaver.mailbox.get("PrimarySmtpAddress")).lower() for leaver in leavers}
    for rule in rules:
        if not _blocks(rule):
            continue
        sent_to = _sent_to(rule, directory)
        if sent_to and sent_to <= gone:  # it stops mail to users who left, as it should
            continue
        name = str(rule.get("Name") or rule.get("Identity"))
        if rule.get("DeleteMessage"):
            action = "deletes the message silently"
        else:
            action = (
                f"rejects it with {rule.get('RejectMessageEnhancedStatusCode')} "
                f"{str(rule.get('RejectMessageReasonText') or '')!r}"
            )
        scope = f" from senders {rule['FromScope']}" if rule.get("FromScope") else ""
        to = ", ".join(sorted(sent_to)) if sent_to else "every recipient"
        yield Finding(
            cause="transport-rule",
            target=name,
            kind="mail-flow rule",
            problem=f"mail to {to}{scope}: the rule {action}.",
            powershell=(Cmdlet.of("Disable-TransportRule", Identity=name).to_powershell(),),
            steps=(
                "Recipient's Exchange admin: if the rule is intended, nothing to do; if not, "
                "change the rule (Set-TransportRule) or disable it (the PowerShell above). "
                "The toolkit reports rules and does not change them.",
            ),
            seen=(
                f"State: {rule.get('State', 'Enabled')}",
                f"SentTo: {to}",
                f"Priority: {rule.get('Priority', '')}",
            ),
        )


# --- domains and connectors -------------------------------------------------------------------


def _check_finding(check: Check) -> Finding:
    is_domain = check.check in ("mx", "spf", "verified", "accepted", "on-premises-route")
    return Finding(
        cause=check.cause,
        target=check.subject,
        kind="domain" if is_domain else "connector",
        problem=f"{check.check}: {check.summary}",
        steps=check.steps,
        seen=check.seen,
        expected=check.expected,
    )


# --- rendering ------------------------------------------------------------------------------


def render_scan_text(report: ScanReport) -> str:
    """The scan for people: a section per cause, each object with its fix."""
    count = len(report.findings)
    grouped = report.by_cause
    if count:
        head = (
            f"{count} problem{'s' if count != 1 else ''} under {len(grouped)} "
            f"cause{'s' if len(grouped) != 1 else ''}."
        )
    else:
        head = "nothing found that bounces outside or restricted senders."
    partners = ", ".join(report.partners) or "none (no mail contacts; add --partner ADDRESS)"
    lines = [
        f"Scan of {report.tenant} ({report.transport}): {head}",
        f"Known partners: {partners}.",
    ]
    for cause, found in grouped.items():
        lines.append("")
        lines.append(f"{cause} ({len(found)}): {_HEADINGS.get(cause, cause)}")
        for finding in found:
            lines.append(f"  {finding.target} ({finding.kind}): {finding.problem}")
            if finding.seen and finding.kind in ("domain", "connector"):
                lines.append(f"      seen:     {'; '.join(finding.seen)}")
                lines.append(f"      expected: {'; '.join(finding.expected)}")
            lines.extend(f"      fix: {command}" for command in finding.commands)
            lines.extend(f"      PowerShell: {line}" for line in finding.powershell)
            lines.extend(f"      {n}. {step}" for n, step in enumerate(finding.steps, 1))
    if report.errors:
        lines.append("")
        lines.append(f"Could not check ({len(report.errors)}): the answers are unknown, not absent")
        for check in report.errors:
            lines.extend(render_check_lines(check))
    return "\n".join(lines) + "\n"
