"""On-premises Exchange Server over PSRP (WinRM) with pypsrp.

``https://{server}/PowerShell``, configuration ``Microsoft.Exchange``
(``shared/reference/exchange.md`` 3.3), Kerberos by default, certificate
validation on.  The endpoint runs in no-language mode, and user input must
never become script text: commands are built only with ``add_cmdlet`` /
``add_parameter``; Add/Remove go as Python dicts (serialised as hashtables),
lists as arrays, ``None`` as ``$null``.

Exchange writes most of its errors ("couldn't be found") as *non-terminating*
error records, which leave ``had_errors`` false; the error stream is checked as
well, and the first record is mapped to the error tree by its reason (the
exception type), as the admin-API transport maps its error bodies.  Warnings
come back as :attr:`CmdletResult.warnings`.

The runspace pool is opened on the first cmdlet and kept for the run.  A
connection failure on a read, or before anything was sent, is retried within
the run's budget; a write whose answer was lost is :class:`OutcomeUnknown`
unless it is idempotent by construction (see :func:`adminapi.is_idempotent`).

pypsrp is imported only when a pool is opened.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from remediations.budget import RetryBudget
from remediations.credentials import INSTALL_HINT, read_secret
from remediations.errors import (
    BackendUnavailable,
    CmdletError,
    InputError,
    OutcomeUnknown,
    PermissionDenied,
)
from remediations.exchange.adminapi import CATEGORY_EXCEPTIONS, is_idempotent
from remediations.exchange.cmdlet import AddRemove, Cmdlet, CmdletResult, ParamValue

if TYPE_CHECKING:
    from remediations.target import TargetSpec

__all__ = ["PsrpTransport", "psrp_value"]

_TYPE_CATEGORY = {v.rpartition(".")[2].lower(): k for k, v in CATEGORY_EXCEPTIONS.items()}


def psrp_value(value: ParamValue) -> Any:
    """A parameter value as pypsrp serialises it: dict -> Hashtable, list -> array."""
    if isinstance(value, AddRemove):
        return value.to_wire()
    if isinstance(value, tuple):
        return list(value)
    return value


class PsrpTransport:
    """The :class:`~remediations.exchange.cmdlet.Transport` for Exchange Server over PSRP."""

    name = "exchange-onprem"

    def __init__(
        self,
        *,
        server: str,
        url: str = "",
        auth: str = "kerberos",
        username: str = "",
        password: str = "",
        certificate_path: str = "",
        certificate_key_path: str = "",
        cert_validation: bool = True,
        budget: RetryBudget | None = None,
    ) -> None:
        self.server = server
        self.tenant = server
        self.url = url or f"https://{server}/PowerShell"
        self.auth = auth
        self.cert_validation = cert_validation
        self.budget = budget or RetryBudget()
        self._username = username
        self._password = password
        self._certificate = (certificate_path, certificate_key_path)
        self._wsman: Any = None
        self._pool: Any = None

    def __repr__(self) -> str:
        return f"PsrpTransport(url={self.url!r}, auth={self.auth!r})"

    @classmethod
    def from_spec(cls, spec: TargetSpec, *, budget: RetryBudget) -> PsrpTransport:
        """The transport a target's settings describe (secrets read from env or file now)."""
        password = ""
        if spec.password_env or spec.password_file is not None:
            password = read_secret(
                env=spec.password_env,
                file=spec.password_file,
                what=f"targets.{spec.name}.password_env",
            )
        return cls(
            server=spec.server,
            url=spec.onprem_url,
            auth=spec.auth,
            username=spec.username,
            password=password,
            certificate_path=str(spec.certificate_path or ""),
            certificate_key_path=str(spec.certificate_key_path or ""),
            cert_validation=spec.cert_validation,
            budget=budget,
        )

    # --- the Transport interface -------------------------------------------------------

    def send(self, cmdlet: Cmdlet) -> CmdletResult:
        """Run one cmdlet in the remote runspace; errors from either stream are typed."""
        attempt = 0
        while True:
            sent = False
            try:
                pool = self._open()
                sent = True
                return self._invoke(pool, cmdlet)
            except CmdletError:
                raise
            except InputError:
                raise
            except Exception as exc:
                if _is_refusal(exc):
                    self._drop()
                    raise PermissionDenied(
                        f"Exchange Server {self.server} refused the sign-in or {cmdlet.name} "
                        f"({exc}); check the account and its role.",
                        cmdlet=cmdlet,
                    ) from None
                if not _is_connection_error(exc):
                    raise
                self._drop()
                if sent and not is_idempotent(cmdlet):
                    raise OutcomeUnknown(
                        f"The answer to {cmdlet.name} from {self.server} was lost ({exc}); it "
                        "may or may not have taken effect, so it is not sent again: read it "
                        f"back with Get-{cmdlet.name.partition('-')[2]} first.",
                        cmdlet=cmdlet,
                    ) from None
                failure = BackendUnavailable(
                    f"Exchange Server {self.server} did not answer {cmdlet.name}: {exc}.",
                    cmdlet=cmdlet,
                )
            if not self.budget.wait(attempt, None):
                raise failure
            attempt += 1

    def close(self) -> None:
        """Close the runspace pool and the connection; idempotent."""
        pool, self._pool = self._pool, None
        wsman, self._wsman = self._wsman, None
        try:
            if pool is not None:
                pool.close()
        finally:
            if wsman is not None:
                wsman.close()

    # --- pypsrp ------------------------------------------------------------------------

    def _open(self) -> Any:
        if self._pool is not None:
            return self._pool
        try:
            from pypsrp.powershell import RunspacePool
            from pypsrp.wsman import WSMan
        except ImportError:
            raise InputError(
                f"an on-premises Exchange target needs pypsrp; {INSTALL_HINT}."
            ) from None
        parts = urlsplit(self.url)
        ssl = parts.scheme == "https"
        options: dict[str, Any] = {
            "port": parts.port or (443 if ssl else 80),
            "path": parts.path.lstrip("/") or "PowerShell",
            "ssl": ssl,
            "auth": self.auth,
            "cert_validation": self.cert_validation,
            # message encryption: only a loopback test server over http goes without
            "encryption": "never" if self.auth == "basic" else "auto",
        }
        if self._username:
            options["username"] = self._username
        if self._password:
            options["password"] = self._password
        if self.auth == "certificate":
            options["certificate_pem"], options["certificate_key_pem"] = self._certificate
        wsman = WSMan(parts.hostname or self.server, **options)
        pool = RunspacePool(wsman, configuration_name="Microsoft.Exchange")
        pool.open()
        self._wsman, self._pool = wsman, pool
        return pool

    def _drop(self) -> None:
        with contextlib.suppress(Exception):  # the connection is already gone
            self.close()

    def _invoke(self, pool: Any, cmdlet: Cmdlet) -> CmdletResult:
        from pypsrp.powershell import PowerShell

        ps = PowerShell(pool)
        ps.add_cmdlet(cmdlet.name)
        for name, value in cmdlet.params:
            ps.add_parameter(name, psrp_value(value))
        output = ps.invoke()
        errors = list(ps.streams.error)
        if errors or ps.had_errors:
            raise _error(errors[0] if errors else None, cmdlet)
        warnings = tuple(str(getattr(w, "message", w)) for w in ps.streams.warning)
        return CmdletResult(objects=tuple(_plain(o) for o in output), warnings=warnings)


def _is_refusal(exc: BaseException) -> bool:
    name = type(exc).__name__
    return name == "AuthenticationError" or (
        name == "WinRMTransportError" and getattr(exc, "code", None) in (401, 403)
    )


def _is_connection_error(exc: BaseException) -> bool:
    module = type(exc).__module__
    return module.startswith(("requests", "urllib3", "pypsrp.exceptions")) or isinstance(
        exc, ConnectionError
    )


def _error(record: Any, cmdlet: Cmdlet) -> CmdletError:
    if record is None:
        return CmdletError.of(
            f"{cmdlet.name} failed without an error record.", category="", cmdlet=cmdlet
        )
    exception = getattr(record, "exception", None)
    props = _properties(exception) if exception is not None else {}
    message = str(props.get("Message") or getattr(record, "message", "") or record)
    reason = str(getattr(record, "reason", "") or "")
    category = _TYPE_CATEGORY.get(reason.lower(), "")
    lowered = message.lower()
    if "matches multiple entries" in lowered or "multiple recipients matching" in lowered:
        category = "Ambiguous"
    elif not category and ("couldn't be found" in lowered or "couldn't find object" in lowered):
        category = "NotFound"
    elif not category and "already being used" in lowered:
        category = "Duplicate"
    return CmdletError.of(message, category=category, cmdlet=cmdlet)


def _properties(obj: Any) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for attr in ("adapted_properties", "extended_properties"):
        value = getattr(obj, attr, None)
        if isinstance(value, Mapping):
            props.update(value)
    return props


def _plain(value: Any) -> Any:
    """pypsrp's deserialised objects as plain mappings, lists and scalars."""
    if isinstance(value, str | bool | int | float) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    props = _properties(value)
    if props:
        return {str(k): _plain(v) for k, v in props.items()}
    return str(value)
