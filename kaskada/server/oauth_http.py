"""The token endpoint's routes beyond client credentials, for people and CI.

- ``GET /.well-known/oauth-authorization-server``: metadata (RFC 8414);
- ``POST /oauth/device_authorization``: a device code for a public client (RFC 8628);
- ``GET|POST /device``: the verification page (``kaskada.server.pages``);
- ``POST /oauth/token`` with ``grant_type`` ``urn:ietf:params:oauth:grant-type:device_code``,
  ``refresh_token`` (rotation; a rotated token presented again revokes its family) or
  ``urn:ietf:params:oauth:grant-type:token-exchange`` (RFC 8693, trusted issuers);
- ``POST /oauth/revoke``: revocation (RFC 7009).

``handle`` runs on one of the token endpoint's worker threads; it returns an
``Answer`` that the endpoint sends. Nothing logged here carries a token, a device or
user code, or a password.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import kaskada.server.pages as pages
from kaskada import _clock
from kaskada.server.limits import LogSummary
from kaskada.server.oauth_store import (
    CLI_CLIENT_ID,
    MAX_PENDING_DEVICE_CODES_PER_PEER,
    REFRESH_REUSE_GRACE,
    Grant,
    OAuthStore,
    PeerPending,
    RefreshReuse,
    TooManyPending,
)
from kaskada.server.store import StorageFull, Store

log = logging.getLogger(__name__)

METADATA_PATH = "/.well-known/oauth-authorization-server"
TOKEN_PATH = "/oauth/token"
DEVICE_AUTHORIZATION_PATH = "/oauth/device_authorization"
REVOCATION_PATH = "/oauth/revoke"
DEVICE_PAGE = "/device"

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
REFRESH_GRANT = "refresh_token"
GRANTS = (DEVICE_GRANT, REFRESH_GRANT, EXCHANGE_GRANT)
"""The grants this module answers; ``client_credentials`` stays with token_http."""
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"

_ROUTES = {
    ("GET", METADATA_PATH), ("HEAD", METADATA_PATH), ("GET", DEVICE_PAGE),
    ("HEAD", DEVICE_PAGE), ("POST", DEVICE_PAGE), ("POST", DEVICE_AUTHORIZATION_PATH),
    ("POST", REVOCATION_PATH),
}


@dataclass
class Answer:
    """An HTTP answer: JSON ``body`` or an ``html`` page."""

    status: int
    body: dict[str, Any] | None = None
    html: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _error(error: str, description: str, status: int = 400) -> Answer:
    return Answer(status, {"error": error, "error_description": description})


def address_block(peer: str) -> str:
    """What the device-code cap counts as one address: an IPv4 address (also written as
    IPv4-mapped IPv6), else the IPv6 /64 it lies in -- one host or home line is given a
    whole /64, so counting single IPv6 addresses would let it take every code."""
    import ipaddress

    try:
        address = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return peer
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def claims(method: str, path: str, grant_type: str | None) -> bool:
    """Whether a request is this module's to answer."""
    if (method, path) in _ROUTES:
        return True
    return method == "POST" and path == TOKEN_PATH and grant_type in GRANTS


class OAuthRoutes:
    """Device login, refresh, token exchange, revocation, metadata and the page."""

    def __init__(
        self, store: Store, *, access_ttl: int, base_url: str,
        failure: Callable[[str], tuple[int, str]],
        device_codes_per_peer: int = MAX_PENDING_DEVICE_CODES_PER_PEER,
    ) -> None:
        """``failure(peer)`` counts one failure against the token endpoint's per-peer and
        global budgets: (0, "") within them, else (seconds to wait, whose budget).
        ``device_codes_per_peer``: device codes one address may have waiting at once."""
        from kaskada.server.exchange import Exchanger  # PyJWT loads only with a server

        self.oauth = OAuthStore(store)
        self.access_ttl = access_ttl
        self.base_url = base_url
        self._failure = failure
        self.device_codes_per_peer = device_codes_per_peer
        self.refused: LogSummary = LogSummary(
            log, "device authorizations refused: the address's codes are all waiting "
            "(answered 429)")
        self._csrf = pages.Csrf()
        self._exchanger = Exchanger(self.oauth)

    def metadata(self) -> dict[str, Any]:
        """RFC 8414: every endpoint and grant this server supports."""
        base = self.base_url
        return {
            "issuer": base,
            "token_endpoint": base + TOKEN_PATH,
            "device_authorization_endpoint": base + DEVICE_AUTHORIZATION_PATH,
            "revocation_endpoint": base + REVOCATION_PATH,
            "grant_types_supported": ["client_credentials", *GRANTS],
            "response_types_supported": ["token"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic", "client_secret_post", "none"],
            "revocation_endpoint_auth_methods_supported": ["none"],
            "scopes_supported": [],
        }

    def handle(
        self, method: str, target: str, headers: dict[str, str], fields: dict[str, str],
        peer: str,
    ) -> Answer:
        path = urllib.parse.urlsplit(target).path
        try:
            if path == METADATA_PATH:
                return Answer(HTTPStatus.OK, self.metadata())
            if path == DEVICE_PAGE:
                return self._page(method, target, headers, fields, peer)
            if path == DEVICE_AUTHORIZATION_PATH:
                return self._device_authorization(fields, peer)
            if path == REVOCATION_PATH:
                return self._revoke(fields)
            grant = fields.get("grant_type")
            if grant == DEVICE_GRANT:
                return self._device_grant(fields)
            if grant == REFRESH_GRANT:
                return self._refresh_grant(fields)
            return self._exchange_grant(fields, peer)
        except StorageFull:
            log.warning("request refused: the database or disk is full")
            return Answer(HTTPStatus.SERVICE_UNAVAILABLE,
                          {"error": "temporarily_unavailable",
                           "error_description": "the server's storage is full: try later"},
                          headers={"Retry-After": "30"})

    # -- device authorization ------------------------------------------------------

    def _public_client(self, fields: dict[str, str]) -> str | Answer:
        client_id = fields.get("client_id", "")
        if not client_id:
            return _error("invalid_request", "client_id is required (a public client such as "
                          f"{CLI_CLIENT_ID!r})")
        if not self.oauth.is_public_client(client_id):
            return _error("invalid_client", f"{client_id[:64]!r} is not a public client of this "
                          "server", HTTPStatus.UNAUTHORIZED)
        return client_id

    def _limited(self, peer: str, line: str, *args: object) -> Answer | None:
        """Count a failure: None within the budgets (``line`` logged), else the 429 answer
        (counted in the log's summary, no line of its own)."""
        wait, whose = self._failure(peer)
        if not wait:
            log.info(line, *args)
            return None
        return Answer(HTTPStatus.TOO_MANY_REQUESTS,
                      {"error": "temporarily_unavailable",
                       "error_description": f"refused, and there were too many failures "
                                            f"{whose}: try again in {wait} s"},
                      headers={"Retry-After": str(wait)})

    def _device_authorization(self, fields: dict[str, str], peer: str) -> Answer:
        client = self._public_client(fields)
        if isinstance(client, Answer):
            limited = self._limited(peer, "device authorization refused from %s: not a "
                                    "public client", peer)
            return limited or client
        try:
            device_code, user_code, record = self.oauth.start_device(
                client, address_block(peer), self.device_codes_per_peer)
        except PeerPending as limit:  # a flood from one address: one summary line
            self.refused.note("too many waiting device codes from one address",
                              f" (peer {peer})")
            return Answer(HTTPStatus.TOO_MANY_REQUESTS,
                          {"error": "temporarily_unavailable",
                           "error_description":
                               f"{self.device_codes_per_peer} sign-ins from this address are "
                               "waiting for approval already: finish or deny one, or try "
                               f"again in {limit.retry_after} s"},
                          headers={"Retry-After": str(limit.retry_after)})
        except TooManyPending:
            log.warning("device authorization refused: the most codes allowed are waiting")
            return Answer(HTTPStatus.SERVICE_UNAVAILABLE,
                          {"error": "temporarily_unavailable",
                           "error_description": "too many sign-ins are waiting: try again "
                                                "in a minute"}, headers={"Retry-After": "60"})
        shown = f"{user_code[:4]}-{user_code[4:]}"
        page = self.base_url + DEVICE_PAGE
        log.info("device login started by client %s", client)
        return Answer(HTTPStatus.OK, {
            "device_code": device_code.reveal(),
            "user_code": shown,
            "verification_uri": page,
            "verification_uri_complete": f"{page}?user_code={shown}",
            "expires_in": int(record.expires - _clock.get().time()),
            "interval": record.interval,
        })

    def _client_and(self, fields: dict[str, str], name: str) -> tuple[str, str] | Answer:
        """(public client id, the named field) of a grant request, or its error answer."""
        client = self._public_client(fields)
        if isinstance(client, Answer):
            return client
        value = fields.get(name, "")
        if not value:
            return _error("invalid_request", f"{name} is required")
        return client, value

    def _device_grant(self, fields: dict[str, str]) -> Answer:
        request = self._client_and(fields, "device_code")
        if isinstance(request, Answer):
            return request
        client, code = request
        outcome = self.oauth.poll_device(code, client, self.access_ttl)
        if isinstance(outcome, str):
            return _error(outcome, _DEVICE_ERRORS[outcome])
        log.info("device login: issued tokens to client %s (account %s)", client,
                 outcome.account)
        return self._tokens(outcome)

    # -- refresh -------------------------------------------------------------------

    def _refresh_grant(self, fields: dict[str, str]) -> Answer:
        request = self._client_and(fields, "refresh_token")
        if isinstance(request, Answer):
            return request
        client, token = request
        try:
            outcome = self.oauth.refresh(token, client, self.access_ttl)
        except RefreshReuse as reuse:
            log.warning("a rotated refresh token was presented again (client %s): its family "
                        "%s is revoked", client, reuse.args[0][:8])
            return _error("invalid_grant", "the refresh token is no longer valid: sign in again")
        if isinstance(outcome, str):
            log.info("refresh refused (client %s): unknown, revoked or expired token", client)
            return _error(outcome, "the refresh token is no longer valid: sign in again")
        if outcome.grace_replay:
            log.info("a rotated refresh token came back within its %d s grace, its successor "
                     "never used (client %s): answered with a new pair, the unused one revoked",
                     REFRESH_REUSE_GRACE, client)
        return self._tokens(outcome)

    @staticmethod
    def _tokens(grant: Grant, **extra: str) -> Answer:
        body: dict[str, Any] = {**extra,
            "access_token": grant.access_token.reveal(), "token_type": "Bearer",
            "expires_in": grant.expires_in,
        }
        if grant.refresh_token is not None:
            body["refresh_token"] = grant.refresh_token.reveal()
        return Answer(HTTPStatus.OK, body)

    # -- token exchange ------------------------------------------------------------

    def _exchange_grant(self, fields: dict[str, str], peer: str) -> Answer:
        from kaskada.server.exchange import TOKEN_TYPES, Refused

        client = CLI_CLIENT_ID
        if fields.get("client_id"):
            checked = self._public_client(fields)
            if isinstance(checked, Answer):
                return checked
            client = checked
        subject_token = fields.get("subject_token", "")
        token_type = fields.get("subject_token_type", "")
        if not subject_token or not token_type:
            return _error("invalid_request", "subject_token and subject_token_type are required")
        if token_type not in TOKEN_TYPES:
            return _error("invalid_request", f"subject_token_type {token_type[:80]!r} is not "
                          f"supported: use {TOKEN_TYPES[0]}")
        requested = fields.get("requested_token_type")
        if requested and requested != ACCESS_TOKEN_TYPE:
            return _error("invalid_request", f"requested_token_type must be {ACCESS_TOKEN_TYPE}")
        try:
            entry, subject = self._exchanger.verify(subject_token)
        except Refused as refused:
            limited = self._limited(peer, "token exchange refused from %s: %s", peer, refused)
            return limited or _error(
                "invalid_grant", "the subject token was refused by this server's trusted "
                "issuers (the server's log says why)")
        grant = self.oauth.issue_exchanged(client, entry.account, subject, self.access_ttl)
        log.info("token exchange: subject %r of %s mapped to account %s", subject[:200],
                 entry.issuer[:200], entry.account)
        return self._tokens(grant, issued_token_type=ACCESS_TOKEN_TYPE)

    # -- revocation ----------------------------------------------------------------

    def _revoke(self, fields: dict[str, str]) -> Answer:
        token = fields.get("token", "")
        if not token:
            return _error("invalid_request", "token is required")
        what = self.oauth.revoke(token)
        if what:
            log.info("revoked a %s", what)
        return Answer(HTTPStatus.OK, {})  # RFC 7009 §2.2: 200 also for an unknown token

    # -- the verification page -------------------------------------------------------

    def _page(self, method: str, target: str, headers: dict[str, str],
              fields: dict[str, str], peer: str) -> Answer:
        security = dict(pages.SECURITY_HEADERS)
        if method != "POST":
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(target).query)
            code = query.get("user_code", [""])[0][:32]
            token = self._csrf.new()
            return Answer(HTTPStatus.OK, html=pages.form(token, code), headers={
                **security, "Set-Cookie": pages.cookie_header(token)})
        token = self._csrf.new()
        again = {**security, "Set-Cookie": pages.cookie_header(token)}
        code = fields.get("user_code", "")
        account = fields.get("account", "")[:256]
        user = fields.get("username", "")[:256]

        def failed(status: int, message: str, line: str, *args: object,
                   keep_code: bool = True) -> Answer:
            """A failure counted against the budgets; beyond them 429 and no line of its own."""
            wait, _ = self._failure(peer)
            if wait:  # the same answer whatever failed: no probing codes beyond the budget
                return Answer(HTTPStatus.TOO_MANY_REQUESTS, html=pages.form(
                    token, code, account, user,
                    f"Too many failed attempts: try again in {wait} s."),
                    headers={**again, "Retry-After": str(wait)})
            log.info(line, *args)
            return Answer(status, html=pages.form(
                token, code if keep_code else "", account, user, message), headers=again)

        if not self._csrf.valid(fields.get("csrf_token"), pages.read_cookie(headers.get("cookie"))):
            wait, _ = self._failure(peer)
            if not wait:
                log.info("verification page: a post without a valid CSRF token from %s", peer)
            return Answer(HTTPStatus.FORBIDDEN, html=pages.refused(
                "This form was not sent by this server's page (missing or wrong CSRF token). "
                "Open the sign-in address again."), headers=security)
        password = fields.get("password", "")
        approve = fields.get("action") == "approve"
        if self.oauth.pending_device(code) is None:
            return failed(HTTPStatus.BAD_REQUEST, "That code is unknown, already used or "
                          "expired: check your terminal, or start the login again.",
                          "verification page: unknown, used or expired code from %s", peer,
                          keep_code=False)
        # The password is checked whatever the budgets say (under the bounded scrypt
        # pool), and only a failure is limited: a correct password always gets through.
        if not self.oauth.check_password(account, user, password):
            return failed(HTTPStatus.UNAUTHORIZED, "Wrong account, user name or password.",
                          "verification page: failed sign-in of user %r of account %r from %s",
                          user[:64], account[:64], peer)
        if not self.oauth.decide_device(code, approve, account, user):
            return Answer(HTTPStatus.BAD_REQUEST, html=pages.form(
                token, "", account, user, "That code was used or expired meanwhile."),
                headers=again)
        log.info("device login %s by user %r of account %r", "approved" if approve else "denied",
                 user[:64], account[:64])
        return Answer(HTTPStatus.OK, html=pages.done(approve, account, user), headers=security)


_DEVICE_ERRORS = {
    "authorization_pending": "the user has not approved yet",
    "slow_down": "polling too fast: wait longer between requests",
    "access_denied": "the user denied the request",
    "expired_token": "the device code expired: start the login again",
    "invalid_grant": "unknown or already used device code",
}
