"""Every environment variable kaskada reads, named once, with why it exists."""

from __future__ import annotations

PROFILE = "KASKADA_PROFILE"
"""Names the profile to use; beats the credential variables below."""

CLIENT_ID = "KASKADA_CLIENT_ID"
"""The documented notebook workflow: client id, paired with CLIENT_SECRET."""

CLIENT_SECRET = "KASKADA_CLIENT_SECRET"
"""The secret for CLIENT_ID; never completed from another layer."""

TOKEN = "KASKADA_TOKEN"
"""A pre-issued access token used as is (the hosted client's ``jwt``)."""

TOKEN_EXPIRES_AT = "KASKADA_TOKEN_EXPIRES_AT"
"""When KASKADA_TOKEN expires (RFC 3339, UTC; set by ``kaskada exec``/``env``): checked
before every call, so an expired token fails with when and how to get a new one."""

API_ENDPOINT = "KASKADA_API_ENDPOINT"
"""gRPC ``host:port`` for the environment layer."""

AUTH_ENDPOINT = "KASKADA_AUTH_ENDPOINT"
"""Token endpoint: a bare host (``https://<host>/oauth/token``) or a full URL."""

AUTH_AUDIENCE = "KASKADA_AUTH_AUDIENCE"
"""``audience`` sent in the token exchange."""

IS_SECURE = "KASKADA_IS_SECURE"
"""TLS unless ``false`` (also ``0``/``no``/``off``)."""

CA_BUNDLE = "KASKADA_CA_BUNDLE"
"""PEM file of roots to trust for the environment layer."""

TIMEOUT = "KASKADA_TIMEOUT"
"""Seconds per call for the environment layer."""

ALLOW_INSECURE = "KASKADA_ALLOW_INSECURE"
"""``1`` allows plaintext to a non-loopback host; never read from a profile file."""

MAX_IN_FLIGHT = "KASKADA_MAX_IN_FLIGHT"
"""Calls one process keeps on the wire per channel at once (default 64); more wait for a slot."""

CONFIG_DIR = "KASKADA_CONFIG_DIR"
"""Moves the folder of ``config.toml`` (tests always set it)."""

KEYRING_SERVICE = "KASKADA_KEYRING_SERVICE"
"""Keyring service name instead of ``kaskada`` (tests set a unique one)."""

KEYRING_TIMEOUT = "KASKADA_KEYRING_TIMEOUT"
"""Seconds a keyring call may take before it fails (default 5)."""

SECRET_COMMAND_TIMEOUT = "KASKADA_SECRET_COMMAND_TIMEOUT"
"""Seconds a profile's ``secret_command`` may run before it is stopped (default 60)."""

CACHE_DIR = "KASKADA_CACHE_DIR"
"""Moves the access-token cache folder (default: the user cache dir; tests set it)."""

TOKEN_CACHE = "KASKADA_TOKEN_CACHE"
"""``0`` turns the access-token cache on disk off (every process then signs in itself)."""

DATA_DIR = "KASKADA_DATA_DIR"
"""Moves the local server's data folder (its SQLite database)."""

SERVER_SCRYPT_N = "KASKADA_SERVER_SCRYPT_N"
"""For tests only: the local server's scrypt cost for new client secrets (a power of 2)."""

REQUIRE_REAL_KEYRING = "KASKADA_REQUIRE_REAL_KEYRING"
"""Set by CI: real-keyring tests fail instead of skipping without a Secret Service."""

CREDENTIAL_VARIABLES = (CLIENT_ID, CLIENT_SECRET, TOKEN)
CONNECTION_VARIABLES = (
    API_ENDPOINT, AUTH_ENDPOINT, AUTH_AUDIENCE, IS_SECURE, CA_BUNDLE, TIMEOUT, TOKEN_EXPIRES_AT
)

FALSE_WORDS = frozenset({"0", "false", "no", "off"})
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
