"""Every error the client raises, in one tree.

Expected failures (a user can cause them and fix them) have their own class and a
message that names the thing, the place and the fix. The CLI prints them as one
line without a traceback. No message ever contains a secret or a token.

    KaskadaError
    ├── ConfigError                 the config file or a profile in it is unusable
    │   ├── ProfileNotFoundError    a named profile does not exist
    │   ├── ProfileExistsError      add/import/rename onto an existing name without --force
    │   └── InvalidProfileNameError a profile name outside [A-Za-z0-9._-], or a leading - or .
    ├── CredentialsError            what was given cannot make a connection
    │   ├── NoCredentialsError      nothing anywhere: names the three ways to give them
    │   ├── IncompleteCredentialsError  id without secret, endpoint without exchange endpoint
    │   └── InsecureConnectionError plaintext to a non-loopback host without allow_insecure
    ├── KeyringError                the OS keyring cannot store or give a secret
    │   └── KeyringTimeoutError     it did not answer within KASKADA_KEYRING_TIMEOUT
    ├── AuthenticationError         the token endpoint or the API refused the credentials
    │   └── ApiAuthenticationError  ...the API did (also an ApiError: code, details)
    ├── ServerError                 the local server cannot start or its database is unusable
    └── ApiError                    the API answered with a gRPC error (code, details)
        ├── NotFoundError
        ├── AlreadyExistsError
        ├── InvalidArgumentError
        └── UnavailableError        the server cannot be reached
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class KaskadaError(Exception):
    """Base of every error raised by kaskada."""


class ConfigError(KaskadaError):
    """The config file or a profile in it cannot be used as it is."""


class ProfileNotFoundError(ConfigError):
    """A profile was named that the config file does not have."""


class ProfileExistsError(ConfigError):
    """A profile of that name already exists and --force was not given."""


class InvalidProfileNameError(ConfigError):
    """A profile name outside letters, digits, '-', '_' and '.', or starting with '-' or '.'."""


class CredentialsError(KaskadaError):
    """The settings in force cannot make an authenticated connection."""


class NoCredentialsError(CredentialsError):
    """No layer of the resolution rule supplied credentials."""


class IncompleteCredentialsError(CredentialsError):
    """A layer supplied part of a credential (an id without its secret, say)."""


class InsecureConnectionError(CredentialsError):
    """Plaintext to a non-loopback host without allow_insecure."""


class KeyringError(KaskadaError):
    """The OS keyring could not store, read or delete a secret."""


class KeyringTimeoutError(KeyringError):
    """The keyring did not answer in time (a locked or hung Secret Service)."""


class AuthenticationError(KaskadaError):
    """The token endpoint or the API refused the credentials."""


class ServerError(KaskadaError):
    """The local server (``kaskada serve``) cannot start, or its database cannot be used."""


class ApiError(KaskadaError):
    """The API answered a call with an error status.

    ``code`` is the gRPC status code name (``"NOT_FOUND"``), ``details`` the
    unpacked ``google.rpc`` detail messages rendered as text.
    """

    def __init__(
        self, message: str, *, code: str = "UNKNOWN", details: Sequence[str] = (), **extra: Any
    ) -> None:
        super().__init__(message)
        self.code = code
        self.details = tuple(details)
        self.extra = extra


class NotFoundError(ApiError):
    """NOT_FOUND: the named thing does not exist in this account."""


class AlreadyExistsError(ApiError):
    """ALREADY_EXISTS: a thing of that name exists in this account."""


class InvalidArgumentError(ApiError):
    """INVALID_ARGUMENT: the request was malformed; details say which field."""


class UnavailableError(ApiError):
    """UNAVAILABLE or DEADLINE_EXCEEDED: the server could not be reached in time."""


class ApiAuthenticationError(AuthenticationError, ApiError):
    """UNAUTHENTICATED/PERMISSION_DENIED from the API: an AuthenticationError with a gRPC code."""


class DelegationExpiredError(AuthenticationError):
    """A delegated session's token expired: delegate() again where the secret is."""
