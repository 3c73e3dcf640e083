"""How the tasks meet Invoke, through its documented extension points only.

* ``tasks.task`` (in ``tasks.py``, so that ``invoke --list`` imports nothing of the
  package) is Invoke's ``@task`` around a body that returns what it did; the one helper
  :func:`~remediations.errors.exit_status` turns that into the exit status, under
  ``invoke TASK`` and ``ndr-fix TASK`` alike.
* :class:`NdrFixProgram` is an Invoke ``Program`` (the ``ndr-fix`` console script) that
  finds ``tasks.py`` as ``invoke`` does and turns flags Invoke cannot parse into one
  sentence and exit 2, built from the parser's own flags, never from its message text.

"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from invoke.exceptions import Exit, ParseError
from invoke.program import Program

from remediations.errors import ExitStatus

__all__ = ["NdrFixProgram", "main", "parse_error_sentence"]


def parse_error_sentence(
    exc: ParseError, argv: Sequence[str], contexts: Any, binary: str = "invoke"
) -> str:
    """One sentence for a flag Invoke could not parse, from the parser's own flags.

    ``argv`` is what followed the core flags; ``contexts`` the parser's task contexts
    (name -> ``ParserContext``).  Walks the words as Invoke does: a task name starts a
    context; a word starting with ``-`` must be one of its flags; a flag that takes a
    value must be given one.
    """
    current = None
    pending = None  # a flag that is waiting for its value
    for word in argv:
        if pending is not None:
            if word.startswith("-") and len(word) > 1:
                break
            pending = None
            continue
        if word in contexts:
            current = contexts[word]
            continue
        if not word.startswith("-") or current is None:
            continue
        name = word.split("=", 1)[0]
        if name in ("-h", "--help"):
            continue
        if name not in current.flags and name not in current.inverse_flags:
            return _with_hint(
                f"{name!r} is neither a flag of {current.name} nor a task", current.name, binary
            )
        flag = current.flags.get(name)
        if flag is not None and flag.takes_value and not flag.optional and "=" not in word:
            pending = flag
    if pending is not None and current is not None:
        return _with_hint(f"--{pending.name.replace('_', '-')} needs a value", current.name, binary)
    context = getattr(exc, "context", None)
    missing = getattr(context, "missing_positional_args", None) or []
    if context is not None and missing:
        names = " and ".join(arg.name.upper() for arg in missing)
        return _with_hint(f"{context.name} needs {names}", context.name, binary)
    task_name = getattr(context, "name", None) or (current.name if current else "TASK")
    return _with_hint(str(exc).rstrip("!. "), task_name, binary)


def _with_hint(text: str, task_name: str, binary: str) -> str:
    return f"{text}; '{binary} --help {task_name}' lists the flags and what they take."


class NdrFixProgram(Program):
    """``invoke`` for this project, with bad flags as one sentence and exit 2."""

    def parse_tasks(self) -> None:
        try:
            super().parse_tasks()
        except ParseError as exc:
            contexts = self._make_parser().contexts
            sentence = parse_error_sentence(exc, self.core.unparsed, contexts, self.binary)
            raise Exit(sentence, code=ExitStatus.BAD_INPUT) from None


def main(argv: Sequence[str] | None = None) -> None:
    """The ``ndr-fix`` console script: ``ndr-fix TASK [FLAGS]``, as ``invoke TASK``."""
    NdrFixProgram(name="ndr-fix", binary="ndr-fix", binary_names=["ndr-fix"]).run(
        list(argv) if argv is not None else None
    )
