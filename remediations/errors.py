"""The toolkit's one error tree; every error knows its exit status.

* RemediationError              exit 1
  * InputError(ValueError)      exit 2   bad flags, unknown or ambiguous identity, bad address
    * UnknownIdentity
    * AmbiguousIdentity
    * Refused                            the wish would do harm (e.g. lock everyone out)
  * TransportError                       the tenant could not be read or written
    * CmdletError                        a cmdlet answered with an error record
    * Throttled
    * BackendUnavailable
  * ApplyFailed                          .applied / .not_applied: tuple[Change, ...]
  * VerifyMismatch                       .expected / .actual

``tasks.py`` turns any ``RemediationError`` into ``Exit(str(exc), code=exc.exit_code)``;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from remediations.plan import Change


class RemediationError(Exception):
    """Base of every error the toolkit reports to a user."""

    exit_code = 1
    #: the run's outcome, when the error ended a run (set by the engine)
    outcome: Any = None


class InputError(RemediationError, ValueError):
    """Something the user typed is wrong; nothing was changed."""

    exit_code = 2


class UnknownIdentity(InputError):
    """No recipient (or rule) answers to the identity given."""


class AmbiguousIdentity(InputError):
    """More than one object answers to the identity given."""


class Refused(InputError):
    """The wish is understood but would do harm; nothing was changed."""


class TransportError(RemediationError):
    """The tenant could not be read or written."""

    def __init__(self, message: str, *, cmdlet: Any = None) -> None:
        super().__init__(message)
        self.cmdlet = cmdlet


class CmdletError(TransportError):
    """A cmdlet answered with an error record (Exchange's own text)."""

    def __init__(self, message: str, *, cmdlet: Any = None, category: str = "") -> None:
        super().__init__(message, cmdlet=cmdlet)
        self.category = category


class Throttled(TransportError):
    """The tenant asked us to slow down."""


class BackendUnavailable(TransportError):
    """The tenant did not answer."""


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
