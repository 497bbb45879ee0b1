"""Python client for the Kaskada API.

    import kaskada as kda
    kda.init(profile="prod")
    from kaskada import table
    table.list_tables()

Importing this package stays cheap: grpc, protobuf, keyring (and typing) load on
first use. The lazily loaded names are declared for type checkers in
``__init__.pyi`` (the scientific Python ecosystem's SPEC 1 for lazy loading);
tests/test_shape.py checks that the stub and ``__all__`` agree.
"""

from __future__ import annotations

import importlib

from kaskada._errors import (
    AlreadyExistsError,
    ApiAuthenticationError,
    ApiError,
    ApiUnavailableError,
    AuthenticationError,
    ConfigError,
    CredentialsError,
    DelegationExpiredError,
    IncompleteCredentialsError,
    InsecureConnectionError,
    InvalidArgumentError,
    InvalidProfileNameError,
    KaskadaError,
    KeyringError,
    KeyringTimeoutError,
    NoCredentialsError,
    NoKeyringError,
    NotFoundError,
    ProfileExistsError,
    ProfileNotFoundError,
    SecretBindingError,
    TokenEndpointUnavailableError,
    UnavailableError,
    UntrustedConfigError,
)
from kaskada._secret import Secret

__version__ = "0.1.0"

_LAZY = {
    "init": ("kaskada._session", "init"),
    "session": ("kaskada._session", "session"),
    "Session": ("kaskada._session", "Session"),
    "DelegatedSession": ("kaskada._session", "DelegatedSession"),
    "explain": ("kaskada._session", "explain"),
    "login": ("kaskada.credentials.login", "login"),
    "Explanation": ("kaskada.settings.explain", "Explanation"),
    "table": ("kaskada.table", None),
    "profiles": ("kaskada.profiles", None),
    "credentials": ("kaskada.credentials", None),
    # The local server's error lives with the server (kaskada.server.ServerError);
    # kept here for 0.1 code that caught kaskada.ServerError.
    "ServerError": ("kaskada.server._errors", "ServerError"),
}

__all__ = [
    "AlreadyExistsError",
    "ApiAuthenticationError",
    "ApiError",
    "ApiUnavailableError",
    "AuthenticationError",
    "ConfigError",
    "CredentialsError",
    "DelegatedSession",
    "DelegationExpiredError",
    "Explanation",
    "IncompleteCredentialsError",
    "InsecureConnectionError",
    "InvalidArgumentError",
    "InvalidProfileNameError",
    "KaskadaError",
    "KeyringError",
    "KeyringTimeoutError",
    "NoCredentialsError",
    "NoKeyringError",
    "NotFoundError",
    "ProfileExistsError",
    "ProfileNotFoundError",
    "Secret",
    "SecretBindingError",
    "ServerError",
    "Session",
    "TokenEndpointUnavailableError",
    "UnavailableError",
    "UntrustedConfigError",
    "credentials",
    "explain",
    "init",
    "login",
    "profiles",
    "session",
    "table",
]

# Exported classes show (in tracebacks, reprs and help) as kaskada.X, not the
# private module that defines them; the lazily loaded ones set it in their class.
for _name in __all__:
    _exported = globals().get(_name)
    if isinstance(_exported, type):
        _exported.__module__ = "kaskada"
del _name, _exported


def __getattr__(name: str) -> object:
    """Load the heavy parts on first use so ``import kaskada`` stays cheap."""
    try:
        module_name, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'kaskada' has no attribute {name!r}") from None
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
