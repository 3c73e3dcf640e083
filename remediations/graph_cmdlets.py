"""Which cmdlets are Microsoft Graph PowerShell's, and where each line of a plan runs.

The one table of the Graph PowerShell cmdlets the toolkit sends
(:data:`GRAPH_CMDLETS`): the run's transport sends them to the directory and
every other cmdlet to Exchange (:class:`~remediations.directory.cmdlets.RoutedTransport`).
Previews and the audit log say where a line runs (:func:`runs_in`) and give a
directory write as the Graph request it is (:func:`graph_request`).  Kept apart
from the transports so that rendering a plan of Exchange cmdlets imports nothing
of the directory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from remediations.exchange.cmdlet import Cmdlet, ParamValue

if TYPE_CHECKING:
    from remediations.directory import GraphRequest

__all__ = ["EXCHANGE", "GRAPH", "GRAPH_CMDLETS", "graph_request", "is_graph_cmdlet", "runs_in"]

#: the Microsoft Graph PowerShell cmdlets the toolkit sends (lower case), answered by the
#: directory; every other cmdlet is Exchange's
GRAPH_CMDLETS = frozenset(
    {
        "get-mguser",
        "set-mguserlicense",
        "get-mgsubscribedsku",
        "get-mggroup",
        "get-mgdomain",
        "get-mgdomainserviceconfigurationrecord",
        "get-mggroupmembercount",
    }
)
#: where a line runs, as ``runs_in`` says it in ``--json`` and the audit log
EXCHANGE = "exchange"
GRAPH = "microsoft-graph"


def is_graph_cmdlet(cmdlet: Cmdlet) -> bool:
    """Whether the cmdlet is Microsoft Graph PowerShell (runs against the directory)."""
    return cmdlet.name.lower() in GRAPH_CMDLETS


def runs_in(cmdlet: Cmdlet) -> str:
    """``"microsoft-graph"`` for a Graph PowerShell cmdlet, else ``"exchange"``."""
    return GRAPH if is_graph_cmdlet(cmdlet) else EXCHANGE


def graph_request(cmdlet: Cmdlet) -> GraphRequest | None:
    """A directory write as its Graph request (``POST /users/{id}/assignLicense``); else None."""
    if cmdlet.name.lower() == "set-mguserlicense":
        from remediations.directory import license_request  # only a license write needs it

        return license_request(
            str(cmdlet.get("UserId")),
            add=strings(cmdlet.get("AddLicenses")),
            remove=strings(cmdlet.get("RemoveLicenses")),
        )
    return None


def strings(value: ParamValue) -> tuple[str, ...]:
    """A parameter's value as a tuple of strings (None: empty)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, tuple):
        return value
    return (str(value),)
