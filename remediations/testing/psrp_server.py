"""A loopback on-premises Exchange endpoint: WSMan + PSRP (psrpcore) over HTTP, on the sandbox.

An unmodified pypsrp client opens a runspace pool against it (Basic auth, no
message encryption, ``http://127.0.0.1:PORT/PowerShell``, configuration
``Microsoft.Exchange``) and runs cmdlets; each cmdlet runs through a sandbox
transport with the sandbox's semantics.  Outputs are objects, warnings go to
the warning stream, and cmdlet errors are *non-terminating* error records (as
Exchange writes its "couldn't be found" errors): the pipeline completes and
``had_errors`` stays false, so a client must read the error stream.

Like Exchange's endpoint since KB5001779, the runspace is in no-language mode:
a script (``add_script``) is refused with an error record, never run.

WSMan handled: ``Create`` (shell, with ``creationXml``), ``Command``,
``Send``, ``Receive``, ``Signal``, ``Delete``; one shell per pool.  A
``Receive`` answers at once with whatever is ready (a real server would wait).
"""

from __future__ import annotations

import base64
import threading
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from psrpcore import (
    CreatePipelineEvent,
    PSRPPayload,
    ServerPipeline,
    ServerRunspacePool,
    StreamType,
)
from psrpcore.types import ErrorCategory, ErrorCategoryInfo, NETException, PSCustomObject

from remediations.errors import CmdletError, TransportError
from remediations.exchange.adminapi import CATEGORY_EXCEPTIONS
from remediations.exchange.cmdlet import AddRemove, Cmdlet, ParamValue
from remediations.sandbox.transport import SandboxTransport
from remediations.testing.tenant_server import refuse_graph_cmdlet

__all__ = ["LoopbackExchangeServer", "PsrpCall"]

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "wsa": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "wsman": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "wst": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "ps": "http://schemas.microsoft.com/powershell",
}
for _prefix, _uri in NS.items():
    ET.register_namespace(_prefix, _uri)

_SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
_DONE = f"{_SHELL}/CommandState/Done"
_RUNNING = f"{_SHELL}/CommandState/Running"
_CATEGORIES = {
    "NotFound": ErrorCategory.ObjectNotFound,
    "Ambiguous": ErrorCategory.InvalidArgument,
    "PermissionDenied": ErrorCategory.PermissionDenied,
    "InvalidArgument": ErrorCategory.InvalidArgument,
    "CommandNotFound": ErrorCategory.ObjectNotFound,
    "Duplicate": ErrorCategory.WriteError,
}
NO_LANGUAGE = (
    "The syntax is not supported by this runspace. This can occur if the runspace is in "
    "no-language mode."
)


@dataclass(frozen=True, slots=True)
class PsrpCall:
    """One command the endpoint received: the cmdlet (or script) and its parameters."""

    command: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    is_script: bool = False


@dataclass
class _Shell:
    pool: ServerRunspacePool
    queues: dict[uuid.UUID | None, bytearray] = field(default_factory=dict)
    finished: set[uuid.UUID] = field(default_factory=set)


class LoopbackExchangeServer:
    """Serve ``/PowerShell`` on 127.0.0.1 for one sandbox transport (Basic auth)."""

    def __init__(
        self,
        sandbox: SandboxTransport,
        *,
        username: str = "svc-ndr",
        password: str = "loopback-password",  # noqa: S107 - the loopback server's own test login
    ) -> None:
        self.sandbox = sandbox
        self.credentials = base64.b64encode(f"{username}:{password}".encode()).decode()
        self.calls: list[PsrpCall] = []
        self.shells: dict[str, _Shell] = {}
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT/PowerShell``."""
        assert self._server is not None, "start the server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/PowerShell"

    def start(self) -> LoopbackExchangeServer:
        """Listen on a free loopback port in a daemon thread."""
        owner = self

        class Handler(_Handler):
            endpoint = owner

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        """Stop listening; idempotent."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LoopbackExchangeServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def writes(self) -> list[PsrpCall]:
        """The commands received that were not Get-* (or were scripts)."""
        return [c for c in self.calls if c.is_script or not c.command.lower().startswith("get-")]

    # --- PSRP ---------------------------------------------------------------------------

    def feed(self, shell: _Shell, data: bytes) -> None:
        """Give the pool incoming fragments; run any pipeline they complete."""
        shell.pool.receive_data(PSRPPayload(data, StreamType.default, None))
        while (event := shell.pool.next_event()) is not None:
            if isinstance(event, CreatePipelineEvent):
                self._run(shell, event)
        self.drain(shell)

    def drain(self, shell: _Shell) -> None:
        """Move what the pool has to send into per-pipeline queues."""
        while (payload := shell.pool.data_to_send()) is not None:
            shell.queues.setdefault(payload.pipeline_id, bytearray()).extend(payload.data)

    def _run(self, shell: _Shell, event: CreatePipelineEvent) -> None:
        pipeline: ServerPipeline = shell.pool.pipeline_table[event.pipeline_id]
        pipeline.start()
        for command in event.pipeline.commands:
            params = {str(name): _plain(value) for name, value in command.parameters}
            with self.lock:
                self.calls.append(PsrpCall(command.command_text, params, command.is_script))
            if command.is_script:
                _write_error(pipeline, "InvalidArgument", NO_LANGUAGE, "ScriptsNotAllowed")
                continue
            try:
                cmdlet = Cmdlet(
                    command.command_text, tuple((k, _param(v)) for k, v in params.items())
                )
                refuse_graph_cmdlet(cmdlet)
                with self.lock:
                    result = self.sandbox.send(cmdlet)
            except CmdletError as exc:
                _write_error(pipeline, exc.category, str(exc), command.command_text)
                continue
            except TransportError as exc:
                _write_error(pipeline, "", str(exc), command.command_text)
                continue
            except (TypeError, ValueError) as exc:
                _write_error(pipeline, "InvalidArgument", str(exc), command.command_text)
                continue
            for obj in result.objects:
                pipeline.write_output(PSCustomObject(**{str(k): v for k, v in obj.items()}))
            for warning in result.warnings:
                pipeline.write_warning(warning)
        pipeline.complete()
        shell.finished.add(event.pipeline_id)


def _write_error(pipeline: ServerPipeline, category: str, message: str, command: str) -> None:
    exc_type = CATEGORY_EXCEPTIONS.get(category, "System.Management.Automation.RuntimeException")
    short = exc_type.rpartition(".")[2]
    pipeline.write_error(
        NETException(Message=message),
        ErrorCategoryInfo(
            Category=_CATEGORIES.get(category, ErrorCategory.NotSpecified), Reason=short
        ),
        fully_qualified_error_id=f"[FailureCategory=Cmdlet-{short}] {short},{command}",
    )


def _plain(value: Any) -> Any:
    """psrpcore's PS* values as plain Python (str, bool, int, list, dict, None)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)


def _param(value: Any) -> ParamValue:
    if isinstance(value, dict):
        unknown = set(value) - {"Add", "Remove"}
        if unknown:
            raise ValueError(f"A hashtable takes only Add and Remove, not {sorted(unknown)[0]}.")
        return AddRemove(
            add=tuple(str(v) for v in _as_list(value.get("Add"))),
            remove=tuple(str(v) for v in _as_list(value.get("Remove"))),
        )
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    if value is None or isinstance(value, str | bool | int):
        return value
    raise ValueError(f"Cannot bind parameter value {value!r}.")


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


class _Handler(BaseHTTPRequestHandler):
    endpoint: LoopbackExchangeServer
    protocol_version = "HTTP/1.1"
    #: Headers and body go out as two writes; with Nagle's algorithm the body waits for the
    #: client's delayed ACK (about 40 ms on Linux) on every answer.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the record is :attr:`LoopbackExchangeServer.calls`."""

    def do_POST(self) -> None:
        """One WSMan request."""
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.headers.get("Authorization") != f"Basic {self.endpoint.credentials}":
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="WSMAN"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        envelope = ET.fromstring(raw)  # noqa: S314 - its own loopback clients' requests only
        action = _text(envelope, "s:Header/wsa:Action")
        message_id = _text(envelope, "s:Header/wsa:MessageID")
        shell_id = ""
        for selector in envelope.iterfind("s:Header/wsman:SelectorSet/wsman:Selector", NS):
            if selector.get("Name") == "ShellId":
                shell_id = selector.text or ""
        body = envelope.find("s:Body", NS)
        assert body is not None
        verb = action.rpartition("/")[2]
        handler = getattr(self, f"_wsman_{verb.lower()}", None)
        if handler is None:
            self._reply(action, message_id, [], status=400)
            return
        self._reply(action, message_id, handler(body, shell_id))

    def _reply(
        self, action: str, message_id: str, content: list[ET.Element], status: int = 200
    ) -> None:
        envelope = ET.Element(f"{{{NS['s']}}}Envelope")
        header = ET.SubElement(envelope, f"{{{NS['s']}}}Header")
        ET.SubElement(header, f"{{{NS['wsa']}}}Action").text = f"{action}Response"
        ET.SubElement(header, f"{{{NS['wsa']}}}MessageID").text = f"uuid:{uuid.uuid4()}"
        ET.SubElement(header, f"{{{NS['wsa']}}}RelatesTo").text = message_id
        body = ET.SubElement(envelope, f"{{{NS['s']}}}Body")
        body.extend(content)
        data = ET.tostring(envelope, encoding="utf-8", xml_declaration=True)
        self.send_response(status)
        self.send_header("Content-Type", "application/soap+xml;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    # --- the WSMan verbs ----------------------------------------------------------------

    def _wsman_create(self, body: ET.Element, _: str) -> list[ET.Element]:
        shell_el = body.find("rsp:Shell", NS)
        assert shell_el is not None
        shell_id = shell_el.get("ShellId") or str(uuid.uuid4()).upper()
        shell = _Shell(ServerRunspacePool())
        self.endpoint.shells[shell_id] = shell
        creation = shell_el.find("ps:creationXml", NS)
        if creation is not None and creation.text:
            self.endpoint.feed(shell, base64.b64decode(creation.text))
        created = ET.Element(f"{{{NS['wst']}}}ResourceCreated")
        ET.SubElement(created, f"{{{NS['wsa']}}}Address").text = self.endpoint.url
        params = ET.SubElement(created, f"{{{NS['wsa']}}}ReferenceParameters")
        ET.SubElement(
            params, f"{{{NS['wsman']}}}ResourceURI"
        ).text = "http://schemas.microsoft.com/powershell/Microsoft.Exchange"
        selectors = ET.SubElement(params, f"{{{NS['wsman']}}}SelectorSet")
        ET.SubElement(selectors, f"{{{NS['wsman']}}}Selector", Name="ShellId").text = shell_id
        answer = ET.Element(f"{{{NS['rsp']}}}Shell")
        ET.SubElement(answer, f"{{{NS['rsp']}}}ShellId").text = shell_id
        ET.SubElement(
            answer, f"{{{NS['rsp']}}}ResourceUri"
        ).text = "http://schemas.microsoft.com/powershell/Microsoft.Exchange"
        ET.SubElement(answer, f"{{{NS['rsp']}}}InputStreams").text = "stdin pr"
        ET.SubElement(answer, f"{{{NS['rsp']}}}OutputStreams").text = "stdout"
        return [created, answer]

    def _wsman_command(self, body: ET.Element, shell_id: str) -> list[ET.Element]:
        shell = self.endpoint.shells[shell_id]
        line = body.find("rsp:CommandLine", NS)
        assert line is not None
        command_id = line.get("CommandId") or str(uuid.uuid4()).upper()
        ServerPipeline(shell.pool, uuid.UUID(command_id))
        for argument in line.iterfind("rsp:Arguments", NS):
            self.endpoint.feed(shell, base64.b64decode(argument.text or ""))
        answer = ET.Element(f"{{{NS['rsp']}}}CommandResponse")
        ET.SubElement(answer, f"{{{NS['rsp']}}}CommandId").text = command_id
        return [answer]

    def _wsman_send(self, body: ET.Element, shell_id: str) -> list[ET.Element]:
        shell = self.endpoint.shells[shell_id]
        for stream in body.iterfind("rsp:Send/rsp:Stream", NS):
            self.endpoint.feed(shell, base64.b64decode(stream.text or ""))
        return [ET.Element(f"{{{NS['rsp']}}}SendResponse")]

    def _wsman_receive(self, body: ET.Element, shell_id: str) -> list[ET.Element]:
        shell = self.endpoint.shells[shell_id]
        desired = body.find("rsp:Receive/rsp:DesiredStream", NS)
        command_id = desired.get("CommandId") if desired is not None else None
        key = uuid.UUID(command_id) if command_id else None
        self.endpoint.drain(shell)
        data = bytes(shell.queues.pop(key, b""))
        answer = ET.Element(f"{{{NS['rsp']}}}ReceiveResponse")
        attrs = {"Name": "stdout", **({"CommandId": command_id} if command_id else {})}
        ET.SubElement(answer, f"{{{NS['rsp']}}}Stream", attrs).text = base64.b64encode(
            data
        ).decode()
        if key is not None:
            state = _DONE if key in shell.finished else _RUNNING
            ET.SubElement(
                answer, f"{{{NS['rsp']}}}CommandState", CommandId=command_id or "", State=state
            )
        return [answer]

    def _wsman_signal(self, body: ET.Element, shell_id: str) -> list[ET.Element]:
        return [ET.Element(f"{{{NS['rsp']}}}SignalResponse")]

    def _wsman_delete(self, body: ET.Element, shell_id: str) -> list[ET.Element]:
        self.endpoint.shells.pop(shell_id, None)
        return []


def _text(root: ET.Element, path: str) -> str:
    found = root.find(path, NS)
    return (found.text or "") if found is not None else ""
