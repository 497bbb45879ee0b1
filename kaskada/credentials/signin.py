"""Signing in without a stored client secret: ``auth = "device"`` and ``auth = "federated"``.

Each kind is one ``Credentials`` class (``credentials.tokens``), made from the plain
``SignIn`` value of the settings, so the session, the token cache on disk,
``exec``/``env`` and ``delegate()`` work unchanged:

- ``DeviceCredentials`` spends the profile's refresh token (from ``kaskada login``,
  RFC 8628) with the ``refresh_token`` grant. The refresh token lives in the profile's
  store (the keyring, or the opted-in plain-text file), bound like a secret. The server
  rotates it at each use, so one process at a time refreshes (a file lock per profile)
  and re-reads the stored token once it holds the lock: several processes sharing a
  profile never spend the same token twice.
- ``FederatedCredentials`` reads a subject token (a file re-read at every exchange, a
  variable, or GitHub Actions' OIDC request) and exchanges it (RFC 8693). No secret
  exists.

Discovery: a profile may give ``issuer``; its RFC 8414 metadata names the endpoints,
and its ``issuer`` must be the one asked for.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from kaskada import _clock
from kaskada._errors import (
    AuthenticationError,
    ConfigError,
    IncompleteCredentialsError,
    InsecureConnectionError,
    TokenEndpointUnavailableError,
)
from kaskada._secret import Secret, scrub
from kaskada.config import paths as _paths
from kaskada.credentials.access_token import Token
from kaskada.credentials.tokens import Request, SignInCredentials
from kaskada.settings.hostport import is_loopback

if TYPE_CHECKING:
    from kaskada.credentials.profile_stores import SecretStore

log = logging.getLogger(__name__)

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"
METADATA_PATH = "/.well-known/oauth-authorization-server"
LOCK_TIMEOUT = 120.0


class GrantCredentials(SignInCredentials):
    """A kind that signs in without a client secret: a grant of its own at the token
    endpoint (named by the profile, or by its issuer's metadata)."""

    kind = "?"

    @property
    def _fields(self) -> dict[str, Any]:
        """The profile's own fields, as the settings were resolved from them."""
        return dict(self.sign_in.bound_to)

    def describe(self) -> str:
        return f"the {self.kind} sign-in of profile '{self.name}'"

    def endpoints(self, *, allow_insecure: bool | None = None) -> dict[str, str]:
        """token/device/revocation endpoints: the profile's, else the issuer's metadata
        (whose URLs obey the TLS rule of a profile's own endpoints, checked here)."""
        issuer = self.sign_in.issuer
        if issuer and not self._fields.get("exchange_endpoint"):
            return discover(issuer, timeout=self._timeout, ca_bundle=self._ca_bundle,
                            allow_insecure=allow_insecure)
        url = self.url
        base = url.split("/oauth/", 1)[0] if "/oauth/" in url else url.rstrip("/")
        return {"token_endpoint": url,
                "device_authorization_endpoint": base + "/oauth/device_authorization",
                "revocation_endpoint": base + "/oauth/revoke"}



def _post(request: Any, url: str, form: dict[str, str], timeout: float,
          ca_bundle: str | None) -> tuple[int, dict[str, Any]]:
    """POST a form; a transport failure (down, timeout, 5xx) is one
    TokenEndpointUnavailableError naming the URL (the CLI's exit 1), never a traceback."""
    from kaskada.credentials.tokens import TransientError

    try:
        status, body = request(url, form, timeout=timeout, ca_bundle=ca_bundle)
    except TransientError as error:
        reason = scrub(str(error), *form.values())[:120]
        raise TokenEndpointUnavailableError(
            f"the token endpoint {url} could not be reached ({reason}): check that the "
            "server is running") from None
    try:
        document = json.loads(body.decode("utf-8")) if body else {}
    except (UnicodeDecodeError, ValueError, RecursionError):
        document = {}
    return int(status), document if isinstance(document, dict) else {}


CLIENT_SECRET_FIX = "check the client id and secret (`kaskada configure --profile NAME`)"


def _token(status: int, document: dict[str, Any], url: str, *sent: str,
           fix: str | None = None) -> Token:
    """The access token of a token response; ``fix`` replaces the client-secret advice
    (a device or federated profile has no secret to configure)."""
    from kaskada.credentials.tokens import parse_token_response

    body = json.dumps({k: v for k, v in document.items() if k != "refresh_token"}).encode()
    try:
        return parse_token_response(status, body, now=_clock.get().monotonic(), url=url)
    except AuthenticationError as error:
        text = str(error)
        if fix:
            text = text.replace(CLIENT_SECRET_FIX, fix)
        raise AuthenticationError(scrub(text, *sent)) from None


def discover(issuer: str, *, timeout: float, ca_bundle: str | None,
             allow_insecure: bool | None = None) -> dict[str, str]:
    """RFC 8414 metadata of ``issuer``; its ``issuer`` must equal the one asked for, and
    every endpoint it names obeys :func:`check_metadata_url` before anything is sent.

    ``allow_insecure`` None: what the settings check already decided for the issuer (a
    plain-http issuer off loopback got through only with allow_insecure).
    """

    import urllib.error
    import urllib.request

    from kaskada.credentials.tokens import _no_redirect, _ssl_context

    url = issuer.rstrip("/") + METADATA_PATH
    handlers: list[Any] = [_no_redirect()]
    if url.startswith("https:"):
        handlers.append(urllib.request.HTTPSHandler(context=_ssl_context(ca_bundle)))
    try:
        with urllib.request.build_opener(*handlers).open(url, timeout=timeout) as answer:
            document = json.loads(answer.read(65536))
    except urllib.error.HTTPError as error:
        unavailable = error.code >= 500 or error.code == 429
        kind = TokenEndpointUnavailableError if unavailable else AuthenticationError
        raise kind(f"cannot read the authorization server metadata at {url} (HTTP "
                   f"{error.code}): check the profile's issuer"
                   + (" and that the server is running" if unavailable else "")) from None
    except OSError as error:
        reason = getattr(error, "reason", None) or error
        text = getattr(reason, "strerror", None) or type(reason).__name__
        raise TokenEndpointUnavailableError(
            f"the issuer {issuer} could not be reached to read its metadata at {url} "
            f"({text}): check that the server is running and the profile's issuer") from None
    except (ValueError, RecursionError) as error:
        raise AuthenticationError(
            f"cannot read the authorization server metadata at {url} ({type(error).__name__}):"
            " check the profile's issuer") from None
    if not isinstance(document, dict) or document.get("issuer") != issuer.rstrip("/"):
        raise AuthenticationError(
            f"the metadata at {url} names another issuer than {issuer!r}: refusing to use it "
            "(check the profile's issuer)")
    if allow_insecure is None:
        parts = urlsplit(issuer)
        allow_insecure = parts.scheme == "http" and not is_loopback(parts.hostname or "")
    found = {key: document[key] for key in (
        "token_endpoint", "device_authorization_endpoint", "revocation_endpoint")
        if isinstance(document.get(key), str)}
    if "token_endpoint" not in found:
        raise AuthenticationError(f"the metadata at {url} has no token_endpoint")
    for key, value in found.items():
        check_metadata_url(value, key, url, issuer=issuer, allow_insecure=allow_insecure)
    return found


def check_metadata_url(value: str, key: str, where: str, *, issuer: str,
                       allow_insecure: bool) -> None:
    """An endpoint read from metadata obeys the rule of one written in a profile: http(s),
    plain http only to loopback unless allow_insecure, and never plain http off loopback
    under an https issuer (no downgrade). Raises InsecureConnectionError / ConfigError."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        valid = False
    shown = repr(value[:200])
    if not valid:
        raise ConfigError(f"the metadata at {where} gives {key} = {shown}, not an http(s) "
                          "URL: refusing to use it (check the profile's issuer)")
    downgrade = issuer.startswith("https:")
    if (parts.scheme == "http" and not is_loopback(parts.hostname or "")
            and (downgrade or not allow_insecure)):
        raise InsecureConnectionError(
            f"the metadata at {where} gives {key} = {shown}: plain http on a "
            "non-loopback host, so tokens would cross the network unencrypted; nothing "
            "was sent (the server must name https endpoints"
            + (")" if downgrade else ", or pass allow_insecure=True / KASKADA_ALLOW_INSECURE=1)"))


# -- device login --------------------------------------------------------------------


@contextlib.contextmanager
def _lock(name: str) -> Iterator[None]:
    """The cross-process lock of one profile's refresh token.

    It lives in the token cache's folder under that folder's trust rule (ours, writable
    by nobody else, not a link) and is never opened through a symbolic link: another
    account must not be able to hold it (stalling refreshes) or point it elsewhere.
    Rotation needs it, so a folder or lock that cannot be used is one clear error.
    """
    import hashlib
    import stat

    import filelock  # costly to import: only when a device profile refreshes

    from kaskada.credentials import token_cache as _token_cache

    folder = Path(_token_cache.cache_dir())
    fix = "chmod 700 it, or set KASKADA_CACHE_DIR to a private folder"
    if not _token_cache._folder_usable(folder, create=True):
        raise ConfigError(
            f"cannot refresh the device login of profile '{name}': its lock folder {folder} "
            f"is missing, not a folder, owned by another user or writable by others: {fix}")
    key = hashlib.sha256(f"{_paths.keyring_service()}\0{name}".encode()).hexdigest()[:24]
    path = folder / f"refresh-{key}.lock"
    try:
        if stat.S_ISLNK(os.lstat(path).st_mode):
            raise ConfigError(
                f"cannot refresh the device login of profile '{name}': its lock {path} is a "
                "symbolic link, which is never followed: delete it")
    except FileNotFoundError:
        pass
    lock = filelock.FileLock(str(path), timeout=LOCK_TIMEOUT, mode=0o600)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise ConfigError(
            f"another process has held the refresh lock {path} of profile '{name}' for "
            f"{LOCK_TIMEOUT:g} s: try again, or find the process that holds it") from None
    except OSError as error:
        raise ConfigError(
            f"cannot take the refresh lock {path} of profile '{name}' "
            f"({error.strerror or type(error).__name__}): {fix}") from None
    try:
        yield
    finally:
        lock.release()


class DeviceCredentials(GrantCredentials):
    """A person signed in with ``kaskada login``; the refresh token is in the profile's
    store (the keyring, or the opted-in plain-text file), bound like a secret."""

    kind = "device"

    def binding(self) -> dict[str, Any]:
        """Where the refresh token may go: a client secret's destinations, plus the kind
        and the ``issuer`` (its metadata names the token and revocation endpoints)."""
        from kaskada.credentials.binding import binding_of

        return binding_of(self._fields)

    def endpoints(self, *, allow_insecure: bool | None = None) -> dict[str, str]:
        """The profile's own endpoints only: an ``exchange_endpoint`` given beside
        ``profile=`` may take a client secret elsewhere, never a refresh token, which
        only its issuer can use (elsewhere it would be spent, and a refusal there would
        end the login). Refused in one ConfigError before anything is sent."""
        discovered = self.sign_in.issuer and not self._fields.get("exchange_endpoint")
        bound = self.binding()["exchange_endpoint"]
        if not discovered and self.url != bound:
            raise ConfigError(
                f"profile '{self.name}' signs in with a device login whose refresh token "
                f"goes only to its own token endpoint {bound}, not to {self.url[:200]} (given "
                "with profile=): drop that exchange_endpoint, or give the other server a "
                "profile of its own and sign it in with `kaskada login --profile NAME`")
        return super().endpoints(allow_insecure=allow_insecure)

    def store_of_token(self) -> SecretStore:
        """Where the refresh token lives: the profile's store (keyring or file; a profile
        file refuses env and command stores for a device login)."""
        from kaskada.credentials import profile_stores

        store = profile_stores.store_for(self.name, self._fields)
        if not store.bound:
            raise ConfigError(
                f"profile '{self.name}' signs in with auth = 'device', whose refresh token "
                f"rotates, and {store.describe()} cannot be written back: keep it in the "
                f"keyring (`kaskada profile unset {self.name} secret_store`)")
        return store

    def stored(self) -> Secret | None:
        from kaskada.credentials import binding as _binding

        entry = self.store_of_token().read()
        if entry is None:
            return None
        _binding.check(self.name, entry, self._fields, bound=self.binding(),
                       fix=f"sign in again with `kaskada login --profile {self.name}`")
        return entry.secret

    def store(self, refresh_token: str) -> None:
        self.store_of_token().write(Secret(refresh_token), self.binding())

    def forget(self) -> bool:
        return self.store_of_token().delete()

    def _buy(self, request: Request) -> Token:
        name = self.name
        with _lock(name):
            refresh = self.stored()
            if refresh is None:
                raise IncompleteCredentialsError(
                    f"profile '{name}' is not signed in: run `kaskada login --profile {name}`")
            token_url = self.endpoints()["token_endpoint"]
            log.debug("refreshing the device login of profile %s", name)
            status, document = _post(request, token_url, {
                "grant_type": "refresh_token", "client_id": self.client_id,
                "refresh_token": refresh.reveal()}, self._timeout, self._ca_bundle)
            if status == 400 and document.get("error") == "invalid_grant":
                self.forget()
                raise AuthenticationError(
                    f"the sign-in of profile '{name}' has ended (the server refused its "
                    f"refresh token): run `kaskada login --profile {name}`")
            token = _token(status, document, token_url, refresh.reveal(), fix=(
                f"check the client id, or sign in again with `kaskada login --profile {name}`"))
            rotated = document.get("refresh_token")
            if isinstance(rotated, str) and rotated:
                self.store(rotated)  # replaces the old one in one write
            return token


class FederatedCredentials(GrantCredentials):
    """A CI or cluster identity: an OIDC token exchanged at every sign-in (RFC 8693)."""

    kind = "federated"

    def source(self) -> str:
        kind, where = self.sign_in.subject_token or ("github_actions", "")
        if kind == "file":
            return f"file {where}"
        if kind == "env":
            return f"variable {where}"
        return "GitHub Actions' OIDC request"

    def describe(self) -> str:
        return (f"the federated sign-in of profile '{self.name}' (subject token from "
                f"{self.source()})")

    def subject_token(self) -> str:
        """The subject token, from a trusted config only, and only if it is a JWT."""
        _refuse_untrusted_config(self.name, self.source())
        value = self._read_subject_token()
        if not _JWT.fullmatch(value):
            raise IncompleteCredentialsError(
                f"the subject token of profile '{self.name}' (read from {self.source()}) is "
                "not a JWT (three base64url parts joined by dots), so it is not sent: check "
                "where the profile reads it")
        return value

    def _read_subject_token(self) -> str:
        kind, where = self.sign_in.subject_token or ("github_actions", "")
        if kind == "file":
            path = Path(where).expanduser()
            value = _read_token_file(path, self.name)
            if not value:
                raise IncompleteCredentialsError(
                    f"the subject token file {path} of profile '{self.name}' is empty")
            return value
        if kind == "env":
            value = os.environ.get(where, "").strip()
            if not value:
                raise IncompleteCredentialsError(
                    f"the variable {where} (the subject token of profile '{self.name}') "
                    "is unset or empty")
            return value
        return github_actions_token(self._audience, timeout=self._timeout)

    def _buy(self, request: Request) -> Token:
        subject = self.subject_token()
        token_url = self.endpoints()["token_endpoint"]
        form = {"grant_type": EXCHANGE_GRANT, "subject_token": subject,
                "subject_token_type": JWT_TYPE, "client_id": self.client_id}
        status, document = _post(request, token_url, form, self._timeout, self._ca_bundle)
        if status == 400 and document.get("error") == "invalid_grant":
            raise AuthenticationError(
                f"the token endpoint {token_url} refused the subject token of profile "
                f"'{self.name}' (read from {self.source()}): it may have expired, or the "
                "server does not trust its issuer, audience or subject")
        return _token(status, document, token_url, subject, fix=(
            f"check the client id and the subject token (read from {self.source()}), and that "
            "the server trusts its issuer (`kaskada server trust-issuer`)"))


SUBJECT_TOKEN_LIMIT = 64 * 1024
"""Bytes read from a subject token file: a JWT is a few KiB; a larger file is not one."""


def _read_token_file(path: Path, name: str) -> str:
    """The stripped text of a subject token file: a regular file (a FIFO or a device
    never blocks the call: it is opened without waiting and refused), read up to
    SUBJECT_TOKEN_LIMIT bytes, UTF-8. Symbolic links are followed: Kubernetes projects
    its tokens through them. Anything else is one IncompleteCredentialsError."""
    import stat

    def refused(reason: str) -> IncompleteCredentialsError:
        return IncompleteCredentialsError(
            f"cannot read the subject token of profile '{name}' from {path} ({reason}): "
            "check subject_token_file")

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as error:
        raise refused(error.strerror or type(error).__name__) from None
    with os.fdopen(fd, "rb") as file:
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise refused("not a regular file")
            data = file.read(SUBJECT_TOKEN_LIMIT + 1)
        except OSError as error:
            raise refused(error.strerror or type(error).__name__) from None
    if len(data) > SUBJECT_TOKEN_LIMIT:
        raise refused(f"larger than {SUBJECT_TOKEN_LIMIT // 1024} KiB, so not a token")
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise refused("not UTF-8 text, so not a token") from None


_JWT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


def _refuse_untrusted_config(name: str, source: str) -> None:
    """A config file another account could write never decides what is read and sent as
    a subject token (as for ``secret_env`` / ``secret_command``)."""
    from kaskada._errors import UntrustedConfigError
    from kaskada.config import file as _config

    problems = _config.trust_problems(_config.config_path())
    if problems:
        raise UntrustedConfigError(
            f"refusing to read the subject token of profile '{name}' from {source}: the "
            "config file that names it could have been written by another account; "
            + "; also ".join(problems))


ACTIONS_URL = "ACTIONS_ID_TOKEN_REQUEST_URL"
ACTIONS_TOKEN = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"


def github_actions_token(audience: str | None, *, timeout: float) -> str:
    """GitHub Actions' OIDC token for ``audience`` (the job needs ``id-token: write``)."""

    import urllib.request

    url = os.environ.get(ACTIONS_URL)
    bearer = os.environ.get(ACTIONS_TOKEN)
    if not url or not bearer:
        raise IncompleteCredentialsError(
            f"no subject token: {ACTIONS_URL} and {ACTIONS_TOKEN} are unset (outside GitHub "
            "Actions, or the job lacks `permissions: id-token: write`); or set "
            "subject_token_file / subject_token_env in the profile")
    from kaskada.credentials.tokens import _no_redirect

    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        parts, host = urlsplit(""), ""
    if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback(host)):
        raise InsecureConnectionError(
            f"{ACTIONS_URL} is not an https URL (scheme {parts.scheme or 'none'!r}, host "
            f"{host[:80] or 'none'!r}): the request token is never sent in clear or "
            "elsewhere; GitHub Actions sets an https URL")
    if audience:
        url += ("&" if "?" in url else "?") + urllib.parse.urlencode({"audience": audience})
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {bearer}",
                                                   "Accept": "application/json"})
    try:  # never follows a redirect: it would carry the bearer to another host
        with urllib.request.build_opener(_no_redirect()).open(request,
                                                              timeout=timeout) as answer:
            document = json.loads(answer.read(65536))
    except AuthenticationError:  # _no_redirect's refusal, worded for the token endpoint
        raise AuthenticationError(
            f"GitHub Actions' OIDC request ({ACTIONS_URL}) answered a redirect: the request "
            "token never follows one; check the variable") from None
    except (OSError, ValueError) as error:
        raise AuthenticationError(
            f"GitHub Actions' OIDC request ({ACTIONS_URL}) failed: {type(error).__name__}"
        ) from None
    value = document.get("value") if isinstance(document, dict) else None
    if not isinstance(value, str) or not value:
        raise AuthenticationError(f"GitHub Actions' OIDC request ({ACTIONS_URL}) gave no token")
    return value
