"""What people and CI sign in with, kept beside the clients in the server's SQLite file.

- **users** of an account, with a password hashed by scrypt (salted, 16 MiB, tens of
  milliseconds: a password is a guessable secret, unlike a client secret);
- **public clients** (no secret), such as ``kaskada-cli``, which start a device login;
- **device codes** (RFC 8628): only the SHA-256 of the device code is kept; the user
  code is short, from an alphabet without 0/O/1/I, single-use and expiring;
- **refresh tokens**, kept as SHA-256, in families: each use rotates the token, and a
  rotated token presented again revokes its whole family and the family's access tokens
  -- unless it comes back within REFRESH_REUSE_GRACE of its rotation while the token
  that replaced it was never used (a client that died before storing its answer): then
  it gets a fresh pair and the unused one is revoked;
- **trusted issuers** for token exchange (RFC 8693).

Every write runs in one ``BEGIN IMMEDIATE`` transaction of the Store, so two processes
racing to use one refresh token or one device code cannot both win. Time is read through
``kaskada._clock``, so tests age codes and tokens by moving a clock, never by sleeping.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import sqlite3
import threading
from dataclasses import dataclass, replace

from kaskada import _clock
from kaskada._secret import Secret
from kaskada.server._errors import ServerError
from kaskada.server.oauth_schema import CLI_CLIENT_ID, PUBLIC_SCHEME
from kaskada.server.options import MAX_PENDING_DEVICE_CODES_PER_PEER
from kaskada.server.store import Store, hash_token, new_identifier

__all__ = ["CLI_CLIENT_ID", "MAX_PENDING_DEVICE_CODES_PER_PEER", "OAuthStore"]

USER_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
"""No 0/O or 1/I: a code read aloud or off another screen is typed right the first time."""
USER_CODE_LENGTH = 8
DEVICE_CODE_TTL = 600
DEVICE_INTERVAL = 5
SLOW_DOWN_STEP = 5
REFRESH_TTL = 30 * 86400
"""A refresh-token family's absolute lifetime from its sign-in: rotation hands the
family's expiry on, never a new one, so a device login ends 30 days after it began."""
MAX_PENDING_DEVICE_CODES = 10000
"""Unexpired device codes waiting for a person at once: anyone may ask for one, so the
table (and the disk) stays bounded; beyond it the endpoint answers 503."""
REFRESH_REUSE_GRACE = 30
"""Seconds after a refresh token's rotation during which presenting it again, while the
token that replaced it has never been used, is answered with a fresh pair instead of
revoking the family (Okta's grace period, Auth0's reuse interval): a client that died
between the server's answer and its own keyring write keeps its login."""
REFRESH_GRACE_REPLAYS = 2
"""How often one rotated token may come back within REFRESH_REUSE_GRACE; the next time
is reuse. With the window (counted from the first rotation, never renewed) it bounds
what one copy of a rotated token can get."""
PASSWORD_SCRYPT_N = 2**14
PASSWORD_CHECKS_AT_ONCE = 2
"""scrypt checks running at once (16 MiB each): a sign-in flood queues, memory stays flat."""
_password_slots = threading.BoundedSemaphore(PASSWORD_CHECKS_AT_ONCE)
_DUMMY_SALT = secrets.token_bytes(16)


def format_user_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def normalize_user_code(text: str) -> str:
    """What a person typed, as stored: upper case, without dashes and spaces."""
    return "".join(ch for ch in text.upper() if ch not in "- \t")[:32]


@dataclass(frozen=True)
class DeviceCode:
    user_code: str
    client_id: str
    expires: float
    interval: int
    status: str
    account: str | None


@dataclass(frozen=True)
class TrustedIssuer:
    id: int
    issuer: str
    jwks: str
    audience: str
    subject: str
    account: str


@dataclass(frozen=True)
class Grant:
    """What a successful grant hands out."""

    access_token: Secret
    refresh_token: Secret | None
    account: str
    expires_in: int
    grace_replay: bool = False
    """A rotated refresh token presented again within the grace window (for the log)."""


class TooManyPending(Exception):
    """MAX_PENDING_DEVICE_CODES are waiting already."""


class PeerPending(Exception):
    """The peer's share of waiting device codes is taken; ``retry_after``: seconds until
    the first of them expires (sooner if a person approves or denies one)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


class RefreshReuse(Exception):
    """A rotated refresh token was presented again: its family is now revoked."""


class OAuthStore:
    """Users, public clients, device codes, refresh tokens and trusted issuers of one Store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- clients and users ----------------------------------------------------------

    def add_public_client(self) -> str:
        client_id = new_identifier(16)
        with self.store._write() as connection:
            connection.execute(
                "INSERT INTO clients(client_id, account, secret_hash, salt, scrypt_n, scrypt_r,"
                " scrypt_p, created, hash_scheme) VALUES (?, '', x'', x'', 0, 0, 0, ?, ?)",
                (client_id, _now(), PUBLIC_SCHEME),
            )
        return client_id

    def is_public_client(self, client_id: str) -> bool:
        row = self.store._connect().execute(
            "SELECT 1 FROM clients WHERE client_id = ? AND hash_scheme = ? AND revoked IS NULL",
            (client_id, PUBLIC_SCHEME),
        ).fetchone()
        return row is not None

    def add_user(self, account: str, name: str, password: str, *, force: bool = False) -> int:
        """Add a user, or with ``force`` replace its password; a replaced password ends
        the user's device logins. Returns how many of them were ended."""
        for what, value in (("account", account), ("user name", name)):
            if not value or value != value.strip() or len(value) > 256 or not value.isprintable():
                raise ServerError(
                    f"{what} {value[:40]!r} is empty, too long or has spaces at its ends: "
                    "give 1 to 256 printable characters"
                )
        if len(password) < 8:
            raise ServerError("the password is shorter than 8 characters: choose a longer one")
        salt = secrets.token_bytes(16)
        digest = _scrypt(password, salt, PASSWORD_SCRYPT_N)
        verb = "INSERT OR REPLACE" if force else "INSERT"
        try:
            with self.store._write() as connection:
                connection.execute(
                    f"{verb} INTO users(account, name, pw_hash, salt, scrypt_n, created)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (account, name, digest, salt, PASSWORD_SCRYPT_N, _now()),
                )
                return self._sign_out(connection, account, name) if force else 0
        except sqlite3.IntegrityError:
            raise ServerError(
                f"account {account!r} already has a user {name!r}: pass --force to set a "
                "new password"
            ) from None

    def check_password(self, account: str, name: str, password: str) -> bool:
        """True if ``password`` is the user's; an unknown user costs the same scrypt."""
        row = self.store._connect().execute(
            "SELECT pw_hash, salt, scrypt_n FROM users WHERE account = ? AND name = ?",
            (account, name),
        ).fetchone()
        salt, n = (row[1], row[2]) if row else (_DUMMY_SALT, PASSWORD_SCRYPT_N)
        with _password_slots:
            digest = _scrypt(password[:1024], salt, n)
        return row is not None and hmac.compare_digest(digest, row[0])

    def remove_user(self, account: str, name: str) -> int:
        """Delete a user and end its device logins (how many were ended)."""
        with self.store._write() as connection:
            cursor = connection.execute(
                "DELETE FROM users WHERE account = ? AND name = ?", (account, name))
            if cursor.rowcount == 0:
                raise ServerError(
                    f"account {account!r} has no user {name!r} in {self.store.path}: see "
                    "'kaskada server list-users'")
            return self._sign_out(connection, account, name)

    def _sign_out(self, connection: sqlite3.Connection, account: str, name: str) -> int:
        """Revoke every refresh-token family (and its access tokens) of a user, and spend
        the codes it approved that no device has collected yet."""
        now = _now()
        connection.execute(
            "UPDATE device_codes SET status = 'used' WHERE status = 'approved' AND account = ?"
            " AND user_name = ?", (account, name))
        families = [row[0] for row in connection.execute(
            "SELECT DISTINCT family FROM refresh_tokens WHERE account = ? AND subject = ?"
            " AND revoked IS NULL AND expires > ?", (account, f"user:{name}", now))]
        for family in families:
            self._revoke_family(connection, family, now)
        return len(families)

    def users(self) -> list[tuple[str, str]]:
        return list(self.store._connect().execute(
            "SELECT account, name FROM users ORDER BY account, name").fetchall())

    # -- device codes ------------------------------------------------------------------

    def start_device(
        self, client_id: str, peer: str = "",
        per_peer: int = MAX_PENDING_DEVICE_CODES_PER_PEER,
    ) -> tuple[Secret, str, DeviceCode]:
        """A new (device code, user code, record) for a public client asked for by ``peer``
        (an address). Raises PeerPending when ``per_peer`` codes of that address wait,
        TooManyPending when MAX_PENDING_DEVICE_CODES wait in all."""
        now = _now()
        device_code = Secret(new_identifier(32))
        with self.store._write() as connection:
            connection.execute("DELETE FROM device_codes WHERE expires < ?", (now - 3600,))
            mine, first_expiry = connection.execute(
                "SELECT count(*), min(expires) FROM device_codes WHERE peer = ?"
                " AND status = 'pending' AND expires > ?", (peer, now)).fetchone()
            if mine >= per_peer:
                raise PeerPending(max(1, math.ceil(first_expiry - now)))
            pending = connection.execute(
                "SELECT count(*) FROM device_codes WHERE status = 'pending' AND expires > ?",
                (now,)).fetchone()[0]
            if pending >= MAX_PENDING_DEVICE_CODES:
                raise TooManyPending
            while True:
                user_code = "".join(
                    secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))
                taken = connection.execute(
                    "SELECT 1 FROM device_codes WHERE user_code = ?", (user_code,)).fetchone()
                if not taken:
                    break
            connection.execute(
                "INSERT INTO device_codes(code_hash, user_code, client_id, created, expires,"
                " interval, status, peer) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)",
                (hash_token(device_code.reveal()), user_code, client_id, now,
                 now + DEVICE_CODE_TTL, DEVICE_INTERVAL, peer),
            )
        record = DeviceCode(user_code, client_id, now + DEVICE_CODE_TTL, DEVICE_INTERVAL,
                            "pending", None)
        return device_code, user_code, record

    def pending_device(self, user_code: str) -> DeviceCode | None:
        """The pending, unexpired device code a person typed, else None."""
        row = self.store._connect().execute(
            "SELECT user_code, client_id, expires, interval, status, account FROM device_codes"
            " WHERE user_code = ? AND status = 'pending' AND expires > ?",
            (normalize_user_code(user_code), _now()),
        ).fetchone()
        return DeviceCode(*row) if row else None

    def decide_device(self, user_code: str, approve: bool, account: str, user: str) -> bool:
        """Approve or deny a pending code (once: a decided code is never pending again)."""
        with self.store._write() as connection:
            cursor = connection.execute(
                "UPDATE device_codes SET status = ?, account = ?, user_name = ?"
                " WHERE user_code = ? AND status = 'pending' AND expires > ?",
                ("approved" if approve else "denied", account, user,
                 normalize_user_code(user_code), _now()),
            )
        return cursor.rowcount == 1

    def poll_device(self, device_code: str, client_id: str, access_ttl: int) -> Grant | str:
        """A grant for an approved code, or the RFC 8628 error code to answer."""
        now = _now()
        with self.store._write() as connection:
            row = connection.execute(
                "SELECT client_id, expires, interval, last_poll, status, account, user_name"
                " FROM device_codes WHERE code_hash = ?", (hash_token(device_code),),
            ).fetchone()
            if row is None or row[0] != client_id:
                return "invalid_grant"
            owner, expires, interval, last_poll, status, account, user = row
            if status == "used":
                return "invalid_grant"
            if expires <= now:
                return "expired_token"
            if status == "denied":
                connection.execute(
                    "UPDATE device_codes SET status = 'used' WHERE code_hash = ?",
                    (hash_token(device_code),))
                return "access_denied"
            if status == "pending":
                if last_poll is not None and now - last_poll < interval:
                    connection.execute(
                        "UPDATE device_codes SET interval = ?, last_poll = ? WHERE code_hash = ?",
                        (interval + SLOW_DOWN_STEP, now, hash_token(device_code)))
                    return "slow_down"
                connection.execute(
                    "UPDATE device_codes SET last_poll = ? WHERE code_hash = ?",
                    (now, hash_token(device_code)))
                return "authorization_pending"
            connection.execute(
                "UPDATE device_codes SET status = 'used' WHERE code_hash = ?",
                (hash_token(device_code),))
            return self._issue(connection, owner, account, f"user:{user}", new_identifier(16),
                               access_ttl, now)

    # -- tokens ------------------------------------------------------------------------

    def _issue(
        self, connection: sqlite3.Connection, client_id: str, account: str, subject: str,
        family: str, access_ttl: int, now: float, *, refresh: bool = True,
        family_expires: float | None = None,
    ) -> Grant:
        """Tokens of a grant; a rotation passes its family's expiry on (``family_expires``)
        so a family lives REFRESH_TTL from its sign-in, however often it rotates."""
        access = Secret(new_identifier(32))
        if family_expires is not None:  # no access token outlives its login
            access_ttl = max(1, min(access_ttl, int(family_expires - now)))
        connection.execute(
            "INSERT INTO tokens(token_hash, client_id, created, expires, grant_account, family)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (hash_token(access.reveal()), client_id, now, now + access_ttl, account, family),
        )
        refresh_token = None
        if refresh:
            refresh_token = Secret(new_identifier(32))
            connection.execute(
                "INSERT INTO refresh_tokens(token_hash, family, client_id, account, subject,"
                " created, expires, access_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (hash_token(refresh_token.reveal()), family, client_id, account, subject, now,
                 now + REFRESH_TTL if family_expires is None else family_expires,
                 hash_token(access.reveal())),
            )
        return Grant(access, refresh_token, account, access_ttl)

    def issue_exchanged(self, client_id: str, account: str, subject: str, ttl: int) -> Grant:
        """An access token (no refresh token) for a verified subject token."""
        with self.store._write() as connection:
            return self._issue(connection, client_id, account, subject, new_identifier(16),
                               ttl, _now(), refresh=False)

    def refresh(self, refresh_token: str, client_id: str, access_ttl: int) -> Grant | str:
        """Rotate: a new refresh and access token, or an error code.

        A rotated token presented again revokes its family (raises RefreshReuse after
        committing that), except within the grace (``_grace``). A token that a grace
        replay revoked unused, presented after all, is reuse too: two parties hold the
        family.
        """
        now = _now()
        key = hash_token(refresh_token)
        with self.store._write() as connection:
            row = connection.execute(
                "SELECT family, client_id, account, subject, expires, used, revoked,"
                " successor, grace_replays, superseded FROM refresh_tokens"
                " WHERE token_hash = ?", (key,),
            ).fetchone()
            if row is None or row[1] != client_id or row[4] <= now:
                return "invalid_grant"
            (family, owner, account, subject, family_expires, used, revoked, successor,
             replays, superseded) = row
            if superseded is None and revoked is not None:
                return "invalid_grant"
            fresh = used is None and superseded is None
            if fresh or (superseded is None and self._grace(
                    connection, used, successor, replays, now)):
                grant = self._issue(connection, owner, account, subject, family, access_ttl,
                                    now, family_expires=family_expires)
                new_hash = hash_token(grant.refresh_token.reveal()) if grant.refresh_token else None
                connection.execute(  # the first use stays: a replay never renews the window
                    "UPDATE refresh_tokens SET used = coalesce(used, ?), successor = ?,"
                    " grace_replays = grace_replays + ? WHERE token_hash = ?",
                    (now, new_hash, int(not fresh), key))
                return grant if fresh else replace(grant, grace_replay=True)
            self._revoke_family(connection, family, now)
        raise RefreshReuse(family)

    @staticmethod
    def _grace(connection: sqlite3.Connection, used: float, successor: bytes | None,
               replays: int, now: float) -> bool:
        """Whether a rotated token presented again gets a fresh pair: within
        REFRESH_REUSE_GRACE of its (first) rotation, fewer than REFRESH_GRACE_REPLAYS times,
        and the token that replaced it never used nor revoked -- so whoever presents the
        old one is the only holder, and revoking the unused one takes nothing from anyone.
        That successor (and its access token) is revoked here."""
        if now - used > REFRESH_REUSE_GRACE or replays >= REFRESH_GRACE_REPLAYS:
            return False
        if successor is None:
            return False
        row = connection.execute(
            "SELECT access_hash FROM refresh_tokens WHERE token_hash = ? AND used IS NULL"
            " AND revoked IS NULL", (successor,)).fetchone()
        if row is None:
            return False
        connection.execute(
            "UPDATE refresh_tokens SET revoked = ?, superseded = ? WHERE token_hash = ?",
            (now, now, successor))
        connection.execute("DELETE FROM tokens WHERE token_hash = ?", (row[0],))
        return True

    @staticmethod
    def _revoke_family(connection: sqlite3.Connection, family: str, now: float) -> None:
        connection.execute(
            "UPDATE refresh_tokens SET revoked = ? WHERE family = ? AND revoked IS NULL",
            (now, family))
        connection.execute("DELETE FROM tokens WHERE family = ?", (family,))

    def revoke(self, token: str) -> str | None:
        """RFC 7009: a refresh token revokes its family; an access token stops working.
        Returns what was revoked (for the log), None for an unknown token."""
        key = hash_token(token)
        with self.store._write() as connection:
            row = connection.execute(
                "SELECT family FROM refresh_tokens WHERE token_hash = ?", (key,)).fetchone()
            if row is not None:
                self._revoke_family(connection, row[0], _now())
                return "refresh token family"
            cursor = connection.execute("DELETE FROM tokens WHERE token_hash = ?", (key,))
            return "access token" if cursor.rowcount else None

    def family_revoked(self, family: str) -> bool:
        row = self.store._connect().execute(
            "SELECT count(*) FROM refresh_tokens WHERE family = ? AND revoked IS NOT NULL",
            (family,)).fetchone()
        return bool(row[0])

    # -- trusted issuers -------------------------------------------------------------

    def trust_issuer(
        self, issuer: str, jwks: str, audience: str, subject: str, account: str
    ) -> int:
        for what, value in (("--issuer", issuer), ("--jwks", jwks), ("--audience", audience),
                            ("--subject", subject), ("--account", account)):
            if not value.strip() or len(value) > 2048:
                raise ServerError(f"{what} is empty or too long: give 1 to 2048 characters")
        with self.store._write() as connection:
            cursor = connection.execute(
                "INSERT INTO trusted_issuers(issuer, jwks, audience, subject, account, created)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (issuer, jwks, audience, subject, account, _now()))
        return int(cursor.lastrowid or 0)

    def account_known(self, account: str) -> bool:
        """Whether a client, user, table or trust entry names ``account`` already."""
        row = self.store._connect().execute(
            "SELECT EXISTS(SELECT 1 FROM clients WHERE account = ?)"
            " OR EXISTS(SELECT 1 FROM users WHERE account = ?)"
            " OR EXISTS(SELECT 1 FROM tables WHERE account = ?)"
            " OR EXISTS(SELECT 1 FROM trusted_issuers WHERE account = ?)",
            (account,) * 4).fetchone()
        return bool(row[0])

    def trusted_issuers(self, issuer: str | None = None) -> list[TrustedIssuer]:
        query = "SELECT id, issuer, jwks, audience, subject, account FROM trusted_issuers"
        rows = (self.store._connect().execute(query + " WHERE issuer = ? ORDER BY id", (issuer,))
                if issuer is not None else
                self.store._connect().execute(query + " ORDER BY id"))
        return [TrustedIssuer(*row) for row in rows.fetchall()]

    def remove_issuer(self, trust_id: int) -> None:
        with self.store._write() as connection:
            cursor = connection.execute("DELETE FROM trusted_issuers WHERE id = ?", (trust_id,))
        if cursor.rowcount == 0:
            raise ServerError(
                f"no trusted issuer with id {trust_id} in {self.store.path}: "
                "see 'kaskada server list-issuers'"
            )


def _scrypt(password: str, salt: bytes, n: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8", "surrogatepass"), salt=salt, n=n, r=8, p=1,
                          maxmem=256 * n * 8 + 2**20, dklen=32)


def _now() -> float:
    """Seconds since the epoch, from the clock tests can move (``kaskada._clock``)."""
    return _clock.get().time()
