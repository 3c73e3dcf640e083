"""The dry-run wrapper: any transport, reads passed through, every write refused.

A dry run plans and previews and must never change a tenant; wrapping the
transport makes that a property of the connection, so a bug cannot slip a
write through.
"""

from __future__ import annotations

from remediations.errors import DryRunWrite
from remediations.exchange.cmdlet import Cmdlet, CmdletResult, Transport

__all__ = ["DryRun"]


class DryRun:
    """A transport that sends reads to ``inner`` and refuses writes with :class:`DryRunWrite`."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.name = inner.name
        self.tenant = inner.tenant

    def send(self, cmdlet: Cmdlet) -> CmdletResult:
        """Send a read; refuse a write (nothing is sent)."""
        if cmdlet.is_write:
            raise DryRunWrite(
                f"A dry run does not send writes; {cmdlet.name} was refused and nothing changed.",
                cmdlet=cmdlet,
            )
        return self.inner.send(cmdlet)

    def close(self) -> None:
        """Close the wrapped transport."""
        self.inner.close()
