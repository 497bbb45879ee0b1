"""Profile lifecycle across the two stores (keyring first, file last).

A change that touches both stores writes the keyring first and the file last,
all under the config file's lock, and undoes the keyring step when the file
write fails, so the file never names a profile whose secret step failed.
A profile that replaces another one without bringing a secret keeps the
stored secret only when it is the same account (same client id): otherwise
the old account's secret would be sent with another client id, perhaps to
another endpoint.

Secrets read from the keyring are cached per (profile, client id) and dropped
as soon as the config file changes on disk: every kaskada write rewrites the
file, so a secret rotated from another shell is picked up at the next call.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kaskada import _config, _token_cache
from kaskada._config import Profile
from kaskada._errors import ConfigError, KeyringError, ProfileExistsError, ProfileNotFoundError
from kaskada._names import validate_profile_name
from kaskada._reset import on_reset
from kaskada._secret import Secret

log = logging.getLogger("kaskada.profiles")

_secrets: dict[tuple[str, str], tuple[_config.ConfigFile, Secret]] = {}


@on_reset
def _clear_secrets() -> None:
    _secrets.clear()


def _forget(name: str) -> None:
    for key in [key for key in _secrets if key[0] == name]:
        del _secrets[key]


def profile_secret(name: str, client_id: str) -> Secret | None:
    """The stored secret of a profile, cached per (name, client id) in this process.

    The cache entry is dropped when the config file changed on disk (``load()``
    then returns a new ConfigFile). ``None`` when the keyring holds no secret for
    it; KeyringError when the keyring cannot be used.
    """
    from kaskada import _keyring

    config = _config.load()
    cached = _secrets.get((name, client_id))
    if cached is not None:
        if cached[0] is config:
            return cached[1]
        _forget(name)
    secret = _keyring.get_secret(name)
    if secret is not None:
        _secrets[(name, client_id)] = (config, secret)
    log.debug("secret of profile %r read from the keyring: %s", name, "found" if secret else "none")
    return secret


def _not_found(name: str, document: Mapping[str, Any]) -> ProfileNotFoundError:
    known = ", ".join(sorted(document.get("profiles", {}))) or "none"
    return ProfileNotFoundError(
        f"no profile {name!r} in {_config.config_path()} (known profiles: {known}); "
        "see `kaskada profile list`"
    )


def profile_tables(document: dict[str, Any]) -> dict[str, Any]:
    """The ``profiles`` table of a raw document (created when absent); ConfigError if not one."""
    tables = document.setdefault("profiles", {})
    if not isinstance(tables, dict):
        path = _config.config_path()
        raise ConfigError(
            f"{path}: 'profiles' must be a table ([profiles.NAME] sections); fix it in an editor"
        )
    return tables


def _same_account(table: Any, client_id: Any) -> bool:
    """Whether a profile table in the file already had this client id (so its secret fits)."""
    return isinstance(table, dict) and table.get("client_id") == client_id


def _drop_stale_secret(name: str) -> None:
    """Delete a secret that no longer belongs to profile ``name`` (best effort, logged)."""
    from kaskada import _keyring

    try:
        _keyring.delete_secret(name)
    except _keyring.NoKeyringError:
        pass  # no keyring: nothing can be stored under that name
    except KeyringError as error:
        log.warning("the old keyring entry of profile %r may remain: %s", name, error)


def add_profile(
    name: str,
    fields: Mapping[str, Any],
    secret: Secret | None,
    *,
    make_default: bool = False,
    force: bool = False,
) -> Profile:
    """Store a profile: the secret in the keyring first, then the file; undo on failure.

    ``fields`` uses the PROFILE_KEYS vocabulary. ProfileExistsError without ``force``.
    With ``force`` the profile is replaced; without a new secret, the stored one
    is kept only when the client id is unchanged (else it is deleted).
    """
    from kaskada import _keyring

    validate_profile_name(name)
    checked = _config.validate_fields(fields, where=f"profile {name!r}", profile=name)
    profile = Profile(name=name, **checked)
    undo: list[Any] = []
    drop_old_secret = False

    def change(document: dict[str, Any]) -> None:
        nonlocal drop_old_secret
        tables = profile_tables(document)
        old = tables.get(name)
        if old is not None and not force:
            raise ProfileExistsError(
                f"profile {name!r} already exists in {_config.config_path()}; "
                "pass --force (force=True) to replace it, or choose another name"
            )
        _token_cache.forget_profile(name, old)  # replaced fields or a new secret: sign in again
        if secret is not None:
            try:
                previous = _keyring.get_secret(name)
            except _keyring.NoKeyringError:
                previous = None  # set_secret below reports it as a failed store
            _keyring.set_secret(name, secret)
            undo.append(previous)
        elif old is not None and not _same_account(old, profile.client_id):
            drop_old_secret = True
        extra = {
            key: value
            for key, value in (old or {}).items()
            if key not in _config.PROFILE_KEYS and key not in {"client_secret", "allow_insecure"}
        }
        tables[name] = {**checked, **extra}
        if make_default:
            document["default_profile"] = name

    try:
        _config.update(change)
    except BaseException:
        if undo:
            _restore(name, undo[0])
        raise
    finally:
        _forget(name)
    if drop_old_secret:
        _drop_stale_secret(name)
    return _config.get_profile(name)


def _restore(name: str, previous: Secret | None) -> None:
    """Undo a keyring write after the file write failed (best effort, logged)."""
    from kaskada import _keyring

    try:
        if previous is None:
            _keyring.delete_secret(name)
        else:
            _keyring.set_secret(name, previous)
    except KeyringError as error:
        log.warning("could not undo the keyring change for profile %r: %s", name, error)


@dataclass(frozen=True)
class Removed:
    """What ``remove_profile`` did, for the CLI to report."""

    name: str
    secret_deleted: bool
    was_default: bool
    keyring_note: str | None = None


def remove_profile(name: str) -> Removed:
    """Delete a profile and its secret (keyring first); the default is cleared if it was it."""
    from kaskada import _keyring

    validate_profile_name(name)
    outcome: dict[str, Any] = {}

    def change(document: dict[str, Any]) -> None:
        tables = profile_tables(document)
        if name not in tables:
            raise _not_found(name, document)
        _token_cache.forget_profile(name, tables[name])
        try:
            previous = _keyring.get_secret(name)
            outcome["secret"] = previous
            outcome["deleted"] = previous is not None and _keyring.delete_secret(name)
        except _keyring.NoKeyringError as error:
            outcome["note"] = f"no keyring, so no secret was deleted ({error})"
        del tables[name]
        outcome["was_default"] = document.get("default_profile") == name
        if outcome["was_default"]:
            del document["default_profile"]

    try:
        _config.update(change)
    except BaseException:
        if outcome.get("deleted"):
            _restore(name, outcome["secret"])
        raise
    finally:
        _forget(name)
    return Removed(
        name=name,
        secret_deleted=bool(outcome.get("deleted")),
        was_default=bool(outcome.get("was_default")),
        keyring_note=outcome.get("note"),
    )


def rename_profile(old: str, new: str, *, force: bool = False) -> Profile:
    """Rename a profile; its secret and the default follow it.

    A secret stored under ``new`` (a profile replaced with ``force``) never
    survives: it belongs to another account.
    """
    from kaskada import _keyring

    validate_profile_name(old)
    validate_profile_name(new)
    if old == new:
        return _config.get_profile(old)
    undo: dict[str, Any] = {}

    def change(document: dict[str, Any]) -> None:
        tables = profile_tables(document)
        if old not in tables:
            raise _not_found(old, document)
        if new in tables and not force:
            raise ProfileExistsError(
                f"profile {new!r} already exists in {_config.config_path()}; pass --force to "
                f"replace it with {old!r}, or choose another name"
            )
        _token_cache.forget_profile(old, tables[old])
        _token_cache.forget_profile(new, tables.get(new))
        try:
            secret = _keyring.get_secret(old)
        except _keyring.NoKeyringError:
            secret = None
        if secret is not None:
            undo["previous"] = _keyring.get_secret(new)
            _keyring.set_secret(new, secret)
            undo["moved"] = True
        tables[new] = tables.pop(old)
        if document.get("default_profile") == old:
            document["default_profile"] = new

    try:
        _config.update(change)
    except BaseException:
        if undo.get("moved"):
            _restore(new, undo["previous"])
        raise
    finally:
        _forget(old)
        _forget(new)
    _drop_stale_secret(old if undo.get("moved") else new)
    return _config.get_profile(new)


def set_default(name: str | None) -> None:
    """Make ``name`` the default profile (``None`` clears the default)."""
    if name is not None:
        validate_profile_name(name)

    def change(document: dict[str, Any]) -> None:
        if name is None:
            document.pop("default_profile", None)
            return
        if name not in profile_tables(document):
            raise _not_found(name, document)
        document["default_profile"] = name

    _config.update(change)


def read_profiles_file(path: Path) -> _config.ConfigFile:
    """A profiles file to import, validated like the config file (no secrets allowed)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}; check the path") from None
    return _config.parse(path, _config.decode(path, data))


def import_profiles(path: Path, *, force: bool = False) -> list[str]:
    """Add every profile of ``path``; refuses existing names without ``force``.

    The file's ``default_profile`` is adopted only when the config has no default.
    An imported file holds no secrets, so a stored secret is kept only for a
    profile replaced with the same client id (the rule of :func:`add_profile`).
    """
    incoming = read_profiles_file(path)
    stale: list[str] = []

    def change(document: dict[str, Any]) -> list[str]:
        tables = profile_tables(document)
        clash = sorted(name for name in incoming.profiles if name in tables)
        if clash and not force:
            raise ProfileExistsError(
                f"{path} has profiles that already exist: {', '.join(clash)}; pass --force "
                "to replace them, or rename them in the file"
            )
        for name, profile in incoming.profiles.items():
            _token_cache.forget_profile(name, tables.get(name))
            if name in tables and not _same_account(tables[name], profile.client_id):
                stale.append(name)
            tables[name] = _config.profile_table(profile)
        if incoming.default_profile in incoming.profiles and not document.get("default_profile"):
            document["default_profile"] = incoming.default_profile
        return list(incoming.profiles)

    try:
        names = _config.update(change)
    finally:
        for name in incoming.profiles:
            _forget(name)
    for name in stale:
        _drop_stale_secret(name)
    return names


def export_profiles(names: Iterable[str] = ()) -> str:
    """The named profiles (all when none are named) as TOML text; never a secret."""
    import tomli_w

    config = _config.load()
    chosen = list(names) or sorted(config.profiles)
    document: dict[str, Any] = {}
    if config.default_profile in chosen:
        document["default_profile"] = config.default_profile
    document["profiles"] = {
        name: _config.profile_table(_config.get_profile(name)) for name in chosen
    }
    return tomli_w.dumps(document)
