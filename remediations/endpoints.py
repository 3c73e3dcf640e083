"""Service addresses: which ones point at this machine; the TLS settings the clients share.

A plain ``http://`` endpoint and Invoke's proxies are allowed for loopback addresses only
(local test servers); the targets, the admin API client and the Graph client all ask here.
"""

from __future__ import annotations

import functools
import ipaddress
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import ssl

__all__ = ["is_loopback_host", "is_loopback_url", "tls_context"]


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx's default TLS settings (certificate validation on, certifi's CA bundle), built
    once per process and shared by every client: each client building its own reads the CA
    bundle again, about 50 ms a client (and a fleet run opens two per target)."""
    import httpx

    return httpx.create_ssl_context()


def is_loopback_url(url: str) -> bool:
    """Whether the address points at this machine (127.0.0.0/8, ::1, localhost)."""
    return is_loopback_host(urlsplit(url).hostname or "")


def is_loopback_host(host: str) -> bool:
    """Whether a host name or address is this machine (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
