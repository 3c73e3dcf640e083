"""The directory on Microsoft Graph, through msgraph-sdk, behind a small synchronous facade.

msgraph-sdk is async-only; the toolkit is not.  One ``asyncio.Runner`` per
directory object (so one event loop per process for a run) drives every call,
which keeps the SDK's pooled connections on the loop that made them
(``shared/reference/dependencies.md`` 3, gotcha 4).  The SDK's own retry
handler is turned off (it retries 429/503/504 three times with no cap on
``Retry-After``); this module retries reads on 429/503/504 itself, honouring
``Retry-After``, under the run's :class:`~remediations.budget.RetryBudget`.
``assignLicense`` is retried only when the server certainly did not act (429);
a lost answer is :class:`OutcomeUnknown`.

Calls (``exchange.md`` 4.1): ``GET /users/{id}?$select=...``,
``GET /subscribedSkus``, ``POST /users/{id}/assignLicense``, ``GET /domains``,
``GET /domains/{id}``, ``GET /domains/{id}/serviceConfigurationRecords``,
``GET /groups/{id}?$select=id,displayName,mail``,
``GET /groups/{id}/transitiveMembers/$count`` with ``ConsistencyLevel: eventual``.
Collections (``/subscribedSkus``, ``/domains``) follow ``@odata.nextLink`` to the end.

The SDK builds, signs and sends each request; its answer is read here, as the JSON
Graph documents, through kiota's ``NativeResponseHandler``.  Reading it into the SDK's
model classes would load some 1,500 of them on the first call (about 2 CPU-seconds a
process) and cost about 15 ms an object, which a listing of 50,000 users cannot afford.

msgraph, kiota and httpx are imported when the first call is made, never by
``--list``, ``--help`` or sandbox runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
import warnings
from collections.abc import Awaitable, Callable, Iterator
from types import SimpleNamespace
from typing import Any, TypeVar
from urllib.parse import urlsplit

from remediations.budget import RetryBudget
from remediations.credentials import INSTALL_HINT
from remediations.directory import (
    DnsRecord,
    Domain,
    GraphRequest,
    Group,
    LicenseState,
    Sku,
    User,
    license_removal_request,
)
from remediations.errors import (
    BackendUnavailable,
    CmdletError,
    DryRunWrite,
    InputError,
    OutcomeUnknown,
    PermissionDenied,
    Throttled,
    TransportError,
)

__all__ = ["USER_PROPERTIES", "GraphDirectory"]

T = TypeVar("T")

#: every property the fixes read ($select returns only those named: exchange.md 9)
USER_PROPERTIES = (
    "id",
    "userPrincipalName",
    "displayName",
    "mail",
    "accountEnabled",
    "assignedLicenses",
    "licenseAssignmentStates",
    "onPremisesSyncEnabled",
)
_RETRY_STATUS = frozenset({429, 503, 504})


class GraphDirectory:
    """:class:`~remediations.directory.Directory` on Microsoft Graph (msgraph-sdk)."""

    name = "Microsoft Graph"

    def __init__(
        self,
        *,
        endpoint: str,
        token: Callable[[str], str],
        budget: RetryBudget | None = None,
        dry_run: bool = False,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.scope = f"{self.endpoint}/.default"
        self._token = token
        self.budget = budget or RetryBudget()
        self.dry_run = dry_run
        self._runner: asyncio.Runner | None = None
        self._client: Any = None
        self._http: Any = None
        self._pool: Any = None

    def __repr__(self) -> str:
        return f"GraphDirectory(endpoint={self.endpoint!r})"

    # --- the Directory interface -------------------------------------------------------

    def user(self, user: str) -> User:
        """``GET /users/{upn or id}?$select=...``."""
        query = _sdk().UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(
            select=list(USER_PROPERTIES)
        )
        answer = self._call(
            f"GET /users/{user}",
            lambda c: c.users.by_user_id(user).get(request_configuration=_config(query)),
        )
        return _user(_json(answer))

    def users(self) -> tuple[User, ...]:
        """``GET /users?$select=...&$top=999``, every page."""
        query = _sdk().UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
            select=list(USER_PROPERTIES), top=999
        )
        found = self._every_page("GET /users", lambda c: c.users, query)
        return tuple(_user(raw) for raw in found)

    def subscribed_skus(self) -> tuple[Sku, ...]:
        """``GET /subscribedSkus``, every page."""
        found = self._every_page("GET /subscribedSkus", lambda c: c.subscribed_skus)
        return tuple(
            Sku(sku_id=str(s["skuId"]), part_number=str(s["skuPartNumber"])) for s in found
        )

    def removal_request(self, user: str, sku_ids: tuple[str, ...]) -> GraphRequest:
        """The preview of :meth:`remove_licenses`."""
        return license_removal_request(user, sku_ids)

    def remove_licenses(self, user: str, sku_ids: tuple[str, ...]) -> None:
        """``POST /users/{id}/assignLicense`` with ``removeLicenses`` (SKU GUIDs)."""
        self._assign_license(user, add=(), remove=sku_ids)

    def add_licenses(self, user: str, sku_ids: tuple[str, ...]) -> None:
        """``POST /users/{id}/assignLicense`` with ``addLicenses`` (SKU GUIDs, no plan disabled)."""
        self._assign_license(user, add=sku_ids, remove=())

    def _assign_license(self, user: str, *, add: tuple[str, ...], remove: tuple[str, ...]) -> None:
        if self.dry_run:
            raise DryRunWrite(
                f"A dry run does not send writes; assignLicense for {user} was refused "
                "and nothing changed."
            )
        try:
            adding = [uuid.UUID(s) for s in add]
            removing = [uuid.UUID(s) for s in remove]
        except ValueError:
            raise InputError(
                f"license {', '.join(add + remove)} is not a SKU GUID; give the skuId "
                "(subscribedSkus maps part numbers to GUIDs)."
            ) from None
        sdk = _sdk()
        body = sdk.AssignLicensePostRequestBody(
            add_licenses=[sdk.AssignedLicense(sku_id=g, disabled_plans=[]) for g in adding],
            remove_licenses=removing,
        )
        self._call(
            f"POST /users/{user}/assignLicense",
            lambda c: c.users.by_user_id(user).assign_license.post(
                body, request_configuration=_config()
            ),
            write=True,
        )

    def domains(self) -> tuple[Domain, ...]:
        """``GET /domains``, every page."""
        return tuple(_domain(d) for d in self._every_page("GET /domains", lambda c: c.domains))

    def domain(self, name: str) -> Domain:
        """``GET /domains/{name}``."""
        answer = self._call(
            f"GET /domains/{name}",
            lambda c: c.domains.by_domain_id(name).get(request_configuration=_config()),
        )
        return _domain(_json(answer))

    def service_records(self, name: str) -> tuple[DnsRecord, ...]:
        """``GET /domains/{name}/serviceConfigurationRecords``."""
        answer = self._call(
            f"GET /domains/{name}/serviceConfigurationRecords",
            lambda c: c.domains.by_domain_id(name).service_configuration_records.get(
                request_configuration=_config()
            ),
        )
        return tuple(_record(r) for r in _json(answer).get("value") or ())

    def group(self, group: str) -> Group:
        """``GET /groups/{id}?$select=id,displayName,mail``."""
        query = _sdk().GroupItemRequestBuilder.GroupItemRequestBuilderGetQueryParameters(
            select=["id", "displayName", "mail"]
        )
        raw = _json(
            self._call(
                f"GET /groups/{group}",
                lambda c: c.groups.by_group_id(group).get(request_configuration=_config(query)),
            )
        )
        return Group(
            id=str(raw["id"]),
            display_name=str(raw.get("displayName") or ""),
            mail=str(raw.get("mail") or ""),
        )

    def transitive_member_count(self, group: str) -> int:
        """``GET /groups/{id}/transitiveMembers/$count`` with ``ConsistencyLevel: eventual``."""
        cfg = _config()
        cfg.headers.add("ConsistencyLevel", "eventual")
        what = f"GET /groups/{group}/transitiveMembers/$count"
        answer = self._call(
            what,
            lambda c: c.groups.by_group_id(group).transitive_members.count.get(
                request_configuration=cfg
            ),
        )
        try:
            return int(answer.text)
        except ValueError:
            raise CmdletError.of(
                f"Microsoft Graph answered {what} with {answer.text[:80]!r}, not a count.",
                category="InvalidResult",
            ) from None

    def close(self) -> None:
        """Close the HTTP client and the event loop; idempotent."""
        runner, self._runner = self._runner, None
        client, self._client = self._client, None
        if runner is None:
            return
        if client is not None:
            runner.run(self._http.aclose())
            runner.run(self._pool.aclose())
        runner.close()

    # --- the facade --------------------------------------------------------------------

    def _every_page(
        self, what: str, collection: Callable[[Any], Any], query: Any = None
    ) -> list[dict[str, Any]]:
        """Every item of a collection: the first page, then each ``@odata.nextLink``.

        Each page is one read under the run's budget; a page that fails fails the whole
        list (never a short one).
        """
        page = _json(
            self._call(what, lambda c: collection(c).get(request_configuration=_config(query)))
        )
        items = list(page.get("value") or ())
        while page.get("@odata.nextLink"):
            link = str(page["@odata.nextLink"])
            page = _json(
                self._call(
                    f"{what} (next page)",
                    lambda c, link=link: (
                        collection(c)  # type: ignore[misc]
                        .with_url(link)
                        .get(request_configuration=_config())
                    ),
                )
            )
            items.extend(page.get("value") or ())
        return items

    def _graph(self) -> Any:
        if self._client is None:
            self._client = self._build()
        return self._client

    def _build(self) -> Any:
        sdk = _sdk()
        AccessTokenProvider = sdk.AccessTokenProvider  # noqa: N806 - a class
        AllowedHostsValidator = sdk.AllowedHostsValidator  # noqa: N806 - a class
        token, scope = self._token, self.scope
        host = urlsplit(self.endpoint).hostname or ""

        class _Tokens(AccessTokenProvider):  # type: ignore[misc,valid-type]
            async def get_authorization_token(
                self, uri: str, additional_authentication_context: Any = None
            ) -> str:
                return token(scope)

            def get_allowed_hosts_validator(self) -> Any:
                return AllowedHostsValidator([host])

        import httpx

        from remediations.endpoints import is_loopback_url, tls_context

        # Our own pool, closed by close(): the SDK's transport wrapper does not close it.
        # The environment's proxy applies (an explicit transport does not read it itself),
        # except to a loopback test server.
        self._pool = httpx.AsyncHTTPTransport(proxy=_env_proxy(self.endpoint), verify=tls_context())
        retry = sdk.RetryHandlerOption
        http = sdk.GraphClientFactory.create_with_default_middleware(
            client=httpx.AsyncClient(
                transport=self._pool,
                base_url=f"{self.endpoint}/v1.0",
                trust_env=not is_loopback_url(self.endpoint),
            ),
            options={retry.get_key(): retry(max_retries=0)},
        )
        self._http = http
        adapter = sdk.GraphRequestAdapter(
            sdk.BaseBearerTokenAuthenticationProvider(_Tokens()), client=http
        )
        adapter.base_url = f"{self.endpoint}/v1.0"
        return sdk.GraphServiceClient(request_adapter=adapter)

    def _call(
        self, what: str, make: Callable[[Any], Awaitable[Any]], *, write: bool = False
    ) -> Any:
        """Send one request (``make`` builds it on the client) and return the HTTP answer
        to it, which has succeeded; a failure is a typed error, retried as the module says."""
        if self._runner is None:
            self._runner = asyncio.Runner()
        client = self._graph()
        attempt = 0
        while True:
            retry_after: float | None = None
            try:
                with _sdk_warnings_silenced():
                    answer = self._runner.run(_awaited(make(client)))
            except TransportError:
                raise
            except Exception as exc:
                # httpx's transport errors: the request may not have reached Graph
                if not type(exc).__module__.startswith("httpx"):
                    raise
                if write:
                    raise OutcomeUnknown(
                        f"The answer to {what} was lost ({type(exc).__name__}); it may or may "
                        "not have taken effect, so it is not sent again: read the user back first."
                    ) from None
                failure: TransportError = BackendUnavailable(
                    f"Microsoft Graph did not answer {what}: {exc}."
                )
            else:
                status = answer.status_code
                if status < 400:
                    return answer
                if status not in _RETRY_STATUS:
                    raise _error(answer, what)
                if write and status != 429:
                    raise OutcomeUnknown(
                        f"The answer to {what} was lost (HTTP {status}); it may or may not have "
                        "taken effect, so it is not sent again: read the user back first."
                    ) from None
                retry_after = _retry_after(answer.headers)
                failure = (
                    Throttled(f"Microsoft Graph throttled {what} past this run's retry budget.")
                    if status == 429
                    else BackendUnavailable(f"Microsoft Graph failed {what} (HTTP {status}).")
                )
            if not self.budget.wait(attempt, retry_after):
                raise failure
            attempt += 1


async def _awaited(awaitable: Awaitable[T]) -> T:
    return await awaitable


def _env_proxy(endpoint: str) -> str | None:
    """The proxy the environment names for ``endpoint`` (HTTPS_PROXY, NO_PROXY), if any."""
    import urllib.request

    from remediations.endpoints import is_loopback_url

    parts = urlsplit(endpoint)
    if is_loopback_url(endpoint) or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return urllib.request.getproxies().get(parts.scheme)


def _config(query: Any = None) -> Any:
    """A request's configuration: its query, and its answer handed back as it came."""
    sdk = _sdk()
    options = [sdk.ResponseHandlerOption(sdk.NativeResponseHandler())]
    if query is None:
        return sdk.RequestConfiguration(options=options)
    return sdk.RequestConfiguration(query_parameters=query, options=options)


def _json(answer: Any) -> dict[str, Any]:
    """The JSON object of a successful answer (a body that is not one is Graph's fault)."""
    try:
        body = answer.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise CmdletError.of(
            f"Microsoft Graph answered {answer.request.method} {answer.request.url.path} "
            "with a body that is not a JSON object.",
            category="InvalidResult",
        )
    return body


_SDK: SimpleNamespace | None = None


@contextlib.contextmanager
def _sdk_warnings_silenced() -> Iterator[None]:
    """Silence the SDK's own DeprecationWarnings (about its code, not ours), only here."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", category=DeprecationWarning, module=r"(msgraph|kiota_\w+)(\.|$)"
        )
        yield


def _sdk() -> SimpleNamespace:
    """msgraph-sdk's pieces, imported once, on first use.

    The SDK's request builders warn ``DeprecationWarning`` when imported
    (``dependencies.md`` 3, gotcha 6), which happens lazily during calls too.
    """
    global _SDK
    if _SDK is None:
        try:
            with _sdk_warnings_silenced():
                from kiota_abstractions.authentication import (
                    AccessTokenProvider,
                    AllowedHostsValidator,
                    BaseBearerTokenAuthenticationProvider,
                )
                from kiota_abstractions.base_request_configuration import RequestConfiguration
                from kiota_abstractions.native_response_handler import NativeResponseHandler
                from kiota_http.middleware.options import ResponseHandlerOption, RetryHandlerOption
                from msgraph.generated.groups.item.group_item_request_builder import (
                    GroupItemRequestBuilder,
                )
                from msgraph.generated.models.assigned_license import AssignedLicense
                from msgraph.generated.users.item.assign_license.assign_license_post_request_body import (  # noqa: E501
                    AssignLicensePostRequestBody,
                )
                from msgraph.generated.users.item.user_item_request_builder import (
                    UserItemRequestBuilder,
                )
                from msgraph.generated.users.users_request_builder import UsersRequestBuilder
                from msgraph.graph_request_adapter import GraphRequestAdapter
                from msgraph.graph_service_client import GraphServiceClient
                from msgraph_core import GraphClientFactory
        except ImportError:
            raise InputError(
                f"a Microsoft Graph target needs msgraph-sdk; {INSTALL_HINT}."
            ) from None
        _SDK = SimpleNamespace(
            AccessTokenProvider=AccessTokenProvider,
            AllowedHostsValidator=AllowedHostsValidator,
            BaseBearerTokenAuthenticationProvider=BaseBearerTokenAuthenticationProvider,
            RequestConfiguration=RequestConfiguration,
            RetryHandlerOption=RetryHandlerOption,
            ResponseHandlerOption=ResponseHandlerOption,
            NativeResponseHandler=NativeResponseHandler,
            GraphRequestAdapter=GraphRequestAdapter,
            GraphServiceClient=GraphServiceClient,
            AssignLicensePostRequestBody=AssignLicensePostRequestBody,
            AssignedLicense=AssignedLicense,
            UserItemRequestBuilder=UserItemRequestBuilder,
            UsersRequestBuilder=UsersRequestBuilder,
            GroupItemRequestBuilder=GroupItemRequestBuilder,
            GraphClientFactory=GraphClientFactory,
        )
    return _SDK


def _retry_after(headers: Any) -> float | None:
    for key, value in dict(headers).items():
        if str(key).lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return None
    return None


def _error(answer: Any, what: str) -> TransportError:
    """The typed error of a failed answer, from Graph's ``{"error": {"code", "message"}}``."""
    status = answer.status_code
    try:
        body = answer.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    code = str(error.get("code") or "")
    message = str(error.get("message") or f"HTTP {status}")
    if status in (401, 403):
        return PermissionDenied(
            f"Microsoft Graph refused {what} (HTTP {status}): {message}", code=code
        )
    if status == 404:
        return CmdletError.of(message, category="NotFound", code=code)
    return CmdletError.of(message, category=code or "BadRequest", code=code)


def _user(raw: dict[str, Any]) -> User:
    return User(
        id=str(raw["id"]),
        user_principal_name=str(raw["userPrincipalName"]),
        display_name=str(raw.get("displayName") or ""),
        mail=str(raw.get("mail") or ""),
        account_enabled=bool(raw.get("accountEnabled")),
        assigned_licenses=tuple(str(a["skuId"]) for a in raw.get("assignedLicenses") or ()),
        license_states=tuple(
            LicenseState(
                sku_id=str(s["skuId"]),
                assigned_by_group=str(s["assignedByGroup"]) if s.get("assignedByGroup") else None,
                state=str(s.get("state") or "Active"),
            )
            for s in raw.get("licenseAssignmentStates") or ()
        ),
        on_premises_sync_enabled=bool(raw.get("onPremisesSyncEnabled")),
    )


def _domain(raw: dict[str, Any]) -> Domain:
    return Domain(
        id=str(raw["id"]),
        is_verified=bool(raw.get("isVerified")),
        is_default=bool(raw.get("isDefault")),
        is_initial=bool(raw.get("isInitial")),
        supported_services=tuple(str(s) for s in raw.get("supportedServices") or ()),
        authentication_type=str(raw.get("authenticationType") or "Managed"),
    )


def _record(raw: dict[str, Any]) -> DnsRecord:
    preference = raw.get("preference")
    return DnsRecord(
        record_type=str(raw["recordType"]),
        label=str(raw.get("label") or ""),
        supported_service=str(raw.get("supportedService") or ""),
        ttl=int(raw.get("ttl") or 3600),
        is_optional=bool(raw.get("isOptional")),
        mail_exchange=raw.get("mailExchange"),
        preference=int(preference) if preference is not None else None,
        text=raw.get("text"),
    )
