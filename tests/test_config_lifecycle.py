"""Profile lifecycle across keyring and file: order, undo, cache, import/export."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from kaskada._errors import ConfigError, ProfileExistsError, ProfileNotFoundError
from kaskada._secret import Secret
from kaskada.config import atomic as _atomic
from kaskada.config import file as _config
from kaskada.config import lifecycle as _profiles
from kaskada.credentials import stored as _stored_secrets
from tests.stored import entry, secrets, stored

REPO = Path(__file__).resolve().parents[1]
CANARY = "canary-lifecycle-4e8b"
Store = dict[tuple[str, str], str]


def service() -> str:
    from kaskada.config.paths import keyring_service

    return keyring_service()


def test_add_stores_secret_in_keyring_and_not_in_file(
    memory_keyring: Store, isolated_environment: Path
) -> None:
    profile = _profiles.add_profile(
        "dev", {"client_id": "id-1", "endpoint": "localhost:50051"}, Secret(CANARY)
    )
    assert profile.client_id == "id-1"
    assert stored(memory_keyring.get((service(), "dev"))) == CANARY
    for path in isolated_environment.iterdir():
        assert CANARY.encode() not in path.read_bytes()


def test_add_refuses_existing_name_without_force(memory_keyring: Store) -> None:
    _profiles.add_profile("dev", {"client_id": "a"}, Secret("old"))
    with pytest.raises(ProfileExistsError, match="--force"):
        _profiles.add_profile("dev", {"client_id": "b"}, Secret("new"))
    assert stored(memory_keyring.get((service(), "dev"))) == "old"  # the keyring was not touched
    _profiles.add_profile("dev", {"client_id": "b"}, Secret("new"), force=True)
    assert stored(memory_keyring.get((service(), "dev"))) == "new"
    assert _config.get_profile("dev").client_id == "b"


def test_force_with_a_new_client_id_drops_the_stale_secret(memory_keyring: Store) -> None:
    _profiles.add_profile("dev", {"client_id": "a"}, Secret("old"))
    _profiles.add_profile("dev", {"client_id": "a", "timeout": 3}, None, force=True)
    assert stored(memory_keyring.get((service(), "dev"))) == "old"  # same id: the secret stays
    _profiles.add_profile("dev", {"client_id": "other"}, None, force=True)
    assert (service(), "dev") not in memory_keyring


def test_failed_file_write_undoes_the_keyring(
    memory_keyring: Store, monkeypatch: pytest.MonkeyPatch, isolated_environment: Path
) -> None:
    _profiles.add_profile("dev", {"client_id": "a"}, Secret("old"))
    before = (isolated_environment / "config.toml").read_bytes()

    def broken(path: Path, data: bytes) -> None:
        raise ConfigError(f"cannot write {path}: disk full")

    monkeypatch.setattr(_atomic, "atomic_write", broken)
    with pytest.raises(ConfigError, match="disk full"):
        _profiles.add_profile("dev", {"client_id": "a"}, Secret("new"), force=True)
    assert stored(memory_keyring.get((service(), "dev"))) == "old"
    with pytest.raises(ConfigError, match="disk full"):
        _profiles.add_profile("qa", {"client_id": "q"}, Secret("qa-secret"))
    assert (service(), "qa") not in memory_keyring
    with pytest.raises(ConfigError, match="disk full"):
        _profiles.remove_profile("dev")
    # restored after the failed remove
    assert stored(memory_keyring.get((service(), "dev"))) == "old"
    assert (isolated_environment / "config.toml").read_bytes() == before


def test_invalid_fields_are_refused_before_anything_is_stored(memory_keyring: Store) -> None:
    with pytest.raises(ConfigError, match="is_secure must be true or false"):
        _profiles.add_profile("dev", {"client_id": "a", "is_secure": "no"}, Secret(CANARY))
    with pytest.raises(ConfigError, match="allow_insecure"):
        _profiles.add_profile("dev", {"client_id": "a", "allow_insecure": True}, None)
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        _profiles.add_profile("dev", {"client_id": "a", "colour": "red"}, None)
    assert secrets(memory_keyring) == {}
    assert _config.load().profiles == {}


def test_secret_cache_follows_the_file(memory_keyring: Store) -> None:
    _profiles.add_profile("dev", {"client_id": "a"}, Secret("first"))
    assert _stored_secrets.profile_secret("dev", "a") == Secret("first")
    memory_keyring[(service(), "dev")] = entry("second", client_id="a")  # changed behind our back
    assert _stored_secrets.profile_secret("dev", "a") == Secret("first")  # cached: no keyring call

    # Another process edits the profile: the file shows the change, the cache drops.
    def edit(document: dict[str, object]) -> None:
        document["profiles"]["dev"]["timeout"] = 9  # type: ignore[index]

    _config.update(edit)
    assert _stored_secrets.profile_secret("dev", "a") == Secret("second")


def test_secret_cache_drops_when_the_profile_goes(memory_keyring: Store) -> None:
    _profiles.add_profile("dev", {"client_id": "a"}, Secret("first"))
    assert _stored_secrets.profile_secret("dev", "a") == Secret("first")
    _config.update(lambda document: document["profiles"].pop("dev"))
    memory_keyring.pop((service(), "dev"))
    assert _stored_secrets.profile_secret("dev", "a") is None


def test_rename_moves_secret_and_default(memory_keyring: Store) -> None:
    _profiles.add_profile("dev", {"client_id": "a"}, Secret(CANARY), make_default=True)
    _profiles.add_profile("other", {"client_id": "o"}, None)
    with pytest.raises(ProfileExistsError):
        _profiles.rename_profile("dev", "other")
    renamed = _profiles.rename_profile("dev", "staging")
    assert renamed.name == "staging" and renamed.client_id == "a"
    assert secrets(memory_keyring) == {(service(), "staging"): CANARY}
    assert _config.load().default_profile == "staging"
    with pytest.raises(ProfileNotFoundError):
        _profiles.rename_profile("dev", "x")


def test_remove_deletes_secret_and_clears_default(memory_keyring: Store) -> None:
    _profiles.add_profile("dev", {"client_id": "a"}, Secret(CANARY), make_default=True)
    removed = _profiles.remove_profile("dev")
    assert removed.secret_deleted and removed.was_default
    assert secrets(memory_keyring) == {}
    assert _config.load().default_profile is None and _config.load().profiles == {}
    with pytest.raises(ProfileNotFoundError, match="'dev'"):
        _profiles.remove_profile("dev")


def test_use_sets_the_default(memory_keyring: Store) -> None:
    _profiles.add_profile("a", {"client_id": "1"}, None)
    _profiles.add_profile("b", {"client_id": "2"}, None)
    _profiles.set_default("b")
    assert _config.load().default_profile == "b"
    with pytest.raises(ProfileNotFoundError):
        _profiles.set_default("c")


def test_import_and_export_round_trip(
    memory_keyring: Store, isolated_environment: Path, tmp_path: Path
) -> None:
    names = _profiles.import_profiles(REPO / "profiles" / "several-accounts.toml")
    assert sorted(names) == ["dev", "prod", "staging"]
    assert _config.load().default_profile == "dev"
    with pytest.raises(ProfileExistsError, match="dev, prod, staging"):
        _profiles.import_profiles(REPO / "profiles" / "several-accounts.toml")
    exported = _profiles.export_profiles(["prod", "dev"])
    document = tomllib.loads(exported)
    assert sorted(document["profiles"]) == ["dev", "prod"]
    assert document["default_profile"] == "dev"
    assert "secret" not in exported
    copy = tmp_path / "copy.toml"
    copy.write_text(exported)
    _profiles.remove_profile("prod")
    assert _profiles.import_profiles(copy, force=True) == ["prod", "dev"]
    assert _config.get_profile("prod") == _profiles.read_profiles_file(copy).profiles["prod"]


def test_import_refuses_a_file_with_a_secret(isolated_environment: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(f'[profiles.x]\nclient_id = "a"\nclient_secret = "{CANARY}"\n')
    with pytest.raises(ConfigError) as caught:
        _profiles.import_profiles(bad)
    assert "kaskada configure --profile x" in str(caught.value)
    assert CANARY not in str(caught.value)
    assert not (isolated_environment / "config.toml").exists()
