"""A recording transport: wraps any transport, keeps every cmdlet sent, can refuse writes.

What a test (or a dry exercise against a real tenant) wants to know about a run's
conversation with the tenant: which cmdlets were sent, in order, which were reads and
which writes, and what came back.  It adds nothing to the cmdlets and hides nothing
of the answers: an error from the wrapped transport is recorded and raised as is::

    from remediations.testing import RecordingTransport

    recording = RecordingTransport(SandboxTransport(path))
    run_action(action, wish, transport=recording, audit=audit, dry_run=False)
    assert [c.name for c in recording.writes] == ["Set-MailPublicFolder"]

It has no ``fork``: like a real tenant it cannot be copied, so a playbook run over it
plans each step on the live state.  ``refuse_writes=True`` refuses every write (nothing
is sent, :class:`~remediations.errors.PermissionDenied` is raised, as a role without
write rights would); ``fail`` returns an error to raise instead of sending a cmdlet
(``None`` sends it), to play a tenant that answers differently from the one wrapped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from remediations.errors import PermissionDenied, TransportError
from remediations.exchange.cmdlet import Cmdlet, CmdletResult, Transport

__all__ = ["RecordingTransport", "Sent"]


@dataclass(frozen=True)
class Sent:
    """One cmdlet the transport was asked to send, and what became of it."""

    cmdlet: Cmdlet
    #: what the tenant answered; None when it raised
    result: CmdletResult | None = None
    #: the error raised (by the tenant, ``fail``, or a refused write); None on success
    error: TransportError | None = None
    #: False when the cmdlet never reached the wrapped transport (refused or ``fail``)
    delivered: bool = True


class RecordingTransport:
    """Any :class:`~remediations.exchange.cmdlet.Transport`, with every cmdlet recorded."""

    def __init__(
        self,
        inner: Transport,
        *,
        refuse_writes: bool = False,
        fail: Callable[[Cmdlet], TransportError | None] | None = None,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.tenant = inner.tenant
        self.refuse_writes = refuse_writes
        self.fail = fail
        #: every cmdlet asked for, in order, with its answer or error
        self.sent: list[Sent] = []

    @property
    def cmdlets(self) -> list[Cmdlet]:
        """Every cmdlet asked for, in order (refused and failed ones included)."""
        return [s.cmdlet for s in self.sent]

    @property
    def reads(self) -> list[Cmdlet]:
        """The reads (Get-*) asked for."""
        return [s.cmdlet for s in self.sent if not s.cmdlet.is_write]

    @property
    def writes(self) -> list[Cmdlet]:
        """The writes that reached the wrapped transport (refused ones are not here)."""
        return [s.cmdlet for s in self.sent if s.cmdlet.is_write and s.delivered]

    @property
    def refused(self) -> list[Cmdlet]:
        """The cmdlets stopped here (``refuse_writes`` or ``fail``), never sent."""
        return [s.cmdlet for s in self.sent if not s.delivered]

    def send(self, cmdlet: Cmdlet) -> CmdletResult:
        """Record the cmdlet, then send it (or refuse it); the answer is returned unchanged."""
        error = self.fail(cmdlet) if self.fail is not None else None
        if error is None and self.refuse_writes and cmdlet.is_write:
            error = PermissionDenied(
                f"The role of this session cannot run {cmdlet.name}; nothing was changed.",
                cmdlet=cmdlet,
            )
        if error is not None:
            self.sent.append(Sent(cmdlet, error=error, delivered=False))
            raise error
        try:
            result = self.inner.send(cmdlet)
        except TransportError as exc:
            self.sent.append(Sent(cmdlet, error=exc))
            raise
        self.sent.append(Sent(cmdlet, result=result))
        return result

    def close(self) -> None:
        """Close the wrapped transport."""
        self.inner.close()
