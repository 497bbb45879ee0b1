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
``DelegatedCredentials`` (a token handed over by ``Session.delegate()``),
``DeviceCredentials`` (a person signed in with ``kaskada login``: a refresh token),
``FederatedCredentials`` (a CI job's OIDC token, exchanged) and ``CommandCredentials``
(a ``secret_command`` profile: the program runs when a token is needed). A session's
settings name the kind (``SignIn``, plain values); ``tokens.credentials_for`` makes the
class that ``tokens.KINDS`` gives for it. A new kind is one more subclass of
``Credentials`` (``from_settings``, ``sharing_key``, ``_new_token``) and one more line
of ``KINDS``; one that buys tokens at a token endpoint subclasses ``EndpointCredentials``
(or ``SignInCredentials``, made from a ``SignIn``) and says only how to buy one (``_buy``):
the token cache on disk is shared for it.

The package also holds the internals of this step (the keyring, stored secrets and
their binding, the token exchange, the disk token cache, delegation). Its public
names load on first use, so resolution can read a stored secret without loading
the token machinery; type checkers read them from ``__init__.pyi``.
"""

from __future__ import annotations

import importlib

_PUBLIC = {
    "ClientSecretCredentials": "kaskada.credentials.tokens",
    "CommandCredentials": "kaskada.credentials.command",
    "DeviceCredentials": "kaskada.credentials.signin",
    "FederatedCredentials": "kaskada.credentials.signin",
    "SignIn": "kaskada.settings.values",
    "Credentials": "kaskada.credentials.tokens",
    "DelegatedCredentials": "kaskada.credentials.tokens",
    "EndpointCredentials": "kaskada.credentials.tokens",
    "SignInCredentials": "kaskada.credentials.tokens",
    "Request": "kaskada.credentials.tokens",
    "TokenCredentials": "kaskada.credentials.tokens",
    "TransientError": "kaskada.credentials.tokens",
    "post_form": "kaskada.credentials.tokens",
    "GivenSecret": "kaskada.credentials.stores",
    "KeyringStore": "kaskada.credentials.stores",
    "SecretStore": "kaskada.credentials.stores",
    "StoredSecret": "kaskada.settings.values",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> object:
    """The public names, loaded on first use (shown as ``kaskada.credentials.X``)."""
    try:
        module_name = _PUBLIC[name]
    except KeyError:
        raise AttributeError(f"module 'kaskada.credentials' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module_name), name)
    if isinstance(value, type):
        value.__module__ = __name__
    globals()[name] = value
    return value
