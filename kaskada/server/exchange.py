"""Token exchange (RFC 8693) for trusted issuers: a CI job's OIDC token buys an access token.

The subject token is verified with PyJWT (a well-kept JOSE library; never hand-written
cryptography): signature by a key of the issuer's JWKS (RS256 or ES256 only, so
``alg=none`` and an HS256 token "signed" with the public key are refused), ``iss``,
``aud``, ``exp``/``nbf``/``iat`` with a small leeway, and the subject against the trust
entry's pattern (``fnmatch``: ``repo:org/repo:*``). The key set is cached per source and
fetched again when a token names a ``kid`` it lacks (at most every ``REFETCH_SECONDS``).

A refusal tells the caller only ``invalid_grant``; which check failed goes to the log.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import jwt

from kaskada.server.oauth_store import OAuthStore, TrustedIssuer
from kaskada.settings.hostport import is_loopback

log = logging.getLogger(__name__)

ALGORITHMS = ["RS256", "ES256"]
LEEWAY_SECONDS = 30
REFETCH_SECONDS = 5.0
"""A token with an unknown ``kid`` fetches the key set again, at most this often."""
JWKS_MAX_BYTES = 256 * 1024
JWKS_TIMEOUT = 5.0
MAX_SUBJECT_TOKEN = 16384
TOKEN_TYPES = (
    "urn:ietf:params:oauth:token-type:jwt",
    "urn:ietf:params:oauth:token-type:id_token",
)


class Refused(Exception):
    """The subject token failed a check; the message (for the log only) says which."""


class _KeySet:
    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}
        self.fetched = -1e9
        self.lock = threading.Lock()


class JwksCache:
    """Key sets by source (a file path or an https/http URL), re-read on an unknown kid."""

    def __init__(self) -> None:
        self._sets: dict[str, _KeySet] = {}
        self._lock = threading.Lock()

    def key(self, source: str, kid: str | None) -> Any:
        with self._lock:
            entry = self._sets.setdefault(source, _KeySet())
        with entry.lock:
            found = self._pick(entry, kid)
            if found is None and time.monotonic() - entry.fetched >= REFETCH_SECONDS:
                entry.keys = load_jwks(source)
                entry.fetched = time.monotonic()
                found = self._pick(entry, kid)
        if found is None:
            raise Refused(f"no key {kid!r} in the key set {source}")
        return found

    @staticmethod
    def _pick(entry: _KeySet, kid: str | None) -> Any:
        if kid is None:
            return next(iter(entry.keys.values())) if len(entry.keys) == 1 else None
        return entry.keys.get(kid)


def source_problem(source: str) -> str | None:
    """Why a key-set source (a file path or a URL) can never be trusted, else None: a URL
    must be https, or http on loopback, since whoever serves the keys can mint tokens."""
    if "://" not in source:
        return None
    parts = urllib.parse.urlsplit(source)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
        return None
    if parts.scheme == "http":
        return (f"--jwks {source[:200]!r} is plain http off loopback: anyone on the path "
                "could supply the keys and mint tokens; give an https URL (or a file)")
    return (f"--jwks {source[:200]!r} is neither a file path nor an https URL: give the "
            "key set's https URL or the path of a JSON file")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirected key-set request is refused: the keys come from the address trusted."""

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                         headers: Any, newurl: str) -> urllib.request.Request | None:
        raise Refused(f"the key set {req.full_url} answered HTTP {code}, a redirect: "
                      "trust the address it names instead")


def load_jwks(source: str) -> dict[str, Any]:
    """The keys of a key set by ``kid``; Refused (for the log or the CLI) says why not."""
    problem = source_problem(source)
    if problem is not None:
        raise Refused(problem)
    try:
        if "://" in source:
            opener = urllib.request.build_opener(_NoRedirect)
            with opener.open(source, timeout=JWKS_TIMEOUT) as answer:
                raw = answer.read(JWKS_MAX_BYTES + 1)
        else:
            raw = Path(source).read_bytes()[: JWKS_MAX_BYTES + 1]
        if len(raw) > JWKS_MAX_BYTES:
            raise Refused(f"the key set {source} is over {JWKS_MAX_BYTES} bytes")
        document = json.loads(raw)
        if not isinstance(document, dict):
            raise ValueError("not a JSON object")
        keys = jwt.PyJWKSet.from_dict(document).keys
    except OSError as error:
        reason = getattr(error, "strerror", None) or getattr(error, "reason", None) or error
        raise Refused(f"cannot read the key set {source}: {reason}") from None
    except (ValueError, jwt.PyJWTError) as error:
        raise Refused(f"the key set {source} is not a valid JWKS (a JSON object with "
                      f"\"keys\"): {type(error).__name__}") from None
    return {key.key_id or "": key for key in keys}


class Exchanger:
    """Verifies subject tokens against the trusted issuers of a store."""

    def __init__(self, oauth: OAuthStore) -> None:
        self._oauth = oauth
        self._jwks = JwksCache()

    def verify(self, subject_token: str) -> tuple[TrustedIssuer, str]:
        """The trust entry the token satisfies and its subject; Refused says why not."""
        if len(subject_token) > MAX_SUBJECT_TOKEN:
            raise Refused("the subject token is too long")
        try:
            header = jwt.get_unverified_header(subject_token)
            unverified = jwt.decode(subject_token, options={"verify_signature": False})
        except jwt.PyJWTError as error:
            raise Refused(f"not a JWT ({type(error).__name__})") from None
        if header.get("alg") not in ALGORITHMS:
            raise Refused(f"algorithm {str(header.get('alg'))[:20]!r} is not accepted")
        issuer = unverified.get("iss")
        if not isinstance(issuer, str):
            raise Refused("the token has no iss")
        entries = self._oauth.trusted_issuers(issuer)
        if not entries:
            raise Refused(f"issuer {issuer[:200]!r} is not trusted")
        failures: list[str] = []
        for entry in entries:
            try:
                key = self._jwks.key(entry.jwks, header.get("kid"))
                # The key object itself (PyJWT before 2.9 takes no PyJWK here), and only
                # the algorithm of its family: an EC key never checks an RS256 token.
                claims = jwt.decode(
                    subject_token, key=key.key, algorithms=_algorithms_for(key.key),
                    audience=entry.audience,
                    issuer=entry.issuer, leeway=LEEWAY_SECONDS,
                    options={"require": ["exp", "iat", "iss", "aud", "sub"]},
                )
            except Refused as refused:
                failures.append(f"trust {entry.id}: {refused}")
                continue
            except jwt.PyJWTError as error:
                failures.append(f"trust {entry.id}: {type(error).__name__}: {error}")
                continue
            subject = str(claims["sub"])
            if not fnmatch.fnmatchcase(subject, entry.subject):
                failures.append(
                    f"trust {entry.id}: subject {subject[:200]!r} does not match "
                    f"{entry.subject!r}")
                continue
            return entry, subject
        raise Refused("; ".join(failures))


def _algorithms_for(key: object) -> list[str]:
    """The accepted algorithm that fits ``key``'s type (RS256 for RSA, ES256 for EC)."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if isinstance(key, rsa.RSAPublicKey):
        return ["RS256"]
    if isinstance(key, ec.EllipticCurvePublicKey):
        return ["ES256"]
    raise Refused(f"the key set holds a {type(key).__name__}, not an RSA or EC public key")
