"""Python client for the Kaskada API.

    import kaskada as kda
    kda.init(profile="prod")
    from kaskada import table
    table.list_tables()

Importing this package stays cheap: grpc, protobuf and keyring load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from kaskada._errors import (
    AlreadyExistsError,
    ApiAuthenticationError,
    ApiError,
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
    NotFoundError,
    ProfileExistsError,
    ProfileNotFoundError,
    ServerError,
    UnavailableError,
)
from kaskada._secret import Secret

if TYPE_CHECKING:
    import kaskada.table as table
    from kaskada._delegate import DelegatedSession as DelegatedSession
    from kaskada._explain import Explanation as Explanation
    from kaskada._session import Session as Session
    from kaskada._session import explain as explain
    from kaskada._session import init as init
    from kaskada._session import session as session

__version__ = "0.1.0"

_LAZY = {
    "init": ("kaskada._session", "init"),
    "session": ("kaskada._session", "session"),
    "Session": ("kaskada._session", "Session"),
    "DelegatedSession": ("kaskada._delegate", "DelegatedSession"),
    "explain": ("kaskada._session", "explain"),
    "Explanation": ("kaskada._explain", "Explanation"),
    "table": ("kaskada.table", None),
}

__all__ = [
    "AlreadyExistsError",
    "ApiAuthenticationError",
    "ApiError",
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
    "NotFoundError",
    "ProfileExistsError",
    "ProfileNotFoundError",
    "Secret",
    "ServerError",
    "Session",
    "UnavailableError",
    "explain",
    "init",
    "session",
    "table",
]


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
