"""The one table of settings: each declared once, with everything that reads it.

Each row names a setting, the key it has in a profile (None: never in a file),
the environment variable of the environment layer (None: none), the kind of
value (which says how it is parsed and checked), its built-in default, whether
a stored secret is bound to it (changing it drops the secret), and one line of
help. Argument checking, profile validation, the environment layer,
``explain()``, ``profile set/get`` keys, the CLI's help and the README's tables
(tests/test_docs_tables.py) all read this table. ``Profile``, ``Settings`` and
``ConnectionOptions`` spell the fields out again for the type checker;
tests/test_shape.py holds them to this table.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

from kaskada.settings import env as _env

Kind = Literal[
    "name", "text", "secret", "token", "bool", "seconds", "store", "argv", "auth", "url", "source"
]


class Setting(NamedTuple):
    """One setting, declared once."""

    name: str
    profile_key: str | None
    env: str | None
    kind: Kind
    default: Any
    bound: bool
    help: str
    in_settings: bool = True  # a field of every resolved Settings (explain() shows it)


DEFAULT_ENDPOINT = "localhost:50051"
DEFAULT_EXCHANGE_ENDPOINT = "http://localhost:50052/oauth/token"
DEFAULT_TIMEOUT = 30.0
AUTH_KINDS = ("client_secret", "device", "federated")
"""The values of ``auth`` in a profile: which kind signs in."""
SUBJECT_TOKEN_SOURCES = ("file", "env", "github_actions")
"""Where a federated profile reads its subject token (``subject_token_source``)."""

SETTINGS: tuple[Setting, ...] = (
    Setting("profile", None, _env.PROFILE, "name", None, False,
            "the profile whose fields are the connection"),
    Setting("client_id", "client_id", _env.CLIENT_ID, "text", None, True,
            "the OAuth2 client id"),
    Setting("client_secret", None, _env.CLIENT_SECRET, "secret", None, False,
            "its secret: an argument, a variable, or the profile's keyring entry"),
    Setting("token", None, _env.TOKEN, "token", None, False,
            "a pre-issued access token, used as is (jwt=)"),
    Setting("auth", "auth", None, "auth", "client_secret", True,
            "who signs in: client_secret, device (a person, `kaskada login`) or federated "
            "(a CI job's OIDC token)"),
    Setting("endpoint", "endpoint", _env.API_ENDPOINT, "text", DEFAULT_ENDPOINT, True,
            "the gRPC API, host:port"),
    Setting("is_secure", "is_secure", _env.IS_SECURE, "bool", None, True,
            "TLS (default: on unless the host is loopback)"),
    Setting("exchange_endpoint", "exchange_endpoint", _env.AUTH_ENDPOINT, "text",
            DEFAULT_EXCHANGE_ENDPOINT, True, "the OAuth2 token endpoint, a host or a URL"),
    Setting("audience", "audience", _env.AUTH_AUDIENCE, "text", None, True,
            "audience sent in the token exchange"),
    Setting("ca_bundle", "ca_bundle", _env.CA_BUNDLE, "text", None, True,
            "a PEM file of roots to trust"),
    Setting("timeout", "timeout", _env.TIMEOUT, "seconds", DEFAULT_TIMEOUT, False,
            "seconds per call"),
    Setting("allow_insecure", None, _env.ALLOW_INSECURE, "bool", False, False,
            "allow plaintext to a non-loopback host (never from a file)"),
    Setting("token_cache", "token_cache", _env.TOKEN_CACHE, "bool", True, False,
            "false: this profile's tokens are never cached on disk", in_settings=False),
    Setting("secret_store", "secret_store", None, "store", "keyring", False,
            "where the secret lives: keyring, env, command or file", in_settings=False),
    Setting("secret_env", "secret_env", None, "name", None, False,
            "store env: the variable that holds the secret", in_settings=False),
    Setting("secret_command", "secret_command", None, "argv", None, False,
            "store command: the program and arguments that print the secret or a token",
            in_settings=False),
    Setting("issuer", "issuer", None, "url", None, True,
            "device or federated: the server whose RFC 8414 metadata names the endpoints",
            in_settings=False),
    Setting("subject_token_file", "subject_token_file", None, "text", None, False,
            "federated: a file holding the subject token (re-read at every exchange)",
            in_settings=False),
    Setting("subject_token_env", "subject_token_env", None, "name", None, False,
            "federated: the variable holding the subject token", in_settings=False),
    Setting("subject_token_source", "subject_token_source", None, "source", None, False,
            "federated: file, env or github_actions (default: what the keys above imply, "
            "else GitHub Actions' OIDC request)", in_settings=False),
)  # fmt: skip

BY_NAME = {setting.name: setting for setting in SETTINGS}
FIELD_NAMES = tuple(setting.name for setting in SETTINGS if setting.in_settings)
PROFILE_KEYS = tuple(setting.profile_key for setting in SETTINGS if setting.profile_key)
TEXT_KEYS = frozenset(s.profile_key for s in SETTINGS if s.profile_key and s.kind == "text")
BOUND_FIELDS = tuple(setting.name for setting in SETTINGS if setting.bound)
# The connection variables of the environment layer, by the field each sets.
ENV_CONNECTION = {
    setting.name: setting.env
    for setting in SETTINGS
    if setting.env and setting.profile_key and setting.name not in ("client_id", "token_cache")
}
