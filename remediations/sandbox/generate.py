"""Large, valid tenant files for benchmarks and scale tests (``invoke sandbox.generate``).

:func:`generate_tenant` builds a tenant-file mapping (the format of
:mod:`remediations.sandbox.tenant_file`) of any size, the same for the same
size, member count and seed.  Most recipients are licensed user mailboxes;
the rest are distribution groups of ten members, Microsoft 365 groups,
mail-enabled public folders, mail contacts (the known partners) and one
group, ``Everyone``, with ``members`` real members.  Every cause ``scan``
reports is planted a known number of times (:attr:`GeneratedTenant.planted`):
folders, groups and mailboxes that require authenticated senders, recipients
with an accept list, moderated groups, leavers (disabled and unlicensed) and
an enabled rule that rejects mail.  The DNS and connectors are correct, so
the domain checks pass.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from remediations.errors import InputError

__all__ = ["MIN_RECIPIENTS", "GeneratedTenant", "generate_tenant", "write_tenant_file"]

#: the smallest tenant that holds one of every planted cause
MIN_RECIPIENTS = 50

_ORG = "contoso.com"
_SKU = {"part_number": "ENTERPRISEPACK", "sku_id": "6fd2c87f-b296-42f0-b197-1e91e994b900"}


@dataclass(slots=True)
class GeneratedTenant:
    """A generated tenant-file mapping and what was planted in it."""

    mapping: dict[str, Any]
    #: scan's cause id -> how many objects have it
    planted: Counter[str] = field(default_factory=Counter)
    #: an address of each kind, for benchmarks (e.g. "group-auth" -> a group to open)
    examples: dict[str, str] = field(default_factory=dict)


def generate_tenant(
    recipients: int, *, members: int | None = None, seed: int = 1
) -> GeneratedTenant:
    """A tenant of ``recipients`` recipients; ``Everyone`` has ``members`` real members.

    ``members`` defaults to every user mailbox; it may name up to every other
    recipient (mailboxes first, then contacts, folders and groups).

    Raises:
        InputError: a size out of range (exit 2).
    """
    if recipients < MIN_RECIPIENTS:
        raise InputError(
            f"--recipients {recipients} is too small; give {MIN_RECIPIENTS} or more "
            "(one of every planted cause)."
        )
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    folders = max(2, recipients // 200)
    unified = max(2, recipients // 200)
    contacts = max(2, min(20, recipients // 100))
    groups = max(4, recipients // 25)
    mailboxes = recipients - folders - unified - contacts - groups - 1
    if members is None:
        members = mailboxes
    if not 0 <= members <= recipients - 1:
        raise InputError(
            f"--members {members} is out of range; give 0 to {recipients - 1} (every other "
            "recipient of the tenant)."
        )
    planted: Counter[str] = Counter()
    examples: dict[str, str] = {}

    def mailbox_address(i: int) -> str:
        return f"user{i:06}@{_ORG}"

    out: list[dict[str, Any]] = []
    leavers: list[str] = []
    for i in range(mailboxes):
        address = mailbox_address(i)
        entry: dict[str, Any] = {
            "kind": "mailbox",
            "name": f"User {i:06}",
            "address": address,
            "user": {"licenses": ["ENTERPRISEPACK"]},
        }
        if i % 200 in (37, 38):  # a leaver: disabled, license removed
            entry["user"] = {"licenses": [], "account_enabled": False}
            leavers.append(address)
        elif i % 250 == 24:
            entry["require_sender_authentication"] = True
            planted["recipient-auth"] += 1
            examples.setdefault("recipient-auth", address)
        out.append(entry)
    # one leaver is already blocked by a rule; the others are findings
    blocked = leavers[:1]
    planted["disabled-account"] += len(leavers) - len(blocked)
    for i in range(contacts):
        out.append(
            {
                "kind": "mail-contact",
                "name": f"Partner {i:04}",
                "address": f"partner{i:04}@fabrikam.com",
            }
        )
    for i in range(folders):
        path = f"\\Support\\Queue {i:05}"
        auth = i % 4 == 0
        out.append(
            {
                "kind": "public-folder",
                "name": f"Queue {i:05}",
                "path": path,
                "address": f"queue{i:05}@{_ORG}",
                "require_sender_authentication": auth,
            }
        )
        if auth:
            planted["public-folder-auth"] += 1
            examples.setdefault("public-folder-auth", path)
    for i in range(unified):
        auth = i % 3 == 0
        out.append(
            {
                "kind": "m365-group",
                "name": f"Team {i:05}",
                "address": f"team{i:05}@{_ORG}",
                "require_sender_authentication": auth,
                "members": [mailbox_address(rng.randrange(mailboxes)) for _ in range(5)],
            }
        )
        if auth:
            planted["group-auth"] += 1
    for i in range(groups):
        address = f"group{i:06}@{_ORG}"
        entry = {
            "kind": "distribution-group",
            "name": f"Group {i:06}",
            "address": address,
            "require_sender_authentication": False,
            "members": sorted({mailbox_address(rng.randrange(mailboxes)) for _ in range(10)}),
        }
        if i % 15 == 1:  # restricted: an accept list (and authentication, as is usual)
            entry["require_sender_authentication"] = True
            entry["accept_messages_only_from"] = [mailbox_address(rng.randrange(mailboxes))]
            planted["restricted-recipient"] += 1
            examples.setdefault("restricted-recipient", address)
        elif i % 10 == 3:
            entry["require_sender_authentication"] = True
            planted["group-auth"] += 1
            examples.setdefault("group-auth", address)
        if i % 20 == 2:
            entry["moderation_enabled"] = True
            entry["moderated_by"] = [mailbox_address(rng.randrange(mailboxes))]
            planted["large-group-moderation"] += 1
            examples.setdefault("large-group-moderation", address)
        out.append(entry)
    everyone_members = [e["address"] for e in out[:members]]
    out.append(
        {
            "kind": "distribution-group",
            "name": "Everyone",
            "address": f"everyone@{_ORG}",
            "require_sender_authentication": False,
            "members": everyone_members,
        }
    )
    if members > 5000:  # facts.LARGE_GROUP_MEMBERS: held for a moderator
        planted["large-group-moderation"] += 1
    planted["transport-rule"] += 1
    examples["everyone"] = f"everyone@{_ORG}"
    mapping: dict[str, Any] = {
        "organization": _ORG,
        "tenant_domain": "contoso.onmicrosoft.com",
        "admin": "admin@contoso.onmicrosoft.com",
        "subscribed_skus": [_SKU],
        "accepted_domains": [_ORG],
        "external_senders": ["partner0000@fabrikam.com"],
        "recipients": out,
        "transport_rules": [
            {
                "name": f"Block mail to leaver {blocked[0]}",
                "sent_to": blocked,
                "reject": {"status": "5.7.1", "text": "This mailbox is no longer in use"},
            },
            {
                "name": "Reject mail to the archive",
                "sent_to": [mailbox_address(0)],
                "from_scope": "NotInOrganization",
                "reject": {"status": "5.7.1", "text": "Not accepted from outside"},
            },
        ],
        "dns": {
            "domains": {
                _ORG: {
                    "mx": "contoso-com.mail.protection.outlook.com",
                    "spf": "v=spf1 include:spf.protection.outlook.com -all",
                }
            },
            "zones": {
                _ORG: {
                    "MX": ["0 contoso-com.mail.protection.outlook.com"],
                    "TXT": ["v=spf1 include:spf.protection.outlook.com -all"],
                }
            },
        },
    }
    return GeneratedTenant(mapping=mapping, planted=planted, examples=examples)


def write_tenant_file(mapping: dict[str, Any], path: Path) -> None:
    """Write a tenant-file mapping as YAML (libyaml's emitter when installed)."""
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    try:
        with path.open("w", encoding="utf-8") as handle:
            yaml.dump(
                mapping,
                handle,
                Dumper=dumper,
                sort_keys=False,
                allow_unicode=True,
                width=100,
                default_flow_style=None,
            )
    except OSError as exc:
        raise InputError(f"Cannot write --output {path}: {exc.strerror}.") from None
