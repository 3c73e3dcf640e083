"""The toolkit's one error tree; every error knows its exit status.

Every exit status the README documents is an :class:`ExitStatus`: 0 done, 1 failed,
2 bad input, 3 problems found (``scan``, ``check-domain``, ``target.check``: a
result, not an error), 130/143 interrupted.  :func:`exit_status` turns a task's
result or an error into it; nothing else picks a number.

* RemediationError              exit 1
  * InputError(ValueError)      exit 2   bad flags, unknown or ambiguous identity, bad address
    * UnknownIdentity
    * AmbiguousIdentity
    * Refused                            the wish would do harm (e.g. lock everyone out)
    * NotAnNdr                           the input given as a bounce holds no NDR
  * ChainError                           the audit log's hash chain is broken (.line)
  * Interrupted (interrupts.py) exit 130/143  SIGINT or SIGTERM stopped a run
  * TransportError                       the tenant could not be read or written
    * CmdletError                        a cmdlet answered with an error record; .category
      * NotFound                         category "NotFound": the object named does not exist
      * Ambiguous                        category "Ambiguous": several objects answer to it
      * PermissionDenied                 category "PermissionDenied": a role or permission missing
      * RejectedByServer                 any other refusal (bad argument, duplicate name, ...)
    * Throttled                          the tenant asked us to slow down, past the run's budget
    * Unavailable (= BackendUnavailable) the tenant did not answer
      * OutcomeUnknown                   a write was sent but its answer was lost
    * ResultTruncated                    the tenant cut a result short (read it again, whole)
    * DryRunWrite                        a dry run tried to send a write (a bug; nothing sent)
  * ApplyFailed                          .applied / .not_applied: tuple[Change, ...]
  * VerifyMismatch                       .expected / .actual

The edge reports any ``RemediationError`` as one sentence and exits with its status;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import signal
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from remediations.plan import Change


class ExitStatus(IntEnum):
    """The exit statuses the README documents, and only those."""

    OK = 0
    FAILED = 1
    BAD_INPUT = 2
    #: scan, check-domain, target.check: the tenant was read and has problems
    PROBLEMS_FOUND = 3
    INTERRUPTED = 128 + signal.SIGINT  # 130
    TERMINATED = 128 + signal.SIGTERM  # 143


class HasExitCode(Protocol):
    """A result that knows its exit status (a run's outcome, a scan's report)."""

    @property
    def exit_code(self) -> int: ...


def exit_status(result: int | BaseException | HasExitCode | None) -> int:
    """The exit status for what a task returned or raised.

    ``None`` is success; an ``int`` is taken as given (it came from an ``ExitStatus``
    or an error's ``exit_code``); a :class:`RemediationError` or a result object gives
    its ``exit_code``; ``KeyboardInterrupt`` is 130.  Any other exception is a bug and
    is not given a status here (the caller lets it keep its traceback).
    """
    if result is None:
        return ExitStatus.OK
    if isinstance(result, bool):
        raise TypeError("a task returned a bool; return an ExitStatus")
    if isinstance(result, int):
        return int(result)
    if isinstance(result, KeyboardInterrupt):
        return ExitStatus.INTERRUPTED
    if isinstance(result, BaseException) and not isinstance(result, RemediationError):
        raise TypeError(f"{type(result).__name__} is not an error of the toolkit") from result
    return int(result.exit_code)


class RemediationError(Exception):
    """Base of every error the toolkit reports to a user."""

    exit_code: int = ExitStatus.FAILED
    #: the run's outcome, when the error ended a run (set by the engine)
    outcome: Any = None


class InputError(RemediationError, ValueError):
    """Something the user typed is wrong; nothing was changed."""

    exit_code = ExitStatus.BAD_INPUT


class UnknownIdentity(InputError):
    """No recipient (or rule) answers to the identity given."""


class AmbiguousIdentity(InputError):
    """More than one object answers to the identity given."""


class Refused(InputError):
    """The wish is understood but would do harm; nothing was changed."""


class NotAnNdr(InputError):
    """The input given as a bounce holds no non-delivery report (a ``ValueError`` too)."""


class ChainError(RemediationError):
    """The audit log's hash chain is broken at a line (edited, moved, deleted, cut off)."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line


class TransportError(RemediationError):
    """The tenant could not be read or written.

    Each transport raises these at its own boundary; the message is the
    server's own text where there is one, and ``code`` the server's error code
    (e.g. Exchange's ``Ex6F9304``, Graph's ``Request_ResourceNotFound``).
    """

    def __init__(self, message: str, *, cmdlet: Any = None, code: str = "") -> None:
        super().__init__(message)
        self.cmdlet = cmdlet
        self.code = code


class CmdletError(TransportError):
    """A cmdlet answered with an error record (Exchange's own text).

    ``category`` names the kind of error as a string for older callers; the
    subclasses below set it consistently, and :meth:`of` picks the subclass
    that matches a category.
    """

    #: the category a subclass stands for
    default_category = ""

    def __init__(
        self, message: str, *, cmdlet: Any = None, category: str | None = None, code: str = ""
    ) -> None:
        super().__init__(message, cmdlet=cmdlet, code=code)
        self.category = self.default_category if category is None else category

    @staticmethod
    def of(message: str, *, category: str, cmdlet: Any = None, code: str = "") -> CmdletError:
        """The error of the class that matches ``category`` (RejectedByServer for the rest)."""
        cls = _BY_CATEGORY.get(category, RejectedByServer)
        return cls(message, cmdlet=cmdlet, category=category, code=code)


class NotFound(CmdletError):
    """The object a cmdlet or request names does not exist."""

    default_category = "NotFound"


class Ambiguous(CmdletError):
    """More than one object answers to the identity a cmdlet was given."""

    default_category = "Ambiguous"


class PermissionDenied(CmdletError):
    """The signed-in identity lacks the role or permission for this call."""

    default_category = "PermissionDenied"


class RejectedByServer(CmdletError):
    """The server refused the call (bad argument, duplicate name, unknown cmdlet, ...)."""


_BY_CATEGORY: dict[str, type[CmdletError]] = {
    "NotFound": NotFound,
    "Ambiguous": Ambiguous,
    "PermissionDenied": PermissionDenied,
}


class Throttled(TransportError):
    """The tenant asked us to slow down, and the run's time budget would not wait."""


class BackendUnavailable(TransportError):
    """The tenant did not answer."""


#: the design's name for the same error
Unavailable = BackendUnavailable


class OutcomeUnknown(BackendUnavailable):
    """A write was sent and its answer lost: it may or may not have taken effect.

    It is never resent blindly; read the object back first.
    """


class ResultTruncated(TransportError):
    """The tenant returned part of a result and said so; no plan is made from a short list."""


class DryRunWrite(TransportError):
    """A dry run tried to send a write; the wrapper refused it, so nothing was sent."""


class ApplyFailed(RemediationError):
    """A write failed part way; says what was changed and what was not."""

    def __init__(
        self,
        message: str,
        *,
        applied: tuple[Change, ...],
        not_applied: tuple[Change, ...],
        cause: BaseException | None = None,
    ) -> None:
        super().__init__(message)
        self.applied = applied
        self.not_applied = not_applied
        self.cause = cause


class VerifyMismatch(RemediationError):
    """After applying, the tenant does not hold what the plan said it would."""

    def __init__(self, message: str, *, expected: Any, actual: Any) -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual
