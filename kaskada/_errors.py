"""Every error the client raises, in one tree.

Expected failures (a user can cause them and fix them) have their own class and a
message that names the thing, the place and the fix. The CLI prints them as one
line without a traceback. No message ever contains a secret or a token.

Four branches answer the four questions a caller asks: are my settings wrong
(ConfigError, also a ValueError), is the keyring unusable (KeyringError), were
my credentials refused (AuthenticationError), or could a service not be reached
(UnavailableError: the API *or* the token endpoint, so one ``except`` catches
an outage wherever it is). ApiError carries the gRPC code of any failed call and
so is also the second parent of the API's own refusals and outages.

    KaskadaError
    ├── ConfigError (ValueError)     a setting is unusable: config file, profile, argument, variable
    │   ├── ProfileNotFoundError     a named profile does not exist
    │   ├── ProfileExistsError       add/import/rename onto an existing name without --force
    │   ├── InvalidProfileNameError  a profile name outside [A-Za-z0-9._-], or a leading - or .
    │   ├── UntrustedConfigError     the config file or folder is writable by another account
    │   └── CredentialsError         what was given cannot make a connection
    │       ├── NoCredentialsError   nothing anywhere: names the three ways to give them
    │       ├── IncompleteCredentialsError  id without secret, endpoint without exchange endpoint
    │       │   └── SecretBindingError  the stored secret was bound to other destinations
    │       └── InsecureConnectionError  plaintext to a non-loopback host without allow_insecure
    ├── KeyringError                 the OS keyring cannot store or give a secret
    │   ├── NoKeyringError           there is no usable keyring backend at all
    │   │   └── PlainTextKeyringError  the backend keeps plain text (refused without opt-in)
    │   └── KeyringTimeoutError      it did not answer within KASKADA_KEYRING_TIMEOUT
    ├── AuthenticationError          the token endpoint or the API refused the credentials
    │   ├── ApiAuthenticationError   ...the API did (also an ApiError: code, details)
    │   └── DelegationExpiredError   a delegate()d session's token expired
    ├── UnavailableError             a service could not be reached, or asked to wait
    │   ├── TokenEndpointUnavailableError  the token endpoint (refused connection, timeout,
    │   │                            5xx after retries, 429/503 "asks to wait")
    │   └── ApiUnavailableError      the API: UNAVAILABLE/DEADLINE_EXCEEDED, or RESOURCE_EXHAUSTED
    │                                from an overloaded server (also an ApiError)
    └── ApiError                     the API answered with a gRPC error (code, details)
        ├── NotFoundError
        ├── AlreadyExistsError
        ├── InvalidArgumentError
        ├── ApiAuthenticationError   (above)
        └── ApiUnavailableError      (above)

The local server's own failures (``kaskada serve``) are ``kaskada.server.ServerError``,
a KaskadaError outside this tree: a client never raises it.
"""

from __future__ import annotations


class KaskadaError(Exception):
    """Base of every error raised by kaskada."""


class ConfigError(KaskadaError, ValueError):
    """A setting cannot be used as it is: the config file, a profile, an argument or a variable."""


class ProfileNotFoundError(ConfigError):
    """A profile was named that the config file does not have."""


class ProfileExistsError(ConfigError):
    """A profile of that name already exists and --force was not given."""


class InvalidProfileNameError(ConfigError):
    """A profile name outside letters, digits, '-', '_' and '.', or starting with '-' or '.'."""


class UntrustedConfigError(ConfigError):
    """The config file or folder could have been changed by another account."""


class CredentialsError(ConfigError):
    """The settings in force cannot make an authenticated connection."""


class NoCredentialsError(CredentialsError):
    """No layer of the resolution rule supplied credentials."""


class IncompleteCredentialsError(CredentialsError):
    """A layer supplied part of a credential (an id without its secret, say)."""


class SecretBindingError(IncompleteCredentialsError):
    """The stored secret was bound to other settings than the profile has now: not sent."""


class InsecureConnectionError(CredentialsError):
    """Plaintext to a non-loopback host without allow_insecure."""


class KeyringError(KaskadaError):
    """The OS keyring could not store, read or delete a secret."""


class NoKeyringError(KeyringError):
    """No usable backend at all (``fail``/``null``): nothing can have been stored."""


class PlainTextKeyringError(NoKeyringError):
    """The keyring backend keeps secrets as plain text: it counts as no keyring."""


class KeyringTimeoutError(KeyringError):
    """The keyring did not answer in time (a locked or hung Secret Service)."""


class AuthenticationError(KaskadaError):
    """The token endpoint or the API refused the credentials."""


class UnavailableError(KaskadaError):
    """A service (the API or the token endpoint) could not be reached in time, or asked to wait."""


class TokenEndpointUnavailableError(UnavailableError):
    """The token endpoint could not be reached (after retries), or answered 429/503."""


class ApiError(KaskadaError):
    """The API answered a call with an error status.

    ``code`` is the gRPC status code name (``"NOT_FOUND"``), ``details`` the
    unpacked ``google.rpc`` detail messages rendered as text.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str = "UNKNOWN",
        details: tuple[str, ...] | list[str] = (),
        **extra: object,
    ) -> None:
        super().__init__(message)
        self.code: str = code
        self.details: tuple[str, ...] = tuple(details)
        self.extra: dict[str, object] = extra


class NotFoundError(ApiError):
    """NOT_FOUND: the named thing does not exist in this account."""


class AlreadyExistsError(ApiError):
    """ALREADY_EXISTS: a thing of that name exists in this account."""


class InvalidArgumentError(ApiError):
    """INVALID_ARGUMENT: the request was malformed; details say which field."""


class ApiUnavailableError(UnavailableError, ApiError):
    """UNAVAILABLE or DEADLINE_EXCEEDED: the API could not be reached in time; or
    RESOURCE_EXHAUSTED from an overloaded server, after the retries a read gets (a write
    gets none). ``code`` says which."""


class ApiAuthenticationError(AuthenticationError, ApiError):
    """UNAUTHENTICATED/PERMISSION_DENIED from the API: an AuthenticationError with a gRPC code."""


class DelegationExpiredError(AuthenticationError):
    """A delegated session's token expired: delegate() again where the secret is."""
