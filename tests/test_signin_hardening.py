"""Device and federated sign-in against hostile or broken servers and files (red-team
findings F5-F16 of issue 21): refresh tokens bound to their issuer, metadata endpoints
under the TLS rule, no redirects with a bearer, one clear line for every failure."""

from __future__ import annotations

from typing import Any

import pytest

from kaskada._errors import SecretBindingError
from kaskada._secret import Secret
from kaskada.credentials.signin import DeviceLogin

FIELDS = {"client_id": "kaskada-cli", "endpoint": "127.0.0.1:41403",
          "exchange_endpoint": "http://127.0.0.1:41404/oauth/token"}


def test_refresh_token_is_bound_to_its_issuer(memory_keyring: Any) -> None:
    """F5: the issuer's metadata decides where a refresh token goes, so changing the
    profile's issuer (an edit or an import) keeps the stored token from being sent."""
    DeviceLogin("me", FIELDS, {"auth": "device", "issuer": "https://a.example"}).store(
        "RT-CANARY")
    same = DeviceLogin("me", FIELDS, {"auth": "device", "issuer": "https://a.example/"})
    assert same.stored() == Secret("RT-CANARY")
    moved = DeviceLogin("me", FIELDS, {"auth": "device", "issuer": "https://evil.example"})
    with pytest.raises(SecretBindingError) as caught:
        moved.stored()
    message = str(caught.value)
    assert "issuer was 'https://a.example', is 'https://evil.example'" in message
    assert "kaskada login --profile me" in message
    assert "RT-CANARY" not in message
    added = DeviceLogin("me", {k: v for k, v in FIELDS.items() if k != "exchange_endpoint"},
                        {"auth": "device", "issuer": "https://evil.example"})
    with pytest.raises(SecretBindingError):
        added.stored()
