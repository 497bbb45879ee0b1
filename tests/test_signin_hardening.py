"""Device and federated sign-in against hostile or broken servers and files (red-team
findings F5-F16 of issue 21): refresh tokens bound to their issuer, metadata endpoints
under the TLS rule, no redirects with a bearer, one clear line for every failure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kaskada._errors import (
    ConfigError,
    IncompleteCredentialsError,
    SecretBindingError,
    UntrustedConfigError,
)
from kaskada._secret import Secret
from kaskada.credentials.signin import DeviceLogin, Federated
from tests.oauth_helpers import kaskada, write_profile

FIELDS = {"client_id": "kaskada-cli", "endpoint": "127.0.0.1:41403",
          "exchange_endpoint": "http://127.0.0.1:41404/oauth/token"}


def test_refresh_token_is_bound_to_its_issuer(memory_keyring: Any) -> None:
    """F5: the issuer's metadata decides where a refresh token goes, so changing the
    profile's issuer (an edit or an import) keeps the stored token from being sent."""
    DeviceLogin("me", FIELDS, {"auth": "device", "issuer": "https://a.example"}).store(
        "RT-CANARY")
    same = DeviceLogin("me", FIELDS, {"auth": "device", "issuer": "https://a.example/"})
    assert same.stored() == Secret("RT-CANARY")
    moved = DeviceLogin("me", FIELDS, {"auth": "device", "issuer": "https://evil.example"})
    with pytest.raises(SecretBindingError) as caught:
        moved.stored()
    message = str(caught.value)
    assert "issuer was 'https://a.example', is 'https://evil.example'" in message
    assert "kaskada login --profile me" in message
    assert "RT-CANARY" not in message
    added = DeviceLogin("me", {k: v for k, v in FIELDS.items() if k != "exchange_endpoint"},
                        {"auth": "device", "issuer": "https://evil.example"})
    with pytest.raises(SecretBindingError):
        added.stored()


FEDERATED_FILE = """
[profiles.share]
auth = "federated"
client_id = "kaskada-cli"
endpoint = "127.0.0.1:41403"
exchange_endpoint = "http://127.0.0.1:9/oauth/token"
subject_token_file = "~/id_fake"

[profiles.share2]
auth = "federated"
client_id = "kaskada-cli"
endpoint = "127.0.0.1:41403"
exchange_endpoint = "http://127.0.0.1:9/oauth/token"
subject_token_env = "AWS_SECRET_ACCESS_KEY"
"""


def test_import_shows_and_refuses_subject_token_sources(tmp_path: Path) -> None:
    """F9: a federated profile reads a file or a variable and sends it to the file's token
    endpoint, as a secret_env would: shown, and imported only when accepted."""
    from kaskada import profiles

    source = tmp_path / "fed.toml"
    source.write_text(FEDERATED_FILE)
    with pytest.raises(ConfigError) as caught:
        profiles.import_file(source)
    message = str(caught.value)
    assert "'share' sends the file ~/id_fake as its subject token" in message
    assert "'share2' sends $AWS_SECRET_ACCESS_KEY as its subject token" in message
    assert "--accept-secret-sources" in message
    assert profiles.names() == []
    result = kaskada("profile", "import", str(source))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "AWS_SECRET_ACCESS_KEY" in result.stderr
    assert profiles.import_file(source, accept_secret_sources=True)
    assert sorted(profiles.names()) == ["share", "share2"]


def test_untrusted_config_never_reads_a_subject_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """F9: a config another account can write never decides what is read as a subject
    token; a value that is not a JWT (an AWS secret, a private key) is never sent."""
    config = write_profile("share2", {
        "auth": "federated", "client_id": "kaskada-cli", "endpoint": "127.0.0.1:41403",
        "exchange_endpoint": "http://127.0.0.1:9/oauth/token",
        "subject_token_env": "AWS_SECRET_ACCESS_KEY"})
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "AWS-CANARY")
    federated = Federated("share2", {}, {"auth": "federated",
                                         "subject_token_env": "AWS_SECRET_ACCESS_KEY"})
    with pytest.raises(IncompleteCredentialsError) as not_jwt:
        federated.subject_token(None, timeout=1)
    assert "not a JWT" in str(not_jwt.value) and "AWS-CANARY" not in str(not_jwt.value)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "eyJh.eyJi.c2ln")
    assert federated.subject_token(None, timeout=1) == "eyJh.eyJi.c2ln"
    config.chmod(0o666)
    with pytest.raises(UntrustedConfigError) as untrusted:
        federated.subject_token(None, timeout=1)
    assert "chmod 600" in str(untrusted.value)
