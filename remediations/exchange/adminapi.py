"""Exchange Online over the admin API: cmdlets as JSON over HTTPS (what the V3 module calls).

``POST {exchange}/adminapi/beta/{tenant}/InvokeCommand`` with
``{"CmdletInput": {"CmdletName": ..., "Parameters": {...}}}``
(``shared/reference/exchange.md`` 3.1).  The facts this module relies on:

* Add/Remove hashtables carry ``"@odata.type": "#Exchange.GenericHashTable"``;
  booleans and switches are JSON booleans. [code]
* Headers: ``Authorization: Bearer``, ``X-AnchorMailbox`` (``UPN:<user>`` for a
  person, ``APP:SystemMailbox{bb558c35-…}@<tenant>`` app-only: UNCONFIRMED which
  tenant form the service prefers), ``Prefer: odata.maxpagesize``,
  ``X-CmdletName``, ``connection-id``, ``client-request-id``. [code]
* ``200 {"value": [...], "@odata.nextLink": ..., "@adminapi.warnings": [...]}``;
  paging POSTs the same body to the next link. [code]
* Errors: ``{"error": {"code", "message", "details": [{"message":
  "<ExCode>|<.NET type>|<text>"}], "innererror": {"internalException": {"message"}}}}``,
  read in that order; a not-found as HTTP 404 with ``ManagementObjectNotFoundException``.
  The status codes of other cmdlet errors are UNCONFIRMED, so the mapping goes
  by the exception type and text, not the status. [code]
* Throttling: 429, or a body saying "maximum number of concurrent requests";
  whether ``Retry-After`` is sent is UNCONFIRMED: honoured when present. [code]

Retries: reads and writes idempotent by construction (``Set-*`` to absolute
values, Add/Remove, ``Remove-*``/``Enable-*``/``Disable-*``) are retried on
throttling, 5xx and lost connections under the run's :class:`RetryBudget`;
a ``New-*`` is retried only when the server certainly did not run it (429,
the concurrency refusal, a connection never made).  When its answer is lost it
raises :class:`OutcomeUnknown`, which says to read it back: it is never resent
blindly.

``Get-*`` cmdlets that list (no ``-Identity``) ask for ``-ResultSize Unlimited``;
a warning that a result was cut short is :class:`ResultTruncated`, never a short list.
"""

from __future__ import annotations

import email.utils
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from remediations.budget import RetryBudget
from remediations.credentials import token_claims
from remediations.errors import (
    BackendUnavailable,
    CmdletError,
    OutcomeUnknown,
    PermissionDenied,
    ResultTruncated,
    Throttled,
    TransportError,
)
from remediations.exchange import facts
from remediations.exchange.cmdlet import AddRemove, Cmdlet, CmdletResult, ParamValue

__all__ = [
    "APP_ANCHOR_MAILBOX",
    "CATEGORY_EXCEPTIONS",
    "LISTING_CMDLETS",
    "AdminApiTransport",
    "is_idempotent",
    "wire_parameters",
]

HASHTABLE_TYPE = "#Exchange.GenericHashTable"
# [code] the system mailbox app-only calls anchor on (CIPP, ExoHelper).
APP_ANCHOR_MAILBOX = "SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}"
# [doc] exchange-cmdlets.json: the Get-* cmdlets that take -ResultSize.
LISTING_CMDLETS = frozenset(
    {
        "get-accepteddomain",
        "get-distributiongroup",
        "get-distributiongroupmember",
        "get-inboundconnector",
        "get-mailcontact",
        "get-mailpublicfolder",
        "get-mailuser",
        "get-mailbox",
        "get-outboundconnector",
        "get-publicfolderclientpermission",
        "get-recipient",
        "get-transportrule",
        "get-unifiedgroup",
    }
)
# The .NET exception type (second part of a detail message) -> the error category.
# [code] ManagementObjectNotFoundException, ManagementObjectAmbiguousException;
# the others are PowerShell's own types; which ones the admin API reports is UNCONFIRMED.
CATEGORY_EXCEPTIONS: dict[str, str] = {
    "NotFound": "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException",
    "Ambiguous": "Microsoft.Exchange.Configuration.Tasks.ManagementObjectAmbiguousException",
    "PermissionDenied": "System.UnauthorizedAccessException",
    "CommandNotFound": "System.Management.Automation.CommandNotFoundException",
    "InvalidArgument": "System.Management.Automation.ParameterBindingException",
    "Duplicate": "Microsoft.Exchange.Data.Directory.ADObjectAlreadyExistsException",
}
_TYPE_CATEGORY = {v.rpartition(".")[2].lower(): k for k, v in CATEGORY_EXCEPTIONS.items()}
_CONCURRENCY = "maximum number of concurrent requests"
_RETRY_STATUS = frozenset({408, 500, 502, 503, 504})
_IDEMPOTENT_VERBS = frozenset({"get", "set", "remove", "enable", "disable", "add"})


def is_idempotent(cmdlet: Cmdlet) -> bool:
    """Whether sending the cmdlet twice leaves the tenant as sending it once.

    Our ``Set-*`` calls write absolute values or Add/Remove hashtables, and
    adding what is there or removing what is gone is a no-op; ``New-*`` is not.
    """
    return cmdlet.name.partition("-")[0].lower() in _IDEMPOTENT_VERBS


def wire_parameters(cmdlet: Cmdlet) -> dict[str, Any]:
    """The ``Parameters`` object: Add/Remove tagged as Exchange hashtables, tuples as lists."""
    return {name: _wire(value) for name, value in cmdlet.params}


def _wire(value: ParamValue) -> Any:
    if isinstance(value, AddRemove):
        return {"@odata.type": HASHTABLE_TYPE, **value.to_wire()}
    if isinstance(value, tuple):
        return list(value)
    return value


class AdminApiTransport:
    """The :class:`~remediations.exchange.cmdlet.Transport` for Exchange Online's admin API."""

    name = "exchange-online"

    def __init__(
        self,
        *,
        tenant: str,
        endpoint: str,
        token: Callable[[str], str],
        budget: RetryBudget | None = None,
        page_size: int = 1000,
        timeout: float = 900.0,
        client: httpx.Client | None = None,
        onprem: str = "",
    ) -> None:
        self.tenant = tenant
        #: the configured exchange-onprem target that changes directory-synced objects
        self.onprem = onprem
        self.endpoint = endpoint.rstrip("/")
        self.url = f"{self.endpoint}/adminapi/beta/{quote(tenant, safe='')}/InvokeCommand"
        self.scope = f"{self.endpoint}/.default"
        self._token = token
        self.budget = budget or RetryBudget()
        self.page_size = page_size
        self.connection_id = str(uuid.uuid4())
        from remediations.endpoints import is_loopback_url, tls_context

        # [doc] REST-backed cmdlets time out after 15 minutes.  Proxy settings from the
        # environment apply, except to a loopback test server.
        self._client = client or httpx.Client(
            timeout=timeout, trust_env=not is_loopback_url(self.endpoint), verify=tls_context()
        )

    def __repr__(self) -> str:
        return f"AdminApiTransport(tenant={self.tenant!r}, endpoint={self.endpoint!r})"

    def send(self, cmdlet: Cmdlet) -> CmdletResult:
        """Run one cmdlet; every page of its answer; warnings kept; errors typed."""
        body = {"CmdletInput": {"CmdletName": cmdlet.name, "Parameters": self._parameters(cmdlet)}}
        objects: list[Mapping[str, Any]] = []
        warnings: list[str] = []
        url: str | None = self.url
        while url:
            data = self._post(url, body, cmdlet)
            for item in data.get("value") or ():
                objects.append(
                    {k: v for k, v in item.items() if "@" not in k}
                    if isinstance(item, dict)
                    else {"Value": item}
                )
            warnings.extend(str(w) for w in data.get("@adminapi.warnings") or ())
            next_link = data.get("@odata.nextLink")
            url = str(next_link) if next_link else None
        for warning in warnings:
            if warning.startswith(facts.RESULT_SIZE_WARNING_START):
                raise ResultTruncated(
                    f"{cmdlet.name} returned part of its result and said so ({warning}); "
                    "nothing is planned from a short list.",
                    cmdlet=cmdlet,
                )
        return CmdletResult(objects=tuple(objects), warnings=tuple(warnings))

    def close(self) -> None:
        """Close the HTTP connections; idempotent."""
        self._client.close()

    # --- one request, retried within the budget ------------------------------------

    def _parameters(self, cmdlet: Cmdlet) -> dict[str, Any]:
        params = wire_parameters(cmdlet)
        if (
            cmdlet.name.lower() in LISTING_CMDLETS
            and cmdlet.get("Identity") in (None, "")
            and cmdlet.get("ResultSize") is None
        ):
            params["ResultSize"] = "Unlimited"
        return params

    def _headers(self, cmdlet: Cmdlet) -> dict[str, str]:
        token = self._token(self.scope)
        claims = token_claims(token)
        user = claims.get("upn") or (claims.get("preferred_username") if "scp" in claims else None)
        anchor = (
            f"UPN:{user}"
            if user
            else f"APP:{APP_ANCHOR_MAILBOX}@{claims.get('tid') or self.tenant}"
        )
        return {
            "Authorization": f"Bearer {token}",
            "X-AnchorMailbox": anchor,
            "Prefer": f"odata.maxpagesize={self.page_size}",
            "X-CmdletName": cmdlet.name,
            "connection-id": self.connection_id,
            "client-request-id": str(uuid.uuid4()),
            "X-ClientApplication": "ndr-remediations",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }

    def _post(self, url: str, body: dict[str, Any], cmdlet: Cmdlet) -> dict[str, Any]:
        attempt = 0
        while True:
            retry_after: float | None = None
            try:
                response = self._client.post(url, json=body, headers=self._headers(cmdlet))
            except httpx.ConnectError as exc:
                # never reached the server: safe to retry any cmdlet
                failure: TransportError = BackendUnavailable(
                    f"Exchange Online did not answer {cmdlet.name}: {exc}.", cmdlet=cmdlet
                )
            except httpx.TransportError as exc:
                if not is_idempotent(cmdlet):
                    raise _lost(cmdlet, str(exc) or type(exc).__name__) from exc
                failure = BackendUnavailable(
                    f"Exchange Online did not answer {cmdlet.name}: {exc or type(exc).__name__}.",
                    cmdlet=cmdlet,
                )
            else:
                if response.status_code == 200:
                    return _json(response, cmdlet)
                text = response.text
                if response.status_code == 429 or _CONCURRENCY in text:
                    retry_after = _retry_after(response)
                    failure = Throttled(
                        f"Exchange Online throttled {cmdlet.name} past this run's retry budget "
                        f"({_server_message(response) or facts.THROTTLED})",
                        cmdlet=cmdlet,
                    )
                elif response.status_code in _RETRY_STATUS:
                    if not is_idempotent(cmdlet):
                        raise _lost(cmdlet, f"HTTP {response.status_code}")
                    retry_after = _retry_after(response)
                    failure = BackendUnavailable(
                        f"Exchange Online failed {cmdlet.name} (HTTP {response.status_code}): "
                        f"{_server_message(response) or response.reason_phrase}",
                        cmdlet=cmdlet,
                    )
                else:
                    raise _error(response, cmdlet, onprem=self.onprem)
            if not self.budget.wait(attempt, retry_after):
                raise failure
            attempt += 1


def _lost(cmdlet: Cmdlet, why: str) -> OutcomeUnknown:
    reader = "Get-" + cmdlet.name.partition("-")[2]
    return OutcomeUnknown(
        f"The answer to {cmdlet.name} was lost ({why}); it may or may not have taken effect, "
        f"so it is not sent again: read it back with {reader} before running again.",
        cmdlet=cmdlet,
    )


def _json(response: httpx.Response, cmdlet: Cmdlet) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        raise BackendUnavailable(
            f"Exchange Online answered {cmdlet.name} with something that is not JSON.",
            cmdlet=cmdlet,
        ) from None
    if not isinstance(data, dict):
        raise BackendUnavailable(
            f"Exchange Online answered {cmdlet.name} with an unexpected document.", cmdlet=cmdlet
        )
    return data


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_parts(response: httpx.Response) -> tuple[str, str, str]:
    """(code, exception type, message) from an error body, in the order clients read them."""
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        return "", "", response.text.strip()
    if not isinstance(error, dict):
        return "", "", str(error)
    for detail in error.get("details") or ():
        message = str((detail or {}).get("message") or "")
        if message:
            parts = message.split("|", 2)
            if len(parts) == 3:
                return parts[0], parts[1], parts[2]
            return str(error.get("code") or ""), "", message
    inner = ((error.get("innererror") or {}).get("internalException") or {}).get("message")
    if inner:
        return str(error.get("code") or ""), "", str(inner)
    return str(error.get("code") or ""), "", str(error.get("message") or "")


def _server_message(response: httpx.Response) -> str:
    return _error_parts(response)[2]


def _error(response: httpx.Response, cmdlet: Cmdlet, *, onprem: str = "") -> TransportError:
    code, exc_type, message = _error_parts(response)
    message = message or f"HTTP {response.status_code} {response.reason_phrase}"
    if facts.DIR_SYNCED_MARK in message:
        where = (
            f"run it against the on-premises target {onprem!r}"
            if onprem
            else "configure an exchange-onprem target and name it in this target's 'onprem'"
        )
        return CmdletError.of(
            f"{message} (The object is synchronized from on premises: {where}.)",
            category="DirSynced",
            cmdlet=cmdlet,
            code=code,
        )
    if response.status_code in (401, 403):
        return PermissionDenied(
            f"Exchange Online refused {cmdlet.name} (HTTP {response.status_code}): {message}",
            cmdlet=cmdlet,
            code=code,
        )
    category = _TYPE_CATEGORY.get(exc_type.rpartition(".")[2].lower(), "")
    lowered = message.lower()
    # [code] an ambiguous identity was seen typed as NotFound; the text tells.
    if "matches multiple entries" in lowered or "multiple recipients matching" in lowered:
        category = "Ambiguous"
    elif not category and ("couldn't be found" in lowered or "couldn't find object" in lowered):
        category = "NotFound"
    elif not category and "already being used" in lowered:
        category = "Duplicate"
    elif not category and response.status_code == 404:
        category = "NotFound"
    return CmdletError.of(message, category=category, cmdlet=cmdlet, code=code)
