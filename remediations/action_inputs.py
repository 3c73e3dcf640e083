"""Every action's inputs, described once: names, kinds, defaults, choices, help.

The remediation tasks (``tasks.py`` builds one per action from :func:`task_flags` and
:data:`ACTION_DOCS`: its flags, their order, kinds, defaults and help, its docstring),
the checks of a wish from flags or a playbook step (``actions.parse_wish``) and playbook
validation (``playbooks.schema``) all read this table; ``tests/test_action_inputs.py``
and ``tests/test_task_flags.py`` check that every task's flags, their kinds, defaults and
help, and every action's ``Wish`` dataclass, agree with it.

This module imports nothing of the package (``tasks.py`` reads it at import, and
``invoke --list`` stays light).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "ACTION_DOCS",
    "ACTION_INPUTS",
    "ALL_FLAG",
    "ALL_FLAG_HELP",
    "REQUIRED",
    "RUN_FLAGS",
    "RUN_FLAG_HELP",
    "Input",
    "inputs_of",
    "task_flags",
    "task_help",
]

Kind = Literal["text", "bool", "list"]


class _Required:
    """The default of an input that has none."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True, slots=True)
class Input:
    """One input of an action: a wish field, a task flag, a playbook step's key."""

    name: str
    help: str
    kind: Kind = "text"
    default: Any = REQUIRED
    #: the values it takes, when they are a fixed few
    choices: tuple[str, ...] = ()
    #: left out on the command line: every object in the tenant with the cause (``--all``
    #: to apply); a playbook step always names it
    every: bool = False

    @property
    def flag(self) -> str:
        """The task flag, e.g. ``--all-senders`` (``all_`` is ``--all``, as Invoke names it)."""
        return "--" + self.name.strip("_").replace("_", "-")

    @property
    def required(self) -> bool:
        """Whether a wish needs it given (a step always needs an ``every`` input)."""
        return self.default is REQUIRED


ACTION_INPUTS: Mapping[str, tuple[Input, ...]] = {
    "fix-public-folder": (
        Input(
            "folder",
            r"the public folder: path (e.g. '\Support\Escalations'), name or address",
            default=None,
            every=True,
        ),
        Input(
            "all_senders",
            "also clear the accept-only-from lists, so every sender is accepted",
            kind="bool",
            default=False,
        ),
    ),
    "add-allowed-sender": (
        Input("recipient", "the restricted group, mailbox or public folder (name or address)"),
        Input("sender", "the sender's email address; an outside sender gets a mail contact"),
        Input(
            "only_listed_senders",
            "allow starting a list on a recipient that accepts everyone now "
            "(it will then accept only the listed senders)",
            kind="bool",
            default=False,
        ),
    ),
    "open-to-external": (
        Input(
            "recipient",
            "the distribution group, Microsoft 365 group, mailbox or mail user (name or address)",
            default=None,
            every=True,
        ),
    ),
    "open-group-to-external": (
        Input("group", "the distribution group or Microsoft 365 group", default=None, every=True),
    ),
    "bypass-moderation": (
        Input("group", "the moderated distribution group (e.g. one over 5,000 members)"),
        Input("sender", "the sender's email address"),
    ),
    "block-delicensed-user": (
        Input("user", "the user who left (mailbox name or address)"),
        Input(
            "mode",
            "reject (sender gets an NDR 5.7.1 with a clear reason) or delete (silently)",
            default="reject",
            choices=("reject", "delete"),
        ),
        Input(
            "even_if_active",
            "block even though the account is enabled and licensed",
            kind="bool",
            default=False,
        ),
    ),
    "remove-license": (
        Input("user", "the user who left (mailbox name or address)"),
        Input(
            "sku",
            "remove only this license (part number, e.g. ENTERPRISEPACK, or SKU GUID); "
            "default: every license",
            default="",
        ),
        Input(
            "even_if_active",
            "remove the licenses even though the account is still enabled",
            kind="bool",
            default=False,
        ),
    ),
}

#: each action's task docstring: its first line is what ``invoke --list`` shows
ACTION_DOCS: Mapping[str, str] = {
    "fix-public-folder": "Let outside senders mail a public folder "
    "(5.7.1 RESOLVER.RST.AuthRequired).\n\n"
    "Without --folder: every folder that requires authenticated senders (as scan finds).",
    "add-allowed-sender": "Add a sender to a restricted recipient's allowed senders "
    "(5.7.1 NotAuthorized, 5.7.124).",
    "open-to-external": "Let outside senders mail a group, mailbox or mail user "
    "(5.7.133/193/134/136).\n\n"
    "Without --recipient: every one that requires authenticated senders (as scan finds).",
    "open-group-to-external": "Let outside senders mail a group (5.7.133, 5.7.193); "
    "open-to-external for groups.\n\n"
    "Without --group: every group that requires authenticated senders (as scan finds).",
    "bypass-moderation": "Let a sender bypass moderation of a large group (held mail; no NDR).",
    "block-delicensed-user": "Stop mail to a user who left with a mail-flow rule "
    "(5.7.129, delicensed user).",
    "remove-license": "Remove a leaver's licenses (5.7.129; then block-delicensed-user).",
}

#: the flags every remediation task takes after its inputs, in this order
RUN_FLAGS: tuple[Input, ...] = (
    Input(
        "dry_run",
        "preview only: show the diff and the PowerShell; change nothing",
        kind="bool",
        default=False,
    ),
    Input(
        "json",
        "print one JSON document (run_id, dry_run, outcome, changes) instead of text",
        kind="bool",
        default=False,
    ),
    Input("ticket", "ticket or change number to record in the audit log", default=""),
    Input(
        "yes",
        "apply without asking (real tenants ask after the preview)",
        kind="bool",
        default=False,
    ),
    Input(
        "save_plan",
        "with --dry-run: save the plan to this file, to approve by its hash and "
        "apply exactly with plan.apply",
        default="",
    ),
    Input(
        "target",
        "the target to act on, as named under targets: in invoke.yaml "
        "(default: INVOKE_TARGET / target:, else the sandbox)",
        default="",
    ),
    Input(
        "targets_file",
        "many targets in one run and one plan: a file with one target a line "
        "(# comments skipped), or a CSV whose header names this task's flags",
        default="",
    ),
)
RUN_FLAG_HELP: Mapping[str, str] = {f.name: f.help for f in RUN_FLAGS}

#: the flag of the tasks with an ``every`` input (``--all``: Invoke drops the ``_``)
ALL_FLAG = Input(
    "all_",
    "without a target flag: apply the plan to every object in the tenant with the "
    "cause (the preview lists them)",
    kind="bool",
    default=False,
)
ALL_FLAG_HELP: Mapping[str, str] = {ALL_FLAG.name: ALL_FLAG.help}


def inputs_of(action: str) -> tuple[Input, ...]:
    """The inputs of an action, by its name (``fix-public-folder``)."""
    return ACTION_INPUTS[action]


def task_flags(action: str) -> tuple[Input, ...]:
    """The flags of the action's task, in the order Invoke reads them (it gives the short
    flags in this order): its inputs, ``--all`` where one of them may be left out, then
    the run flags."""
    inputs = inputs_of(action)
    every = (ALL_FLAG,) if any(i.every for i in inputs) else ()
    return (*inputs, *every, *RUN_FLAGS)


def task_help(action: str) -> dict[str, str]:
    """Invoke's ``help=`` for the action's task: each of its flags' help."""
    return {f.name: f.help for f in task_flags(action)}
