"""Unit tests of resolution: layers, one source per connection, errors, explain.

Profiles live in the per-test config folder; secrets in the in-memory keyring
(the integration tests in test_session_server.py use the real Secret Service).
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest

import kaskada as kda
from kaskada import _session
from kaskada._errors import (
    ConfigError,
    IncompleteCredentialsError,
    InsecureConnectionError,
    NoCredentialsError,
    ProfileNotFoundError,
)
from kaskada._secret import Secret
from kaskada.settings import defaults as _defaults
from kaskada.settings.explain import Explanation
from kaskada.settings.options import ConnectionOptions
from kaskada.settings.values import BUILTIN

CANARY = "canary-s3cret-Zq9x"
HOSTED = ("api.kaskada.com", "auth0.com", "prod.kaskada.com")


def add(name: str, secret: str | None = CANARY, default: bool = False, **fields: Any) -> None:
    from kaskada.config import lifecycle as _profiles

    fields.setdefault("client_id", f"id-{name}")
    _profiles.add_profile(
        name, fields, Secret(secret) if secret else None, make_default=default, force=True
    )


@pytest.fixture(autouse=True)
def _keyring(memory_keyring: dict[tuple[str, str], str]) -> None:
    """Every test here uses the in-memory keyring."""


def test_no_credentials_names_the_three_ways() -> None:
    with pytest.raises(NoCredentialsError) as caught:
        _session.resolve()
    message = str(caught.value)
    assert "profile" in message and "KASKADA_CLIENT_ID" in message and "client_id=" in message


def test_builtin_defaults_are_the_local_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KASKADA_CLIENT_ID", "env-id")
    monkeypatch.setenv("KASKADA_CLIENT_SECRET", CANARY)
    settings = _session.resolve()
    assert settings.endpoint == ("localhost:50051", BUILTIN)
    assert settings.exchange_endpoint == ("http://localhost:50052/oauth/token", BUILTIN)
    assert settings.is_secure.value is False
    rendered = str(kda.Explanation.from_settings(settings))
    assert not any(host in rendered for host in HOSTED)


def test_unknown_profile_lists_the_known_ones() -> None:
    add("dev")
    add("prod")
    with pytest.raises(ProfileNotFoundError) as caught:
        _session.resolve(profile="nope")
    assert "dev" in str(caught.value) and "prod" in str(caught.value)


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ({"client_id": "abc"}, "without client_secret"),
        ({"client_secret": CANARY}, "without client_id"),
        ({"endpoint": "h:1"}, "without credentials"),
    ],
)
def test_partial_arguments_are_errors(arguments: dict[str, Any], fragment: str) -> None:
    with pytest.raises(IncompleteCredentialsError) as caught:
        _session.resolve(**arguments)
    assert fragment in str(caught.value)
    assert CANARY not in str(caught.value)


def test_env_id_without_secret_is_not_completed_from_a_profile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add("dev", default=True)
    monkeypatch.setenv("KASKADA_CLIENT_ID", "env-id")
    with pytest.raises(IncompleteCredentialsError, match="KASKADA_CLIENT_SECRET"):
        _session.resolve()


def test_profile_without_secret_says_how_to_store_it() -> None:
    add("dev", secret=None, default=True)
    with pytest.raises(IncompleteCredentialsError, match="kaskada configure --profile dev"):
        _session.resolve()


@pytest.mark.parametrize("where", ["arguments", "env", "profile"])
def test_endpoint_without_exchange_endpoint_is_an_error(
    where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if where == "arguments":
        call = {"client_id": "a", "client_secret": CANARY, "endpoint": "api.example.com:443"}
    elif where == "env":
        monkeypatch.setenv("KASKADA_CLIENT_ID", "a")
        monkeypatch.setenv("KASKADA_CLIENT_SECRET", CANARY)
        monkeypatch.setenv("KASKADA_API_ENDPOINT", "api.example.com:443")
        call = {}
    else:
        add("p", endpoint="api.example.com:443")
        call = {"profile": "p"}
    with pytest.raises(IncompleteCredentialsError, match="exchange") as caught:
        _session.resolve(**call)
    assert "api.example.com:443" in str(caught.value)


@pytest.mark.parametrize(
    ("value", "url"),
    [
        ("auth.example.com", "https://auth.example.com/oauth/token"),
        ("https://auth.example.com/token", "https://auth.example.com/token"),
        ("http://127.0.0.1:9/oauth/token", "http://127.0.0.1:9/oauth/token"),
    ],
)
def test_auth_endpoint_bare_host_or_url(
    value: str, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KASKADA_CLIENT_ID", "a")
    monkeypatch.setenv("KASKADA_CLIENT_SECRET", CANARY)
    monkeypatch.setenv("KASKADA_AUTH_ENDPOINT", value)
    monkeypatch.setenv("KASKADA_AUTH_AUDIENCE", "aud")
    settings = _session.resolve()
    assert settings.exchange_endpoint == (url, "KASKADA_AUTH_ENDPOINT")
    assert settings.audience == ("aud", "KASKADA_AUTH_AUDIENCE")


def test_kaskada_profile_beats_env_credentials_and_warns_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add("staging")
    monkeypatch.setenv("KASKADA_PROFILE", "staging")
    monkeypatch.setenv("KASKADA_CLIENT_ID", "env-id")
    monkeypatch.setenv("KASKADA_CLIENT_SECRET", CANARY + "-env")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = _session.resolve()
        monkeypatch.setenv("KASKADA_CLIENT_ID", "env-id-2")  # new env: resolved again
        second = _session.resolve()
    assert first.client_id == ("id-staging", "profile 'staging'")
    assert second.client_id.value == "id-staging"
    shadow = [w for w in caught if "KASKADA_PROFILE" in str(w.message)]
    assert len(shadow) == 1
    assert CANARY not in str(shadow[0].message)


def test_one_source_env_credentials_never_take_the_profile_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add("dev", default=True, endpoint="dev.example.com:443", exchange_endpoint="auth.example.com")
    monkeypatch.setenv("KASKADA_CLIENT_ID", "env-id")
    monkeypatch.setenv("KASKADA_CLIENT_SECRET", CANARY)
    settings = _session.resolve()
    assert settings.client_id.source == "KASKADA_CLIENT_ID"
    assert settings.endpoint == ("localhost:50051", BUILTIN)
    assert settings.exchange_endpoint.source == BUILTIN


def test_one_source_profile_never_takes_env_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    add("dev", default=True)
    monkeypatch.setenv("KASKADA_API_ENDPOINT", "evil.example.com:443")
    monkeypatch.setenv("KASKADA_AUTH_ENDPOINT", "evil.example.com")
    settings = _session.resolve()
    assert settings.profile.value == "dev"
    assert settings.endpoint.value == "localhost:50051"
    assert "evil" not in str(settings.exchange_endpoint.value)


def test_profile_fields_overridden_by_arguments_carry_their_source() -> None:
    add("dev", endpoint="localhost:7000", exchange_endpoint="http://localhost:7001/oauth/token")
    settings = _session.resolve(profile="dev", endpoint="127.0.0.1:7002", timeout=3)
    assert settings.endpoint == ("127.0.0.1:7002", "argument")
    assert settings.exchange_endpoint.source == "profile 'dev'"
    assert settings.timeout == (3.0, "argument")
    assert settings.client_secret.source == "keyring (profile 'dev')"


def test_overriding_the_profile_id_needs_its_own_secret() -> None:
    add("dev")
    with pytest.raises(IncompleteCredentialsError, match="client_secret"):
        _session.resolve(profile="dev", client_id="someone-else")


def test_plaintext_to_a_remote_host_is_refused_unless_allowed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    call = {
        "client_id": "a",
        "client_secret": CANARY,
        "endpoint": "10.1.2.3:50051",
        "exchange_endpoint": "https://auth.example.com/oauth/token",
        "is_secure": False,
    }
    with pytest.raises(InsecureConnectionError, match=r"10\.1\.2\.3"):
        _session.resolve(**call)
    assert _session.resolve(**call, allow_insecure=True).allow_insecure.value is True
    monkeypatch.setenv("KASKADA_ALLOW_INSECURE", "1")
    assert _session.resolve(**call).allow_insecure == (True, "KASKADA_ALLOW_INSECURE")


def test_remote_endpoint_defaults_to_tls() -> None:
    settings = _session.resolve(
        client_id="a",
        client_secret=CANARY,
        endpoint="api.example.com:443",
        exchange_endpoint="auth.example.com",
    )
    assert settings.is_secure.value is True


def test_secret_over_plain_http_to_a_remote_token_endpoint_is_refused() -> None:
    with pytest.raises(InsecureConnectionError, match="unencrypted"):
        _session.resolve(
            client_id="a",
            client_secret=CANARY,
            endpoint="api.example.com:443",
            exchange_endpoint="http://auth.example.com/oauth/token",
        )


def test_preissued_token_from_argument_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _session.resolve(jwt=CANARY)
    assert settings.token.source == "argument jwt"
    assert isinstance(settings.token.value, Secret)
    monkeypatch.setenv("KASKADA_TOKEN", CANARY)
    monkeypatch.setenv("KASKADA_API_ENDPOINT", "127.0.0.1:1234")
    env = _session.resolve()  # a token needs no exchange endpoint
    assert env.token.source == "KASKADA_TOKEN" and env.endpoint.value == "127.0.0.1:1234"


def test_bad_env_values_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KASKADA_CLIENT_ID", "a")
    monkeypatch.setenv("KASKADA_CLIENT_SECRET", CANARY)
    monkeypatch.setenv("KASKADA_IS_SECURE", "maybe")
    with pytest.raises(ConfigError, match="KASKADA_IS_SECURE"):
        _session.resolve()
    monkeypatch.setenv("KASKADA_IS_SECURE", "false")
    monkeypatch.setenv("KASKADA_TIMEOUT", "-1")
    with pytest.raises(ConfigError, match="KASKADA_TIMEOUT"):
        _session.resolve()


def test_profile_added_at_runtime_resolves_without_restart() -> None:
    add("dev", default=True)
    assert _session.resolve().profile.value == "dev"
    with pytest.raises(ProfileNotFoundError):
        _session.resolve(profile="late")
    add("late")
    assert _session.resolve(profile="late").client_id.value == "id-late"
    add("late", client_id="id-late-2")
    assert _session.resolve(profile="late").client_id.value == "id-late-2"


def test_memo_returns_the_same_settings_while_nothing_changed() -> None:
    add("dev", default=True)
    assert _session.resolve(profile="dev") is _session.resolve(profile="dev")


def test_a_kept_session_follows_every_variable_its_resolution_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A named profile reads KASKADA_TIMEOUT: a change there resolves again;
    KASKADA_PROFILE does not change what profile= means."""
    add("dev", default=True)
    add("other", client_id="id-other")
    first = _session.resolve(profile="dev")
    monkeypatch.setenv("KASKADA_PROFILE", "other")
    assert _session.resolve(profile="dev") is first
    monkeypatch.setenv("KASKADA_TIMEOUT", "9")
    assert _session.resolve(profile="dev").timeout.value == 9
    assert _session.resolve().profile.value == "other"  # no profile=: every variable counts
    monkeypatch.setenv("KASKADA_PROFILE", "dev")
    assert _session.resolve().profile.value == "dev"


def test_a_kept_session_is_kept_by_exactly_the_variables_its_resolution_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The default profile's settings were made from KASKADA_PROFILE, the credential
    variables, KASKADA_ALLOW_INSECURE and KASKADA_TIMEOUT: an endpoint variable set
    without credentials changes nothing, so the same Session is reused; one it read
    resolves again."""
    add("dev", default=True)
    first = _session.RESOLVED.resolve(ConnectionOptions())
    monkeypatch.setenv("KASKADA_API_ENDPOINT", "elsewhere:1")
    assert _session.RESOLVED.resolve(ConnectionOptions()) is first
    monkeypatch.setenv("KASKADA_ALLOW_INSECURE", "1")
    again = _session.RESOLVED.resolve(ConnectionOptions())
    assert again is not first and again.settings.allow_insecure.value is True


def test_a_named_profile_is_not_resolved_again_for_credential_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """profile= beats the credential variables, so they do not change its settings:
    the kept Session stays (the shadowing warning is given when it was resolved)."""
    add("dev")
    monkeypatch.setenv("KASKADA_CLIENT_ID", "env-id")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = kda.session(profile="dev")
        monkeypatch.setenv("KASKADA_CLIENT_ID", "other-env-id")
        monkeypatch.setenv("KASKADA_TOKEN", CANARY)
        assert kda.session(profile="dev") is first
    assert len([w for w in caught if "ignored" in str(w.message)]) == 1


def test_a_token_expiry_variable_is_read_with_the_token_it_dates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """KASKADA_TOKEN_EXPIRES_AT is read only with KASKADA_TOKEN; setting it resolves again."""
    monkeypatch.setenv("KASKADA_TOKEN", CANARY)
    first = _session.resolve()
    assert getattr(first.token.value, "expires_at", None) is None
    monkeypatch.setenv("KASKADA_TOKEN_EXPIRES_AT", "2099-01-02T03:04:05Z")
    dated = _session.resolve()
    assert dated is not first
    assert getattr(dated.token.value, "expires_at", None) == 4071006245.0


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("127.9.9.9", True),
        ("::1", True),
        ("[::1]", True),
        ("10.0.0.1", False),
        ("example.com", False),
        ("localhost.evil.com", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert _defaults.is_loopback(host) is loopback


def test_describe_default_explains_and_masks() -> None:
    add("dev", default=True)
    described = Explanation.from_settings(_session.resolve_default(), title="kda.init() would use")
    text = str(described)
    assert "kda.init() would use" in text and "default_profile" in text
    assert CANARY not in text and CANARY not in repr(described)
    document = described.to_json()
    assert document["settings"]["client_id"]["value"] == "id-dev"
    assert document["settings"]["client_secret"]["value"] == "********"
    assert CANARY not in repr(document)


def test_settings_and_session_never_show_the_secret() -> None:
    made = kda.session(client_id="a", client_secret=CANARY)
    for text in (repr(made.settings), str(made.settings), repr(made), str(made.explain())):
        assert CANARY not in text


# --- audit: warnings, parsing of every documented variable, explain, pickling ----------


def test_profile_argument_shadowing_env_credentials_warns_once_at_the_callers_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add("dev")
    add("prod")
    monkeypatch.setenv("KASKADA_CLIENT_ID", "env-id")
    monkeypatch.setenv("KASKADA_CLIENT_SECRET", CANARY + "-env")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert kda.session(profile="dev").client_id == "id-dev"
        assert kda.init(profile="prod").client_id == "id-prod"
        monkeypatch.setenv("KASKADA_PROFILE", "prod")
        kda.session()
    shadow = [w for w in caught if "ignored" in str(w.message)]
    assert len(shadow) == 1
    assert "profile='dev'" in str(shadow[0].message)
    assert "KASKADA_CLIENT_ID" in str(shadow[0].message)
    assert shadow[0].filename == __file__  # the user's line, not a line of kaskada
    assert CANARY not in str(shadow[0].message)


def test_profile_argument_without_env_credentials_does_not_warn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add("dev")
    monkeypatch.setenv("KASKADA_API_ENDPOINT", "elsewhere:1")  # not a credential variable
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kda.session(profile="dev")
    assert [str(w.message) for w in caught] == []


def env_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KASKADA_CLIENT_ID", "a")
    monkeypatch.setenv("KASKADA_CLIENT_SECRET", CANARY)


@pytest.mark.parametrize(
    ("raw", "secure"),
    [("true", True), ("TRUE", True), ("1", True), ("yes", True), ("on", True),
     ("false", False), (" False ", False), ("0", False), ("no", False), ("off", False)],
)  # fmt: skip
def test_is_secure_words(raw: str, secure: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    env_credentials(monkeypatch)
    monkeypatch.setenv("KASKADA_IS_SECURE", raw)
    assert _session.resolve().is_secure == (secure, "KASKADA_IS_SECURE")


def test_empty_is_secure_means_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    env_credentials(monkeypatch)
    monkeypatch.setenv("KASKADA_IS_SECURE", "")
    assert _session.resolve().is_secure.source.startswith(BUILTIN)


@pytest.mark.parametrize("raw", ["maybe", "2", "tru", "secure"])
def test_bad_is_secure_names_variable_value_and_fix(
    raw: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_credentials(monkeypatch)
    monkeypatch.setenv("KASKADA_IS_SECURE", raw)
    with pytest.raises(ConfigError) as caught:
        _session.resolve()
    message = str(caught.value)
    assert "KASKADA_IS_SECURE" in message and repr(raw) in message and "true or false" in message


@pytest.mark.parametrize("raw", ["abc", "inf", "-inf", "nan", "0", "-1", "1e12", "1e400"])
def test_bad_timeout_is_a_config_error_naming_the_variable(
    raw: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_credentials(monkeypatch)
    monkeypatch.setenv("KASKADA_TIMEOUT", raw)
    with pytest.raises(ConfigError, match="KASKADA_TIMEOUT") as caught:
        _session.resolve()
    assert "seconds" in str(caught.value)


def test_timeout_argument_and_variable_accept_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    env_credentials(monkeypatch)
    monkeypatch.setenv("KASKADA_TIMEOUT", "2.5")
    assert _session.resolve().timeout == (2.5, "KASKADA_TIMEOUT")
    assert _session.resolve(timeout=7).timeout == (7.0, "argument")
    with pytest.raises(ConfigError, match="timeout="):
        _session.resolve(timeout=float("inf"))


@pytest.mark.parametrize(
    ("value", "url"),
    [
        ("auth.example.com:8443", "https://auth.example.com:8443/oauth/token"),
        ("auth.example.com/", "https://auth.example.com/oauth/token"),
        ("auth.example.com/custom/token", "https://auth.example.com/custom/token"),
    ],
)
def test_auth_endpoint_host_forms(value: str, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    env_credentials(monkeypatch)
    monkeypatch.setenv("KASKADA_AUTH_ENDPOINT", value)
    assert _session.resolve().exchange_endpoint.value == url


@pytest.mark.parametrize("value", ["https://", "https://auth.example.com:abc/t", "ftp://h/t"])
def test_unusable_auth_endpoint_is_a_config_error(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_credentials(monkeypatch)
    monkeypatch.setenv("KASKADA_AUTH_ENDPOINT", value)
    with pytest.raises(ConfigError, match="KASKADA_AUTH_ENDPOINT") as caught:
        _session.resolve()
    assert CANARY not in str(caught.value)


@pytest.mark.parametrize("value", ["http://127.0.0.1:50051", "localhost :50051", " "])
def test_endpoint_that_is_not_host_port_is_a_config_error(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match="host:port"):
        _session.resolve(jwt=CANARY, endpoint=value)
    monkeypatch.setenv("KASKADA_TOKEN", CANARY)
    monkeypatch.setenv("KASKADA_API_ENDPOINT", value)
    if value.strip():  # an empty variable counts as unset
        with pytest.raises(ConfigError, match="KASKADA_API_ENDPOINT"):
            _session.resolve()


def test_string_booleans_in_arguments_are_parsed_not_truthy() -> None:
    call = {"client_id": "a", "client_secret": CANARY}
    assert _session.resolve(**call, is_secure="false").is_secure == (False, "argument")
    assert _session.resolve(**call, allow_insecure="0").allow_insecure.value is False
    with pytest.raises(ConfigError, match="is_secure="):
        _session.resolve(**call, is_secure="maybe")
    with pytest.raises(ConfigError, match="endpoint="):
        _session.resolve(**call, endpoint=50051)


def test_preissued_token_is_trimmed_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _session.resolve(jwt=f" {CANARY}\n").token.value == Secret(CANARY)
    for bad in (f"{CANARY}\nmore", f"{CANARY}é", "  "):
        with pytest.raises(ConfigError, match="argument jwt") as caught:
            _session.resolve(jwt=bad)
        assert CANARY not in str(caught.value)
    monkeypatch.setenv("KASKADA_TOKEN", f"{CANARY}\x01")
    with pytest.raises(ConfigError, match="KASKADA_TOKEN") as caught:
        _session.resolve()
    assert CANARY not in str(caught.value)


SETTINGS = {
    "profile", "client_id", "client_secret", "token", "auth", "endpoint", "is_secure",
    "exchange_endpoint", "audience", "ca_bundle", "timeout", "allow_insecure",
}  # fmt: skip


@pytest.mark.parametrize("layer", ["arguments", "jwt", "env", "env-token", "profile", "default"])
def test_explain_gives_every_setting_a_source(layer: str, monkeypatch: pytest.MonkeyPatch) -> None:
    add("dev", default=True, audience="aud-dev")
    expected = {
        "arguments": ("client_id", "argument"),
        "jwt": ("token", "argument jwt"),
        "env": ("client_secret", "KASKADA_CLIENT_SECRET"),
        "env-token": ("token", "KASKADA_TOKEN"),
        "profile": ("audience", "profile 'dev'"),
        "default": ("profile", "default_profile in"),
    }[layer]
    if layer == "arguments":
        kda.init(client_id="a", client_secret=CANARY)
    elif layer == "jwt":
        kda.init(jwt=CANARY)
    elif layer == "env":
        env_credentials(monkeypatch)
    elif layer == "env-token":
        monkeypatch.setenv("KASKADA_TOKEN", CANARY)
    elif layer == "profile":
        kda.init(profile="dev")
    explained = kda.explain()
    assert {name for name, _, _ in explained.rows} == SETTINGS
    assert all(source for _, _, source in explained.rows)
    name, source = expected
    assert explained.source(name).startswith(source)
    kind, signs_in = {  # the auth row: which kind signs in, and where its token comes from
        "arguments": ("client_secret", "argument"),
        "jwt": ("token", "argument jwt"),
        "env": ("client_secret", "KASKADA_CLIENT_SECRET"),
        "env-token": ("token", "KASKADA_TOKEN"),
        "profile": ("client_secret", "keyring (profile 'dev')"),
        "default": ("client_secret", "keyring (profile 'dev')"),
    }[layer]
    assert dict((row[0], row[1:]) for row in explained.rows)["auth"] == (kind, signs_in)
    text = str(explained)
    assert all(f"[{source}]" in text for _, _, source in explained.rows)
    assert CANARY not in text and CANARY not in repr(explained.to_json())


def test_session_and_settings_refuse_pickling_and_explanations_do_not() -> None:
    import copy
    import pickle

    made = kda.session(client_id="a", client_secret=CANARY)
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(TypeError, match="pickled"):
            pickle.dumps(made, protocol=protocol)
        with pytest.raises(TypeError, match="pickled"):
            pickle.dumps(made.settings, protocol=protocol)
    with pytest.raises(TypeError, match="pickled"):
        copy.copy(made)
    copied = pickle.loads(pickle.dumps(made.explain()))
    assert copied == made.explain()
    assert CANARY.encode() not in pickle.dumps(made.explain())


def test_a_new_keyring_service_resolves_a_kept_profile_session_again(
    real_keyring: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """KASKADA_KEYRING_SERVICE decides which keyring entry holds a profile's secret: a
    session kept for the profile must not outlive a change of it (it used the secret
    of the old service, and a missing secret under the new one went unnoticed)."""
    from kaskada import profiles
    from kaskada._errors import IncompleteCredentialsError

    profiles.add("svc", client_id="id-svc", secret="secret-under-the-first-service",
                 endpoint="localhost:50051", exchange_endpoint="http://localhost:50052/oauth/token")
    first = kda.session(profile="svc")
    assert kda.session(profile="svc") is first  # kept while nothing it read changed
    monkeypatch.setenv("KASKADA_KEYRING_SERVICE", real_keyring + "-other")
    with pytest.raises(IncompleteCredentialsError) as missing:
        kda.session(profile="svc")  # no secret under the new service
    assert "svc" in str(missing.value)
    profiles.add("svc", client_id="id-svc", secret="secret-under-the-second-service",
                 endpoint="localhost:50051", exchange_endpoint="http://localhost:50052/oauth/token",
                 force=True)
    second = kda.session(profile="svc")
    assert second is not first
    assert second.settings.client_secret.value != first.settings.client_secret.value
    import keyring

    keyring.delete_password(real_keyring + "-other", "svc")
