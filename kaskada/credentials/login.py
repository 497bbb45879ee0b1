"""Device login (RFC 8628) for a profile with ``auth = "device"``: ``kaskada login``,
``kda.login()`` and ``%fenl_login`` share these steps.

``start`` asks the server for a device code; ``wait`` polls at the server's interval
(longer after ``slow_down``) until the person approves or denies at the verification
page, or the code expires; the refresh token then goes to the profile's store (the
keyring, or the opted-in plain-text file; bound like a secret) and the access token to
the token cache. ``logout`` revokes the refresh token at the server (RFC 7009) and
deletes it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kaskada import _clock
from kaskada._errors import (
    AuthenticationError,
    ConfigError,
    KaskadaError,
    TokenEndpointUnavailableError,
)
from kaskada._secret import Secret, scrub
from kaskada.credentials.signin import DEVICE_GRANT, DeviceCredentials, _post, _token
from kaskada.settings.values import Settings

log = logging.getLogger(__name__)

SLOW_DOWN_STEP = 5
DEFAULT_INTERVAL = 5.0  # RFC 8628 3.2: when the server gives none
MIN_INTERVAL, MAX_INTERVAL = 1.0, 60.0
"""Polling interval bounds: a hostile or broken server can neither make the client
hammer it (0) nor wait for ever (1e9); slow_down grows the interval up to MAX_INTERVAL."""
DEFAULT_EXPIRES_IN, MAX_EXPIRES_IN = 600.0, 3600.0
"""How long a device code is polled: the server's expires_in, at most an hour."""


class DeviceAuthorizationError(KaskadaError):
    """The device authorization endpoint answered something that cannot be used."""


class LoginDenied(AuthenticationError):
    """The person denied the request at the verification page."""


class LoginExpired(AuthenticationError):
    """The code expired before anyone approved it."""


@dataclass(frozen=True)
class Pending:
    """A started device login: what to show the person, and what to poll with."""

    profile: str
    verification_uri: str
    user_code: str
    verification_uri_complete: str | None
    interval: float
    expires_in: float
    device_code: Secret
    token_url: str
    client_id: str
    settings: Settings
    login: DeviceCredentials

    def block(self) -> str:
        """The lines a terminal shows: the address, the code and the complete address."""
        lines = [f"To sign in profile '{self.profile}', open  {self.verification_uri}",
                 f"and enter the code  {self.user_code}"]
        if self.verification_uri_complete:
            lines.append(f"(or open {self.verification_uri_complete})")
        return "\n".join(lines)


def _device(settings: Settings) -> DeviceCredentials:
    """The device-login credentials of ``settings`` (its refresh token's store checked)."""
    if settings.auth.value.kind != "device":
        name = settings.profile.value or "NAME"
        raise ConfigError(
            f"profile '{name}' does not sign in with a device login: `kaskada profile set "
            f"{name} auth device` (with client_id a public client of the server, e.g. "
            "kaskada-cli)")
    login = DeviceCredentials.from_settings(settings)
    login.store_of_token()  # env or command: refused before the person signs in
    return login


def start(settings: Settings, *, request: Any = None) -> Pending:
    """Ask the server for a device code."""
    from kaskada.credentials.tokens import post_form

    request = request or post_form
    login = _device(settings)
    timeout = settings.timeout.value
    ca_bundle = settings.ca_bundle.value
    endpoints = login.endpoints(allow_insecure=settings.allow_insecure.value)
    where = endpoints.get("device_authorization_endpoint")
    if not where:
        raise ConfigError(f"the server of profile '{settings.profile.value}' names no device "
                          "authorization endpoint in its metadata")
    client_id = settings.client_id.value or ""
    status, document = _post(request, where, {"client_id": client_id}, timeout, ca_bundle)
    if status != 200 or not isinstance(document.get("device_code"), str):
        error = str(document.get("error", f"HTTP {status}"))[:80]
        description = str(document.get("error_description", ""))[:300]
        if status in (429, 503) or error == "temporarily_unavailable":
            # Busy, or too many sign-ins from this address wait: not the client's fault.
            raise TokenEndpointUnavailableError(
                f"the device authorization endpoint {where} asks to wait (HTTP {status} "
                f"{error}{': ' + description if description else ''}): try `kaskada login` "
                "again later")
        raise AuthenticationError(
            f"the device authorization endpoint {where} refused client {client_id!r} "
            f"({error}{': ' + description if description else ''}): client_id must be a "
            "public client of the server (kaskada serve has kaskada-cli)")
    allow_insecure = bool(settings.allow_insecure.value)
    verification_uri = _browser_url(document, "verification_uri", where, allow_insecure)
    complete = document.get("verification_uri_complete")
    user_code = _printable(document.get("user_code"))
    if not verification_uri or not user_code:
        missing = " and ".join(key for key, value in (
            ("verification_uri", verification_uri), ("user_code", user_code)) if not value)
        raise DeviceAuthorizationError(
            f"the device authorization endpoint {where} gave no {missing}: nobody could "
            "approve this sign-in (the server is not an RFC 8628 server, or is broken)")
    return Pending(
        profile=settings.profile.value or "",
        verification_uri=verification_uri,
        user_code=user_code,
        verification_uri_complete=(
            _browser_url(document, "verification_uri_complete", where, allow_insecure)
            if complete is not None else None) or None,
        interval=_seconds(document, "interval", where, DEFAULT_INTERVAL,
                          MIN_INTERVAL, MAX_INTERVAL),
        expires_in=_seconds(document, "expires_in", where, DEFAULT_EXPIRES_IN,
                            MIN_INTERVAL, MAX_EXPIRES_IN),
        device_code=Secret(str(document["device_code"])),
        token_url=endpoints["token_endpoint"],
        client_id=client_id,
        settings=settings,
        login=login,
    )


def _seconds(document: dict[str, Any], key: str, where: str, default: float,
             low: float, high: float) -> float:
    """A number of seconds from the server, clamped to [low, high]; absent: ``default``."""
    import math

    value = document.get(key)
    if value is None:
        return default
    try:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError
        seconds = float(value)
        if not math.isfinite(seconds):
            raise ValueError
    except (ValueError, OverflowError):
        raise DeviceAuthorizationError(
            f"the device authorization endpoint {where} gave {key} = "
            f"{_printable(repr(value))[:40]}, not a number of seconds: the server is broken"
        ) from None
    return min(max(seconds, low), high)


def _browser_url(document: dict[str, Any], key: str, where: str,
                 allow_insecure: bool) -> str:
    """An address the person opens: http(s) only, https off loopback (a javascript: or
    file: link, or a phishing page over plain http, is never shown as a sign-in page)."""
    from urllib.parse import urlsplit

    from kaskada.settings.hostport import is_loopback

    value = document.get(key)
    if value is None:
        return ""
    text = _printable(value)
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        scheme_ok = isinstance(value, str) and parts.scheme in ("http", "https")
        host = parts.hostname or ""
    except ValueError:
        scheme_ok, host = False, ""
    if not scheme_ok or not host or text != value:
        raise DeviceAuthorizationError(
            f"the device authorization endpoint {where} gave {key} = {text[:80]!r}, not an "
            "http(s) address: refusing to show it (the server is broken or hostile)")
    if parts.scheme == "http" and not is_loopback(host) and not allow_insecure:
        raise DeviceAuthorizationError(
            f"the device authorization endpoint {where} gave {key} = {text[:80]!r}: plain "
            "http on a non-loopback host, where the password typed there would cross the "
            "network unencrypted; refusing it (the server must use https, or pass "
            "--allow-insecure)")
    return text


def _printable(value: object) -> str:
    """A server's text for the terminal: no escapes or control characters."""
    text = str(value or "")[:500]
    return "".join(ch for ch in text if ch.isprintable())


def wait(
    pending: Pending, *, say: Callable[[str], None] = print, request: Any = None,
    stop: threading.Event | None = None,
) -> None:
    """Poll until approved (the tokens are stored) or LoginDenied/LoginExpired."""
    from kaskada.credentials import token_cache as _token_cache
    from kaskada.credentials.tokens import post_form

    request = request or post_form
    clock = _clock.get()
    interval = pending.interval
    deadline = clock.monotonic() + pending.expires_in
    settings = pending.settings
    said_pending = False
    stop = stop or threading.Event()
    while True:
        left = deadline - clock.monotonic()
        if left <= 0:
            raise LoginExpired("the code expired before it was approved: run `kaskada login` "
                               "again")
        if stop.wait(min(interval, left)):
            raise KeyboardInterrupt
        form = {"grant_type": DEVICE_GRANT, "client_id": pending.client_id,
                "device_code": pending.device_code.reveal()}
        status, document = _post(request, pending.token_url, form, settings.timeout.value,
                                 settings.ca_bundle.value)
        error = document.get("error")
        if status == 200:
            token = _token(status, document, pending.token_url, pending.device_code.reveal())
            refresh = document.get("refresh_token")
            if isinstance(refresh, str) and refresh:
                pending.login.store(refresh)
            entry = _token_cache.for_settings(settings)
            if entry is not None:
                entry.write(token)
            return
        if error == "authorization_pending":
            if not said_pending:
                say("waiting for approval in the browser… (Ctrl-C stops)")
                said_pending = True
        elif error == "slow_down":
            interval = min(interval + SLOW_DOWN_STEP, MAX_INTERVAL)
            say(f"the server asked to poll more slowly: every {interval:g} s")
        elif error == "access_denied":
            raise LoginDenied("the sign-in was denied at the verification page: nothing was "
                              "stored")
        elif error == "expired_token" or clock.monotonic() > deadline:
            raise LoginExpired("the code expired before it was approved: run `kaskada login` "
                               "again")
        else:
            text = scrub(str(document.get("error_description", "")), pending.device_code)
            raise AuthenticationError(
                f"the token endpoint {pending.token_url} refused the device login "
                f"(HTTP {status} {str(error)[:80]}: {text[:300]})")


class RevocationError(KaskadaError):
    """The refresh token could not be revoked at the server: it was kept."""


def logout(settings: Settings, *, request: Any = None, local: bool = False) -> bool:
    """Revoke the stored refresh token at the server, then delete it; False if none.

    When the revocation cannot be done (the server is down, answers an error, or the
    binding refuses sending it), the token is kept and RevocationError says so: deleting
    it would leave it valid at the server with no way left to revoke it. ``local``
    deletes it without asking the server (it stays valid there until it expires).
    """
    from kaskada.credentials.tokens import post_form

    request = request or post_form
    login = _device(settings)
    name = settings.profile.value or "NAME"
    if local:
        return login.forget()
    refresh = login.stored()
    if refresh is None:
        return False
    again = (f"it was kept: run `kaskada logout --profile {name}` again when the server is "
             f"back, or `kaskada logout --profile {name} --local` to forget it here anyway "
             "(it then stays valid at the server until it expires)")
    try:
        endpoints = login.endpoints(allow_insecure=settings.allow_insecure.value)
        where = endpoints.get("revocation_endpoint")
        if where:
            status, document = _post(
                request, where, {"token": refresh.reveal(), "token_type_hint": "refresh_token",
                                 "client_id": settings.client_id.value or ""},
                settings.timeout.value, settings.ca_bundle.value)
            if status != 200:  # RFC 7009 2.2: 200 even for a token already invalid
                error = _printable(document.get("error", ""))[:80]
                raise RevocationError(
                    f"the revocation endpoint {where} answered HTTP {status}"
                    + (f" ({error})" if error else "") + f"; {again}")
    except RevocationError:
        raise
    except KaskadaError as error:
        raise RevocationError(f"could not revoke the refresh token of profile '{name}': "
                              f"{error}; {again}") from None
    login.forget()
    return True


class DeviceLoginHandle:
    """A device login polling in a background thread (``kda.login``): the caller, a
    notebook kernel in particular, stays free while the person approves."""

    def __init__(self, pending: Pending, say: Callable[[str], None]) -> None:
        self.pending = pending
        self._stop = threading.Event()
        self._done = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(say,), daemon=True,
                                        name="kaskada-device-login")
        self._thread.start()

    def _run(self, say: Callable[[str], None]) -> None:
        try:
            wait(self.pending, say=say, stop=self._stop)
            say(f"signed in: profile '{self.pending.profile}'")
        except KeyboardInterrupt:
            self._error = LoginCancelled("the device login was cancelled")
        except BaseException as error:  # handed to whoever asks for the result
            self._error = error
            say(str(error))
        finally:
            self._done.set()

    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the login ends (True) or ``timeout`` passes (False); raises its error."""
        if not self._done.wait(timeout):
            return False
        if self._error is not None:
            raise self._error
        return True

    def cancel(self) -> None:
        """Stop polling (as Ctrl-C does at a terminal)."""
        self._stop.set()
        self._done.wait(5)

    def _repr_html_(self) -> str:
        import html

        pending = self.pending
        target = pending.verification_uri_complete or pending.verification_uri
        return (f"<p>To sign in profile <b>{html.escape(pending.profile)}</b>, open "
                f"<a href=\"{html.escape(target)}\" target=\"_blank\" rel=\"noopener noreferrer\">"
                f"{html.escape(pending.verification_uri)}</a> and enter the code "
                f"<code>{html.escape(pending.user_code)}</code>.</p>")

    def __repr__(self) -> str:
        state = "done" if self.done() else "waiting for approval"
        return (f"<device login of profile {self.pending.profile!r}: {state}>\n"
                f"{self.pending.block()}")


class LoginCancelled(KaskadaError):
    """``cancel()`` stopped a device login before it was approved."""


def login(profile: str | None = None, *, say: Callable[[str], None] | None = None,
          ) -> DeviceLoginHandle:
    """Start a device login for ``profile`` and poll in the background.

    In a notebook the handle shows the address as a link; ``handle.wait()`` blocks until
    the person approves (or raises LoginDenied / LoginExpired); calls made afterwards with
    the profile use the new sign-in.
    """
    from kaskada._session import session

    pending = start(session(profile=profile).settings)
    return DeviceLoginHandle(pending, say or (lambda line: log.info("%s", line)))
