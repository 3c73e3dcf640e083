"""What tests of the toolkit (and of your own playbooks and tenant files) need, shipped with it.

As ``structlog.testing`` ships with structlog:

- :func:`run_cli` / :class:`CliRunner`: the ``invoke`` command line run in-process,
  with its exit status, stdout and stderr (:mod:`remediations.testing.cli`); the pytest
  fixtures ``invoke_cli``, ``tenant_path`` and ``audit_dir`` are in
  :mod:`remediations.testing.fixtures` (``pytest_plugins = ["remediations.testing.fixtures"]``).
- :class:`RecordingTransport`: wraps any transport, records every cmdlet sent (reads,
  writes, answers, errors), can refuse writes or fail chosen cmdlets
  (:mod:`remediations.testing.transport`).
- :class:`CapturedAudit`: the real audit log with every event also kept in memory, and
  the chain checked on demand (:mod:`remediations.testing.audit`).
- :class:`LoopbackTenant`: Exchange Online's admin API (``InvokeCommand``) and the slice
  of Microsoft Graph the toolkit uses, served on ``127.0.0.1`` through a sandbox tenant,
  with a request log and injectable faults, to try the real clients without a tenant.
- :class:`~remediations.testing.entra_server.LoopbackEntra`: Microsoft Entra's sign-in
  service behind an HTTPS proxy on loopback, refusing every sign-in as Entra refuses a
  wrong secret, so azure-identity credentials fail at once and offline (imported from
  its module: it needs ``cryptography``).

Nothing here is imported by the toolkit's own runs.
"""

from __future__ import annotations

from remediations.testing.audit import CapturedAudit
from remediations.testing.cli import CliRunner, InvokeResult, run_cli
from remediations.testing.tenant_server import Fault, LoggedRequest, LoopbackTenant
from remediations.testing.transport import RecordingTransport, Sent

__all__ = [
    "CapturedAudit",
    "CliRunner",
    "Fault",
    "InvokeResult",
    "LoggedRequest",
    "LoopbackTenant",
    "RecordingTransport",
    "Sent",
    "run_cli",
]
