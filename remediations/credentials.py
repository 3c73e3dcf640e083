"""Signing in: one credential per run, chosen explicitly, tokens reused.

``credential.kind`` in a target's settings picks the azure-identity class
(imported only here, only when a real target is used):

| kind | class |
| --- | --- |
| ``certificate`` | ``CertificateCredential`` (app-only; what Exchange Online app-only uses) |
| ``secret`` | ``ClientSecretCredential`` (Graph; Exchange Online documents certificates) |
| ``device-code`` | ``DeviceCodeCredential`` (a person at a terminal) |
| ``managed-identity`` | ``ManagedIdentityCredential`` (running in Azure) |
| ``azure-cli`` | ``AzureCliCredential`` (``az login`` already done) |
| ``default`` | ``DefaultAzureCredential`` (only when asked: its probing costs seconds) |
| ``token`` | :class:`EnvTokenCredential`: ready access tokens from environment variables |

Secrets come only from files or environment variables, never from flags or
the configuration itself; nothing here puts a secret in a ``repr`` or ``str``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from remediations.errors import InputError, RemediationError, TransportError

if TYPE_CHECKING:
    from remediations.target import CredentialSpec

__all__ = [
    "INSTALL_HINT",
    "AccessToken",
    "BearerTokens",
    "EnvTokenCredential",
    "make_credential",
    "read_secret",
    "token_claims",
    "token_sources",
]

INSTALL_HINT = "install the tenant SDKs with: pip install -e '.[tenants]'"
# a token is renewed this many seconds before it expires
_EARLY = 300


class AccessToken(NamedTuple):
    """The shape azure-core's ``AccessToken`` has (token, expires_on in epoch seconds)."""

    token: str
    expires_on: int


class EnvTokenCredential:
    """``kind: token``: an access token an engineer already holds, read from the environment.

    One per service (Exchange, Graph): the variable is read when a token is
    asked for, so a missing one is reported by name then, before anything is sent.
    """

    def __init__(self, *, env: str, key: str, service: str) -> None:
        self.env = env
        self.key = key
        self.service = service

    def __repr__(self) -> str:
        return f"EnvTokenCredential(env={self.env!r})"

    def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        """The token, valid until its ``exp`` claim (an hour when it carries none)."""
        if not self.env:
            raise InputError(
                f"credential.{self.key} is not set; name the environment variable holding "
                f"the {self.service} access token."
            )
        value = os.environ.get(self.env, "").strip()
        if not value:
            raise InputError(
                f"the environment variable {self.env} (credential.{self.key}) is empty or "
                "unset; export the access token in it."
            )
        expires = token_claims(value).get("exp")
        expires_on = int(expires) if isinstance(expires, int) else int(time.time()) + 3600
        return AccessToken(value, expires_on)

    def close(self) -> None:
        """Nothing to release."""


class BearerTokens:
    """One credential for the run; a token per scope, reused until shortly before it expires."""

    def __init__(self, credential: Any, *, clock: Any = time.time) -> None:
        self.credential = credential
        self._clock = clock
        self._tokens: dict[str, AccessToken] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"BearerTokens({type(self.credential).__name__})"

    def token(self, scope: str) -> str:
        """A bearer token for ``scope`` (e.g. ``https://outlook.office365.com/.default``)."""
        with self._lock:
            held = self._tokens.get(scope)
            if held is None or held.expires_on - _EARLY <= self._clock():
                try:
                    got = self.credential.get_token(scope)
                except RemediationError:
                    raise
                except Exception as exc:
                    raise _sign_in_error(exc, scope) from exc
                held = AccessToken(str(got.token), int(got.expires_on))
                self._tokens[scope] = held
            return held.token

    def close(self) -> None:
        """Close the underlying credential if it holds connections."""
        close = getattr(self.credential, "close", None)
        if callable(close):
            close()


def _sign_in_error(exc: Exception, scope: str) -> Exception:
    """azure-identity's sign-in failures as our error tree; anything else stays a bug."""
    from azure.core.exceptions import AzureError

    if not isinstance(exc, AzureError):
        return exc
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return TransportError(
        f"Signing in for {scope} failed ({type(exc).__name__}): {reason} Check the target's "
        "credential settings and that this machine can reach the sign-in service; "
        "'invoke target.check' tests it without changing anything."
    )


def token_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT access token, unverified (only to pick an anchor); {} if not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def read_secret(*, env: str, file: Path | None, what: str) -> str:
    """A secret from an environment variable or a file; InputError naming the key if absent."""
    if env:
        value = os.environ.get(env, "")
        if not value:
            raise InputError(f"the environment variable {env} ({what}) is empty or unset.")
        return value
    if file is not None:
        try:
            return file.expanduser().read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise InputError(
                f"{what}: cannot read {file} ({exc.strerror}); give a readable file."
            ) from None
    raise InputError(f"{what} is missing; give the name of an environment variable or a file.")


def token_sources(spec: CredentialSpec, *, tenant: str) -> tuple[BearerTokens, BearerTokens]:
    """The run's token sources for Exchange and Graph: one credential, or a variable each."""
    if spec.kind == "token":
        return (
            BearerTokens(
                EnvTokenCredential(
                    env=spec.exchange_token_env, key="exchange_token_env", service="Exchange"
                )
            ),
            BearerTokens(
                EnvTokenCredential(env=spec.graph_token_env, key="graph_token_env", service="Graph")
            ),
        )
    shared = BearerTokens(make_credential(spec, tenant=tenant))
    return shared, shared


def make_credential(spec: CredentialSpec, *, tenant: str) -> Any:
    """The azure-identity credential ``spec.kind`` names, imported only now."""
    if spec.kind == "token":
        raise InputError(
            "credential.kind 'token' takes tokens from the environment; see token_sources."
        )
    try:
        import azure.identity as identity
    except ImportError:
        raise InputError(
            f"credential.kind {spec.kind!r} needs azure-identity; {INSTALL_HINT}."
        ) from None
    # A failed sign-in is reported once, as one sentence (BearerTokens.token); azure-identity's
    # own warning and traceback on stderr would say it again, less clearly.
    logging.getLogger("azure.identity").setLevel(logging.CRITICAL)
    tenant_id = spec.tenant_id or tenant
    options: dict[str, Any] = {}
    if spec.token_cache:
        options["cache_persistence_options"] = identity.TokenCachePersistenceOptions(
            name="ndr-remediations", allow_unencrypted_storage=spec.allow_unencrypted_cache
        )
    if spec.kind == "certificate":
        assert spec.certificate_path is not None  # checked when the settings were read
        password = (
            read_secret(
                env=spec.certificate_password_env,
                file=None,
                what="credential.certificate_password_env",
            )
            if spec.certificate_password_env
            else None
        )
        try:
            return identity.CertificateCredential(
                tenant_id,
                spec.client_id,
                certificate_path=str(spec.certificate_path.expanduser()),
                password=password,
                **options,
            )
        except ValueError as exc:  # unreadable, wrong password, not an RSA key
            raise InputError(
                f"credential.certificate_path {spec.certificate_path} cannot be used ({exc}); "
                "give a PEM or PKCS12 file holding the certificate and its RSA private key, "
                "and its password in certificate_password_env if it has one."
            ) from None
    if spec.kind == "secret":
        secret = read_secret(env=spec.secret_env, file=spec.secret_file, what="credential secret")
        return identity.ClientSecretCredential(tenant_id, spec.client_id, secret, **options)
    if spec.kind == "device-code":
        kwargs: dict[str, Any] = {"tenant_id": tenant_id, **options}
        if spec.client_id:
            kwargs["client_id"] = spec.client_id
        return identity.DeviceCodeCredential(**kwargs)
    if spec.kind == "managed-identity":
        if spec.client_id:
            return identity.ManagedIdentityCredential(client_id=spec.client_id)
        return identity.ManagedIdentityCredential()
    if spec.kind == "azure-cli":
        return identity.AzureCliCredential(tenant_id=tenant_id)
    return identity.DefaultAzureCredential()
