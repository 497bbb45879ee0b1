"""kaskada.profiles: read and change profiles from Python, as the CLI does."""

from __future__ import annotations

import os
from typing import Any

import pytest

import kaskada as kda
from kaskada import profiles, table

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


# -- what the CLI's profile verbs use: stores, secret state, the file before its checks --


def _service() -> str:
    return os.environ["KASKADA_KEYRING_SERVICE"]


def test_where_a_secret_lives_is_told_without_reading_it(
    memory_keyring: dict[tuple[str, str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert profiles.store_kind(FIELDS) == "keyring"
    env = profiles.store_fields(secret_env="DEV_SECRET")
    assert profiles.store_kind(env) == "env"
    assert profiles.store_kind(profiles.store_fields(secret_command=["pass", "dev"])) == "command"
    assert profiles.store_fields(insecure_storage=True) == {"secret_store": "file"}
    with pytest.raises(kda.ConfigError, match="--secret-env and --insecure-storage"):
        profiles.store_fields(secret_env="X", insecure_storage=True)
    profiles.add("dev", {**FIELDS, **env})
    monkeypatch.setenv("DEV_SECRET", CANARY)
    store = profiles.secret_store("dev")
    assert (store.kind, store.bound) == ("env", False)
    assert "DEV_SECRET" in store.where and CANARY not in repr(store)
    state = profiles.secret_state("dev")  # an env store is not read here
    assert state.stored is None and state.usable is None and CANARY not in repr(state)
    assert not profiles.has_secret("dev")
    assert profiles.secret_store("dev", FIELDS).kind == "keyring"  # by the fields given
    assert profiles.plain_text_path("dev") == profiles.config_path().parent / "secrets/dev.json"


def test_secret_state_says_stored_usable_or_why_not(
    memory_keyring: dict[tuple[str, str], str],
) -> None:
    profiles.add("dev", FIELDS)
    state = profiles.secret_state("dev")
    assert (state.store.kind, state.stored, state.usable) == ("keyring", False, None)
    profiles.store_secret("dev", CANARY)
    assert profiles.has_secret("dev")
    assert CANARY not in profiles.config_path().read_text()
    state = profiles.secret_state("dev")
    assert (state.stored, state.usable, state.problem) == (True, True, None)
    # the file edited by hand: the secret stays, bound to the old endpoint, and is not sent
    text = profiles.config_path().read_text().replace("localhost:50051", "localhost:50099")
    profiles.config_path().write_text(text)
    state = profiles.secret_state("dev")
    assert (state.stored, state.usable) == (True, False)
    assert state.problem is not None and "endpoint" in state.problem
    assert CANARY not in state.problem


def test_a_keyring_that_cannot_be_read_is_a_state_not_an_error(no_keyring: None) -> None:
    profiles.add("dev", FIELDS)
    state = profiles.secret_state("dev")
    assert state.stored is None and state.problem and "keyring" in state.problem
    with pytest.raises(kda.KeyringError):
        profiles.check_keyring("dev")
    with pytest.raises(kda.KeyringError):
        profiles.has_secret("dev")
    assert profiles.legacy_secret("dev") is None


def test_a_secret_stored_by_0_1_is_found_and_bound_once_confirmed(
    memory_keyring: dict[tuple[str, str], str],
) -> None:
    profiles.add("dev", FIELDS)
    memory_keyring[(_service(), "dev")] = CANARY  # what 0.1 stored: a bare password
    state = profiles.secret_state("dev")
    assert state.usable is False and state.problem and "0.1" in state.problem
    legacy = profiles.legacy_secret("dev")
    assert legacy is not None and legacy.reveal() == CANARY
    profiles.store_secret("dev", legacy)
    assert profiles.secret_state("dev").usable is True
    assert profiles.legacy_secret("dev") is None  # bound now


def test_the_file_before_its_checks_shows_a_secret_left_in_it(
    memory_keyring: dict[tuple[str, str], str],
) -> None:
    assert profiles.unchecked().tables == {} and profiles.unchecked().default_profile is None
    path = profiles.config_path()
    path.parent.mkdir(mode=0o700, parents=True)
    path.write_text('default_profile = "dev"\n[profiles.dev]\nclient_id = "cid"\n'
                    f'client_secret = "{CANARY}"\n')  # fmt: skip
    path.chmod(0o600)
    with pytest.raises(kda.ConfigError, match="client_secret"):
        profiles.load()
    raw = profiles.unchecked()
    assert raw.path == path and raw.default_profile == "dev"
    assert raw.tables["dev"]["client_secret"] == CANARY
    path.write_text('profiles = "not a table"\n')
    with pytest.raises(kda.ConfigError, match="must be a table"):
        profiles.unchecked()


def test_names_and_fields_are_checked_as_the_file_is(
    memory_keyring: dict[tuple[str, str], str],
) -> None:
    assert profiles.check_name("prod-eu") == "prod-eu"
    with pytest.raises(kda.InvalidProfileNameError, match="-x"):
        profiles.check_name("-x")
    assert profiles.check_fields({"timeout": 5, "audience": None}) == {"timeout": 5}
    with pytest.raises(kda.ConfigError, match="--timeout"):
        profiles.check_fields({"timeout": "soon"}, where="--timeout")
    with pytest.raises(kda.ConfigError, match="client_secret"):
        profiles.check_fields({"client_secret": CANARY})
    assert profiles.toml_fields({"secret_command": ("pass", "dev")}) == {
        "secret_command": ["pass", "dev"]
    }


def test_the_secret_and_the_tokens_on_the_real_keyring(
    real_keyring: str, local_server: Any
) -> None:
    from tests.helpers import add_profile, entries

    add_profile(local_server, "dev")
    state = profiles.secret_state("dev")
    assert (state.store.kind, state.stored, state.usable) == ("keyring", True, True)
    profiles.check_keyring("dev")
    assert profiles.legacy_secret("dev") is None
    table.list_tables(session=kda.session(profile="dev"))  # signs in: one cached token
    assert len(entries()) == 1
    assert profiles.token_cache_dir() == entries()[0].parent
    assert profiles.forget_tokens("dev") == 1 and entries() == []
    add_profile(local_server, "ci")
    table.list_tables(session=kda.session(profile="ci"))
    assert profiles.forget_tokens("dev") == 0 and len(entries()) == 1  # ci's stays
    assert profiles.forget_all_tokens() == 1 and entries() == []
    assert profiles.has_secret("dev")  # the profile and its secret stay
