"""Declarative playbooks: YAML runbooks that chain remediations.

A playbook is planned as a whole (every step before any is applied, each
against the state the steps before it would leave), previewed at once, then
applied step by step, each verified before the next; a failed run can be
resumed.  The format is documented in ``playbooks/README.md``.

* :mod:`~remediations.playbooks.schema`   the format: loading and checking a file
* :mod:`~remediations.playbooks.binding`    parameters, ``for_each`` and references -> wishes
* :mod:`~remediations.playbooks.runner`   plan, preview, apply, verify, resume
* :mod:`~remediations.playbooks.fleet`    a long ``for_each`` step as one fleet step
* :mod:`~remediations.playbooks.library`  finding playbooks by name or path
* :mod:`~remediations.playbooks.render`   text for people
"""

from __future__ import annotations

from remediations.playbooks.binding import (
    BoundPlaybook,
    BoundStep,
    bind,
    bind_parameters,
    parse_param_args,
)
from remediations.playbooks.library import (
    SHIPPED_DIR,
    find_playbook,
    list_playbooks,
    playbook_files,
    playbooks_for,
)
from remediations.playbooks.runner import (
    PlaybookFailed,
    PlaybookOutcome,
    PriorRun,
    StepResult,
    find_run,
    resume_parameters,
    run_playbook,
)
from remediations.playbooks.schema import (
    Parameter,
    Playbook,
    PlaybookError,
    Step,
    load_playbook,
)

__all__ = [
    "SHIPPED_DIR",
    "BoundPlaybook",
    "BoundStep",
    "Parameter",
    "Playbook",
    "PlaybookError",
    "PlaybookFailed",
    "PlaybookOutcome",
    "PriorRun",
    "Step",
    "StepResult",
    "bind",
    "bind_parameters",
    "find_playbook",
    "find_run",
    "list_playbooks",
    "load_playbook",
    "parse_param_args",
    "playbook_files",
    "playbooks_for",
    "resume_parameters",
    "run_playbook",
]
