"""A sign-in that fails is one sentence and exit 1, never azure-identity's traceback."""

from __future__ import annotations

import pytest

from remediations.credentials import BearerTokens
from remediations.errors import TransportError


def test_an_unreachable_sign_in_service_is_a_transport_error() -> None:
    """azure-identity's ClientAuthenticationError is translated at the credential boundary."""
    from azure.identity import ClientSecretCredential

    credential = ClientSecretCredential(
        "contoso.onmicrosoft.com",
        "00000000-0000-0000-0000-000000000000",
        "not-a-real-secret",
        authority="127.0.0.1:9",  # the discard port on loopback: nothing answers
        retry_total=0,  # azure-core would retry with backoff: the same error, seconds later
    )
    tokens = BearerTokens(credential)
    with pytest.raises(TransportError, match=r"^Signing in for https://outlook\.office365\.com/"):
        tokens.token("https://outlook.office365.com/.default")
    tokens.close()


def test_a_bug_in_a_credential_is_not_hidden() -> None:
    """Only azure's own errors are translated; anything else keeps its traceback."""

    class Broken:
        def get_token(self, *scopes: str) -> object:
            raise KeyError("bug")

    with pytest.raises(KeyError):
        BearerTokens(Broken()).token("https://graph.microsoft.com/.default")
