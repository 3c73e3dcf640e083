"""A planning copy of any target: reads go to the tenant once, planned writes to a copy.

:class:`PlanningCopy` is a transport for planning ahead on a tenant that cannot
be copied whole.  A read is sent to the tenant the first time it is asked (and
kept: the same read is never sent twice, across forks too); what it returns is
loaded into an in-memory sandbox tenant through the converter
(:mod:`remediations.sandbox.importer`), and the answer comes from that copy, so
it shows every write planned so far.  A write runs on the copy only, with the
sandbox's cmdlet semantics (identity resolution, validation, Exchange's error
texts); before it runs, the objects it names are read from the tenant (a name a
new contact would take, the entries it adds to a list, the rules).  Nothing is
ever written to the tenant.

Reads no write of this toolkit changes (connectors, domains and their records,
group sizes, directory groups) are passed through and kept.  Directory reads
(``Get-MgUser``, ``Get-MgSubscribedSku``...) go to the target's typed
:class:`~remediations.directory.Directory` when it has one.

A read that fails is raised as it came (never taken for "absent"), so no plan is
made from it; a not-found is an answer, kept like any other.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from remediations.directory import Directory
from remediations.errors import CmdletError
from remediations.exchange.cmdlet import AddRemove, Cmdlet, CmdletResult, Transport
from remediations.sandbox.cmdlets import candidates
from remediations.sandbox.dispatch import CMDLETS
from remediations.sandbox.importer import (
    accepted_domain_entry,
    connector_entry,
    merge_recipient,
    merge_user,
    new_copy_state,
    rule_record,
    set_members,
    sku_entries,
)
from remediations.sandbox.transport import SandboxTransport

__all__ = ["PlanningCopy"]

Key = tuple[str, tuple[tuple[str, str], ...]]

# Recipient Get-* whose answers are loaded into the copy (and answered from it).
_RECIPIENT_READS = frozenset(
    {
        "get-recipient",
        "get-mailbox",
        "get-mailuser",
        "get-mailcontact",
        "get-distributiongroup",
        "get-unifiedgroup",
        "get-mailpublicfolder",
    }
)
# The read that shows the object a write names by -Identity.
_GETTER_OF = {
    "set-mailbox": "Get-Mailbox",
    "set-mailuser": "Get-MailUser",
    "set-distributiongroup": "Get-DistributionGroup",
    "set-unifiedgroup": "Get-UnifiedGroup",
    "set-mailpublicfolder": "Get-MailPublicFolder",
    "remove-mailcontact": "Get-MailContact",
}
_REFERENCE_PARAMS = frozenset(
    {
        "acceptmessagesonlyfrom",
        "acceptmessagesonlyfromdlmembers",
        "acceptmessagesonlyfromsendersormembers",
        "moderatedby",
        "bypassmoderationfromsendersormembers",
        "sentto",
    }
)
_RULE_CMDLETS = frozenset(
    {
        "new-transportrule",
        "set-transportrule",
        "enable-transportrule",
        "disable-transportrule",
        "remove-transportrule",
    }
)


def _key(cmdlet: Cmdlet) -> Key:
    return (
        cmdlet.name.lower(),
        tuple(sorted((name.lower(), repr(value)) for name, value in cmdlet.params)),
    )


def _not_found_or_ambiguous(exc: CmdletError) -> bool:
    return exc.category in ("NotFound", "Ambiguous")


class _Tenant:
    """The live side, shared by a copy and its forks: every read sent once, its answer kept."""

    def __init__(self, live: Transport, directory: Directory | None) -> None:
        from remediations.directory.sandbox import SandboxDirectory

        self.live = live
        self.directory: Directory = directory or SandboxDirectory(live)
        self.answers: dict[Key, Any] = {}
        self.errors: dict[Key, CmdletError] = {}
        #: reads sent to the tenant (each one once)
        self.reads = 0

    def read(self, key: Key, call: Any) -> Any:
        """``call()``'s answer, asked once; a not-found (or ambiguous) answer is kept too."""
        if key in self.answers:
            return self.answers[key]
        if key in self.errors:
            raise self.errors[key]
        self.reads += 1
        try:
            answer = call()
        except CmdletError as exc:
            if _not_found_or_ambiguous(exc):
                self.errors[key] = exc
            raise
        self.answers[key] = answer
        return answer

    def send(self, cmdlet: Cmdlet) -> CmdletResult:
        """A read sent to the tenant (once)."""
        assert not cmdlet.is_write, "the planning copy never writes to the tenant"
        result: CmdletResult = self.read(_key(cmdlet), lambda: self.live.send(cmdlet))
        return result


class PlanningCopy:
    """A transport that reads a tenant once and plans its writes on an in-memory copy."""

    def __init__(
        self,
        live: Transport,
        directory: Directory | None = None,
        *,
        _tenant: _Tenant | None = None,
        _sandbox: SandboxTransport | None = None,
        _loaded: set[Key] | None = None,
    ) -> None:
        self.name = live.name
        self.tenant = live.tenant
        self._tenant = _tenant or _Tenant(live, directory)
        self._sandbox = _sandbox or SandboxTransport(
            Path("planning-copy"), state=new_copy_state(live.tenant)
        )
        self._loaded: set[Key] = set(_loaded or ())

    @property
    def reads(self) -> int:
        """How many reads were sent to the tenant (by this copy and its forks)."""
        return self._tenant.reads

    @property
    def writes(self) -> int:
        """How many writes were planned on this copy (none reached the tenant)."""
        return self._sandbox.writes

    def fork(self) -> PlanningCopy:
        """A copy of this copy: its planned writes are its own; reads stay shared and kept."""
        return PlanningCopy(
            self._tenant.live,
            _tenant=self._tenant,
            _sandbox=self._sandbox.fork(),
            _loaded=self._loaded,
        )

    def close(self) -> None:
        """Drop the copy (the tenant's own connection belongs to its target)."""
        self._sandbox.close()

    # --- the one method -------------------------------------------------------------

    def send(self, cmdlet: Cmdlet) -> CmdletResult:
        """A read: from the tenant once, answered by the copy. A write: on the copy only."""
        name = cmdlet.name.lower()
        if cmdlet.is_write:
            return self._sandbox.send(self._prepare_write(cmdlet))
        if name in _RECIPIENT_READS:
            return self._recipient_read(cmdlet)
        if name == "get-distributiongroupmember":
            return self._members_read(cmdlet)
        if name == "get-transportrule":
            self._load_rules()
            return self._sandbox.send(cmdlet)
        if name == "get-accepteddomain":
            self._load_accepted_domains()
            return self._sandbox.send(cmdlet)
        if name in ("get-outboundconnector", "get-inboundconnector"):
            self._load_connectors()
            return self._sandbox.send(cmdlet)
        if name == "get-mguser":
            self._load_user(str(cmdlet.get("UserId")))
            return self._sandbox.send(cmdlet)
        if name == "get-mgsubscribedsku":
            self._load_skus()
            return self._sandbox.send(cmdlet)
        if name == "get-mggroupmembercount":
            return self._member_count(cmdlet)
        if name in ("get-mgdomain", "get-mgdomainserviceconfigurationrecord"):
            return self._domains(cmdlet)
        # Anything else (a read no write here changes, or one the sandbox does not know).
        return self._tenant.send(cmdlet)

    # --- reads ------------------------------------------------------------------------

    def _load(self, key: Key, cmdlet: Cmdlet, load: Any) -> CmdletError | None:
        """Read once from the tenant and load the answer; the not-found it gave, if any."""
        if key in self._loaded:
            return self._tenant.errors.get(key)
        try:
            result = self._tenant.send(cmdlet)
        except CmdletError as exc:
            if exc.category != "NotFound":
                raise
            self._loaded.add(key)
            return exc
        with self._sandbox.store.transaction(write=True) as state:
            load(state, result)
        self._loaded.add(key)
        return None

    def _recipient_read(self, cmdlet: Cmdlet) -> CmdletResult:
        key = _key(cmdlet)
        missing = self._load(key, cmdlet, _load_recipients)
        try:
            return self._sandbox.send(cmdlet)
        except CmdletError as exc:
            if exc.category != "NotFound":
                raise
            guid = self._found_as(key)
            if guid is not None:  # the tenant resolves a form of identity the copy does not
                return self._sandbox.send(_with_identity(cmdlet, guid))
            raise missing or exc from None

    def _found_as(self, key: Key) -> str | None:
        """The Guid of the one object the tenant answered for this read, if still in the copy."""
        answer = self._tenant.answers.get(key)
        if not isinstance(answer, CmdletResult) or len(answer.objects) != 1:
            return None
        guid = answer.objects[0].get("Guid")
        if guid is None or self._sandbox.state.by_guid(str(guid)) is None:
            return None
        return str(guid)

    def _members_read(self, cmdlet: Cmdlet) -> CmdletResult:
        identity = str(cmdlet.get("Identity"))
        group = self._guid_of("Get-DistributionGroup", identity)
        key = _key(cmdlet)

        def load(state: Any, result: CmdletResult) -> None:
            members = [merge_recipient(state, o)["Guid"] for o in result.objects if o.get("Guid")]
            if group is not None:
                set_members(state, group, members)

        missing = self._load(key, cmdlet, load)
        if missing is not None:
            raise missing
        target = cmdlet if group is None else _with_identity(cmdlet, group)
        return self._sandbox.send(target)

    def _guid_of(self, getter: str, identity: str) -> str | None:
        """Load the object a cmdlet names (through ``getter``) and give its Guid in the copy."""
        read = Cmdlet.of(getter, Identity=identity)
        if _key(Cmdlet.of(getter, ResultSize="Unlimited")) in self._loaded:
            # a whole listing was loaded (a fleet's batched reads): one the copy finds once
            # needs no read of its own; any other goes to the tenant as before
            try:
                listed = self._sandbox.send(read).objects
            except CmdletError:
                listed = ()
            if len(listed) == 1:
                return str(listed[0]["Guid"])
        try:
            found = self._recipient_read(read).objects
        except CmdletError as exc:
            if _not_found_or_ambiguous(exc):
                return None
            raise
        return str(found[0]["Guid"]) if len(found) == 1 else None

    def _load_rules(self) -> None:
        cmdlet = Cmdlet.of("Get-TransportRule", ResultSize="Unlimited")

        def load(state: Any, result: CmdletResult) -> None:
            held = {r["Guid"] for r in state.transport_rules}
            rules = [rule_record(r) for r in result.objects]
            state.data["transport_rules"] = [
                *state.transport_rules,
                *(r for r in rules if r["Guid"] not in held),
            ]

        self._load(_key(cmdlet), cmdlet, load)

    def _load_accepted_domains(self) -> None:
        cmdlet = Cmdlet.of("Get-AcceptedDomain")

        def load(state: Any, result: CmdletResult) -> None:
            state.data["accepted_domains"] = [accepted_domain_entry(d) for d in result.objects]

        self._load(_key(cmdlet), cmdlet, load)

    def _load_connectors(self) -> None:
        for direction, name in (
            ("outbound", "Get-OutboundConnector"),
            ("inbound", "Get-InboundConnector"),
        ):
            cmdlet = Cmdlet.of(name)

            def load(state: Any, result: CmdletResult, direction: str = direction) -> None:
                section = dict(state.data.get("connectors") or {})
                section[direction] = [connector_entry(c, direction) for c in result.objects]
                state.data["connectors"] = section

            self._load(_key(cmdlet), cmdlet, load)

    def _load_user(self, user: str) -> None:
        key: Key = ("graph-user", (("user", user.lower()),))
        if key in self._loaded:
            return
        try:
            found = self._tenant.read(key, lambda: self._tenant.directory.user(user))
        except CmdletError as exc:
            if exc.category != "NotFound":
                raise
            self._loaded.add(key)
            return
        with self._sandbox.store.transaction(write=True) as state:
            merge_user(state, found)
        self._loaded.add(key)

    def _load_skus(self) -> None:
        key: Key = ("graph-skus", ())
        if key in self._loaded:
            return
        skus = self._tenant.read(key, self._tenant.directory.subscribed_skus)
        with self._sandbox.store.transaction(write=True) as state:
            state.data["subscribed_skus"] = sku_entries(skus)
        self._loaded.add(key)

    def _member_count(self, cmdlet: Cmdlet) -> CmdletResult:
        group = str(cmdlet.get("GroupId"))
        key: Key = ("graph-count", (("group", group.lower()),))
        count = self._tenant.read(
            key, lambda: self._tenant.directory.transitive_member_count(group)
        )
        return CmdletResult(objects=({"Count": int(count)},))

    def _domains(self, cmdlet: Cmdlet) -> CmdletResult:
        directory = self._tenant.directory
        name = cmdlet.get("DomainId")
        if cmdlet.name.lower() == "get-mgdomainserviceconfigurationrecord":
            key: Key = ("graph-records", (("domain", str(name).lower()),))
            records = self._tenant.read(key, lambda: directory.service_records(str(name)))
            return CmdletResult(objects=tuple(_record_shape(r) for r in records))
        if name in (None, ""):
            domains = self._tenant.read(("graph-domains", ()), directory.domains)
        else:
            key = ("graph-domain", (("domain", str(name).lower()),))
            domains = (self._tenant.read(key, lambda: directory.domain(str(name))),)
        return CmdletResult(objects=tuple(_domain_shape(d) for d in domains))

    # --- writes -----------------------------------------------------------------------

    def _prepare_write(self, cmdlet: Cmdlet) -> Cmdlet:
        """Read from the tenant what the write names, so the copy judges it as Exchange would."""
        name = cmdlet.name.lower()
        if name in _RULE_CMDLETS:
            self._load_rules()
        if name == "new-mailcontact":
            for value in (cmdlet.get("Name"), cmdlet.get("ExternalEmailAddress")):
                if value not in (None, ""):
                    self._guid_of("Get-Recipient", str(value).removeprefix("SMTP:"))
        if name == "set-mguserlicense":
            self._load_user(str(cmdlet.get("UserId")))
            self._load_skus()
        for param, value in cmdlet.params:
            if param.lower() not in _REFERENCE_PARAMS:
                continue
            values = (*value.add, *value.remove) if isinstance(value, AddRemove) else value
            for entry in values if isinstance(values, tuple) else (values,):
                if isinstance(entry, str) and entry:
                    self._guid_of("Get-Recipient", entry)
        getter = _GETTER_OF.get(name)
        identity = cmdlet.get("Identity")
        if getter is None or identity in (None, ""):
            return cmdlet
        guid = self._guid_of(getter, str(identity))
        state = self._sandbox.state
        if guid is not None and not candidates(state, str(identity), None):
            return _with_identity(cmdlet, guid)  # a form of identity only the tenant resolves
        return cmdlet


def _with_identity(cmdlet: Cmdlet, identity: str) -> Cmdlet:
    return Cmdlet(
        cmdlet.name,
        tuple((n, identity if n.lower() == "identity" else v) for n, v in cmdlet.params),
    )


def _load_recipients(state: Any, result: CmdletResult) -> None:
    for obj in result.objects:
        if obj.get("RecipientTypeDetails") and obj.get("Guid"):
            merge_recipient(state, obj)


def _domain_shape(domain: Any) -> Mapping[str, Any]:
    return {
        "Id": domain.id,
        "IsVerified": domain.is_verified,
        "IsDefault": domain.is_default,
        "IsInitial": domain.is_initial,
        "SupportedServices": list(domain.supported_services),
        "AuthenticationType": domain.authentication_type,
    }


def _record_shape(record: Any) -> Mapping[str, Any]:
    return {
        "RecordType": record.record_type,
        "Label": record.label,
        "SupportedService": record.supported_service,
        "Ttl": record.ttl,
        "IsOptional": record.is_optional,
        "MailExchange": record.mail_exchange,
        "Preference": record.preference,
        "Text": record.text,
    }


assert "get-recipient" in CMDLETS  # the copy answers with the sandbox's own cmdlets
