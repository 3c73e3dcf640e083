"""The sandbox's cmdlet table and the one entry point that runs a cmdlet by name.

Every cmdlet is checked here as Exchange checks it before anything runs: an unknown
cmdlet, a parameter it does not have, a mandatory one missing.  The handlers live in
:mod:`remediations.sandbox.cmdlets` (recipients, rules, Graph users and SKUs) and
:mod:`remediations.sandbox.directory` (connectors, domains, DNS); this module sits above
both, so neither imports the other's table.
"""

from __future__ import annotations

from remediations.errors import CmdletError
from remediations.exchange import facts
from remediations.exchange.cmdlet import Cmdlet, CmdletResult
from remediations.sandbox.cmdlets import EXCHANGE_CMDLETS, Handler
from remediations.sandbox.directory import DIRECTORY_CMDLETS
from remediations.sandbox.state import SandboxState

__all__ = ["CMDLETS", "run_cmdlet"]

# cmdlet name (lower case) -> (allowed parameters, mandatory parameters, handler)
CMDLETS: dict[str, tuple[frozenset[str], tuple[str, ...], Handler]] = {
    **EXCHANGE_CMDLETS,
    **DIRECTORY_CMDLETS,
}


def run_cmdlet(state: SandboxState, cmdlet: Cmdlet) -> CmdletResult:
    """Run one cmdlet against the state (mutating it for writes)."""
    spec = CMDLETS.get(cmdlet.name.lower())
    if spec is None:
        raise CmdletError(
            facts.NO_SUCH_CMDLET.format(name=cmdlet.name), cmdlet=cmdlet, category="CommandNotFound"
        )
    allowed, mandatory, handler = spec
    lowered = {a.lower() for a in allowed}
    for name, _ in cmdlet.params:
        if name.lower() not in lowered:
            raise CmdletError(
                facts.NO_SUCH_PARAMETER.format(name=name), cmdlet=cmdlet, category="InvalidArgument"
            )
    missing = [m for m in mandatory if cmdlet.get(m) in (None, "")]
    if missing:
        raise CmdletError(
            facts.MISSING_MANDATORY.format(names=" ".join(missing)),
            cmdlet=cmdlet,
            category="InvalidArgument",
        )
    return handler(state, cmdlet)
