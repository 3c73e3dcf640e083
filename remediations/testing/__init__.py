"""Loopback servers that speak what real tenants speak, backed by the sandbox's semantics.

For tests, and for anyone who wants to try the real clients without a tenant
(as ``structlog.testing`` ships with structlog): :class:`LoopbackTenant`
serves Exchange Online's admin API (``InvokeCommand``) and the slice of
Microsoft Graph the toolkit uses on ``127.0.0.1``, running each call through
a sandbox tenant, with a request log and injectable faults.

Nothing here is imported by the toolkit's own runs.
"""

from __future__ import annotations

from remediations.testing.tenant_server import Fault, LoggedRequest, LoopbackTenant

__all__ = ["Fault", "LoggedRequest", "LoopbackTenant"]
