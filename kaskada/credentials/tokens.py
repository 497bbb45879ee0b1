"""Access tokens: the OAuth2 client-credentials exchange and a per-process cache.

RFC 6749 §4.4, form-encoded. The HTTP transport is a parameter (``request``,
as in google-auth): a callable ``(url, form, *, timeout, ca_bundle) -> (status,
body)`` that raises ``TransientError`` for a failure worth retrying; the default,
``post_form``, is urllib from the stdlib, and tests pass a fake. Tokens are cached
per (token endpoint, client id, audience, a hash of the secret, TLS roots,
timeout) and refreshed when less than min(60 s, half the lifetime) remains, by
one caller at a time: the others keep using the still-valid token, or wait for
the refresh when there is none. Only transient failures (5xx, timeouts, refused
connections) are retried, with the one backoff of ``_retry``.

The credentials own the refresh-once rule: an API call asks ``for_call()`` for
its token, and when the API refuses that token (UNAUTHENTICATED) the call's
``on_rejected()`` gives one new token to retry with, then None -- never a loop.
The transports only ask. Refresh and expiry read time from ``_clock``.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import weakref
from collections.abc import Callable, Hashable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, Self

from kaskada import _clock, _fork
from kaskada._errors import (
    AuthenticationError,
    ConfigError,
    DelegationExpiredError,
    IncompleteCredentialsError,
    KaskadaError,
    TokenEndpointUnavailableError,
)
from kaskada._secret import Secret, scrub
from kaskada.credentials import handed as _handed
from kaskada.credentials.access_token import Token, refresh_margin
from kaskada.credentials.stores import SecretStore, store_for
from kaskada.transport import retry as _retry

if TYPE_CHECKING:
    import ssl

    from kaskada.credentials.token_cache import Entry
    from kaskada.settings.values import Settings, SignIn, StoredSecret

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
DEFAULT_LIFETIME = 3600.0  # RFC 6749 makes expires_in optional
MAX_BODY = 1 << 20


class TransientError(Exception):
    """A failure worth retrying (5xx, timeout, refused connection); a transport raises it."""


class Request(Protocol):
    """The HTTP transport of the exchange: POST a form, get (status, body).

    Raises TransientError for what a retry may cure; returns any HTTP answer it
    got (a 429, or a 503 with Retry-After, is returned: the server said when).
    Never follows a redirect: the form carries the secret.
    """

    def __call__(
        self, url: str, form: Mapping[str, str], *, timeout: float, ca_bundle: str | None
    ) -> tuple[int, bytes]: ...


def parse_token_response(
    status: int, body: bytes, *, now: float, url: str, sent: Secret | None = None
) -> Token:
    """Strictly parse a token endpoint's answer: a Token, or AuthenticationError.

    Pure: no I/O, so it can be fuzzed. The message names the endpoint and the
    server's ``error``/``error_description`` with ``sent`` (the request's secret,
    which a server may echo) scrubbed out before they are cut to length.
    """
    try:
        document = json.loads(body.decode("utf-8")) if body else None
    except (UnicodeDecodeError, ValueError, RecursionError):
        document = None
    if status != 200:
        reason = f"HTTP {status}"
        if isinstance(document, dict):
            error = document.get("error")
            description = document.get("error_description")
            if isinstance(error, str) and error:
                reason += f" {scrub(error, sent)[:100]}"
            if isinstance(description, str) and description:
                reason += f": {scrub(description, sent)[:300]}"
        if status in (429, 503):
            raise TokenEndpointUnavailableError(f"the token endpoint {url} asks to wait ({reason})")
        raise AuthenticationError(
            f"the token endpoint {url} refused the credentials ({reason}): check the client "
            "id and secret (`kaskada configure --profile NAME`) and the exchange endpoint"
        )
    if not isinstance(document, dict):
        raise AuthenticationError(
            f"the token endpoint {url} answered with a body that is not a JSON object: "
            "check that exchange_endpoint points at an OAuth2 token endpoint"
        )
    access_token = document.get("access_token")
    if not isinstance(access_token, str) or not access_token.strip():
        raise AuthenticationError(
            f"the token endpoint {url} answered without an access_token: "
            "check that exchange_endpoint points at an OAuth2 token endpoint"
        )
    if not access_token.isascii() or not access_token.isprintable():
        raise AuthenticationError(
            f"the token endpoint {url} answered with an access_token that cannot travel in a "
            "header: check the exchange endpoint"
        )
    token_type = document.get("token_type", "Bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise AuthenticationError(
            f"the token endpoint {url} answered with token_type {str(token_type)[:40]!r}, "
            "not Bearer: kaskada only sends bearer tokens"
        )
    expires_in = document.get("expires_in", DEFAULT_LIFETIME)
    if isinstance(expires_in, str):
        try:
            expires_in = float(expires_in)
        except ValueError:
            expires_in = None
    if (
        isinstance(expires_in, bool)
        or not isinstance(expires_in, int | float)
        or not 0 < expires_in < 10**9
    ):
        raise AuthenticationError(
            f"the token endpoint {url} answered with an invalid expires_in: "
            "it must be a positive number of seconds"
        )
    lifetime = float(expires_in)
    margin = refresh_margin(lifetime)
    return Token(
        access_token=Secret(access_token),
        token_type="Bearer",
        lifetime=lifetime,
        refresh_at=now + lifetime - margin,
        expires_at=now + lifetime,
    )


def _ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    """The TLS context of the exchange; a ca_bundle that is not PEM roots is one ConfigError."""
    import ssl  # costly to import: only for a CA bundle

    if not ca_bundle:
        return ssl.create_default_context()
    path = os.path.expanduser(ca_bundle)
    try:
        return ssl.create_default_context(cafile=path)
    except (OSError, ValueError) as error:  # ssl.SSLError is an OSError
        raise ConfigError(bad_ca_bundle(path, error)) from None


def bad_ca_bundle(path: str, error: BaseException) -> str:
    """One line for a ca_bundle that cannot be read or holds no PEM certificate."""
    import ssl  # costly to import: only for a CA bundle

    if isinstance(error, ssl.SSLError) or not isinstance(error, OSError):
        reason = "it holds no PEM certificate"
    else:
        reason = error.strerror or type(error).__name__
    return (
        f"the ca_bundle {path} cannot be used ({reason}): point ca_bundle "
        "(or KASKADA_CA_BUNDLE) at a PEM file of trusted root certificates"
    )


def _no_redirect() -> Any:
    """A handler that makes a redirect of the token exchange an error: the secret
    must not follow it. (A class built on first use: urllib.request loads lazily.)"""
    import urllib.request  # costly to import: only when a token is exchanged

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(
            self,
            req: urllib.request.Request,
            fp: Any,
            code: int,
            msg: str,
            headers: Any,
            newurl: str,
        ) -> urllib.request.Request | None:
            target = newurl if len(newurl) <= 200 else newurl[:200] + "..."
            raise AuthenticationError(
                f"the token endpoint {req.full_url} answered HTTP {code}, a redirect to "
                f"{target!r}; kaskada never follows a redirect with a secret: if that address "
                "is right, set exchange_endpoint to it"
            )

    return NoRedirect()


def _user_agent() -> str:
    from kaskada import __version__

    return f"kaskada-python/{__version__}"


def post_form(
    url: str, form: Mapping[str, str], *, timeout: float, ca_bundle: str | None
) -> tuple[int, bytes]:
    """The default Request, urllib's: POST a form; (status, body); TransientError."""
    # Imported here: a warm call (a token from the disk cache) never exchanges, and
    # urllib.request with http.client and email would weigh on every CLI start.
    import http.client
    import ssl
    import urllib.error
    import urllib.parse
    import urllib.request

    data = urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
            "User-Agent": _user_agent(),
        },
    )
    handlers: list[Any] = [_no_redirect()]
    if url.startswith("https:"):
        handlers.append(urllib.request.HTTPSHandler(context=_ssl_context(ca_bundle)))
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(request, timeout=timeout) as response:
            return int(response.status), response.read(MAX_BODY)
    except urllib.error.HTTPError as error:
        body = error.read(MAX_BODY) if error.fp is not None else b""
        if 300 <= error.code < 400:
            location = str(error.headers.get("Location", "")) if error.headers else ""
            raise AuthenticationError(
                f"the token endpoint {url} answered HTTP {error.code}, a redirect"
                + (f" to {location[:200]!r}" if location else "")
                + "; kaskada never follows a redirect with a secret: set exchange_endpoint "
                "to the final URL if it is right"
            ) from None
        if error.code == 429 or (error.code == 503 and error.headers.get("Retry-After")):
            return int(error.code), body  # the server said when: report it, do not loop
        if error.code >= 500:
            raise TransientError(f"HTTP {error.code}") from None
        return int(error.code), body
    except http.client.HTTPException as error:
        tls_alert = any("\x15\x03" in str(arg) for arg in error.args)
        if tls_alert or isinstance(error, http.client.RemoteDisconnected):
            # A TLS port answers plain HTTP with an alert or by hanging up.
            raise ConfigError(
                f"the token endpoint {url} closed the connection without an HTTP answer, as "
                "an HTTPS server does to plain HTTP: if it uses TLS (`kaskada serve "
                "--tls-cert`), write it as https://… and trust its certificate with ca_bundle "
                "(--ca-bundle); otherwise check it is the token URL, not the gRPC port"
            ) from None
        # Not HTTP/1.1 at all: typically the gRPC port given as the token endpoint.
        raise AuthenticationError(
            f"the token endpoint {url} did not answer in HTTP: check that exchange_endpoint "
            "is the OAuth2 token URL (e.g. http://localhost:50052/oauth/token), not the gRPC port"
        ) from None
    except OSError as error:  # URLError, timeouts and refused connections alike
        reason = getattr(error, "reason", error)
        if isinstance(reason, ssl.SSLError) and "WRONG_VERSION_NUMBER" in str(reason):
            raise ConfigError(
                f"the token endpoint {url} speaks plain HTTP, not HTTPS: write it as "
                "http://… (a local server started without --tls-cert)"
            ) from None
        if isinstance(reason, ssl.SSLCertVerificationError):
            from kaskada._tls import verify_failure

            parsed = urllib.parse.urlsplit(url)
            default_port = 443 if parsed.scheme == "https" else 80
            refused = verify_failure(
                str(reason), what=f"the token endpoint {url}",
                address=f"{parsed.hostname}:{parsed.port or default_port}",
                ca_bundle=os.path.expanduser(ca_bundle) if ca_bundle else None,
            )
            if refused is not None:
                raise ConfigError(refused) from None
        if isinstance(reason, ssl.SSLError) and ca_bundle and "CERTIFICATE_VERIFY" not in str(
            reason
        ):
            raise ConfigError(bad_ca_bundle(os.path.expanduser(ca_bundle), reason)) from None
        raise TransientError(type(reason).__name__ if not str(reason) else str(reason)) from None


def exchange(
    url: str,
    client_id: str,
    secret: Secret,
    *,
    audience: str | None = None,
    timeout: float = 30.0,
    ca_bundle: str | None = None,
    request: Request = post_form,
) -> Token:
    """One client-credentials exchange over ``request``, retrying transient failures
    with bounded backoff within ``timeout``."""
    form = {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": secret.reveal(),
    }
    if audience:
        form["audience"] = audience
    try:
        return _exchange_once(
            url, client_id, form, timeout=timeout, ca_bundle=ca_bundle, request=request
        )
    except (AuthenticationError, TokenEndpointUnavailableError) as error:
        # A server may echo the request (the form body) in its error text.
        raise type(error)(scrub(str(error), secret)) from None


def _exchange_once(
    url: str,
    client_id: str,
    form: dict[str, str],
    *,
    timeout: float,
    ca_bundle: str | None,
    request: Request,
) -> Token:
    clock = _clock.get()
    deadline = clock.monotonic() + timeout
    last = "no attempt"
    for attempt in range(MAX_ATTEMPTS):
        remaining = deadline - clock.monotonic()
        if remaining <= 0:
            break
        log.debug("token exchange at %s for client %s (attempt %d)", url, client_id, attempt + 1)
        try:
            status, body = request(url, form, timeout=remaining, ca_bundle=ca_bundle)
        except TransientError as error:
            last = scrub(str(error), form["client_secret"])
            log.debug("token exchange at %s failed transiently: %s", url, last)
            pause = _retry.pause_before(deadline, attempt, clock.monotonic())
            if attempt + 1 < MAX_ATTEMPTS and pause is not None:
                clock.sleep(pause)
                continue
            break
        return parse_token_response(
            status, body, now=clock.monotonic(), url=url, sent=Secret(form["client_secret"])
        )
    raise TokenEndpointUnavailableError(
        f"the token endpoint {url} could not be reached for client {client_id} ({last}): "
        "check that the server is running and the exchange endpoint is right"
    )


class CallToken:
    """The token of one API call, and the refresh-once rule that goes with it.

    When the API refuses the call's token (UNAUTHENTICATED), ``on_rejected``
    gives one new token to retry with, then None: a server that refuses every
    token ends the call with its error instead of a loop of exchanges. A
    pre-issued token cannot be refreshed, so it gets no retry at all.
    """

    __slots__ = ("_credentials", "_refreshed")

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials
        self._refreshed = False

    def get(self) -> Secret:
        """The token to send first."""
        return self._credentials.get()

    async def aget(self) -> Secret:
        """get() for a coroutine (a refresh runs off the event loop)."""
        return await self._credentials.aget()

    def on_rejected(self, rejected: Secret) -> Secret | None:
        """The API refused ``rejected``: a new token to retry once with, or None."""
        if self._refreshed or not self._credentials.refreshable:
            return None
        self._refreshed = True
        return self._credentials.invalidate(rejected)

    async def aon_rejected(self, rejected: Secret) -> Secret | None:
        """on_rejected() for a coroutine."""
        if self._refreshed or not self._credentials.refreshable:
            return None
        self._refreshed = True
        return await self._credentials.ainvalidate(rejected)


class Credentials:
    """What signs API calls: one subclass per kind, google-auth's shape.

    A subclass says how to get a new token (``refresh(request)``, over the HTTP
    transport ``request``); the base class keeps the token, refreshes it when
    less than min(60 s, half its lifetime) remains -- one caller at a time
    across threads, off the event loop for coroutines -- and puts it on a call
    (``apply``). ``request`` given to the constructor is the transport the
    credentials use when they refresh on their own (default ``post_form``).
    """

    refreshable = True

    def __init__(self, *, request: Request = post_form) -> None:
        self._request = request
        self._token: Token | None = None
        self._lock = threading.Lock()
        self._flights: dict[Any, Any] = {}  # (loop, step) -> its future, for aget()
        SHARED.track(self)

    @classmethod
    def from_settings(
        cls, settings: Settings, disk: Entry | None = None, request: Request = post_form
    ) -> Credentials:
        """The credentials of resolved settings of this kind (``disk``: the token cache's
        entry for them, None when caching is off)."""
        raise NotImplementedError

    @classmethod
    def sharing_key(
        cls, settings: Settings, disk: Entry | None, request: Request
    ) -> Hashable | None:
        """What the credentials of these settings depend on: sessions whose settings give
        the same key share one object (and its token; see ``SHARED``). None: not shared."""
        return None

    @property
    def token(self) -> Secret | None:
        """The current access token, valid or not (None before the first refresh)."""
        return None if self._token is None else self._token.access_token

    @property
    def valid(self) -> bool:
        """A token is held and is not yet due for refresh."""
        token = self._token
        return token is not None and _clock.get().monotonic() < token.refresh_at

    def refresh(self, request: Request) -> None:
        """Get a new token over ``request`` (an HTTP transport, see ``Request``)."""
        with self._lock:
            self._token = self._new_token(request, stale=self.token)

    def _new_token(self, request: Request, stale: Secret | None) -> Token:
        """A new token (``stale``: the one the API refused, if any). Subclasses say how."""
        raise NotImplementedError

    def apply(self, headers: dict[str, str], token: Secret | None = None) -> None:
        """Put the bearer token (``token``, else a valid one) on a call's headers."""
        headers["authorization"] = "Bearer " + (token or self.get()).reveal()

    def for_call(self) -> CallToken:
        """The token of one API call, with one refresh if the API refuses it."""
        return CallToken(self)

    def sent_secrets(self) -> tuple[Secret, ...]:
        """Secrets these credentials may have sent, to scrub from a server's text."""
        return ()

    def get(self) -> Secret:
        """A valid access token; refreshes (one caller at a time) when it is due."""
        token = self._token
        now = _clock.get().monotonic()
        if token is not None and now < token.refresh_at:
            return token.access_token
        if token is not None and now < token.expires_at:
            # Due for refresh but still valid: one caller refreshes, the rest go on.
            if not self._lock.acquire(blocking=False):
                return token.access_token
            try:
                return self._refresh_locked(stale=None).access_token
            finally:
                self._lock.release()
        with self._lock:
            return self._refresh_locked(stale=None).access_token

    def current(self) -> Token:
        """A valid token with its expiry (``kaskada exec``/``env`` hand both on)."""
        self.get()
        token = self._token
        if token is None:  # pragma: no cover - get() always leaves one
            raise AuthenticationError("no token")
        return token

    def token_for(self, min_lifetime: float) -> Token:
        """A token with at least ``min_lifetime`` seconds left (for delegate()).

        Refreshes when the cached one has less; AuthenticationError when even a
        fresh token from this endpoint does not live that long.
        """
        self.get()
        token = self._token
        if token is None or token.expires_at - _clock.get().monotonic() < min_lifetime:
            with self._lock:
                token = self._refresh_locked(stale=token.access_token if token else None)
        if token.lifetime < min_lifetime:
            raise AuthenticationError(
                f"{self.describe()} issues tokens that live {token.lifetime:g} s, less than "
                f"min_lifetime={min_lifetime:g}: ask for a shorter min_lifetime, or delegate "
                "again when the work outlives the token"
            )
        return token

    def describe(self) -> str:
        """Who issues this kind's tokens, for messages."""
        return "the credentials"

    def invalidate(self, rejected: Secret) -> Secret:
        """The API refused ``rejected``: get a new token unless another caller already did."""
        with self._lock:
            return self._refresh_locked(stale=rejected).access_token

    def _refresh_locked(self, stale: Secret | None) -> Token:
        token = self._token
        now = _clock.get().monotonic()
        if token is not None and now < token.refresh_at and token.access_token is not stale:
            return token  # another caller refreshed while we waited
        token = self._new_token(self._request, stale)
        self._token = token
        return token

    async def aget(self) -> Secret:
        """get() for a coroutine: the cached token at once, else the same single-flight
        refresh in a thread, so the event loop never waits on the lock or the network."""
        token = self._token
        if token is not None and _clock.get().monotonic() < token.refresh_at:
            return token.access_token
        from kaskada.transport import offloop as _offloop  # imports asyncio: only for async callers

        return await _offloop.shared(self._flights, "get", self.get)

    async def ainvalidate(self, rejected: Secret) -> Secret:
        """invalidate() for a coroutine, off the event loop."""
        from kaskada.transport import offloop as _offloop  # imports asyncio: only for async callers

        return await _offloop.shared(
            self._flights, id(rejected), lambda: self.invalidate(rejected)
        )


class EndpointCredentials(Credentials):
    """Credentials that buy their tokens at a token endpoint for one client id; a token
    bought is shared with the user's other processes through ``disk`` (the token cache
    on disk), so only one of them buys while it lasts. A subclass says how to buy one
    (``_buy``)."""

    def __init__(
        self,
        url: str,
        client_id: str,
        audience: str | None,
        *,
        timeout: float,
        ca_bundle: str | None,
        disk: Entry | None = None,
        request: Request = post_form,
    ) -> None:
        super().__init__(request=request)
        self.url = url
        self.client_id = client_id
        self._audience = audience
        self._timeout = timeout
        self._ca_bundle = ca_bundle
        self._disk = disk

    def _new_token(self, request: Request, stale: Secret | None) -> Token:
        if self._disk is not None:  # another process may hold one; else one purchase for all
            return self._disk.fetch(lambda: self._buy(request), stale)
        return self._buy(request)

    def _buy(self, request: Request) -> Token:
        """A new token from the endpoint, over ``request``."""
        raise NotImplementedError


class ClientSecretCredentials(EndpointCredentials):
    """OAuth2 client credentials: a client id and a secret read from a store, exchanged
    at a token endpoint."""

    def __init__(
        self,
        url: str,
        client_id: str,
        secret: Secret | StoredSecret | SecretStore,
        audience: str | None,
        *,
        timeout: float,
        ca_bundle: str | None,
        disk: Entry | None = None,
        request: Request = post_form,
    ) -> None:
        super().__init__(url, client_id, audience, timeout=timeout, ca_bundle=ca_bundle,
                         disk=disk, request=request)
        self._store = store_for(secret)

    @classmethod
    def from_settings(
        cls, settings: Settings, disk: Entry | None = None, request: Request = post_form
    ) -> ClientSecretCredentials:
        client_id, url = settings.client_id.value, settings.exchange_endpoint.value
        secret = settings.client_secret.value
        if client_id is None or secret is None or url is None:
            # Resolution never builds such settings; a hand-made Settings might.
            raise IncompleteCredentialsError(
                f"settings from {settings.layer} have neither a token nor a client id, "
                "secret and exchange endpoint: resolve them with kda.session(...)"
            )
        return cls(
            url, client_id, secret, settings.audience.value, timeout=settings.timeout.value,
            ca_bundle=settings.ca_bundle.value, disk=disk, request=request,
        )  # fmt: skip

    @classmethod
    def sharing_key(cls, settings: Settings, disk: Entry | None, request: Request) -> Hashable:
        """Everything the exchange depends on, ``timeout`` included (two sessions with
        different timeouts each exchange with their own); the secret by its fingerprint."""
        secret = settings.client_secret.value
        return (
            exchange_key(settings, disk, request),
            None if secret is None else store_for(secret).fingerprint(),
        )

    def describe(self) -> str:
        return f"the token endpoint {self.url} for client {self.client_id}"

    def _buy(self, request: Request) -> Token:
        return exchange(
            self.url, self.client_id, self._store.get(), audience=self._audience,
            timeout=self._timeout, ca_bundle=self._ca_bundle, request=request,
        )  # fmt: skip

    def sent_secrets(self) -> tuple[Secret, ...]:
        known = self._store.known()
        return () if known is None else (known,)


class SignInCredentials(EndpointCredentials):
    """A kind made from the plain ``SignIn`` value of the settings (device and federated
    sign-in, a ``secret_command``): what it reads, it reads when a token is needed."""

    def __init__(
        self,
        sign_in: SignIn,
        url: str,
        client_id: str,
        audience: str | None,
        *,
        timeout: float,
        ca_bundle: str | None,
        disk: Entry | None = None,
        request: Request = post_form,
    ) -> None:
        super().__init__(url, client_id, audience, timeout=timeout, ca_bundle=ca_bundle,
                         disk=disk, request=request)
        self.sign_in = sign_in
        self.name = sign_in.profile or "NAME"

    @classmethod
    def from_settings(
        cls, settings: Settings, disk: Entry | None = None, request: Request = post_form
    ) -> Self:
        return cls(
            settings.auth.value, settings.exchange_endpoint.value or "",
            settings.client_id.value or "", settings.audience.value,
            timeout=settings.timeout.value, ca_bundle=settings.ca_bundle.value, disk=disk,
            request=request,
        )  # fmt: skip

    @classmethod
    def sharing_key(cls, settings: Settings, disk: Entry | None, request: Request) -> Hashable:
        return (exchange_key(settings, disk, request), settings.auth.value)


def exchange_key(settings: Settings, disk: Entry | None, request: Request) -> Hashable:
    """The part of a sharing key every exchanging kind has: where and how it exchanges."""
    return (
        settings.exchange_endpoint.value, settings.client_id.value, settings.audience.value,
        settings.ca_bundle.value, settings.timeout.value, disk and disk.key, request,
    )  # fmt: skip


class TokenCredentials(Credentials):
    """A pre-issued token (``jwt=`` / ``KASKADA_TOKEN``), used as is: it cannot refresh."""

    refreshable = False

    def __init__(self, token: Secret) -> None:
        super().__init__()
        self._fixed = token

    @classmethod
    def from_settings(
        cls, settings: Settings, disk: Entry | None = None, request: Request = post_form
    ) -> TokenCredentials:
        token = settings.token.value
        if token is None:  # pragma: no cover - resolution gives kind "token" a token
            raise IncompleteCredentialsError(f"settings from {settings.layer} have no token")
        return cls(token)

    @property
    def token(self) -> Secret | None:
        return self._fixed

    @property
    def valid(self) -> bool:
        try:
            self.get()
        except KaskadaError:
            return False
        return True

    def refresh(self, request: Request) -> None:
        """Nothing to do: a pre-issued token is used as is (``get`` says when it expired)."""

    def get(self) -> Secret:
        _handed.check(self._fixed)  # KASKADA_TOKEN_EXPIRES_AT passed: say so before calling
        return self._fixed

    async def aget(self) -> Secret:
        return self.get()  # no I/O

    def invalidate(self, rejected: Secret) -> Secret:
        return self._fixed

    async def ainvalidate(self, rejected: Secret) -> Secret:
        return self._fixed

    def renewal_hint(self, source: str) -> str:
        """How to get a working token again (it cannot be refreshed)."""
        return f"the pre-issued token (from {source}) cannot be refreshed: get a new one"


class DelegatedCredentials(TokenCredentials):
    """A token handed over by ``Session.delegate()``: it cannot refresh and says so,
    with its origin, once it expired."""

    def __init__(self, token: Secret, expires_at: float | None, origin: str) -> None:
        super().__init__(token)
        self.expires_at = expires_at  # epoch seconds; None: unknown (a jwt= session)
        self.origin = origin

    @classmethod
    def from_settings(
        cls, settings: Settings, disk: Entry | None = None, request: Request = post_form
    ) -> DelegatedCredentials:
        token = settings.token.value
        if token is None:  # pragma: no cover - a delegated session always has one
            raise IncompleteCredentialsError(f"settings from {settings.layer} have no token")
        return cls(token, None, settings.layer)

    def get(self) -> Secret:
        if self.expires_at is not None and _clock.get().time() >= self.expires_at:
            raise DelegationExpiredError(
                f"the delegated session's access token expired at {utc_text(self.expires_at)} "
                f"({self.origin}): {self.renewal_hint('')}"
            )
        return super().get()

    def renewal_hint(self, source: str = "") -> str:
        """How to get a working session again (a delegated session cannot refresh)."""
        return (
            "a delegated session cannot refresh its token; call delegate() again in the "
            "process that holds the credentials and send the new session"
        )


def utc_text(epoch: float) -> str:
    """An epoch second as ``2026-12-01 05:37:27 UTC``."""
    import datetime

    moment = datetime.datetime.fromtimestamp(epoch, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


KINDS: dict[str, tuple[str, str]] = {
    "client_secret": (__name__, "ClientSecretCredentials"),
    "token": (__name__, "TokenCredentials"),
    "delegated": (__name__, "DelegatedCredentials"),
    "device": ("kaskada.credentials.signin", "DeviceCredentials"),
    "federated": ("kaskada.credentials.signin", "FederatedCredentials"),
    "command": ("kaskada.credentials.command", "CommandCredentials"),
}
"""The class of each kind (``SignIn.kind`` of the settings): a new kind is one more class
and one more line here. Loaded when first used, so a client-secret session never imports
the device-login or command code."""


def kind_class(kind: str) -> type[Credentials]:
    """The Credentials class of a kind of sign-in."""
    import importlib

    try:
        module, name = KINDS[kind]
    except KeyError:
        raise ConfigError(f"no credentials for sign-in kind {kind!r}") from None
    found: type[Credentials] = getattr(importlib.import_module(module), name)
    return found


def credentials_for(
    settings: Settings, disk: Entry | None = None, request: Request = post_form
) -> Credentials:
    """The credentials of resolved settings: the class their kind names, shared with every
    session whose settings give the same sharing key (``SHARED``)."""
    cls = kind_class(settings.auth.value.kind)
    key = cls.sharing_key(settings, disk, request)
    if key is None:
        return cls.from_settings(settings, disk, request)
    return SHARED.get((cls, key), lambda: cls.from_settings(settings, disk, request))


class _Shared:
    """The one owner of credentials shared between sessions: sessions with the same
    credentials (``_session._with_seams`` makes a new Session over the same settings,
    ``kda.session(...)`` after the config file changed resolves equal settings again)
    share one object, so one token and one refresh serve them all.

    Keyed by (class, ``sharing_key``): each class says what its credentials depend on.
    Invalidation rule: never stale -- a key holds everything its credentials were made
    from, and each refreshes its own token by the token's expiry; a changed setting is
    another key. ``clear()`` forgets them all (kaskada/_reset.py); after fork each
    live credentials object gets a fresh lock.
    """

    def __init__(self) -> None:
        self._by_key: dict[Hashable, Credentials] = {}
        self._lock = threading.Lock()
        self._live: weakref.WeakSet[Credentials] = weakref.WeakSet()  # for the fork handler

    def get(self, key: Hashable, make: Callable[[], Credentials]) -> Credentials:
        found = self._by_key.get(key)
        if found is None:
            with self._lock:
                found = self._by_key.get(key)
                if found is None:
                    found = self._by_key[key] = make()
        return found

    def track(self, credentials: Credentials) -> None:
        self._live.add(credentials)

    def clear(self) -> None:
        self._by_key.clear()

    def after_fork_in_child(self) -> None:
        """A lock held by another thread at fork time would never be released in the child.

        Sessions keep their credentials, so each one gets a fresh lock (its cached
        token stays valid: it is only a bearer string).
        """
        self._lock = threading.Lock()
        for credentials in list(self._live):
            credentials._lock = threading.Lock()


SHARED = _Shared()
_fork.in_child_after_fork(SHARED.after_fork_in_child)


def clear_process_state() -> None:
    """Forget what this module keeps for the process (see kaskada/_reset.py)."""
    SHARED.clear()
