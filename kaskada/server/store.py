"""The local server's storage: clients, tokens and tables in one SQLite file.

Why these choices:
- WAL mode, so the serving process and a ``kaskada server`` command in another
  process read and write the same file at once.
- Client secrets are 256 random bits made here, so they are kept as an
  HMAC-SHA-256 under a random per-database key (a slow password hash buys
  nothing against a guess of 256 bits, and costs 16 MiB per check). Rows made
  by 0.1 (salted scrypt) still sign in, and are re-hashed at their next
  successful sign-in. Access tokens are kept only as their SHA-256.
- Each thread has its own connection, and each connection a small cache of
  token lookups that is dropped whenever ``PRAGMA data_version`` says another
  connection (in this or another process) committed: a revocation takes effect
  at the next call.
- The file and its ``-wal``/``-shm`` companions are 0600 (SQLite gives the
  companions the database file's mode).
- ``PRAGMA user_version`` is the schema version, so a later release can migrate.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kaskada._secret import Secret
from kaskada.config import paths as _paths
from kaskada.server._errors import ServerError
from kaskada.server.oauth_schema import PUBLIC_SCHEME, SCHEMA_3, SCHEMA_4
from kaskada.server.options import DEFAULT_MAX_TABLES_PER_ACCOUNT
from kaskada.settings import env as _env

SCHEMA_VERSION = 4
HMAC_SCHEME = "hmac-sha256"
SCRYPT_SCHEME = "scrypt"
LEGACY_SCRYPT_AT_ONCE = 2
"""0.1 rows still checked with scrypt (16 MiB each): at most this many at a time."""
DEFAULT_DB_NAME = "server.sqlite3"
DEFAULT_SCRYPT_N = 2**14
"""scrypt cost of 0.1's client secrets; new secrets are not hashed with scrypt."""
SCRYPT_R = 8
SCRYPT_P = 1
TOKEN_BYTES = 32
EXPIRED_TOKEN_KEEP_SECONDS = 86400.0
"""Expired tokens are kept a day so a late caller hears "expired", not "unknown"."""

_SCHEMA = """
CREATE TABLE clients (
    client_id   TEXT PRIMARY KEY,
    account     TEXT NOT NULL,
    secret_hash BLOB NOT NULL,
    salt        BLOB NOT NULL,
    scrypt_n    INTEGER NOT NULL,
    scrypt_r    INTEGER NOT NULL,
    scrypt_p    INTEGER NOT NULL,
    created     REAL NOT NULL,
    revoked     REAL
);
CREATE TABLE tokens (
    token_hash BLOB PRIMARY KEY,
    client_id  TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    created    REAL NOT NULL,
    expires    REAL NOT NULL
);
CREATE INDEX tokens_by_expiry ON tokens(expires);
CREATE TABLE tables (
    account                TEXT NOT NULL,
    table_name             TEXT NOT NULL,
    table_id               TEXT NOT NULL UNIQUE,
    time_column_name       TEXT NOT NULL,
    entity_key_column_name TEXT NOT NULL,
    subsort_column_name    TEXT,
    grouping_id            TEXT NOT NULL,
    create_time_ns         INTEGER NOT NULL,
    update_time_ns         INTEGER NOT NULL,
    version                INTEGER NOT NULL,
    PRIMARY KEY (account, table_name)
) WITHOUT ROWID;
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_SCHEMA_2 = """
ALTER TABLE clients ADD COLUMN hash_scheme TEXT NOT NULL DEFAULT 'scrypt';
CREATE TABLE secret_keys (name TEXT PRIMARY KEY, value BLOB NOT NULL);
"""
"""0.1 (version 1) to version 2: the hash scheme per client, and the HMAC key."""


def default_db_path() -> Path:
    """``<data dir>/server.sqlite3``; ``KASKADA_DATA_DIR`` moves the folder."""
    return _paths.data_dir() / DEFAULT_DB_NAME


def scrypt_n_from_env() -> int | None:
    """The test-only cost override ``KASKADA_SERVER_SCRYPT_N``, validated."""
    raw = os.environ.get(_env.SERVER_SCRYPT_N)
    if not raw:
        return None
    try:
        return validate_scrypt_n(int(raw))
    except ValueError:
        raise ServerError(
            f"{_env.SERVER_SCRYPT_N}={raw!r} is not a power of 2 of at least 2: "
            "unset it (it exists for tests) or give e.g. 16"
        ) from None


def validate_scrypt_n(n: int) -> int:
    if n < 2 or n & (n - 1):
        raise ServerError(f"scrypt cost {n} is not a power of 2 of at least 2: give e.g. 16384")
    return n


def new_identifier(nbytes: int) -> str:
    """A URL-safe random string that never starts with '-' (it travels as an argument)."""
    while True:
        value = secrets.token_urlsafe(nbytes)
        if not value.startswith("-"):
            return value


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class Client:
    client_id: str
    account: str
    created: float
    revoked: float | None


@dataclass(frozen=True)
class TokenInfo:
    """What a token hash maps to; ``revoked`` and ``expires`` decide if it still works."""

    client_id: str
    account: str
    expires: float
    revoked: bool


@dataclass(frozen=True)
class TableRow:
    account: str
    table_name: str
    table_id: str
    time_column_name: str
    entity_key_column_name: str
    subsort_column_name: str | None
    grouping_id: str
    create_time_ns: int
    update_time_ns: int
    version: int


class TableExists(Exception):
    """CreateTable of a name this account already has."""


class QuotaExceeded(Exception):
    """CreateTable in an account that has its maximum number of tables."""


class StorageFull(Exception):
    """SQLite said the database or disk is full (or the configured size cap is reached)."""


@dataclass(frozen=True)
class SignIn:
    """The outcome of a client-credentials check: the client, or None and why not."""

    client: Client | None
    reason: str


class _Local(threading.local):
    connection: sqlite3.Connection | None = None
    data_version: int = -1
    token_cache: dict[bytes, TokenInfo | None]

    def __init__(self) -> None:
        self.token_cache = {}


class Store:
    """One server database; safe to share across threads (a connection per thread).

    ``create=False`` is for commands that only change an existing database
    (``revoke-client``): a mistyped ``--db`` is then an error, not a new empty file.
    """

    def __init__(
        self,
        path: Path | None = None,
        *,
        scrypt_n: int | None = None,
        create: bool = True,
        max_tables_per_account: int = DEFAULT_MAX_TABLES_PER_ACCOUNT,
        max_db_bytes: int | None = None,
    ) -> None:
        self.path: Path = Path(path) if path is not None else default_db_path()
        self.max_tables_per_account = max_tables_per_account
        self.max_db_bytes = max_db_bytes
        self._key = b""
        self._legacy_slots = threading.BoundedSemaphore(LEGACY_SCRYPT_AT_ONCE)
        self.scrypt_n: int = validate_scrypt_n(
            scrypt_n if scrypt_n is not None else (scrypt_n_from_env() or DEFAULT_SCRYPT_N)
        )
        self._local = _Local()
        self._all: set[sqlite3.Connection] = set()
        self._all_lock = threading.Lock()
        self._closed = False
        if not create and not self.path.is_file():
            raise ServerError(
                f"no server database at {self.path}: check --db (it is created by "
                "'kaskada serve' or 'kaskada server add-client')"
            )
        self._create_file()
        try:
            self._migrate()
        except BaseException:
            self.close()
            raise

    # -- connections ---------------------------------------------------------

    def _create_file(self) -> None:
        folder = self.path.parent
        try:
            if not folder.exists():
                folder.mkdir(parents=True, mode=0o700)
            # Create the file 0600 before SQLite opens it: its -wal and -shm
            # files take the same mode, so there is no window of wider access.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
            os.close(fd)
            # A file (or a companion left by an unclean stop) made wider by hand
            # or by something else is narrowed before any secret hash goes in.
            for path in (self.path, *(Path(f"{self.path}{s}") for s in ("-wal", "-shm"))):
                if path.exists() and os.stat(path).st_mode & 0o077:
                    os.chmod(path, 0o600)
        except OSError as error:
            raise ServerError(
                f"cannot create the server database {self.path}: {error.strerror}; "
                "choose a writable place with --db PATH"
            ) from None

    def _connect(self) -> sqlite3.Connection:
        connection = self._local.connection
        if connection is not None:
            return connection
        if self._closed:
            raise ServerError(f"the server database {self.path} is closed")
        try:
            connection = sqlite3.connect(
                self.path, timeout=10.0, isolation_level=None, check_same_thread=False
            )
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA foreign_keys=ON")
            if self.max_db_bytes is not None:
                page_size = connection.execute("PRAGMA page_size").fetchone()[0]
                pages = max(1, self.max_db_bytes // page_size)
                connection.execute(f"PRAGMA max_page_count = {int(pages)}")
        except sqlite3.DatabaseError as error:
            raise ServerError(
                f"{self.path} is not a usable server database ({error}); "
                "point --db at another file or move this one away"
            ) from None
        self._local.connection = connection
        with self._all_lock:
            self._all.add(connection)
        return connection

    def release_thread(self) -> None:
        """Close this thread's connection: for threads that end (one per HTTP request),
        whose connections would otherwise stay open until ``close()``."""
        connection, self._local.connection = self._local.connection, None
        self._local.data_version = -1
        self._local.token_cache.clear()
        if connection is None:
            return
        with self._all_lock:
            self._all.discard(connection)
        with contextlib.suppress(sqlite3.Error):
            connection.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; the writer's own token cache is dropped after it."""
        connection = self._connect()
        connection.execute("BEGIN IMMEDIATE")
        try:
            try:
                yield connection
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    connection.execute("ROLLBACK")
                raise
            try:
                connection.execute("COMMIT")
            except sqlite3.Error:
                with contextlib.suppress(sqlite3.Error):
                    connection.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as error:
            if getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
                raise StorageFull(str(error)) from None
            raise
        finally:
            self._local.token_cache.clear()

    def _migrate(self) -> None:
        connection = self._connect()
        try:
            with self._write():
                version = connection.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise ServerError(
                        f"the server database {self.path} has schema version {version}, newer "
                        f"than this kaskada understands ({SCHEMA_VERSION}): upgrade kaskada "
                        "or use another --db"
                    )
                steps = {0: _SCHEMA, 1: _SCHEMA_2, 2: SCHEMA_3, 3: SCHEMA_4}
                for step in range(version, SCHEMA_VERSION):
                    for statement in steps[step].split(";"):
                        if statement.strip():
                            connection.execute(statement)
                    if step == 1:
                        connection.execute(
                            "INSERT INTO secret_keys(name, value) VALUES ('hmac', ?)",
                            (secrets.token_bytes(32),),
                        )
                connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._key = connection.execute(
                "SELECT value FROM secret_keys WHERE name = 'hmac'"
            ).fetchone()[0]
        except StorageFull:
            raise ServerError(
                f"the disk of the server database {self.path} is full: free some space"
            ) from None
        except sqlite3.DatabaseError as error:
            raise ServerError(
                f"{self.path} is not a usable server database ({error}); "
                "point --db at another file or move this one away"
            ) from None

    def close(self) -> None:
        self._closed = True
        with self._all_lock:
            connections, self._all = self._all, set()
        for connection in connections:
            with contextlib.suppress(sqlite3.Error):
                connection.close()
        self._local = _Local()

    # -- metadata ------------------------------------------------------------

    def set_meta(self, values: dict[str, str]) -> None:
        with self._write() as connection:
            connection.executemany(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", values.items()
            )

    def meta(self) -> dict[str, str]:
        rows = self._connect().execute("SELECT key, value FROM meta").fetchall()
        return {key: value for key, value in rows}

    # -- clients -------------------------------------------------------------

    def _scrypt(self, secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
        return hashlib.scrypt(
            secret.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r + 2**20, dklen=32
        )

    def _keyed(self, secret: str) -> bytes:
        """HMAC-SHA-256 of a secret under this database's key: microseconds, no memory."""
        return hmac.digest(self._key, secret.encode("utf-8", "surrogatepass"), "sha256")

    def add_client(self, account: str) -> tuple[str, Secret]:
        """A new client of ``account``: its id and its secret (shown once, stored keyed-hashed)."""
        if not account or not account.strip() or len(account) > 256:
            raise ServerError(
                f"account name {account!r} is empty or too long: give 1 to 256 characters"
            )
        client_id = new_identifier(16)
        secret = Secret(new_identifier(32))  # 256 random bits
        with self._write() as connection:
            connection.execute(
                "INSERT INTO clients(client_id, account, secret_hash, salt, scrypt_n, scrypt_r,"
                " scrypt_p, created, hash_scheme) VALUES (?, ?, ?, ?, 0, 0, 0, ?, ?)",
                (client_id, account, self._keyed(secret.reveal()), b"", time.time(),
                 HMAC_SCHEME),
            )
        return client_id, secret

    def get_client(self, client_id: str) -> Client | None:
        row = (
            self._connect()
            .execute(
                "SELECT client_id, account, created, revoked FROM clients WHERE client_id = ?",
                (client_id,),
            )
            .fetchone()
        )
        return Client(*row) if row else None

    def revoke_client(self, client_id: str) -> None:
        """Revoke a client; its live tokens stop working at the next call."""
        with self._write() as connection:
            cursor = connection.execute(
                "UPDATE clients SET revoked = ? WHERE client_id = ? AND revoked IS NULL",
                (time.time(), client_id),
            )
            if cursor.rowcount == 0:
                exists = connection.execute(
                    "SELECT 1 FROM clients WHERE client_id = ?", (client_id,)
                ).fetchone()
                if not exists:
                    raise ServerError(
                        f"no client {client_id!r} in the server database {self.path}: "
                        "check the id (and --db)"
                    )

    def delete_client(self, client_id: str) -> None:
        """Remove a client outright (undoing an add whose follow-up step failed)."""
        with self._write() as connection:
            connection.execute("DELETE FROM clients WHERE client_id = ?", (client_id,))

    def authenticate_client(self, client_id: str, secret: str) -> Client | None:
        """The client if ``secret`` is its secret, else None (see ``sign_in``)."""
        return self.sign_in(client_id, secret).client

    def sign_in(self, client_id: str, secret: str) -> SignIn:
        """Check a client's secret; a 0.1 (scrypt) row is re-hashed when it matches.

        An unknown id costs what a known one costs (one HMAC and one compare), so
        timing does not tell which ids exist. Only 0.1 rows cost a scrypt, and at
        most ``LEGACY_SCRYPT_AT_ONCE`` of those run at a time.
        """
        row = (
            self._connect()
            .execute(
                "SELECT client_id, account, created, revoked, secret_hash, salt, scrypt_n,"
                " scrypt_r, scrypt_p, hash_scheme FROM clients WHERE client_id = ?",
                (client_id,),
            )
            .fetchone()
        )
        digest = self._keyed(secret)
        if row is None:
            hmac.compare_digest(digest, bytes(32))
            return SignIn(None, "unknown client id")
        if row[9] == PUBLIC_SCHEME:  # no secret: it can only start a device login
            hmac.compare_digest(digest, bytes(32))
            return SignIn(None, "public client (it has no secret)")
        if row[9] == HMAC_SCHEME:
            matches = hmac.compare_digest(digest, row[4])
        else:
            with self._legacy_slots:
                legacy = self._scrypt(secret, row[5], row[6], row[7], row[8])
            matches = hmac.compare_digest(legacy, row[4])
            if matches:
                self._rehash(row[0], digest)
        if not matches:
            return SignIn(None, "wrong secret")
        return SignIn(Client(row[0], row[1], row[2], row[3]), "ok")

    def _rehash(self, client_id: str, digest: bytes) -> None:
        """Move a 0.1 row to the keyed hash, now that the secret is known to match."""
        with self._write() as connection:
            connection.execute(
                "UPDATE clients SET secret_hash = ?, salt = ?, scrypt_n = 0, scrypt_r = 0,"
                " scrypt_p = 0, hash_scheme = ? WHERE client_id = ? AND hash_scheme = ?",
                (digest, b"", HMAC_SCHEME, client_id, SCRYPT_SCHEME),
            )

    # -- tokens --------------------------------------------------------------

    def issue_token(self, client_id: str, ttl: float, *, now: float | None = None) -> Secret:
        """A new access token for ``client_id``, valid ``ttl`` seconds; only its hash is kept."""
        now = time.time() if now is None else now
        token = Secret(new_identifier(TOKEN_BYTES))
        with self._write() as connection:
            connection.execute(
                "INSERT INTO tokens(token_hash, client_id, created, expires) VALUES (?, ?, ?, ?)",
                (hash_token(token.reveal()), client_id, now, now + ttl),
            )
            connection.execute(
                "DELETE FROM tokens WHERE expires < ?", (now - EXPIRED_TOKEN_KEEP_SECONDS,)
            )
        return token

    def lookup_token(self, token: str) -> TokenInfo | None:
        """What a presented token is (None: unknown), cached until the file changes."""
        connection = self._connect()
        local = self._local
        version = connection.execute("PRAGMA data_version").fetchone()[0]
        if version != local.data_version:
            local.token_cache.clear()
            local.data_version = version
        key = hash_token(token)
        try:
            return local.token_cache[key]
        except KeyError:
            pass
        row = connection.execute(
            "SELECT t.client_id, COALESCE(t.grant_account, c.account), t.expires,"
            " c.revoked IS NOT NULL"
            " FROM tokens t JOIN clients c ON c.client_id = t.client_id WHERE t.token_hash = ?",
            (key,),
        ).fetchone()
        info = TokenInfo(row[0], row[1], row[2], bool(row[3])) if row else None
        if len(local.token_cache) > 10000:
            local.token_cache.clear()
        local.token_cache[key] = info
        return info

    # -- tables --------------------------------------------------------------

    def create_table(
        self,
        account: str,
        *,
        table_name: str,
        time_column_name: str,
        entity_key_column_name: str,
        subsort_column_name: str | None,
        grouping_id: str,
    ) -> TableRow:
        now_ns = time.time_ns()
        row = TableRow(
            account=account,
            table_name=table_name,
            table_id=str(uuid.uuid4()),
            time_column_name=time_column_name,
            entity_key_column_name=entity_key_column_name,
            subsort_column_name=subsort_column_name,
            grouping_id=grouping_id,
            create_time_ns=now_ns,
            update_time_ns=now_ns,
            version=1,
        )
        try:
            with self._write() as connection:
                count = connection.execute(
                    "SELECT count(*) FROM tables WHERE account = ?", (account,)
                ).fetchone()[0]
                if count >= self.max_tables_per_account:
                    raise QuotaExceeded(
                        f"this account has {count} tables, the server's maximum of "
                        f"{self.max_tables_per_account} per account: delete tables you no "
                        "longer need, or ask the operator to raise --max-tables-per-account"
                    )
                connection.execute(
                    "INSERT INTO tables(account, table_name, table_id, time_column_name,"
                    " entity_key_column_name, subsort_column_name, grouping_id, create_time_ns,"
                    " update_time_ns, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        row.account,
                        row.table_name,
                        row.table_id,
                        row.time_column_name,
                        row.entity_key_column_name,
                        row.subsort_column_name,
                        row.grouping_id,
                        row.create_time_ns,
                        row.update_time_ns,
                        row.version,
                    ),
                )
        except sqlite3.IntegrityError:
            raise TableExists(table_name) from None
        return row

    _COLUMNS = (
        "account, table_name, table_id, time_column_name, entity_key_column_name,"
        " subsort_column_name, grouping_id, create_time_ns, update_time_ns, version"
    )

    def get_table(self, account: str, table_name: str) -> TableRow | None:
        row = (
            self._connect()
            .execute(
                f"SELECT {self._COLUMNS} FROM tables WHERE account = ? AND table_name = ?",
                (account, table_name),
            )
            .fetchone()
        )
        return TableRow(*row) if row else None

    def list_tables(
        self, account: str, *, search: str, after: str | None, limit: int,
        max_bytes: int | None = None,
    ) -> tuple[list[TableRow], bool]:
        """Up to ``limit`` tables of ``account`` named after ``after``, in name order, and
        whether more follow. Rows are read one by one and the page ends once their text
        passes ``max_bytes`` (at least one row), so a page never holds more in memory."""
        cursor = self._connect().execute(
            f"SELECT {self._COLUMNS} FROM tables WHERE account = ? AND table_name > ?"
            " AND instr(table_name, ?) > 0 ORDER BY table_name",
            (account, after if after is not None else "", search),
        )
        rows: list[TableRow] = []
        used = 0
        try:
            for raw in cursor:
                if len(rows) >= limit or (max_bytes is not None and rows and used > max_bytes):
                    return rows, True
                row = TableRow(*raw)
                used += 96 + sum(len(v) for v in raw if isinstance(v, str))
                if max_bytes is not None and rows and used > max_bytes:
                    return rows, True
                rows.append(row)
            return rows, False
        finally:
            cursor.close()

    def delete_table(self, account: str, table_name: str) -> bool:
        with self._write() as connection:
            cursor = connection.execute(
                "DELETE FROM tables WHERE account = ? AND table_name = ?", (account, table_name)
            )
        return cursor.rowcount > 0
