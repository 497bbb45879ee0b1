"""Profile lifecycle across the two stores (keyring first, file last).

A change that touches both stores writes the keyring first and the file last,
all under the config file's lock, and undoes the keyring step when the file
write fails, so the file never names a profile whose secret step failed.
A stored secret is bound (in its keyring entry, see ``_binding``) to where it
may go; a profile that replaces another one without bringing a secret keeps
the stored secret only when every bound field is unchanged, and otherwise the
old secret is deleted and the caller is told. A keyring entry under a name the
file does not have is an orphan (left by a removal with ``keep_orphan``) and is
deleted when a profile of that name is created. Removing or renaming a profile
whose secret cannot be deleted changes nothing, unless ``keep_orphan`` says to
leave the secret behind; the binding keeps it from being sent for another account.

Reading a stored secret is ``_stored_secrets``'s job (a read loads none of this
module); every write here drops what that cache holds for the names it changed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from kaskada._errors import (
    ConfigError,
    KeyringError,
    NoKeyringError,
    ProfileExistsError,
    ProfileNotFoundError,
)
from kaskada._secret import Secret
from kaskada.config import file as _config
from kaskada.config.file import Profile
from kaskada.config.names import validate_profile_name
from kaskada.credentials import binding as _binding
from kaskada.credentials import keyring as _keyring
from kaskada.credentials import profile_stores as _secret_stores
from kaskada.credentials import stored as _stored_secrets
from kaskada.credentials import token_cache as _token_cache
from kaskada.credentials.keyring import Entry
from kaskada.settings import schema as _schema

log = logging.getLogger(__name__)

def _not_found(name: str, document: Mapping[str, Any]) -> ProfileNotFoundError:
    return _config.profile_not_found(name, document.get("profiles", {}), _config.config_path())


def profile_tables(document: dict[str, Any]) -> dict[str, Any]:
    """The ``profiles`` table of a raw document (created when absent); ConfigError if not one."""
    tables = document.setdefault("profiles", {})
    if not isinstance(tables, dict):
        path = _config.config_path()
        raise ConfigError(
            f"{path}: 'profiles' must be a table ([profiles.NAME] sections); fix it in an editor"
        )
    return tables


def _bound_change(table: Any, fields: Mapping[str, Any]) -> list[str]:
    """The bound fields a replacement changes (all of them when the old table is unreadable)."""
    if not isinstance(table, dict):
        return list(_binding.BOUND_FIELDS)
    try:
        old = _binding.binding_of({key: table.get(key) for key in _config.PROFILE_KEYS})
    except Exception:  # a hand-edited table of the wrong types: treat everything as changed
        return list(_binding.BOUND_FIELDS)
    return _binding.changed_fields(old, _binding.binding_of(fields))


def _drop_stale_secret(name: str, why: str) -> str | None:
    """Delete a secret that no longer belongs to profile ``name``; a note for the user."""
    if _secret_stores.FileStore(name).delete():
        return (
            f"deleted the plain-text secret of profile {name!r}: {why}; store the secret for "
            f"the new settings with `kaskada configure --profile {name} --insecure-storage`"
        )
    try:
        deleted = _keyring.delete_secret(name)
    except NoKeyringError:
        return None  # no keyring: nothing can be stored under that name
    except KeyringError as error:
        log.warning("the old keyring entry of profile %r may remain: %s", name, error)
        return (
            f"the old secret of profile {name!r} ({why}) could not be deleted from the "
            f"keyring; it will not be sent (it is bound to the old settings): {error}"
        )
    if not deleted:
        return None
    return (
        f"deleted the stored secret of profile {name!r}: {why}; store the secret for the "
        f"new settings with `kaskada configure --profile {name}`"
    )


def add_profile(
    name: str,
    fields: Mapping[str, Any],
    secret: Secret | None,
    *,
    make_default: bool = False,
    force: bool = False,
    notes: list[str] | None = None,
) -> Profile:
    """Store a profile: the secret in the keyring first, then the file; undo on failure.

    ``fields`` uses the PROFILE_KEYS vocabulary. ProfileExistsError without ``force``.
    With ``force`` the profile is replaced; without a new secret, the stored one
    is kept only when no bound field changes (else it is deleted). What was
    deleted, and why, is appended to ``notes`` for the caller to show.
    """
    validate_profile_name(name)
    checked = _config.validate_fields(fields, where=f"profile {name!r}", profile=name)
    auth = checked.get("auth") or "client_secret"
    if secret is not None and auth != "client_secret":
        # A device profile's store holds its refresh token: a "secret" written there
        # would replace a live login and be sent as a refresh token.
        how = (f"sign it in with `kaskada login --profile {name}`" if auth == "device"
               else "it exchanges its subject token")
        raise ConfigError(
            f"profile {name!r} signs in with auth = {auth!r}, which has no client secret, "
            f"so none is stored; nothing was saved: {how} (or set auth = 'client_secret' "
            "for a client secret)")
    binding = _binding.binding_of(checked)
    undo: Undo = []
    stale: list[str] = []

    def change(document: dict[str, Any]) -> None:
        tables = profile_tables(document)
        old = tables.get(name)
        if old is not None and not force:
            raise ProfileExistsError(
                f"profile {name!r} already exists in {_config.config_path()}; "
                "pass --force (force=True) to replace it, or choose another name"
            )
        stale.clear()
        if old is not None and (_bound_change(old, checked) or
                                _config.store_of(old) != _config.store_of(checked)):
            _refuse_dropping_a_login(name, old, "replacing it with other settings")
        _token_cache.forget_profile(name, old)  # replaced fields or a new secret: sign in again
        if secret is not None:
            store = _secret_stores.store_for(name, checked)
            if not store.bound:
                raise ConfigError(
                    f"profile {name!r} takes its secret from {store.describe()}, so a secret "
                    "given here would never be used: set it there instead (or drop "
                    "secret_env/secret_command to keep it in the keyring)"
                )
            try:
                previous = store.read()
            except NoKeyringError:
                previous = None  # the write below reports it as a failed store
            store.write(secret, binding)
            undo.append((name, previous, store))
        elif old is None:
            stale.append("it was left by a removed profile of that name")
        else:
            changed = _bound_change(old, checked)
            if changed:
                stale.append(f"{', '.join(changed)} changed")
        extra = {
            key: value
            for key, value in (old or {}).items()
            if key not in _config.PROFILE_KEYS and key not in {"client_secret", "allow_insecure"}
        }
        table = _config.toml_fields(checked)
        chose_store = any(key in checked for key in _STORE_KEYS)
        had_marker = isinstance(old, dict) and old.get("secret_store") == "keyring"
        if (secret is not None or (had_marker and not chose_store)) and _config.store_of(
            checked
        ) == "keyring":
            table["secret_store"] = "keyring"  # a secret went to the keyring: see _may_hold
        tables[name] = {**table, **extra}
        if make_default:
            document["default_profile"] = name

    _write(change, undo, name)
    for why in stale:
        note = _drop_stale_secret(name, why)
        if note is not None and notes is not None:
            notes.append(note)
    return _config.get_profile(name)


def _refuse_dropping_a_login(name: str, table: Any, doing: str) -> None:
    """A device login's refresh token is never deleted unrevoked by a change to its
    profile (it would stay valid at the server for up to 30 days, with nothing left to
    revoke it with): ``kaskada logout`` revokes it first, as it does on its own."""
    if not isinstance(table, dict) or table.get("auth") != "device":
        return
    try:
        held = _secret_stores.store_for(name, _config.profile_from_table(
            name, table, where=f"profile {name!r}").fields()).read() is not None
    except (KeyringError, ConfigError):
        return  # nothing readable: nothing this change could delete either
    if held:
        raise ConfigError(
            f"profile {name!r} is signed in (a device login): {doing} would delete its "
            "refresh token without revoking it, and it would stay valid at the server for "
            f"up to 30 days: run `kaskada logout --profile {name}` first (it revokes it; "
            "with --local it only forgets it, when the server is gone), then try again")


def _restore(
    name: str, previous: Entry | None, store: _secret_stores.SecretStore | None = None
) -> None:
    """Undo a store write after the file write failed (best effort, logged)."""
    try:
        if isinstance(store, _secret_stores.FileStore):
            if previous is None:
                store.delete()
            else:
                store.put_back(previous)
        elif previous is None:
            _keyring.delete_secret(name)
        else:
            _keyring.set_entry(name, previous)
    except (KeyringError, ConfigError) as error:
        log.warning("could not undo the secret change for profile %r: %s", name, error)


Undo = list[tuple[str, "Entry | None", "_secret_stores.SecretStore | None"]]
"""Stored entries a change replaced, in order: (profile name, what it held before, store;
None: the keyring)."""


def _write(change: Callable[[dict[str, Any]], Any], undo: Undo, *names: str) -> Any:
    """Write ``change`` to the file, the keyring changed first: when the write fails,
    the entries in ``undo`` are put back (so a failed write changes nothing); the
    cached secrets of ``names`` are dropped either way."""
    try:
        return _config.update(change)
    except BaseException:
        for name, previous, store in undo:
            _restore(name, previous, store)
        raise
    finally:
        for name in names:
            _stored_secrets.forget(name)


def _keyring_blocks(name: str, action: str, error: KeyringError) -> KeyringError:
    """Why a remove or rename changed nothing, and the two ways on."""
    return KeyringError(
        f"profile {name!r} was not {action}: its secret could not be checked or deleted in "
        f"the keyring, so nothing was changed ({error}). Fix the keyring and run it again, "
        "or pass --keep-orphan to change the file anyway and leave any secret behind "
        "(it is then never sent for another account)"
    )


@dataclass(frozen=True)
class Removed:
    """What ``remove_profile`` did, for the CLI to report."""

    name: str
    secret_deleted: bool
    was_default: bool
    keyring_note: str | None = None


def remove_profile(name: str, *, keep_orphan: bool = False) -> Removed:
    """Delete a profile and its secret (keyring first); the default is cleared if it was it.

    When the keyring cannot delete the secret (or cannot be used at all) nothing
    changes and KeyringError says why, unless ``keep_orphan``: then the file entry
    goes and the secret stays behind as an orphan, which its binding and the
    orphan rule of :func:`add_profile` keep from ever being sent again.
    """
    validate_profile_name(name)
    outcome: dict[str, Any] = {}
    undo: Undo = []

    def change(document: dict[str, Any]) -> None:
        tables = profile_tables(document)
        if name not in tables:
            raise _not_found(name, document)
        if not keep_orphan:
            _refuse_dropping_a_login(name, tables[name], "removing it")
        _token_cache.forget_profile(name, tables[name])
        store = _stored_store(name, tables[name])
        try:
            if isinstance(store, _secret_stores.FileStore):
                previous = store.read()
                outcome["deleted"] = store.delete()
                if outcome["deleted"]:
                    undo.append((name, previous, store))
            elif isinstance(store, _secret_stores.KeyringStore):
                previous = _keyring.get_entry(name)
                outcome["deleted"] = previous is not None and _keyring.delete_secret(name)
                if outcome["deleted"]:
                    undo.append((name, previous, None))
        except KeyringError as error:
            if isinstance(error, NoKeyringError) and not _may_hold(tables[name]):
                pass  # no keyring, and kaskada never stored a secret there for it
            elif not keep_orphan:
                raise _keyring_blocks(name, "removed", error) from None
            outcome["note"] = (
                f"any secret of profile {name!r} stays in the keyring as an orphan that "
                f"is never used ({error})"
            )
        del tables[name]
        outcome["was_default"] = document.get("default_profile") == name
        if outcome["was_default"]:
            del document["default_profile"]

    _write(change, undo, name)
    return Removed(
        name=name,
        secret_deleted=bool(outcome.get("deleted")),
        was_default=bool(outcome.get("was_default")),
        keyring_note=outcome.get("note"),
    )


def rename_profile(
    old: str, new: str, *, force: bool = False, keep_orphan: bool = False
) -> Profile:
    """Rename a profile; its secret and the default follow it.

    A secret stored under ``new`` (a profile replaced with ``force``) never
    survives: it belongs to another account. When the secret cannot be moved,
    nothing changes (KeyringError), unless ``keep_orphan`` (then the secret stays
    behind under ``old`` and the renamed profile has none).
    """
    validate_profile_name(old)
    validate_profile_name(new)
    if old == new:
        return _config.get_profile(old)
    undo: Undo = []

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
        store = _stored_store(old, tables[old])
        if isinstance(store, _secret_stores.FileStore):
            _move_file_secret(old, new, undo)
        elif isinstance(store, _secret_stores.KeyringStore):
            _move_keyring_secret(
                old, new, new in tables, undo, keep_orphan, _may_hold(tables[old])
            )
        if new in tables:
            _secret_stores.FileStore(new).delete()  # the replaced profile's plain-text secret
        tables[new] = tables.pop(old)
        if document.get("default_profile") == old:
            document["default_profile"] = new

    _write(change, undo, old, new)
    return _config.get_profile(new)


def _stored_store(name: str, table: Any) -> _secret_stores.SecretStore | None:
    """The store a raw table names (None for env/command: kaskada stores nothing there);
    the keyring for a table that cannot be read."""
    try:
        fields = {key: table.get(key) for key in ("secret_store", "secret_env", "secret_command")}
        store = _secret_stores.store_for(name, {k: v for k, v in fields.items() if v})
    except Exception:
        return _secret_stores.KeyringStore(name)
    return store if store.bound else None


def _move_file_secret(old: str, new: str, undo: Undo) -> None:
    """Rename's plain-text secret follows the profile (undone if the file write fails)."""
    source, target = _secret_stores.FileStore(old), _secret_stores.FileStore(new)
    entry = source.read()
    if entry is None:
        return
    previous = target.read()
    target.put_back(entry)
    undo.append((new, previous, target))
    source.delete()
    undo.append((old, entry, source))


def _unmarked(table: dict[str, Any]) -> dict[str, Any]:
    """A table without the keyring mark: it tells of this machine's keyring, so it is
    neither exported nor taken from an imported file (the default store is the keyring)."""
    if table.get("secret_store") == "keyring":
        del table["secret_store"]
    return table


def _exportable(table: dict[str, Any]) -> dict[str, Any]:
    """A table as exported: no keyring mark, and no ``secret_store = "file"`` either, so
    an exported file never plants plain-text storage in whoever imports it (their
    secret then goes to their keyring unless they opt in with --insecure-storage)."""
    table = _unmarked(table)
    if table.get("secret_store") == "file":
        del table["secret_store"]
    return table


def _may_hold(table: Any) -> bool:
    """Whether the keyring may hold a secret of this profile: kaskada marks a profile
    ``secret_store = "keyring"`` when it stores one there; a profile without the mark
    (added with no secret) has nothing there unless an older kaskada stored it."""
    return isinstance(table, dict) and table.get("secret_store") == "keyring"


def _move_keyring_secret(
    old: str, new: str, replacing: bool, undo: Undo, keep_orphan: bool, may_hold: bool
) -> None:
    """Rename's keyring secret follows the profile. With no usable keyring, a profile
    kaskada never stored a secret for has nothing to move; one it did is refused."""
    try:
        entry = _keyring.get_entry(old)
        if entry is not None:
            previous = _keyring.get_entry(new)
            _keyring.set_entry(new, entry)
            undo.append((new, previous, None))
            if not _keyring.delete_secret(old):
                raise KeyringError(f"the entry of {old!r} could not be deleted")
            undo.append((old, entry, None))
        elif replacing:
            _keyring.delete_secret(new)  # the replaced profile's secret
    except KeyringError as error:
        if isinstance(error, NoKeyringError) and not may_hold:
            return  # no keyring, and nothing of this profile was stored in one
        if undo:  # the copy under the new name is undone at once
            _restore(*undo.pop(0))
        if not keep_orphan:
            raise _keyring_blocks(old, f"renamed to {new!r}", error) from None


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
        data = _config.read_bytes(path)
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}; check the path") from None
    return _config.parse(path, _config.decode(path, data))


def secret_sources(config: _config.ConfigFile) -> list[str]:
    """Every ``secret_env`` / ``secret_command`` / plain-text ``secret_store = "file"`` a
    file's profiles carry, as lines to show (each needs the importer's explicit yes)."""
    shown = []
    for name, profile in config.profiles.items():
        if profile.secret_store == "file":
            shown.append(
                f"profile {name!r} keeps its secret in a plain-text file (secret_store = \"file\")"
            )
        if profile.secret_env:
            shown.append(f"profile {name!r} reads its secret from ${profile.secret_env}")
        if profile.secret_command:
            command = _secret_stores.shown_command(profile.secret_command)
            shown.append(f"profile {name!r} runs `{command}` for its secret")
        shown.extend(subject_token_sources(profile))
    return shown


def subject_token_sources(profile: Profile) -> list[str]:
    """What a federated profile would read and send as its subject token (a file, a
    variable, GitHub Actions' request): shown and accepted like a secret source."""
    if profile.auth != "federated":  # subject_token_* keys belong to federated profiles only
        return []
    if profile.subject_token_file:
        where = f"the file {profile.subject_token_file[:200]}"
    elif profile.subject_token_env:
        where = f"${profile.subject_token_env[:80]}"
    else:
        where = "GitHub Actions' OIDC request"
    return [f"profile {profile.name!r} sends {where} as its subject token"]


def import_profiles(
    path: Path,
    *,
    force: bool = False,
    notes: list[str] | None = None,
    accept_secret_sources: bool = False,
) -> list[str]:
    """Add every profile of ``path``; refuses existing names without ``force``.

    The file's ``default_profile`` is adopted only when the config has no default.
    An imported file holds no secrets, so a stored secret is kept only for a
    profile replaced with no bound field changed (the rule of :func:`add_profile`);
    a deleted secret is reported in ``notes``.
    """
    incoming = read_profiles_file(path)
    sources = secret_sources(incoming)
    if sources and not accept_secret_sources:
        raise ConfigError(
            f"{path} would bring secret sources: {'; '.join(sources)}. Whatever they give is "
            "sent to that profile's token endpoint, so nothing was imported: read them, and "
            "if you trust them run the import again with --accept-secret-sources "
            "(accept_secret_sources=True)"
        )
    if sources and notes is not None:
        notes.extend(f"accepted: {line}" for line in sources)
    stale: dict[str, str] = {}

    def change(document: dict[str, Any]) -> list[str]:
        tables = profile_tables(document)
        clash = sorted(name for name in incoming.profiles if name in tables)
        if clash and not force:
            raise ProfileExistsError(
                f"{path} has profiles that already exist: {', '.join(clash)}; pass --force "
                "to replace them, or rename them in the file"
            )
        stale.clear()
        for name, profile in incoming.profiles.items():
            _token_cache.forget_profile(name, tables.get(name))
            if name not in tables:
                stale[name] = "it was left by a removed profile of that name"
            else:
                changed = _bound_change(tables[name], profile.fields())
                if changed:
                    stale[name] = f"the imported profile changes {', '.join(changed)}"
            kept = name not in stale and _may_hold(tables.get(name))
            tables[name] = _unmarked(_config.profile_table(profile))
            if kept and _config.store_of(tables[name]) == "keyring":
                # the replaced profile's keyring secret stays: so does its mark
                tables[name]["secret_store"] = "keyring"
        if incoming.default_profile in incoming.profiles and not document.get("default_profile"):
            document["default_profile"] = incoming.default_profile
        return list(incoming.profiles)

    try:
        names = _config.update(change)
    finally:
        for name in incoming.profiles:
            _stored_secrets.forget(name)
    for name, why in stale.items():
        note = _drop_stale_secret(name, why)
        if note is not None and notes is not None:
            notes.append(note)
    return names


def export_profiles(names: Iterable[str] = ()) -> str:
    """The named profiles (all when none are named) as TOML text; never a secret."""
    config = _config.load()
    chosen = list(names) or sorted(config.profiles)
    document: dict[str, Any] = {}
    if config.default_profile in chosen:
        document["default_profile"] = config.default_profile
    document["profiles"] = {
        name: _exportable(_config.profile_table(_config.get_profile(name))) for name in chosen
    }
    return tomli_w.dumps(document)


# Fields a stored secret is bound to: changing one of them drops the secret, so it
# never goes to a place (or with an id) it was not stored for.
BOUND_FIELDS = frozenset(_schema.BOUND_FIELDS)


_STORE_KEYS = ("secret_store", "secret_env", "secret_command")


@dataclass(frozen=True)
class FieldChange:
    """What ``set_field`` did, for the CLI to report."""

    name: str
    key: str
    old: Any
    new: Any
    secret_removed: bool


def set_field(name: str, key: str, value: Any) -> FieldChange:
    """Change (``value`` None: unset) one field of an existing profile; the rest stays.

    When ``key`` is a field the secret is bound to and the value really changes,
    the stored secret is deleted (keyring first, file last, undone if the file
    write fails) and ``secret_removed`` says so.
    """
    validate_profile_name(name)
    where = f"profile {name!r}"
    checked = _config.validate_fields({key: value}, where=where, profile=name, partial=True)
    outcome: dict[str, Any] = {}
    undo: Undo = []

    def change(document: dict[str, Any]) -> None:
        tables = profile_tables(document)
        table = tables.get(name)
        if not isinstance(table, dict):
            raise _not_found(name, document)
        outcome["old"], outcome["new"] = table.get(key), checked.get(key)
        if (key in BOUND_FIELDS or key in _STORE_KEYS) and outcome["old"] != outcome["new"]:
            _refuse_dropping_a_login(name, table, f"changing {key}")
        _token_cache.forget_profile(name, table)  # changed settings: sign in again
        if key in _STORE_KEYS and key in checked:
            # A profile's secret has one store: choosing one drops the others' settings.
            for other in _STORE_KEYS:
                table.pop(other, None)
            if key != "secret_store":
                table["secret_store"] = "env" if key == "secret_env" else "command"
        if key in checked:
            table[key] = _config.toml_fields(checked)[key]
        else:
            table.pop(key, None)
        # The profile as it would be written obeys the rules between keys, or nothing is.
        _config.profile_from_table(name, table, where=where)
        if key in BOUND_FIELDS and outcome["old"] != outcome["new"]:
            plain = _secret_stores.FileStore(name)
            previous = plain.read()
            if previous is not None and plain.delete():
                outcome["removed"] = True
                undo.append((name, previous, plain))
            try:
                previous = _keyring.get_entry(name)
                if previous is not None and _keyring.delete_secret(name):
                    outcome["removed"] = True
                    undo.append((name, previous, None))
            except NoKeyringError:
                pass  # no keyring: no secret can be stored under that name

    _write(change, undo, name)
    return FieldChange(name, key, outcome["old"], outcome["new"], bool(outcome.get("removed")))
