"""Tenant files: a sandbox organisation written by hand in YAML.

The format (every key but ``organization`` is optional)::

    organization: contoso.com            # the organisation, and its default domain
    tenant_domain: contoso.onmicrosoft.com   # the initial domain (default: <first
                                         # label>.onmicrosoft.com); always accepted, and a
                                         # Graph domain with isInitial
    accepted_domains: [contoso.com]      # defaults to [organization]
    default_domain: contoso.com          # defaults to the first accepted domain
    admin: admin@contoso.onmicrosoft.com # the admin the cmdlets run as (default
                                         # admin@<tenant_domain>); Set-DistributionGroup
                                         # needs -BypassSecurityGroupManagerCheck unless
                                         # the admin is in the group's managed_by
    subscribed_skus:                     # Graph subscribedSkus; defaults to every license
      - ENTERPRISEPACK                   # named below.  A part number, or a mapping
      - {part_number: EMS, sku_id: b05e124f-c7cc-45a0-a6aa-8cf78c946968}  # with its GUID
                                         # (default: Microsoft's for known SKUs, else
                                         # derived from the part number, stable)
    recipients:
      - kind: public-folder              # mailbox | shared-mailbox | mail-user |
                                         # mail-contact | distribution-group |
                                         # security-group | m365-group | public-folder
        name: Escalations                # unique among public folders, and among the
                                         # other recipients (a folder and a group may
                                         # share a name, as in Exchange)
        path: \\Support\\Escalations     # public folders only
        address: escalations@contoso.com # primary SMTP address
        addresses: [esc@contoso.com]     # more proxy addresses
        alias: escalations               # defaults to the address's local part
        display_name: Escalations
        external_address: x@fabrikam.com # mail contacts and mail users
        require_sender_authentication: true   # default: true for groups and
                                              # public folders, false otherwise
        accept_messages_only_from: [cfo@contoso.com]  # senders or groups
        moderation_enabled: true
        moderated_by: [hr@contoso.com]
        bypass_moderation: [ceo@contoso.com]
        members: [cfo@contoso.com]       # groups: members that exist here
        member_count: 5200               # groups: the total, when larger
        managed_by: [hr@contoso.com]     # groups: owners (ManagedBy)
        user:                            # mailboxes and mail users: the directory user
          licenses: [ENTERPRISEPACK]     # assigned directly (part numbers)
          group_licenses:                # assigned through a group (group-based licensing)
            - {sku: ENTERPRISEPACK, group: Licensed Staff}
          account_enabled: true
          synced: false                  # synced from on-premises AD
    transport_rules:
      - name: Block mail to leaver
        sent_to: [jordan.lee@contoso.com]
        from_scope: NotInOrganization    # optional: only senders outside
        reject: {status: 5.7.1, text: This mailbox is no longer in use}
        # or: delete: true
        priority: 0
        enabled: true
        stop_rule_processing: false
    external_senders: [partner@fabrikam.com]   # outside addresses used in examples
    dns:
      domains:                           # Microsoft 365's view (Graph /domains): every
        contoso.com:                     # accepted domain is there, verified, with Email
          verified: true                 # default true
          services: [Email]              # default [Email]
          mx: contoso-com.mail.protection.outlook.com  # the MX record Microsoft 365 asks
          spf: v=spf1 include:spf.protection.outlook.com -all  # for (never derived)
      zones:                             # live DNS, as the sandbox's resolver answers it;
        contoso.com:                     # a name not listed does not exist (NXDOMAIN)
          MX: ["0 contoso-com.mail.protection.outlook.com"]   # "PREFERENCE HOST"
          TXT: ["v=spf1 include:spf.protection.outlook.com -all"]
        mail.contoso.com: {A: [203.0.113.25]}
    connectors:                          # Exchange's own property names (exchange.md 2.2);
      outbound:                          # Get-OutboundConnector fills the defaults in
        - Name: Outbound to on-premises
          ConnectorType: OnPremises      # Partner (default) | OnPremises
          SmartHosts: [mail.contoso.com]
          RecipientDomains: [contoso.com]
          UseMXRecord: false
          CloudServicesMailEnabled: true
          TlsSettings: DomainValidation
          TlsDomain: mail.contoso.com
      inbound:
        - Name: Inbound from on-premises
          ConnectorType: OnPremises
          ConnectorSource: HybridWizard
          SenderDomains: [contoso.com]
          TlsSenderCertificateName: mail.contoso.com
          CloudServicesMailEnabled: true

References (accept lists, moderators, members, managed_by, sent_to, a group
license's group) name recipients of the same file by name, alias, any address
or Guid.  Every recipient gets a stable Guid and, for those in the directory
(mailboxes, mail users, groups), an ExternalDirectoryObjectId, both derived
from names, so the same file always loads to the same tenant.  Every problem is
reported with the file, the entry and the key; a file that contradicts itself
is refused: a key written twice, an address used twice (in any case, primary or
proxy), an address outside the accepted domains on anything but a mail contact
or mail user.  :func:`export_tenant` writes a tenant back in this format.
"""

from __future__ import annotations

import contextlib
import gc
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from remediations.errors import InputError
from remediations.exchange import facts
from remediations.sandbox.cmdlets import candidates, stable_guid
from remediations.sandbox.state import ALL_GROUP_TYPES, SandboxState
from remediations.sandbox.tenant_sections import check_connectors_section, check_dns_section

__all__ = ["DEMO_TENANT", "export_tenant", "load_tenant_file", "tenant_from_mapping"]

DEMO_TENANT = Path(__file__).with_name("demo.yaml")

# kind -> (RecipientType, RecipientTypeDetails, requires authentication by default)
_KINDS: dict[str, tuple[str, str, bool]] = {
    "mailbox": ("UserMailbox", "UserMailbox", facts.DEFAULT_MAILBOX_REQUIRES_AUTH),
    "shared-mailbox": ("UserMailbox", "SharedMailbox", facts.DEFAULT_MAILBOX_REQUIRES_AUTH),
    "mail-user": ("MailUser", "MailUser", False),
    "mail-contact": ("MailContact", "MailContact", False),
    "distribution-group": (
        "MailUniversalDistributionGroup",
        "MailUniversalDistributionGroup",
        facts.DEFAULT_GROUP_REQUIRES_AUTH,
    ),
    "security-group": (
        "MailUniversalSecurityGroup",
        "MailUniversalSecurityGroup",
        facts.DEFAULT_GROUP_REQUIRES_AUTH,
    ),
    "m365-group": (
        "MailUniversalDistributionGroup",
        "GroupMailbox",
        facts.DEFAULT_GROUP_REQUIRES_AUTH,
    ),
    "public-folder": ("PublicFolder", "PublicFolder", facts.DEFAULT_PUBLIC_FOLDER_REQUIRES_AUTH),
}
_TOP_KEYS = frozenset(
    {
        "organization",
        "tenant_domain",
        "server",
        "accepted_domains",
        "recipients",
        "transport_rules",
        "external_senders",
        "dns",
        "connectors",
        "blocked_ips",
        "default_domain",
        "admin",
        "subscribed_skus",
    }
)
_RECIPIENT_KEYS = frozenset(
    {
        "kind",
        "name",
        "path",
        "address",
        "addresses",
        "alias",
        "display_name",
        "external_address",
        "require_sender_authentication",
        "accept_messages_only_from",
        "moderation_enabled",
        "moderated_by",
        "bypass_moderation",
        "members",
        "member_count",
        "managed_by",
        "user",
    }
)
_USER_KEYS = frozenset({"licenses", "group_licenses", "account_enabled", "synced", "upn"})
_RULE_KEYS = frozenset(
    {
        "name",
        "sent_to",
        "from_scope",
        "reject",
        "delete",
        "priority",
        "enabled",
        "mode",
        "comments",
        "stop_rule_processing",
    }
)
# Recipients Entra ID holds as objects of its own (ExternalDirectoryObjectId).
_DIRECTORY_KINDS = frozenset(
    {"mailbox", "shared-mailbox", "mail-user", "distribution-group", "security-group", "m365-group"}
)


def load_tenant_file(path: Path) -> SandboxState:
    """Read a YAML (or JSON) tenant file into a fresh sandbox state.

    A key written twice is an error (YAML alone would keep the last one).
    """
    # parsed in a function of its own, so that the file's bytes and text are let go
    # before the tenant is built (tens of MB for 50,000 recipients)
    with _collector_paused():
        return tenant_from_mapping(_read(path), source=str(path))


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cycle collector while a tenant is parsed and built.

    A tenant of 50,000 recipients is a million new dicts, lists and strings, none
    of them in a reference cycle; the collector would walk them again every few
    thousand allocations (a fifth of the load's time) to free nothing.
    Reference counting still frees everything as usual.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _read(path: Path) -> Any:
    """The tenant file's mapping (JSON by the json module, else YAML)."""
    from remediations.yaml_loader import load_yaml

    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise InputError(f"Cannot read tenant file {path}: it is a folder, not a file.") from None
    except OSError as exc:
        raise InputError(f"Cannot read tenant file {path}: {exc.strerror}.") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: not UTF-8 text (byte {exc.start}); save the tenant file as UTF-8."
        ) from None
    data = _load_json(text)
    if data is None:
        data = load_yaml(text, str(path))
    return data


class _DuplicateKey(Exception):
    """A JSON object names a key twice (YAML's loader then reports where)."""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _DuplicateKey
    return out


def _load_json(text: str) -> Any:
    """A JSON tenant file, parsed by the ``json`` module (many times faster than YAML).

    JSON is YAML too: any text that is not JSON, or that names a key twice,
    gives None, and the YAML loader reads it (and reports its problems with
    their line), so both formats give the same tenant and the same messages.
    """
    import json

    if not text.lstrip().startswith("{"):
        return None
    try:
        return json.loads(text, object_pairs_hook=_pairs)
    except (ValueError, _DuplicateKey, RecursionError):
        return None


def tenant_from_mapping(data: Any, *, source: str = "<tenant>") -> SandboxState:
    """Build a sandbox state from the tenant-file mapping, checking every key."""
    if not isinstance(data, dict) or not isinstance(data.get("organization"), str):
        raise InputError(
            f"{source}: a tenant file is a mapping with at least 'organization: <domain>'."
        )
    _check_keys(data, _TOP_KEYS, source)
    check_dns_section(data.get("dns"), f"{source}: dns")
    check_connectors_section(data.get("connectors"), f"{source}: connectors")
    org: str = data["organization"]
    domains = _strings(data.get("accepted_domains") or [org], f"{source}: accepted_domains")
    initial = data.get("tenant_domain", org.split(".")[0] + facts.INITIAL_DOMAIN_SUFFIX)
    if not isinstance(initial, str) or not initial.lower().endswith(facts.INITIAL_DOMAIN_SUFFIX):
        raise InputError(
            f"{source}: tenant_domain {initial!r} is not an initial domain; give one like "
            f"contoso{facts.INITIAL_DOMAIN_SUFFIX}."
        )
    default = data.get("default_domain", domains[0])
    if not isinstance(default, str) or default.lower() not in {
        d.lower() for d in (*domains, initial)
    }:
        raise InputError(
            f"{source}: default_domain {default!r} is not an accepted domain; give one of "
            f"{', '.join(domains)}."
        )
    listed = [d for d in domains if d.lower() != initial.lower()]
    state = SandboxState.new(
        {
            "organization": org,
            "tenant_domain": initial,
            "admin": _admin(data.get("admin", f"admin@{initial}"), source),
            "server": data.get("server", "AM7PR01MB4321.EURPRD01.PROD.OUTLOOK.COM"),
            "accepted_domains": [
                {
                    "DomainName": d,
                    "DomainType": "Authoritative",
                    "Default": d.lower() == default.lower(),
                    "InitialDomain": d is initial,
                }
                for d in (*listed, initial)
            ],
            "subscribed_skus": _subscribed_skus(data, source),
            "external_senders": _strings(
                data.get("external_senders", []), f"{source}: external_senders"
            ),
            "dns": data.get("dns", {}),
            "connectors": data.get("connectors", {}),
            "blocked_ips": data.get("blocked_ips", []),
        }
    )
    entries = data.get("recipients") or []
    if not isinstance(entries, list):
        raise InputError(f"{source}: recipients must be a list of mappings.")
    state.conn.execute("BEGIN")  # one transaction: a large tenant loads in one write
    try:
        # Built in memory and written at the end in a few executemany calls (state.bulk).
        with _collector_paused(), state.bulk():
            guids = [
                _add_recipient(state, entry, f"{source}: recipients[{index}]")
                for index, entry in enumerate(entries)
            ]
            for index, entry in enumerate(entries):
                _link_recipient(state, guids[index], entry, f"{source}: recipients[{index}]")
            rules = data.get("transport_rules") or []
            if not isinstance(rules, list):
                raise InputError(f"{source}: transport_rules must be a list of mappings.")
            for index, entry in enumerate(rules):
                _add_rule(state, entry, index, f"{source}: transport_rules[{index}]")
        state.flush()
    except BaseException:
        state.conn.execute("ROLLBACK")
        raise
    state.conn.execute("COMMIT")
    return state


def _check_keys(entry: dict[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise InputError(
            f"{where}: unknown key {unknown[0]!r}; expected one of {', '.join(sorted(allowed))}."
        )


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{where} must be a list of strings.")
    return list(value)


def _admin(value: Any, source: str) -> str:
    if not isinstance(value, str) or "@" not in value:
        raise InputError(f"{source}: admin must be an email address, e.g. admin@contoso.com.")
    return value


def _subscribed_skus(data: dict[str, Any], source: str) -> list[dict[str, str]]:
    """The tenant's SKUs (skuId GUID and skuPartNumber); default: every license named."""
    where = f"{source}: subscribed_skus"
    given = data.get("subscribed_skus")
    if given is None:
        parts: list[str] = []
        for entry in data.get("recipients") or []:
            user = entry.get("user") if isinstance(entry, dict) else None
            if not isinstance(user, dict):
                continue
            named = list(user.get("licenses") or [])
            for item in user.get("group_licenses") or []:
                if isinstance(item, dict):
                    named.append(item.get("sku"))
            parts += [p for p in named if isinstance(p, str) and p not in parts]
        given = parts
    if not isinstance(given, list):
        raise InputError(f"{where} must be a list of part numbers or mappings.")
    skus: list[dict[str, str]] = []
    for index, item in enumerate(given):
        if isinstance(item, str):
            item = {"part_number": item}
        if not isinstance(item, dict) or not isinstance(item.get("part_number"), str):
            raise InputError(f"{where}[{index}] is a part number or {{part_number, sku_id}}.")
        _check_keys(item, frozenset({"part_number", "sku_id"}), f"{where}[{index}]")
        part = item["part_number"]
        sku_id = str(
            item.get("sku_id") or facts.KNOWN_SKU_IDS.get(part) or stable_guid("Sku", part)
        )
        try:
            sku_id = str(uuid.UUID(sku_id))
        except ValueError:
            raise InputError(
                f"{where}[{index}] ({part}): sku_id {sku_id!r} is not a GUID."
            ) from None
        if any(s["SkuPartNumber"].lower() == part.lower() for s in skus):
            raise InputError(f"{where}[{index}]: {part} is listed twice.")
        skus.append({"SkuId": sku_id, "SkuPartNumber": part})
    return skus


def _sku_id(state: SandboxState, part: str, where: str) -> str:
    for sku in state.data["subscribed_skus"]:
        if sku["SkuPartNumber"].lower() == part.lower():
            return str(sku["SkuId"])
    raise InputError(f"{where}: {part!r} is not one of the tenant's subscribed_skus.")


def _add_recipient(state: SandboxState, entry: Any, where: str) -> str:
    if not isinstance(entry, dict):
        raise InputError(f"{where}: each recipient is a mapping.")
    _check_keys(entry, _RECIPIENT_KEYS, where)
    kind = entry.get("kind")
    if kind not in _KINDS:
        raise InputError(f"{where}: kind must be one of {', '.join(_KINDS)}; got {kind!r}.")
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise InputError(f"{where}: 'name' is required.")
    rtype, details, default_auth = _KINDS[kind]
    # Mail-enabled public folders live in a container of their own: a folder and a group
    # may share a name; two folders, or two other recipients, may not.
    folder = details == "PublicFolder"
    if any(
        (r["RecipientTypeDetails"] == "PublicFolder") == folder for r in state.find(name, ("name",))
    ):
        raise InputError(f"{where}: the name {name!r} is used twice.")
    for key in ("alias", "display_name", "external_address"):
        if key in entry and not isinstance(entry[key], str):
            raise InputError(f"{where} ({name}): {key!r} must be a text.")
    external = entry.get("external_address")
    address = entry.get("address") or external
    if not isinstance(address, str) or "@" not in address:
        raise InputError(f"{where} ({name}): 'address' must be an email address.")
    proxies = [f"SMTP:{address}"] + [
        f"smtp:{a}" for a in _strings(entry.get("addresses", []), f"{where}: addresses")
    ]
    rec: dict[str, Any] = {
        "Guid": stable_guid(state.organization, details, name),
        "Name": name,
        "Alias": entry.get("alias") or address.split("@")[0],
        "DisplayName": entry.get("display_name") or name,
        "PrimarySmtpAddress": address,
        "EmailAddresses": proxies,
        "RecipientType": rtype,
        "RecipientTypeDetails": details,
        "RequireSenderAuthenticationEnabled": bool(
            entry.get("require_sender_authentication", default_auth)
        ),
        "AcceptMessagesOnlyFrom": [],
        "AcceptMessagesOnlyFromDLMembers": [],
        "ModerationEnabled": bool(entry.get("moderation_enabled", False)),
        "ModeratedBy": [],
        "BypassModerationFromSendersOrMembers": [],
    }
    if kind == "public-folder":
        path = entry.get("path")
        if not isinstance(path, str) or not path.startswith("\\"):
            raise InputError(f"{where} ({name}): public folders need 'path' like '\\Top\\Name'.")
        rec["FolderPath"] = path
    if kind in ("mail-contact", "mail-user"):
        rec["ExternalEmailAddress"] = f"SMTP:{external or address}"
    if kind in _DIRECTORY_KINDS and "user" not in entry:
        rec["ExternalDirectoryObjectId"] = stable_guid(state.organization, "Directory", name)
    if details in ALL_GROUP_TYPES:
        rec["ManagedBy"] = []
        rec["Members"] = []
        rec["MemberCount"] = 0
        rec["GroupType"] = "Universal, SecurityEnabled" if kind == "security-group" else "Universal"
    if "user" in entry:
        if kind not in ("mailbox", "shared-mailbox", "mail-user"):
            raise InputError(f"{where} ({name}): only mailboxes and mail users have a 'user'.")
        _add_user(state, rec, entry["user"], f"{where} ({name}): user")
    _check_addresses(state, rec, kind, f"{where} ({name})")
    state.add_recipient(rec)
    return str(rec["Guid"])


def _check_addresses(state: SandboxState, rec: dict[str, Any], kind: str, where: str) -> None:
    """No address twice (in any case, primary or proxy); own addresses in accepted domains."""
    seen: set[str] = set()
    accepted = {d["DomainName"].lower() for d in state.accepted_domains}
    addresses = [proxy.partition(":")[2] for proxy in rec["EmailAddresses"]]
    external = rec.get("ExternalEmailAddress", "").partition(":")[2]
    if external and external.lower() not in {a.lower() for a in addresses}:
        addresses.append(external)
    for address in addresses:
        key = address.lower()
        if key in seen:
            raise InputError(f"{where}: the address {address!r} is listed twice.")
        seen.add(key)
        owner = state.find(key, ("smtp",))
        if owner:
            raise InputError(
                f"{where}: the address {address!r} is already the address of "
                f"{owner[0]['Name']!r}; every address belongs to one recipient."
            )
        domain = key.rpartition("@")[2]
        if kind not in ("mail-contact", "mail-user") and domain not in accepted:
            raise InputError(
                f"{where}: the address {address!r} is not in an accepted domain of this "
                f"tenant ({', '.join(sorted(accepted))}); only mail contacts and mail users "
                "have outside addresses."
            )


def _add_user(state: SandboxState, rec: dict[str, Any], entry: Any, where: str) -> None:
    if not isinstance(entry, dict):
        raise InputError(f"{where} must be a mapping.")
    _check_keys(entry, _USER_KEYS, where)
    upn = entry.get("upn") or rec["PrimarySmtpAddress"]
    if not isinstance(upn, str) or "@" not in upn:
        raise InputError(f"{where}: upn must be a user principal name like alex@contoso.com.")
    other = state.find_user(upn)
    if other is not None:
        raise InputError(
            f"{where}: the user principal name {upn!r} is already {other['DisplayName']!r}'s; "
            "every user has one of its own."
        )
    rec["UserPrincipalName"] = upn
    user_id = stable_guid(state.organization, "User", upn)
    rec["ExternalDirectoryObjectId"] = user_id
    direct = [
        _sku_id(state, part, f"{where}: licenses")
        for part in _strings(entry.get("licenses", []), f"{where}: licenses")
    ]
    group_licenses = entry.get("group_licenses", [])
    if not isinstance(group_licenses, list) or not all(
        isinstance(g, dict) and set(g) == {"sku", "group"} for g in group_licenses
    ):
        raise InputError(f"{where}: group_licenses is a list of {{sku, group}} mappings.")
    user = {
        "Id": user_id,
        "UserPrincipalName": upn,
        "DisplayName": rec["DisplayName"],
        "GivenName": None,
        "Surname": None,
        "Mail": rec["PrimarySmtpAddress"],
        "AccountEnabled": bool(entry.get("account_enabled", True)),
        "AssignedLicenses": list(dict.fromkeys(direct)),
        "LicenseAssignmentStates": [{"SkuId": s, "AssignedByGroup": None} for s in direct],
        "OnPremisesSyncEnabled": bool(entry.get("synced", False)),
    }
    if group_licenses:
        user["_group_licenses"] = group_licenses  # resolved once every recipient exists
    state.add_user(user)


def _refs(state: SandboxState, values: Any, where: str) -> list[str]:
    if values == []:  # most recipients name no one
        return []
    guids = []
    for value in _strings(values, where):
        found = candidates(state, value, None)
        if len(found) != 1:
            problem = "names no recipient" if not found else "names several recipients"
            raise InputError(f"{where}: {value!r} {problem} in this file.")
        guids.append(found[0]["Guid"])
    return guids


def _link_recipient(state: SandboxState, guid: str, entry: dict[str, Any], where: str) -> None:
    rec = state.by_guid(guid)
    assert rec is not None
    accept = _refs(
        state, entry.get("accept_messages_only_from", []), f"{where}: accept_messages_only_from"
    )
    rec["AcceptMessagesOnlyFrom"] = [
        g
        for g in accept
        if state.by_guid(g)["RecipientTypeDetails"] not in ALL_GROUP_TYPES  # type: ignore[index]
    ]
    rec["AcceptMessagesOnlyFromDLMembers"] = [
        g for g in accept if g not in rec["AcceptMessagesOnlyFrom"]
    ]
    rec["ModeratedBy"] = _refs(state, entry.get("moderated_by", []), f"{where}: moderated_by")
    rec["BypassModerationFromSendersOrMembers"] = _refs(
        state, entry.get("bypass_moderation", []), f"{where}: bypass_moderation"
    )
    if "Members" in rec:
        rec["Members"] = _refs(state, entry.get("members", []), f"{where}: members")
        count = entry.get("member_count", len(rec["Members"]))
        if not isinstance(count, int) or count < len(rec["Members"]):
            raise InputError(
                f"{where}: member_count must be a whole number at least the number of members."
            )
        rec["MemberCount"] = count
        rec["ManagedBy"] = _refs(state, entry.get("managed_by", []), f"{where}: managed_by")
    elif "members" in entry or "member_count" in entry or "managed_by" in entry:
        raise InputError(f"{where}: only groups have members and managed_by.")
    if "UserPrincipalName" in rec and entry["user"].get("group_licenses"):
        _link_group_licenses(state, rec, f"{where} ({rec['Name']}): user: group_licenses")


def _link_group_licenses(state: SandboxState, rec: dict[str, Any], where: str) -> None:
    user = state.find_user(rec["UserPrincipalName"])
    assert user is not None
    for item in user.pop("_group_licenses"):
        sku = _sku_id(state, str(item["sku"]), where)
        (guid,) = _refs(state, [item["group"]], where)
        group = state.by_guid(guid)
        assert group is not None
        if group["RecipientTypeDetails"] not in ALL_GROUP_TYPES:
            raise InputError(f"{where}: {item['group']!r} is not a group.")
        user["LicenseAssignmentStates"].append(
            {"SkuId": sku, "AssignedByGroup": group["ExternalDirectoryObjectId"]}
        )
        if sku not in user["AssignedLicenses"]:
            user["AssignedLicenses"].append(sku)


def _add_rule(state: SandboxState, entry: Any, index: int, where: str) -> None:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise InputError(f"{where}: each rule is a mapping with a 'name'.")
    _check_keys(entry, _RULE_KEYS, where)
    reject = entry.get("reject")
    if reject is not None and not isinstance(reject, dict):
        raise InputError(f"{where}: reject is a mapping with 'status' and 'text'.")
    state.transport_rules.append(
        {
            "Guid": stable_guid(state.organization, "TransportRule", entry["name"]),
            "Name": entry["name"],
            "Priority": entry.get("priority", index),
            "State": "Enabled" if entry.get("enabled", True) else "Disabled",
            "Mode": entry.get("mode", "Enforce"),
            "SentTo": _refs(state, entry.get("sent_to", []), f"{where}: sent_to"),
            "FromScope": _from_scope(entry.get("from_scope"), f"{where}: from_scope"),
            "RejectMessageEnhancedStatusCode": (
                str(reject.get("status", facts.DEFAULT_REJECT_CODE)) if reject else None
            ),
            "RejectMessageReasonText": (
                str(reject.get("text", facts.DEFAULT_REJECT_TEXT)) if reject else None
            ),
            "DeleteMessage": bool(entry.get("delete", False)),
            "StopRuleProcessing": bool(entry.get("stop_rule_processing", False)),
            "Comments": str(entry.get("comments", "")),
        }
    )


def _from_scope(value: Any, where: str) -> str | None:
    if value in (None, "InOrganization", "NotInOrganization"):
        return value  # type: ignore[no-any-return]
    raise InputError(f"{where} is {value!r}; give InOrganization or NotInOrganization.")


# --- export: the tenant back in this format --------------------------------------------

_DEFAULT_SERVER = "AM7PR01MB4321.EURPRD01.PROD.OUTLOOK.COM"


def export_tenant(state: SandboxState) -> dict[str, Any]:
    """The whole tenant as a tenant-file mapping: ``tenant_from_mapping`` gives it back."""
    kinds = {(rtype, details): kind for kind, (rtype, details, _) in _KINDS.items()}
    org = state.organization
    out: dict[str, Any] = {
        "organization": org,
        "tenant_domain": state.data.get("tenant_domain", org.split(".")[0] + ".onmicrosoft.com"),
        "server": state.data.get("server", _DEFAULT_SERVER),
        "accepted_domains": [
            d["DomainName"] for d in state.accepted_domains if not d.get("InitialDomain")
        ],
    }
    default = next((d["DomainName"] for d in state.accepted_domains if d.get("Default")), None)
    if default is not None:
        out["default_domain"] = default
    if state.data.get("admin"):
        out["admin"] = state.data["admin"]
    skus = state.data.get("subscribed_skus") or []
    out["subscribed_skus"] = [
        {"part_number": s["SkuPartNumber"], "sku_id": s["SkuId"]} for s in skus
    ]
    users = {u["UserPrincipalName"].lower(): u for u in state.users}
    recipients = []
    for rec in state.recipients:
        kind = kinds.get((rec["RecipientType"], rec["RecipientTypeDetails"]))
        if kind is None:
            raise InputError(
                f"The recipient {rec['Name']!r} is a {rec['RecipientTypeDetails']}, which a "
                "tenant file cannot describe yet."
            )
        recipients.append(_export_recipient(state, rec, kind, users))
    out["recipients"] = recipients
    out["transport_rules"] = [_export_rule(state, rule) for rule in state.transport_rules]
    for key in ("external_senders", "dns", "connectors", "blocked_ips"):
        if state.data.get(key):
            out[key] = state.data[key]
    return out


def _ref(state: SandboxState, guid: str) -> str:
    """How a tenant file names a recipient: its name when that is unambiguous, else its Guid."""
    rec = state.by_guid(guid)
    if rec is not None and [r["Guid"] for r in candidates(state, rec["Name"], None)] == [guid]:
        return str(rec["Name"])
    return guid


def _export_recipient(
    state: SandboxState, rec: dict[str, Any], kind: str, users: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    primary = rec["PrimarySmtpAddress"]
    entry: dict[str, Any] = {"kind": kind, "name": rec["Name"]}
    if "FolderPath" in rec:
        entry["path"] = rec["FolderPath"]
    entry["address"] = primary
    more = [p.partition(":")[2] for p in rec.get("EmailAddresses", ())[1:]]
    if more:
        entry["addresses"] = more
    entry["alias"] = rec.get("Alias", "")
    entry["display_name"] = rec.get("DisplayName", rec["Name"])
    external = str(rec.get("ExternalEmailAddress", "")).partition(":")[2]
    if external and external != primary:
        entry["external_address"] = external
    entry["require_sender_authentication"] = bool(rec.get("RequireSenderAuthenticationEnabled"))
    accept = [
        *rec.get("AcceptMessagesOnlyFrom", ()),
        *rec.get("AcceptMessagesOnlyFromDLMembers", ()),
    ]
    for key, value in (
        ("accept_messages_only_from", accept),
        ("moderated_by", rec.get("ModeratedBy", ())),
        ("bypass_moderation", rec.get("BypassModerationFromSendersOrMembers", ())),
    ):
        if value:
            entry[key] = [_ref(state, g) for g in value]
    if rec.get("ModerationEnabled"):
        entry["moderation_enabled"] = True
    if "Members" in rec:
        if rec["Members"]:
            entry["members"] = [_ref(state, g) for g in rec["Members"]]
        if rec.get("MemberCount", 0) != len(rec["Members"]):
            entry["member_count"] = rec["MemberCount"]
        if rec.get("ManagedBy"):
            entry["managed_by"] = [_ref(state, g) for g in rec["ManagedBy"]]
    user = users.get(str(rec.get("UserPrincipalName", "")).lower())
    if user is not None:
        entry["user"] = _export_user(state, user)
        if user["UserPrincipalName"] != primary:
            entry["user"]["upn"] = user["UserPrincipalName"]
    return entry


def _export_user(state: SandboxState, user: dict[str, Any]) -> dict[str, Any]:
    parts = {str(s["SkuId"]).lower(): s["SkuPartNumber"] for s in state.data["subscribed_skus"]}
    states = user.get("LicenseAssignmentStates")
    if states is None:
        states = [{"SkuId": s, "AssignedByGroup": None} for s in user["AssignedLicenses"]]
    out: dict[str, Any] = {
        "licenses": [
            parts.get(str(s["SkuId"]).lower(), s["SkuId"])
            for s in states
            if not s["AssignedByGroup"]
        ],
        "account_enabled": bool(user["AccountEnabled"]),
        "synced": bool(user["OnPremisesSyncEnabled"]),
    }
    inherited = []
    for item in states:
        if item["AssignedByGroup"]:
            groups = state.find(str(item["AssignedByGroup"]), ("directory",))
            inherited.append(
                {
                    "sku": parts.get(str(item["SkuId"]).lower(), item["SkuId"]),
                    "group": _ref(state, groups[0]["Guid"]) if groups else item["AssignedByGroup"],
                }
            )
    if inherited:
        out["group_licenses"] = inherited
    return out


def _export_rule(state: SandboxState, rule: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": rule["Name"], "priority": rule["Priority"]}
    if rule.get("SentTo"):
        entry["sent_to"] = [_ref(state, g) for g in rule["SentTo"]]
    if rule.get("FromScope"):
        entry["from_scope"] = rule["FromScope"]
    if rule.get("RejectMessageEnhancedStatusCode"):
        entry["reject"] = {
            "status": rule["RejectMessageEnhancedStatusCode"],
            "text": rule.get("RejectMessageReasonText") or facts.DEFAULT_REJECT_TEXT,
        }
    if rule.get("DeleteMessage"):
        entry["delete"] = True
    entry["enabled"] = rule.get("State", "Enabled") == "Enabled"
    entry["mode"] = rule.get("Mode", "Enforce")
    if rule.get("StopRuleProcessing"):
        entry["stop_rule_processing"] = True
    if rule.get("Comments"):
        entry["comments"] = rule["Comments"]
    return entry
