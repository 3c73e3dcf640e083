"""DNS lookups for the domain checks: one small protocol, two implementations.

* :class:`SystemResolver` asks the system's resolver through dnspython (real
  domains).  dnspython is imported inside it only, so sandbox runs, ``--help``
  and ``--list`` never load it.
* :class:`ZoneResolver` answers from zone data held in memory: the sandbox
  target uses it over the tenant file's ``dns.zones``, so sandbox runs and
  tests never query the internet.

Both answer the same way: records as text (MX ``"PREFERENCE HOST"``, TXT the
strings joined, A the dotted address), an empty tuple when the name or the
record type does not exist (NXDOMAIN, no answer), and :class:`DnsLookupFailed`
when the question could not be answered (timeout, SERVFAIL, no server): a
failed lookup is never taken for "no records".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal, Protocol

from remediations.errors import TransportError

__all__ = [
    "DnsLookupFailed",
    "RecordType",
    "Resolver",
    "SystemResolver",
    "ZoneResolver",
    "normalize_name",
]

RecordType = Literal["MX", "TXT", "A"]


class DnsLookupFailed(TransportError):
    """A DNS question got no usable answer (timeout, SERVFAIL, no server); exit 1."""

    def __init__(self, message: str, *, name: str, rdtype: str) -> None:
        super().__init__(message)
        self.name = name
        self.rdtype = rdtype


class Resolver(Protocol):
    """What the domain checks ask DNS."""

    def resolve(self, name: str, rdtype: RecordType) -> tuple[str, ...]:
        """The records of one type at one name; () when there are none.

        Raises:
            DnsLookupFailed: the question could not be answered.
        """
        ...


def normalize_name(name: str) -> str:
    """A DNS name as compared here: lower case, no trailing dot."""
    return name.strip().rstrip(".").lower()


class SystemResolver:
    """dnspython against the system's resolver (``/etc/resolv.conf``) or a given one.

    Args:
        resolver: a ``dns.resolver.Resolver`` to use (tests point one at a
            local server); by default one configured from the system.
        lifetime: seconds to wait for one answer, retries included.
    """

    def __init__(self, resolver: Any = None, *, lifetime: float = 5.0) -> None:
        if resolver is None:
            import dns.resolver

            resolver = dns.resolver.Resolver()
        resolver.lifetime = lifetime
        self._resolver = resolver

    def resolve(self, name: str, rdtype: RecordType) -> tuple[str, ...]:
        """Ask once; NXDOMAIN and "no answer" are no records, anything else fails."""
        import dns.exception
        import dns.resolver

        qname = normalize_name(name) + "."
        try:
            answer = self._resolver.resolve(qname, rdtype, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return ()
        except dns.exception.Timeout:
            raise DnsLookupFailed(
                f"DNS lookup of {rdtype} {normalize_name(name)} timed out; "
                "the answer is unknown, not absent.",
                name=name,
                rdtype=rdtype,
            ) from None
        except dns.resolver.NoNameservers as exc:
            raise DnsLookupFailed(
                f"DNS lookup of {rdtype} {normalize_name(name)} failed: no server answered "
                f"it ({_first_line(exc)}); the answer is unknown, not absent.",
                name=name,
                rdtype=rdtype,
            ) from None
        except dns.exception.DNSException as exc:
            raise DnsLookupFailed(
                f"DNS lookup of {rdtype} {normalize_name(name)} failed: {_first_line(exc)}.",
                name=name,
                rdtype=rdtype,
            ) from None
        return tuple(_text(rdtype, rdata) for rdata in answer)


class ZoneResolver:
    """Answers from zone data: ``{name: {"MX": ["0 host"], "TXT": [...], "A": [...]}}``.

    A name the zones do not hold does not exist (NXDOMAIN: no records).
    ``failing`` questions (``"MX contoso.com"``) fail with :class:`DnsLookupFailed`,
    as a server that times out would.
    """

    def __init__(
        self, zones: Mapping[str, Mapping[str, Iterable[str]]], *, failing: Iterable[str] = ()
    ) -> None:
        self._zones = {
            normalize_name(name): {kind.upper(): tuple(values) for kind, values in records.items()}
            for name, records in zones.items()
        }
        self._failing = {_question(q) for q in failing}

    def resolve(self, name: str, rdtype: RecordType) -> tuple[str, ...]:
        """The zone's records of that type; () for a name or a type it does not hold."""
        key = normalize_name(name)
        if f"{rdtype} {key}" in self._failing:
            raise DnsLookupFailed(
                f"DNS lookup of {rdtype} {key} timed out; the answer is unknown, not absent.",
                name=name,
                rdtype=rdtype,
            )
        records = self._zones.get(key, {}).get(rdtype, ())
        if rdtype == "MX":
            return tuple(_mx_text(record) for record in records)
        return records


_MX = re.compile(r"^\s*(\d{1,5})\s+(\S+)\s*$")


def _mx_text(record: str) -> str:
    match = _MX.match(record)
    if match is None:
        return record
    return f"{int(match.group(1))} {normalize_name(match.group(2))}"


def _question(text: str) -> str:
    rdtype, _, name = text.strip().partition(" ")
    return f"{rdtype.upper()} {normalize_name(name)}"


def _text(rdtype: RecordType, rdata: Any) -> str:
    if rdtype == "MX":
        return f"{rdata.preference} {normalize_name(rdata.exchange.to_text())}"
    if rdtype == "TXT":
        # RFC 7208 3.3: a record's strings are joined with nothing between them.
        return b"".join(rdata.strings).decode("utf-8", errors="replace")
    return str(rdata.address)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0].rstrip(".")
