"""Service addresses: which ones point at this machine.

A plain ``http://`` endpoint and Invoke's proxies are allowed for loopback addresses only
(local test servers); the targets, the admin API client and the Graph client all ask here.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

__all__ = ["is_loopback_host", "is_loopback_url"]


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
