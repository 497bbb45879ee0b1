"""kaskada.profiles: read and change profiles from Python, as the CLI does."""

from __future__ import annotations

import pytest

import kaskada as kda
from kaskada import profiles

CANARY = "canary-profile-secret-7Hq"
FIELDS = {
    "client_id": "cid",
    "endpoint": "localhost:50051",
    "exchange_endpoint": "http://localhost:50052/oauth/token",
}


def test_add_get_set_list_remove(memory_keyring: dict[tuple[str, str], str]) -> None:
    assert profiles.names() == []
    added = profiles.add("dev", FIELDS, secret=CANARY, default=True)
    assert added.client_id == "cid" and profiles.default() == "dev"
    assert profiles.has_secret("dev")
    assert CANARY not in profiles.config_path().read_text()
    assert profiles.get("dev").endpoint == "localhost:50051"
    profiles.set_value("dev", "timeout", 7)
    assert profiles.get_value("dev", "timeout") == 7
    assert kda.session(profile="dev").settings.timeout.value == 7  # what a session sees
    profiles.add("ci", client_id="other", endpoint="localhost:1",
                 exchange_endpoint="http://localhost:2/oauth/token")  # fmt: skip
    assert profiles.names() == ["ci", "dev"]
    assert "[profiles.ci]" in profiles.export(["ci"]) and CANARY not in profiles.export()
    removed = profiles.remove("dev")
    assert removed.secret_deleted and removed.was_default
    assert profiles.names() == ["ci"] and profiles.default() is None


def test_changing_a_bound_field_drops_the_secret(
    memory_keyring: dict[tuple[str, str], str],
) -> None:
    profiles.add("dev", FIELDS, secret=CANARY)
    change = profiles.set_value("dev", "endpoint", "localhost:50099")
    assert change.secret_removed and not profiles.has_secret("dev")


def test_errors_name_the_profile_and_the_key(memory_keyring: dict[tuple[str, str], str]) -> None:
    with pytest.raises(kda.ProfileNotFoundError, match="nope"):
        profiles.get("nope")
    profiles.add("dev", FIELDS)
    with pytest.raises(kda.ProfileExistsError, match="dev"):
        profiles.add("dev", FIELDS)
    with pytest.raises(kda.ConfigError, match="colour"):
        profiles.get_value("dev", "colour")
