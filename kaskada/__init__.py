"""Python client for the Kaskada API.

    import kaskada as kda
    kda.init(profile="prod")
    from kaskada import table
    table.list_tables()

Importing this package stays cheap: grpc, protobuf and keyring load on first use.
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

# typing (~3 ms) is not imported here: `import kaskada` stays at about the
# interpreter's own start. The names below are for the type checker only.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    import kaskada.table as table
    from kaskada._explain import Explanation as Explanation
    from kaskada._session import DelegatedSession as DelegatedSession
    from kaskada._session import Session as Session
    from kaskada._session import explain as explain
    from kaskada._session import init as init
    from kaskada._session import session as session
    from kaskada.server._errors import ServerError as ServerError

__version__ = "0.1.0"

_LAZY = {
    "init": ("kaskada._session", "init"),
    "session": ("kaskada._session", "session"),
    "Session": ("kaskada._session", "Session"),
    "DelegatedSession": ("kaskada._session", "DelegatedSession"),
    "explain": ("kaskada._session", "explain"),
    "login": ("kaskada._login", "login"),
    "Explanation": ("kaskada._explain", "Explanation"),
    "table": ("kaskada.table", None),
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
    "explain",
    "init",
    "login",
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


def __getattr__(name: str) -> Any:
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
