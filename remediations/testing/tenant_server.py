"""A loopback Exchange Online admin API and Microsoft Graph, backed by a sandbox tenant.

Admin API (``shared/reference/exchange.md`` 3.1):
``POST /adminapi/beta/{tenant}/InvokeCommand`` with ``{"CmdletInput": {...}}``;
answers ``{"value": [...], "@adminapi.warnings": [...]}`` and pages through
``@odata.nextLink`` when more objects than ``Prefer: odata.maxpagesize`` are
returned; a cmdlet error is a JSON error body whose ``details[].message`` is
``<ExCode>|<.NET type>|<text>`` (404 for a not-found, 400 otherwise, 429 for
throttling, 503 when the sandbox does not answer).

Graph (``exchange.md`` 4.1), under ``/v1.0``: ``GET /users``, ``GET /users/{id}``,
``GET /subscribedSkus``, ``POST /users/{id}/assignLicense``, ``GET /domains``,
``GET /domains/{id}``, ``GET /domains/{id}/serviceConfigurationRecords``,
``GET /groups/{id}`` (id, displayName, mail),
``GET /groups/{id}/transitiveMembers/$count`` (which, as Graph does, requires
``ConsistencyLevel: eventual``).  Collections are paged through ``@odata.nextLink``
when :attr:`LoopbackTenant.graph_page_size` is set.  Errors are Graph's
``{"error": {"code", "message"}}``.

Every request needs ``Authorization: Bearer <token>`` (401 otherwise) and is
logged in :attr:`LoopbackTenant.requests`.  Faults are queued with
:meth:`LoopbackTenant.inject`: throttle (429 with or without ``Retry-After``, or
the concurrency text), a failing status, or a dropped answer (the cmdlet runs,
then the connection closes without a response).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from remediations.directory.sandbox import SandboxDirectory
from remediations.errors import BackendUnavailable, CmdletError, Throttled
from remediations.exchange import facts
from remediations.exchange.adminapi import CATEGORY_EXCEPTIONS, HASHTABLE_TYPE
from remediations.exchange.cmdlet import AddRemove, Cmdlet, ParamValue
from remediations.sandbox.transport import SandboxTransport

__all__ = ["Fault", "LoggedRequest", "LoopbackTenant", "refuse_graph_cmdlet"]

# [code] the ExCode prefix seen on a not-found; the others are this server's own.
_EX_CODES = {"NotFound": "Ex6F9304"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Fault:
    """One injected fault, used by the next matching request.

    ``kind``: ``"throttle"`` (429; ``retry_after`` seconds sent as
    ``Retry-After`` when given), ``"concurrency"`` (a 400 whose body is
    Exchange's "maximum number of concurrent requests" text), ``"status"``
    (``status`` with an error body, the cmdlet not run), ``"error"`` (``status``
    with ``message`` as the server's error text, the cmdlet not run), ``"drop"`` (the cmdlet
    runs, the answer is never sent), ``"warning"`` (the cmdlet runs and
    ``warning`` is added to ``@adminapi.warnings``).  ``cmdlet`` limits it to one cmdlet name
    (admin API) or a fragment of the path and query (Graph); ``times`` is how many requests it hits.
    """

    kind: str
    cmdlet: str = ""
    retry_after: float | None = None
    status: int = 503
    warning: str = ""
    message: str = ""
    times: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class LoggedRequest:
    """One request as the server saw it."""

    method: str
    path: str
    #: header names in lower case
    headers: Mapping[str, str]
    cmdlet: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)
    body: Any = None
    #: what the server did: "ok", "error", or the fault's kind
    outcome: str = "ok"

    @property
    def is_write(self) -> bool:
        """Whether the request asked for a change (a non-Get cmdlet or a Graph POST/PATCH)."""
        if self.cmdlet:
            return not self.cmdlet.lower().startswith("get-")
        return self.method in ("POST", "PATCH", "PUT", "DELETE")


class LoopbackTenant:
    """Serve the admin API and the Graph slice on 127.0.0.1 for one sandbox transport."""

    def __init__(
        self,
        sandbox: SandboxTransport,
        *,
        token: str = "loopback-token",  # noqa: S107 - the loopback server's own test token
        tenant: str = "",
    ) -> None:
        self.sandbox = sandbox
        self.directory = SandboxDirectory(sandbox)
        self.token = token
        self.tenant = tenant or sandbox.tenant
        self.requests: list[LoggedRequest] = []
        #: UPN (lower case) -> [(SKU GUID, group id)]: licenses a user holds through a group,
        #: added to ``licenseAssignmentStates`` (the sandbox has no group licensing)
        self.group_licenses: dict[str, list[tuple[str, str]]] = {}
        #: items per page of a Graph collection (``/users``, ``/domains``, ``/subscribedSkus``);
        #: 0: all
        self.graph_page_size = 0
        self._faults: list[list[Any]] = []  # [Fault, remaining]
        self._pages: dict[str, tuple[str, list[Any]]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- life ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (the Exchange and the Graph endpoint alike)."""
        assert self._server is not None, "start the server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> LoopbackTenant:
        """Listen on a free loopback port in a daemon thread."""
        owner = self

        class Handler(_Handler):
            tenant_server = owner

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening; idempotent."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LoopbackTenant:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def inject(self, fault: Fault) -> None:
        """Queue a fault for the next matching request(s)."""
        with self._lock:
            self._faults.append([fault, fault.times])

    def writes(self) -> list[LoggedRequest]:
        """The logged requests that asked for a change."""
        return [r for r in self.requests if r.is_write]

    def _take_fault(self, key: str) -> Fault | None:
        with self._lock:
            for entry in self._faults:
                fault, remaining = entry
                if remaining > 0 and (not fault.cmdlet or fault.cmdlet.lower() in key.lower()):
                    entry[1] = remaining - 1
                    return fault  # type: ignore[no-any-return]
        return None


class _Handler(BaseHTTPRequestHandler):
    tenant_server: LoopbackTenant
    protocol_version = "HTTP/1.1"
    # An answer is written as its headers, then its body: with Nagle's algorithm the body
    # waits for the client's delayed ACK of the headers (about 40 ms a request on loopback).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log is :attr:`LoopbackTenant.requests`."""

    # --- plumbing ----------------------------------------------------------------------

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw else None

    def _send(self, status: int, doc: Any, headers: Mapping[str, str] | None = None) -> None:
        data = doc.encode() if isinstance(doc, str) else json.dumps(doc).encode()
        self.send_response(status)
        kind = "text/plain" if isinstance(doc, str) else "application/json"
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _drop(self) -> None:
        self.close_connection = True

    def _log(self, **kwargs: Any) -> None:
        server = self.tenant_server
        with server._lock:
            server.requests.append(
                LoggedRequest(
                    method=self.command,
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    **kwargs,
                )
            )

    def _authorized(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {self.tenant_server.token}":
            return True
        self._log(outcome="unauthorized")
        self._send(
            401,
            {
                "error": {
                    "code": "InvalidAuthenticationToken",
                    "message": facts.ADMINAPI_UNAUTHORIZED,
                }
            },
        )
        return False

    def do_POST(self) -> None:
        """InvokeCommand or Graph assignLicense."""
        if not self._authorized():
            return
        path = urlsplit(self.path).path
        if path.startswith("/adminapi/"):
            self._invoke_command()
        elif path.startswith("/v1.0/"):
            self._graph("POST", path[len("/v1.0") :])
        else:
            self._send(404, {"error": {"code": "NotFound", "message": f"No route for {path}."}})

    def do_GET(self) -> None:
        """The Graph reads."""
        if not self._authorized():
            return
        path = urlsplit(self.path).path
        if path.startswith("/v1.0/"):
            self._graph("GET", path[len("/v1.0") :])
        else:
            self._send(404, {"error": {"code": "NotFound", "message": f"No route for {path}."}})

    # --- admin API ---------------------------------------------------------------------

    def _invoke_command(self) -> None:
        server = self.tenant_server
        parts = urlsplit(self.path)
        body = self._body() or {}
        cmdlet_input = body.get("CmdletInput") or {}
        name = str(cmdlet_input.get("CmdletName") or "")
        params = cmdlet_input.get("Parameters") or {}
        skiptoken = (parse_qs(parts.query).get("$skiptoken") or [""])[0]
        fault = server._take_fault(name)
        self._log(cmdlet=name, parameters=params, body=body, outcome=fault.kind if fault else "ok")
        if fault is not None and fault.kind not in ("drop", "warning"):
            self._fault(fault)
            return
        if skiptoken:
            with server._lock:
                page = server._pages.pop(skiptoken, None)
            if page is None or page[0] != name:
                self._send(400, _admin_error("BadRequest", "", "The skip token is not valid."))
                return
            self._page(name, page[1], [])
            return
        try:
            cmdlet = Cmdlet(name, tuple((k, _from_wire(v)) for k, v in params.items()))
            refuse_graph_cmdlet(cmdlet)
            # concurrent requests run at once, as Exchange Online's do: the sandbox transport
            # takes turns at its store only for the transaction itself
            result = server.sandbox.send(cmdlet)
        except Throttled as exc:
            self._send(429, _admin_error("TooManyRequests", "", str(exc)))
            return
        except BackendUnavailable as exc:
            self._send(503, _admin_error("ServiceUnavailable", "", str(exc)))
            return
        except CmdletError as exc:
            status = 404 if exc.category == "NotFound" else 400
            self._send(status, _admin_error(exc.category or "BadRequest", exc.category, str(exc)))
            return
        except (TypeError, ValueError) as exc:
            self._send(400, _admin_error("BadRequest", "InvalidArgument", str(exc)))
            return
        if fault is not None and fault.kind == "drop":  # the cmdlet ran, the answer is lost
            self._drop()
            return
        warnings = list(result.warnings)
        if fault is not None and fault.kind == "warning":
            warnings.append(fault.warning)
        self._page(name, [dict(o) for o in result.objects], warnings)

    def _page(self, name: str, objects: list[Any], warnings: list[str]) -> None:
        server = self.tenant_server
        size = _max_page_size(self.headers.get("Prefer") or "")
        doc: dict[str, Any] = {
            "@odata.context": (
                f"{server.url}/adminapi/beta/$metadata#Collection(Exchange.GenericHashTable)"
            ),
            "value": objects[:size],
        }
        if len(objects) > size:
            token = uuid.uuid4().hex
            with server._lock:
                server._pages[token] = (name, objects[size:])
            doc["@odata.nextLink"] = (
                f"{server.url}/adminapi/beta/{server.tenant}/InvokeCommand?$skiptoken={token}"
            )
        if warnings:
            doc["@adminapi.warnings"] = warnings
        self._send(200, doc)

    def _fault(self, fault: Fault) -> None:
        if fault.kind == "throttle":
            headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
            self._send(429, _admin_error("TooManyRequests", "", facts.THROTTLED), headers)
        elif fault.kind == "concurrency":
            self._send(400, _admin_error("BadRequest", "", facts.THROTTLED))
        elif fault.kind == "error":
            self._send(fault.status, _admin_error("BadRequest", "", fault.message))
        else:
            self._send(
                fault.status, _admin_error("ServiceUnavailable", "", "The service is unavailable.")
            )

    # --- Graph -------------------------------------------------------------------------

    def _graph(self, method: str, path: str) -> None:
        server = self.tenant_server
        body = self._body() if method == "POST" else None
        fault = server._take_fault(self.path)  # the path with its query (e.g. $skiptoken)
        self._log(body=body, outcome=fault.kind if fault else "ok")
        if fault is not None and fault.kind not in ("drop", "warning"):
            headers = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = f"{fault.retry_after:g}"
            status = 429 if fault.kind in ("throttle", "concurrency") else fault.status
            self._send(status, _GRAPH_FAULTS.get(status, _GRAPH_FAULTS[503]), headers)
            return
        segments = [unquote(s) for s in path.strip("/").split("/")]
        try:
            with server._lock:
                status, doc = self._route(method, segments, body)
        except CmdletError as exc:
            if exc.category == "NotFound":
                self._send(404, _graph_error("Request_ResourceNotFound", str(exc)))
            else:
                self._send(400, _graph_error("Request_BadRequest", str(exc)))
            return
        except Throttled as exc:
            self._send(429, _graph_error("TooManyRequests", str(exc)))
            return
        except BackendUnavailable as exc:
            self._send(503, _graph_error("ServiceUnavailable", str(exc)))
            return
        if fault is not None and fault.kind == "drop":
            self._drop()
            return
        self._send(status, doc)

    def _route(self, method: str, segments: list[str], body: Any) -> tuple[int, Any]:
        server = self.tenant_server
        directory = server.directory
        match (method, segments):
            case ("GET", ["users"]):
                return self._collection("users", [self._user_doc(u) for u in directory.users()])
            case ("GET", ["users", user]):
                return 200, self._user(user)
            case ("POST", ["users", user, "assignLicense"]):
                if body is None or body.get("addLicenses") is None:
                    return 400, _graph_error(
                        "Request_BadRequest", "addLicenses is required (an empty list adds none)."
                    )
                removing = tuple(str(s) for s in body.get("removeLicenses"))
                for sku in removing:
                    groups = [g for s, g in server.group_licenses.get(user.lower(), []) if s == sku]
                    if groups:
                        return 400, _graph_error(
                            "Request_BadRequest",
                            f"{facts.GRAPH_LICENSE_INHERITED[:-1]}: {sku} (group {groups[0]}).",
                        )
                if removing:
                    directory.remove_licenses(user, removing)
                adding = tuple(str(s.get("skuId")) for s in body.get("addLicenses"))
                if adding:
                    directory.add_licenses(user, adding)
                return 200, self._user(user)
            case ("GET", ["subscribedSkus"]):
                return self._collection("subscribedSkus", _subscribed_skus(server))
            case ("GET", ["domains"]):
                return self._collection("domains", [_graph_domain(d) for d in directory.domains()])
            case ("GET", ["groups", group]):
                found = directory.group(group)
                return 200, {
                    "@odata.context": "$metadata#groups(id,displayName,mail)/$entity",
                    "id": found.id,
                    "displayName": found.display_name,
                    "mail": found.mail or None,
                }
            case ("GET", ["domains", name]):
                return 200, _graph_domain(directory.domain(name))
            case ("GET", ["domains", name, "serviceConfigurationRecords"]):
                return 200, {"value": [_graph_record(r) for r in directory.service_records(name)]}
            case ("GET", ["groups", group, "transitiveMembers", "$count"]):
                if (self.headers.get("ConsistencyLevel") or "").lower() != "eventual":
                    return 400, _graph_error("Request_BadRequest", facts.GRAPH_COUNT_NEEDS_EVENTUAL)
                return 200, str(directory.transitive_member_count(group))
        return 404, _graph_error(
            "Request_ResourceNotFound", f"No route for /v1.0/{'/'.join(segments)}."
        )

    def _collection(self, key: str, items: list[Any]) -> tuple[int, Any]:
        """One page of a Graph collection (:attr:`LoopbackTenant.graph_page_size` items), with
        ``@odata.nextLink`` to the rest.  Called with the server's lock held."""
        server = self.tenant_server
        token = (parse_qs(urlsplit(self.path).query).get("$skiptoken") or [""])[0]
        if token:
            page = server._pages.pop(token, None)
            if page is None or page[0] != key:
                return 400, _graph_error("Request_BadRequest", "The skip token is not valid.")
            items = page[1]
        size = server.graph_page_size or len(items) or 1
        doc: dict[str, Any] = {"@odata.context": f"$metadata#{key}", "value": items[:size]}
        if len(items) > size:
            following = uuid.uuid4().hex
            server._pages[following] = (key, items[size:])
            doc["@odata.nextLink"] = f"{server.url}/v1.0/{key}?$skiptoken={following}"
        return 200, doc

    def _user(self, user: str) -> dict[str, Any]:
        return self._user_doc(self.tenant_server.directory.user(user))

    def _user_doc(self, found: Any) -> dict[str, Any]:
        server = self.tenant_server
        doc = _graph_user(found)
        for sku, group in server.group_licenses.get(found.user_principal_name.lower(), []):
            doc["assignedLicenses"].append({"skuId": sku, "disabledPlans": []})
            doc["licenseAssignmentStates"].append(
                {"skuId": sku, "assignedByGroup": group, "state": "Active", "disabledPlans": []}
            )
        return doc


# --- shapes ------------------------------------------------------------------------------


def refuse_graph_cmdlet(cmdlet: Cmdlet) -> None:
    """Exchange has no Microsoft Graph PowerShell cmdlets (``Get-MgUser``...): refuse them.

    The sandbox answers them for its own directory; a server that stands for
    Exchange must not, or code sending them to Exchange would pass its tests.
    """
    if cmdlet.name.partition("-")[2].lower().startswith("mg"):
        raise CmdletError(
            facts.NO_SUCH_CMDLET.format(name=cmdlet.name), cmdlet=cmdlet, category="CommandNotFound"
        )


def _admin_error(code: str, category: str, message: str) -> dict[str, Any]:
    exc_type = CATEGORY_EXCEPTIONS.get(category, "")
    detail = f"{_EX_CODES.get(category, 'Ex000000')}|{exc_type}|{message}" if exc_type else message
    return {
        "error": {
            "code": code,
            "message": message,
            "details": [{"message": detail}],
            "innererror": {"internalException": {"message": message}},
        }
    }


def _graph_error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "innerError": {"request-id": "loopback"}}}


# Graph's throttling and missing-permission answers (texts in facts); the 503 is this server's.
_GRAPH_FAULTS = {
    429: _graph_error("TooManyRequests", facts.GRAPH_THROTTLED),
    403: _graph_error("Authorization_RequestDenied", facts.GRAPH_FORBIDDEN),
    503: _graph_error("ServiceUnavailable", "The service is unavailable."),
}


def _max_page_size(prefer: str) -> int:
    for item in prefer.split(","):
        key, _, value = item.strip().partition("=")
        if key == "odata.maxpagesize" and value.isdigit() and int(value) > 0:
            return int(value)
    return 1000


def _from_wire(value: Any) -> ParamValue:
    if isinstance(value, dict):
        if value.get("@odata.type") != HASHTABLE_TYPE:
            raise ValueError(
                'A hashtable parameter must carry "@odata.type": "#Exchange.GenericHashTable".'
            )
        return AddRemove(add=tuple(value.get("Add") or ()), remove=tuple(value.get("Remove") or ()))
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    if value is None or isinstance(value, str | bool | int):
        return value
    raise ValueError(f"Cannot bind parameter value {value!r}.")


def _graph_user(user: Any) -> dict[str, Any]:
    return {
        "@odata.context": "$metadata#users/$entity",
        "id": user.id,
        "userPrincipalName": user.user_principal_name,
        "displayName": user.display_name,
        "mail": user.mail,
        "accountEnabled": user.account_enabled,
        "assignedLicenses": [{"skuId": s, "disabledPlans": []} for s in user.assigned_licenses],
        "licenseAssignmentStates": [
            {
                "skuId": s.sku_id,
                "assignedByGroup": s.assigned_by_group,
                "state": s.state,
                "disabledPlans": [],
                "error": "None",
            }
            for s in user.license_states
        ],
        "onPremisesSyncEnabled": user.on_premises_sync_enabled,
    }


def _subscribed_skus(server: LoopbackTenant) -> list[dict[str, Any]]:
    """The sandbox's SKUs: its Get-MgSubscribedSku, else the part numbers its users hold."""
    from remediations.directory.sandbox import sku_guid

    tenant = server.sandbox.tenant
    try:
        listed = server.sandbox.send(Cmdlet.of("Get-MgSubscribedSku")).objects
        pairs = [(str(o["SkuId"]), str(o["SkuPartNumber"])) for o in listed]
    except CmdletError as exc:
        if exc.category != "CommandNotFound":
            raise
        parts = sorted({str(p) for u in server.sandbox.state.users for p in u["AssignedLicenses"]})
        pairs = [(sku_guid(tenant, p), p) for p in parts]
    return [
        {
            "id": f"{tenant}_{guid}",
            "skuId": guid,
            "skuPartNumber": part,
            "appliesTo": "User",
            "capabilityStatus": "Enabled",
        }
        for guid, part in pairs
    ]


def _graph_domain(domain: Any) -> dict[str, Any]:
    return {
        "id": domain.id,
        "isVerified": domain.is_verified,
        "isDefault": domain.is_default,
        "isInitial": domain.is_initial,
        "supportedServices": list(domain.supported_services),
        "authenticationType": domain.authentication_type,
    }


def _graph_record(record: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{record.label}/{record.record_type}")),
        "recordType": record.record_type,
        "label": record.label,
        "supportedService": record.supported_service,
        "ttl": record.ttl,
        "isOptional": record.is_optional,
    }
    if record.record_type.lower() == "mx":
        doc["@odata.type"] = "#microsoft.graph.domainDnsMxRecord"
        doc["mailExchange"] = record.mail_exchange
        doc["preference"] = record.preference
    elif record.record_type.lower() == "txt":
        doc["@odata.type"] = "#microsoft.graph.domainDnsTxtRecord"
        doc["text"] = record.text
    return doc
