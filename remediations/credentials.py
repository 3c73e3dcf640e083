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
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from remediations.errors import InputError

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
]

INSTALL_HINT = "install the tenant SDKs with: pip install -e '.[tenants]'"
# a token is renewed this many seconds before it expires
_EARLY = 300


class AccessToken(NamedTuple):
    """The shape azure-core's ``AccessToken`` has (token, expires_on in epoch seconds)."""

    token: str
    expires_on: int


class EnvTokenCredential:
    """``kind: token``: access tokens an engineer already holds, read from the environment.

    A scope for Microsoft Graph gets the token in ``graph_env``; any other
    scope (Exchange Online) the one in ``exchange_env``.  The variables are read
    when a token is asked for, so a missing one is reported by name then.
    """

    def __init__(self, *, exchange_env: str, graph_env: str, graph_hosts: tuple[str, ...]) -> None:
        self.exchange_env = exchange_env
        self.graph_env = graph_env
        self.graph_hosts = graph_hosts

    def __repr__(self) -> str:
        return (
            f"EnvTokenCredential(exchange_env={self.exchange_env!r}, graph_env={self.graph_env!r})"
        )

    def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        """The token for the first scope's service, valid (as far as we know) for an hour."""
        scope = scopes[0] if scopes else ""
        is_graph = any(host in scope for host in self.graph_hosts)
        env = self.graph_env if is_graph else self.exchange_env
        key = "graph_token_env" if is_graph else "exchange_token_env"
        if not env:
            raise InputError(
                f"credential.{key} is not set; name the environment variable holding the "
                f"{'Graph' if is_graph else 'Exchange'} access token."
            )
        value = os.environ.get(env, "").strip()
        if not value:
            raise InputError(
                f"the environment variable {env} (credential.{key}) is empty or unset; "
                "export the access token in it."
            )
        claims = token_claims(value)
        expires = claims.get("exp")
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
                got = self.credential.get_token(scope)
                held = AccessToken(str(got.token), int(got.expires_on))
                self._tokens[scope] = held
            return held.token

    def close(self) -> None:
        """Close the underlying credential if it holds connections."""
        close = getattr(self.credential, "close", None)
        if callable(close):
            close()


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


def make_credential(spec: CredentialSpec, *, tenant: str, graph_hosts: tuple[str, ...]) -> Any:
    """The credential ``spec.kind`` names; imports azure-identity only for the kinds that use it."""
    if spec.kind == "token":
        return EnvTokenCredential(
            exchange_env=spec.exchange_token_env,
            graph_env=spec.graph_token_env,
            graph_hosts=graph_hosts,
        )
    try:
        import azure.identity as identity
    except ImportError:
        raise InputError(
            f"credential.kind {spec.kind!r} needs azure-identity; {INSTALL_HINT}."
        ) from None
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
        return identity.CertificateCredential(
            tenant_id,
            spec.client_id,
            certificate_path=str(spec.certificate_path.expanduser()),
            password=password,
            **options,
        )
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
