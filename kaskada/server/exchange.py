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
import urllib.request
from pathlib import Path
from typing import Any

import jwt

from kaskada.server.oauth_store import OAuthStore, TrustedIssuer

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
                entry.keys = _load(source)
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


def _load(source: str) -> dict[str, Any]:
    try:
        if source.startswith(("https://", "http://")):
            with urllib.request.urlopen(source, timeout=JWKS_TIMEOUT) as answer:
                raw = answer.read(JWKS_MAX_BYTES + 1)
        else:
            raw = Path(source).read_bytes()[: JWKS_MAX_BYTES + 1]
        if len(raw) > JWKS_MAX_BYTES:
            raise Refused(f"the key set {source} is over {JWKS_MAX_BYTES} bytes")
        document = json.loads(raw)
        keys = jwt.PyJWKSet.from_dict(document).keys
    except (OSError, ValueError, jwt.PyJWTError) as error:
        raise Refused(f"cannot read the key set {source}: {type(error).__name__}") from None
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
                claims = jwt.decode(
                    subject_token, key=key, algorithms=ALGORITHMS, audience=entry.audience,
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
