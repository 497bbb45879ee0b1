"""The tables that users, public clients, device codes, refresh tokens and trusted
issuers live in (schema versions 3 and 4); ``oauth_store`` reads and writes them."""

PUBLIC_SCHEME = "public"
"""``clients.hash_scheme`` of a client without a secret (it can never sign in alone)."""
CLI_CLIENT_ID = "kaskada-cli"
"""The public client every ``kaskada serve`` has: ``kaskada login`` uses it."""

SCHEMA_3 = """
ALTER TABLE tokens ADD COLUMN grant_account TEXT;
ALTER TABLE tokens ADD COLUMN family TEXT;
CREATE INDEX tokens_by_family ON tokens(family);
CREATE TABLE users (
    account  TEXT NOT NULL,
    name     TEXT NOT NULL,
    pw_hash  BLOB NOT NULL,
    salt     BLOB NOT NULL,
    scrypt_n INTEGER NOT NULL,
    created  REAL NOT NULL,
    PRIMARY KEY (account, name)
);
CREATE TABLE device_codes (
    code_hash  BLOB PRIMARY KEY,
    user_code  TEXT NOT NULL UNIQUE,
    client_id  TEXT NOT NULL,
    created    REAL NOT NULL,
    expires    REAL NOT NULL,
    interval   INTEGER NOT NULL,
    last_poll  REAL,
    status     TEXT NOT NULL,
    account    TEXT,
    user_name  TEXT
);
CREATE TABLE refresh_tokens (
    token_hash BLOB PRIMARY KEY,
    family     TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    account    TEXT NOT NULL,
    subject    TEXT NOT NULL,
    created    REAL NOT NULL,
    expires    REAL NOT NULL,
    used       REAL,
    revoked    REAL
);
CREATE INDEX refresh_by_family ON refresh_tokens(family);
CREATE TABLE trusted_issuers (
    id         INTEGER PRIMARY KEY,
    issuer     TEXT NOT NULL,
    jwks       TEXT NOT NULL,
    audience   TEXT NOT NULL,
    subject    TEXT NOT NULL,
    account    TEXT NOT NULL,
    created    REAL NOT NULL
);
INSERT OR IGNORE INTO clients(client_id, account, secret_hash, salt, scrypt_n, scrypt_r,
    scrypt_p, created, hash_scheme) VALUES ('kaskada-cli', '', x'', x'', 0, 0, 0, 0, 'public');
"""
"""Schema version 2 to 3 (run by ``Store._migrate``)."""

SCHEMA_4 = """
ALTER TABLE device_codes ADD COLUMN peer TEXT;
CREATE INDEX device_codes_by_peer ON device_codes(peer, status, expires);
ALTER TABLE refresh_tokens ADD COLUMN successor BLOB;
ALTER TABLE refresh_tokens ADD COLUMN access_hash BLOB;
ALTER TABLE refresh_tokens ADD COLUMN grace_replays INTEGER NOT NULL DEFAULT 0;
ALTER TABLE refresh_tokens ADD COLUMN superseded REAL;
"""
"""Schema version 3 to 4: the address that asked for a device code (a cap per address),
and what the refresh-token reuse grace needs -- the token that replaced a token
(``successor``), the access token issued with a token (``access_hash``), how often a
token was presented again within the grace window (``grace_replays``), and when a
never-used token was replaced by such a replay (``superseded``)."""
