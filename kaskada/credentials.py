"""Credentials: what signs API calls, one class per kind behind one small interface.

The shape of google-auth's ``Credentials``: a token, ``valid``, ``refresh(request)``
and ``apply(headers)``. ``request`` is the HTTP transport a token exchange uses:
any callable ``(url, form, *, timeout, ca_bundle) -> (status, body)`` that raises
``TransientError`` for a failure worth retrying and never follows a redirect;
the default, ``post_form``, is the standard library's urllib.

    from kaskada.credentials import ClientSecretCredentials
    creds = ClientSecretCredentials(
        "https://auth.example.com/oauth/token", "my-id", kaskada.Secret(secret), None,
        timeout=30, ca_bundle=None, request=my_transport,
    )
    kda.init(..., token_request=my_transport)   # the same seam on a session

Kinds: ``ClientSecretCredentials`` (a client id and a secret read from a store:
``GivenSecret`` or ``KeyringStore``), ``TokenCredentials`` (a pre-issued token),
``DelegatedCredentials`` (a token handed over by ``Session.delegate()``). A new
kind is one more subclass of ``Credentials`` that implements ``_new_token``.
"""

from __future__ import annotations

from kaskada._secret_stores import GivenSecret, KeyringStore, SecretStore
from kaskada._settings import StoredSecret
from kaskada._token import (
    ClientSecretCredentials,
    Credentials,
    DelegatedCredentials,
    Request,
    TokenCredentials,
    TransientError,
    post_form,
)

__all__ = [
    "ClientSecretCredentials",
    "Credentials",
    "DelegatedCredentials",
    "GivenSecret",
    "KeyringStore",
    "Request",
    "SecretStore",
    "StoredSecret",
    "TokenCredentials",
    "TransientError",
    "post_form",
]

for _name in __all__:
    _exported = globals()[_name]
    if isinstance(_exported, type):
        _exported.__module__ = __name__
del _name, _exported
