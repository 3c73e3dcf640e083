"""Microsoft Entra's sign-in service on loopback, refusing every sign-in, for azure-identity.

:class:`LoopbackEntra` is an HTTPS proxy on ``127.0.0.1``: point ``HTTPS_PROXY`` at
:attr:`~LoopbackEntra.proxy` and ``REQUESTS_CA_BUNDLE`` (which azure-identity's transport,
requests, reads) at :attr:`~LoopbackEntra.ca_file`, and every sign-in a credential makes
(``ClientSecretCredential``, ``CertificateCredential``, ...) reaches it instead of
``login.microsoftonline.com``. It accepts the tunnel, ends TLS with a certificate for that
host signed by its own test CA, serves the tenant's OpenID configuration and instance
discovery, and refuses every token request with ``401 invalid_client`` and an ``AADSTS``
description, as Entra refuses a wrong secret or certificate. A refusal is final, so a
sign-in fails in milliseconds (an unreachable service is retried with back-off by
azure-core: seconds). Nothing leaves the machine; every request is kept in
:attr:`~LoopbackEntra.requests`::

    with LoopbackEntra(tmp_path) as entra:
        env = {"HTTPS_PROXY": entra.proxy, "REQUESTS_CA_BUNDLE": str(entra.ca_file)}
        ...  # sign in: ClientAuthenticationError "AADSTS7000215: Invalid client secret ..."
    assert any(r.form.get("client_secret") == [secret] for r in entra.requests)

The shapes are those Entra documents (OpenID Connect discovery, the OAuth 2.0 error
response); needs ``cryptography`` (installed with azure-identity).
"""

from __future__ import annotations

import json
import socketserver
import ssl
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

__all__ = ["ENTRA_HOST", "EntraRequest", "LoopbackEntra"]

#: The sign-in host azure-identity uses for the global cloud.
ENTRA_HOST = "login.microsoftonline.com"

#: Entra's refusals (AADSTS codes from Microsoft's error-code reference).
BAD_SECRET = "AADSTS7000215: Invalid client secret provided."  # noqa: S105 - an error text
BAD_ASSERTION = "AADSTS700027: Client assertion contains an invalid signature."


@dataclass(frozen=True)
class EntraRequest:
    """One request the service answered: method, path and the form it was sent."""

    method: str
    path: str
    form: dict[str, list[str]]


class LoopbackEntra:
    """The sign-in service behind an HTTPS proxy on loopback; see the module's docstring."""

    def __init__(self, folder: Path) -> None:
        self.ca_file, cert_file, key_file = _tls_files(folder)
        self.requests: list[EntraRequest] = []
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(cert_file, key_file)
        service = self

        class Tunnel(socketserver.StreamRequestHandler):
            disable_nagle_algorithm = True

            def handle(self) -> None:
                request = self.rfile.readline().decode("latin-1")
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                if not request.startswith(f"CONNECT {ENTRA_HOST}:443 "):
                    self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                    return
                self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                with tls.wrap_socket(self.connection, server_side=True) as inner:
                    _Entra(inner, self.client_address, service)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Tunnel)
        self._server.daemon_threads = True
        #: The proxy URL, for ``HTTPS_PROXY``.
        self.proxy = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> LoopbackEntra:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class _Entra(BaseHTTPRequestHandler):
    """HTTP inside the tunnel (constructed by hand with the service instead of a server)."""

    protocol_version = "HTTP/1.1"

    def __init__(self, request: Any, client_address: Any, service: LoopbackEntra) -> None:
        self.service = service
        super().__init__(request, client_address, None)  # type: ignore[arg-type]

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the record is :attr:`LoopbackEntra.requests`."""

    def _answer(self, status: int, doc: dict[str, Any]) -> None:
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        """OpenID configuration and instance discovery."""
        self.service.requests.append(EntraRequest("GET", self.path, {}))
        if self.path.startswith("/common/discovery/instance"):
            self._answer(
                200,
                {
                    "api-version": "1.1",
                    "tenant_discovery_endpoint": (
                        f"https://{ENTRA_HOST}/common/v2.0/.well-known/openid-configuration"
                    ),
                    "metadata": [
                        {
                            "preferred_network": ENTRA_HOST,
                            "preferred_cache": ENTRA_HOST,
                            "aliases": [ENTRA_HOST],
                        }
                    ],
                },
            )
            return
        base = f"https://{ENTRA_HOST}/{self.path.strip('/').split('/')[0]}"
        self._answer(
            200,
            {
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            },
        )

    def do_POST(self) -> None:
        """A token request: refused."""
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        form = parse_qs(raw.decode("utf-8", "replace"))
        self.service.requests.append(EntraRequest("POST", self.path, form))
        reason = BAD_ASSERTION if "client_assertion" in form else BAD_SECRET
        code = int(reason.split(":")[0].removeprefix("AADSTS"))
        self._answer(
            401,
            {"error": "invalid_client", "error_description": reason, "error_codes": [code]},
        )


def _tls_files(folder: Path) -> tuple[Path, Path, Path]:
    """A test CA, and a certificate for :data:`ENTRA_HOST` it signed, written to ``folder``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "loopback test CA")])
    ca_key = ec.generate_private_key(ec.SECP256R1())
    key = ec.generate_private_key(ec.SECP256R1())

    def build(subject: x509.Name, public: Any, *, ca: bool) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )

    ca = build(ca_name, ca_key.public_key(), ca=True).sign(ca_key, hashes.SHA256())
    leaf = (
        build(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ENTRA_HOST)]),
            key.public_key(),
            ca=False,
        )
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(ENTRA_HOST)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_file, cert_file, key_file = (
        folder / "entra-ca.pem",
        folder / "entra.pem",
        folder / "entra.key",
    )
    ca_file.write_bytes(ca.public_bytes(pem))
    cert_file.write_bytes(leaf.public_bytes(pem))
    key_file.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_file, cert_file, key_file
