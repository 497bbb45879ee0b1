"""``kaskada configure`` and ``kaskada profile …``: named accounts and their secrets.

The verbs that change or show profiles; ``kaskada.cli.parsers.profile`` holds the
grammar. ``profile list`` (completion's hot path) and ``profile check`` (grpc)
live in their own modules so that each loads only what it needs.
"""

from __future__ import annotations

import argparse
import difflib
import getpass
import shlex
import sys
from pathlib import Path
from typing import Any

from kaskada import profiles
from kaskada._errors import ConfigError, KaskadaError, KeyringError
from kaskada._secret import Secret
from kaskada._session import resolve_default
from kaskada.cli import for_the_shell
from kaskada.cli._output import emit_json, note, printable, typed_json
from kaskada.cli.parsers import UsageError
from kaskada.cli.profile_list import _list, _profile_row
from kaskada.settings.explain import Explanation
from kaskada.settings.hostport import endpoint_message
from kaskada.settings.parse import parse_bool, parse_timeout
from kaskada.settings.schema import BY_NAME, DEFAULT_ENDPOINT, DEFAULT_EXCHANGE_ENDPOINT


def _read_secret_stdin(name: str) -> Secret:
    """``--secret-stdin``: one line from a pipe; typed on a terminal, it is not echoed."""
    if sys.stdin.isatty():
        value = _read_secret_line(f"Client secret for {name} (hidden): ")
    else:
        value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        raise ConfigError(
            "--secret-stdin read an empty secret; pipe it in, e.g. "
            '`printf %s "$SECRET" | kaskada profile add NAME --client-id ID --secret-stdin`'
        )
    return Secret(value)


def _read_secret_line(prompt: str) -> str:
    """One secret line: without echo on a terminal; from a pipe as is; EOF is empty.

    ``getpass`` on a pipe would warn that the input "may be echoed" and raise
    EOFError at the end of input; neither is true or useful for a pipe.
    """
    if sys.stdin.isatty():
        try:
            return getpass.getpass(prompt)
        except EOFError:
            print(file=sys.stderr)
            return ""
    return _answer(prompt).rstrip("\r\n")


def _prompt_secret(prompt: str) -> Secret | None:
    value = _read_secret_line(prompt)
    return Secret(value) if value else None


def _add(args: argparse.Namespace) -> int:
    fields: dict[str, Any] = {
        "client_id": args.client_id,
        "endpoint": args.endpoint,
        "exchange_endpoint": args.exchange_endpoint,
        "audience": args.audience,
        "is_secure": _is_secure(args),
        "ca_bundle": _ca_bundle(args.ca_bundle),
        "timeout": args.saved_timeout,
        **_store_flags(args),
        **{key: _checked(key, getattr(args, key), "--" + key.replace("_", "-"))
           for key in _SIGN_IN_KEYS if getattr(args, key) is not None},
    }
    kind = fields.get("auth") or "client_secret"
    unstored = profiles.store_kind(fields) in ("env", "command") or kind != "client_secret"
    secret: Secret | None
    if args.secret_stdin:
        secret = _read_secret_stdin(args.name)
    elif unstored:
        secret = None  # the secret lives at its source: nothing to ask
    elif sys.stdin.isatty():
        secret = _prompt_secret(f"Client secret for {args.name} (hidden; Enter for none): ")
    else:
        secret = None
    notes: list[str] = []
    profile = profiles.add(
        args.name, fields, secret=secret, default=args.default, force=args.force, notes=notes
    )
    store = profiles.secret_store(profile.name, profile.fields())
    kept = secret is None and store.bound and _has_secret(profile.name)
    if args.json:
        emit_json({"saved": profile.name, "secret_stored": secret is not None or kept,
                   "secret_store": store.kind, "default": bool(args.default),
                   **profiles.toml_fields(profile.fields())})
        return 0
    if kind == "device":
        stored = f"; sign in with `kaskada login --profile {profile.name}`"
    elif kind == "federated":
        stored = " (no secret: it exchanges its subject token when needed)"
    elif secret is not None:
        stored = f" with its secret in {store.where}"
    elif not store.bound:
        stored = f"; its secret is read from {store.where} when needed"
    else:
        stored = " (its stored secret is kept)" if kept else " (no secret stored)"
    default = " as the default" if args.default else ""
    note(f"saved profile {profile.name!r}{stored}{default}")
    for line in notes:
        note(line)
    return 0


def _is_secure(args: argparse.Namespace) -> bool | None:
    if args.plaintext:
        return False
    return True if args.tls else None


def _has_secret(name: str) -> bool:
    """Whether the profile's store holds a secret for ``name`` (False when it cannot say)."""
    try:
        return profiles.has_secret(name)
    except KaskadaError:
        return False


def _ca_bundle(value: str | None) -> str | None:
    """The absolute path of a PEM file holding at least one certificate, checked now:
    a wrong file saved in a profile would fail only at the first call."""
    if value is None:
        return None
    path = Path(value).expanduser().absolute()
    if not path.is_file():
        raise ConfigError(f"--ca-bundle {value}: no such file; give the path of a PEM file")
    # Lazy: ssl only for the verbs that save a ca_bundle.
    import ssl

    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=str(path))
    except (ssl.SSLError, OSError, ValueError):
        raise ConfigError(
            f"--ca-bundle {value}: {path} holds no PEM certificate (no readable "
            "-----BEGIN CERTIFICATE----- block); give the certificate the server presents "
            "or the CA that signed it, e.g. the --tls-cert file of `kaskada serve`"
        ) from None
    return str(path)


def _profile_name(args: argparse.Namespace) -> str:
    """NAME, or ``--profile NAME`` (the aws habit); both must agree when both are given."""
    name, flag = args.name, getattr(args, "profile", None)
    if name and flag and name != flag:
        raise UsageError(
            f"two profiles named: {name!r} and --profile {flag!r}; give one of them"
        )
    chosen: str | None = name or flag
    if not chosen:
        raise UsageError("name the profile: give NAME, or --profile NAME")
    return chosen


def _show(args: argparse.Namespace) -> int:
    config = profiles.load()
    profile = profiles.get(_profile_name(args))
    state = profiles.secret_state(profile.name, profile.fields())
    row = _profile_row(profile, config.default_profile)
    row["secret_store"] = state.store.kind
    row["secret_stored"] = state.stored
    row["secret_usable"] = state.usable
    row["store_holds"] = state.holds
    if state.source is not None:
        row["read_from"], row["present_now"] = state.source, state.present
    if profile.extra:
        row["extra"] = dict(profile.extra)
    if args.json:
        emit_json(row)
        return 0
    print(printable(f"profile {profile.name}{' (default)' if row['default'] else ''}  "
                    f"[{config.path}]"))
    for key, value in profile.fields().items():
        print(f"  {key} = {printable(_shown(value))}")
    for key, value in profile.extra.items():
        print(f"  {printable(key)} = {printable(_shown(value))}  "
              "(not a kaskada setting; kept as is)")
    print("  " + printable(_secret_line(profile.name, state)))
    return 0


def _secret_line(name: str, state: profiles.SecretState) -> str:
    """What ``profile show`` says of the secret, refresh token or subject token."""
    where, holds = state.store.where, state.holds
    if state.source is not None:  # read when needed: only whether it is there now
        what = "subject token" if holds == "nothing" else holds
        kind = {"the environment variable": "variable", "the file": "file"}
        noun = next((short for prefix, short in kind.items()
                     if state.source.startswith(prefix)), "program")
        if state.present:
            now = {"variable": "set now", "file": "the file is there now",
                   "program": "found now"}[noun]
        elif state.source.startswith("GitHub"):
            now = "its variables are not set here: it works inside a GitHub Actions job"
        else:
            now = {"variable": "NOT set in this environment", "file": "NO such file now",
                   "program": "NOT found on the PATH"}[noun]
        return f"{what}: read from {state.source} when needed ({now})"
    login = f"`kaskada login --profile {name}`"
    if state.stored is None:
        return f"{holds}: unknown ({state.problem})"
    if not state.stored:
        if holds == "refresh token":
            return f"refresh token: none in {where}: not signed in; sign in with {login}"
        return f"secret: none stored in {where}"
    if state.usable:
        signed_in = " (signed in)" if holds == "refresh token" else ""
        return f"{holds}: stored in {where}{signed_in}, bound to these settings"
    fix = f"; sign in again with {login}" if holds == "refresh token" else ""
    return f"{holds}: stored in {where} but NOT usable: {state.problem}{fix}"


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return shlex.join(str(part) for part in value)
    return str(value)


def _remove(args: argparse.Namespace) -> int:
    removed = profiles.remove(args.name, keep_orphan=args.keep_orphan)
    if args.json:
        emit_json({"removed": removed.name, "secret_deleted": removed.secret_deleted,
                   "was_default": removed.was_default})
        return 0
    secret = " and its secret" if removed.secret_deleted else ""
    note(f"removed profile {removed.name!r}{secret}")
    if removed.keyring_note:
        note(removed.keyring_note)
    if removed.was_default:
        note(
            "it was the default profile; there is no default now: "
            "choose one with `kaskada profile use NAME`"
        )
    return 0


def _rename(args: argparse.Namespace) -> int:
    profiles.rename(args.old, args.new, force=args.force, keep_orphan=args.keep_orphan)
    if args.json:
        emit_json({"renamed": args.old, "to": args.new})
        return 0
    note(f"renamed profile {args.old!r} to {args.new!r}")
    return 0


def _use(args: argparse.Namespace) -> int:
    profiles.use(args.name)
    if args.json:
        emit_json({"default_profile": args.name})
        return 0
    note(f"default profile is now {args.name!r}")
    return 0


def _current(args: argparse.Namespace) -> int:
    settings = resolve_default()
    description = Explanation.from_settings(settings, title="kda.init() would use")
    if args.json:
        emit_json(typed_json(description, settings))
    else:
        print(for_the_shell(str(description)))
    return 0


def _import(args: argparse.Namespace) -> int:
    notes: list[str] = []
    names = profiles.import_file(
        Path(args.file), force=args.force, notes=notes,
        accept_secret_sources=args.accept_secret_sources,
    )
    if args.json:
        emit_json({"imported": names, "notes": notes})
        return 0
    note(
        f"imported {len(names)} profile(s): {', '.join(names) or 'none'}; "
        "store their secrets with `kaskada configure --profile NAME`"
    )
    for line in notes:
        note(line)
    return 0


def _export(args: argparse.Namespace) -> int:
    sys.stdout.write(profiles.export(args.names))
    return 0


def _store_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The store chosen by --secret-env / --secret-command / --insecure-storage; an empty
    or malformed value is a usage error (exit 2), never silently a keyring profile."""
    if args.secret_env is not None:
        _store_value("secret_env", args.secret_env, "--secret-env")
    if args.secret_command is not None:
        _store_value("secret_command", args.secret_command, "--secret-command")
    return profiles.store_fields(
        args.secret_env, args.secret_command, args.insecure_storage
    )


_SIGN_IN_KEYS = ("auth", "issuer", "subject_token_file", "subject_token_env",
                 "subject_token_source")


def _checked(key: str, value: Any, typed: str) -> Any:
    """A sign-in setting as typed: checked as the profile file checks it (exit 2)."""
    return _store_value(key, value.strip() if isinstance(value, str) else value, typed)


def _store_value(key: str, value: Any, typed: str) -> Any:
    """A store setting as typed (a flag, or ``profile set KEY``): usage errors (exit 2)
    for an empty value or one of the wrong form, naming what to type instead."""
    example = {"secret_env": "PROD_KASKADA_SECRET", "secret_command": "'pass show kaskada/prod'",
               "secret_store": "keyring", "auth": "device", "issuer": "https://auth.example.com",
               "subject_token_file": "/var/run/secrets/tokens/kaskada",
               "subject_token_env": "CI_JOB_JWT", "subject_token_source": "github_actions"}[key]
    if not value or (isinstance(value, str) and not value.strip()):
        raise UsageError(f"{typed} needs a value, e.g. {typed} {example}")
    try:
        return profiles.check_fields({key: value}, where=typed, partial=True)[key]
    except ConfigError as error:
        raise UsageError(str(error)) from None


def _key(raw: str) -> str:
    """A setting name as typed (``exchange-endpoint`` too); a usage error otherwise."""
    key = raw.strip().replace("-", "_")
    if key not in profiles.KEYS:
        close = difflib.get_close_matches(key, profiles.KEYS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UsageError(
            f"{raw!r} is not a profile setting; the settings are {', '.join(profiles.KEYS)}{hint}"
        )
    return key


def _value(key: str, raw: str) -> Any:
    """The typed value of ``profile set KEY VALUE``, checked as its flag would be: a
    value of the wrong form is a usage error (exit 2) here as with the flag; a file
    that is not a certificate is an error (exit 1) with --ca-bundle too. The kind of
    each key comes from the one table of settings."""
    if key == "ca_bundle":
        return _ca_bundle(raw)
    kind = BY_NAME[key].kind
    try:
        if kind == "bool":
            return parse_bool(raw, f"{key} {raw!r}")
        if kind == "seconds":
            return parse_timeout(raw, f"{key} {raw!r}")
    except ConfigError as error:
        raise UsageError(str(error)) from None
    if key == "secret_command":
        return _store_value(key, _command_words(raw), f"profile set NAME {key}")
    if key in ("secret_env", "secret_store", *_SIGN_IN_KEYS):
        return _store_value(key, raw.strip(), f"profile set NAME {key}")
    if key == "endpoint":
        message = endpoint_message(raw.strip(), None)
        if message is not None:
            raise UsageError(message)
        return raw.strip()
    return raw


def _set(args: argparse.Namespace) -> int:
    key = _key(args.key)
    value = _value(key, args.value)
    if key == "secret_store" and value == "file" and not args.insecure_storage:
        # The plain-text store is opt-in only (issue 20, finding F13), here as on add.
        raise UsageError(
            "secret_store file keeps the secret in a plain-text file readable by anyone who "
            "can read your files; to choose it, add --insecure-storage: `kaskada profile set "
            f"{_profile_name(args)} secret_store file --insecure-storage`"
        )
    return _change(args, key, value)


def _command_words(raw: str) -> list[str]:
    """A command line split as a shell would (no shell runs it); a usage error naming an
    unbalanced quote instead of shlex's "No closing quotation"."""
    try:
        return shlex.split(raw)
    except ValueError:
        raise UsageError(
            f"the command {raw!r} has an unbalanced quote; quote the whole command for the "
            "shell, e.g. --secret-command 'op read \"op://Private/kaskada prod/secret\"'"
        ) from None


def _unset(args: argparse.Namespace) -> int:
    return _change(args, _key(args.key), None)


def _change(args: argparse.Namespace, key: str, value: Any) -> int:
    changed = profiles.set_value(_profile_name(args), key, value)
    if args.json:
        emit_json({"profile": changed.name, "key": key, "value": changed.new,
                   "previous": changed.old, "secret_removed": changed.secret_removed})
        return 0
    shown = "unset" if changed.new is None else f"= {_shown(changed.new)}"
    was = "unset" if changed.old is None else _shown(changed.old)
    note(f"profile {changed.name!r}: {key} {shown} (was {was})")
    if key == "secret_store" and changed.new == "file":
        where = profiles.plain_text_path(changed.name)
        if profiles.get(changed.name).auth == "device":
            note(f"its refresh token will be kept in the plain-text file {where} (insecure "
                 f"storage); sign in with `kaskada login --profile {changed.name}`")
        else:
            note(f"its secret will be kept in the plain-text file {where} (insecure storage); "
                 f"store it with `kaskada configure --profile {changed.name} "
                 "--insecure-storage`")
    if changed.secret_removed:
        again = (f"kaskada login --profile {changed.name}"
                 if profiles.get(changed.name).auth == "device"
                 else f"kaskada configure --profile {changed.name}")
        note(f"the stored secret was removed because {key} changed; store it again with: "
             f"{again}")
    return 0


def _get(args: argparse.Namespace) -> int:
    key = _key(args.key)
    name = _profile_name(args)
    value = getattr(profiles.get(name), key)
    if args.json:
        emit_json({"profile": name, "key": key, "value": value})
        return 0
    if value is None:
        raise ConfigError(
            f"profile {name!r} has no {key} set (it takes the default); set it with "
            f"`kaskada profile set {name} {key} VALUE`"
        )
    print(_shown(value))
    return 0


def _configure(args: argparse.Namespace) -> int:
    if args.listing is not None:
        return _configure_list(args)
    if args.json:
        raise UsageError("--json goes with `kaskada configure list`; configure itself asks")
    name = profiles.check_name(args.profile or "default")
    chosen = _store_flags(args)
    # The raw document, not load(): a client_secret left in the file must be readable
    # here so that it can be moved into the keyring.
    document = profiles.unchecked()
    old = document.tables.get(name)
    old = old if isinstance(old, dict) else {}
    auth = old.get("auth")
    if auth in ("device", "federated"):
        # configure asks for a client secret and would rewrite the profile without its
        # auth, issuer and subject token (a device login lost, the kind switched).
        raise ConfigError(
            f"profile {name!r} signs in with auth = {auth!r}, without a client secret, so "
            "configure (which asks for one) changes nothing; nothing was asked or saved: "
            f"change a setting with `kaskada profile set {name} KEY VALUE`"
            + (f", sign in with `kaskada login --profile {name}`" if auth == "device" else ""))
    kept_store = {key: old[key] for key in ("secret_store", "secret_env", "secret_command")
                  if key in old}
    store_fields = chosen or kept_store
    kind = profiles.store_kind(store_fields)
    if kind == "file" and not chosen and not profiles.plain_text_path(name).exists():
        # The opt-in is this run's --insecure-storage or a plain-text secret stored after
        # an earlier one: a `secret_store = "file"` that came from an edited or imported
        # file is neither (finding F4), so nothing is typed into plain text unasked.
        raise ConfigError(
            f"profile {name!r} says secret_store = \"file\" (a plain-text file), which was "
            "not opted into on this machine; nothing was asked or saved. To keep the secret "
            f"in plain text run `kaskada configure --profile {name} --insecure-storage`; for "
            f"the keyring: `kaskada profile unset {name} secret_store`, then configure again"
        )
    if kind == "keyring":
        _check_keyring_first(name)
    print(f"Configuring profile {name!r} (Enter takes the value in brackets).", file=sys.stderr)
    fields: dict[str, Any] = {}
    for key, label in (
        ("client_id", "Client ID"),
        ("endpoint", "API endpoint (host:port)"),
        ("exchange_endpoint", "Token endpoint (URL)"),
        ("audience", "Audience"),
    ):
        current = old.get(key)
        shown = _prompt_default(key, current, fields)
        answer = _ask(f"{label}{f' [{shown}]' if shown else ''}: ")
        fields[key] = answer or current
        if key == "endpoint" and answer:
            problem = endpoint_message(answer, "your answer")
            if problem is not None:
                raise ConfigError(f"{problem}; nothing was saved")
    for key in ("is_secure", "ca_bundle", "timeout"):
        fields[key] = old.get(key)
    fields.update(store_fields)
    if args.plaintext or args.tls:
        fields["is_secure"] = _is_secure(args)
    if args.ca_bundle:
        fields["ca_bundle"] = _ca_bundle(args.ca_bundle)
    if not fields["client_id"]:
        raise ConfigError(
            f"profile {name!r} needs a client id and none was entered; run "
            f"`kaskada configure --profile {name}` again and type it at the first question"
        )
    plain = old.get("client_secret")
    if kind in ("env", "command"):
        first = not document.default_profile
        profiles.add(name, fields, default=first, force=True)
        where = profiles.secret_store(name, fields).where
        note(f"saved profile {name!r}; its secret is read from {where} when needed"
             + (" (the default)" if first else ""))
        return 0
    legacy = profiles.legacy_secret(name) if old and not plain and kind == "keyring" else None
    hint = (
        "found in the file; Enter moves it to the keyring"
        if plain
        else "stored by kaskada 0.1; Enter binds it to the settings above"
        if legacy is not None
        else ("Enter keeps it" if old else "Enter for none")
    )
    if kind == "file":
        hint = f"goes to the plain-text file {profiles.plain_text_path(name)}; {hint}"
    secret = _prompt_secret(f"Client secret (hidden; {hint}): ")
    if secret is None and isinstance(plain, str) and plain:
        secret = Secret(plain)
    if secret is None and legacy is not None:
        secret = legacy  # the person at the terminal has just confirmed where it goes
    first = not document.default_profile
    notes: list[str] = []
    profiles.add(name, fields, secret=secret, default=first, force=True, notes=notes)
    where = profiles.secret_store(name, fields).where
    stored = f" with its secret in {where}" if secret is not None else ""
    note(f"saved profile {name!r}{stored}" + (" as the default" if first else ""))
    for line in notes:
        note(line)
    return 0


def _prompt_default(key: str, current: Any, answers: dict[str, Any]) -> str:
    """What Enter gives at ``configure``'s question for ``key``: the value kept, else
    the default a profile without it takes (never a bare ``[]``)."""
    if current is not None:
        return str(current)
    if key == "endpoint":
        return f"{DEFAULT_ENDPOINT}, the local server"
    if key == "exchange_endpoint":
        if answers.get("endpoint") in (None, DEFAULT_ENDPOINT):
            return f"{DEFAULT_EXCHANGE_ENDPOINT}, the local server's"
        return "none: needed with that API endpoint"
    if key == "audience":
        return "none"
    return ""


def _configure_list(args: argparse.Namespace) -> int:
    """``configure list`` (aws): the settings in force and their sources, or with
    --profile that profile's; ``configure list-profiles``: the names."""
    if args.plaintext or args.tls or args.ca_bundle:
        raise UsageError(f"`configure {args.listing}` changes nothing: leave out "
                         "--plaintext, --tls and --ca-bundle")
    if args.listing == "list-profiles":
        args.names = True
        return _list(args)
    if args.profile:
        args.name = None
        return _show(args)
    return _current(args)


def _check_keyring_first(name: str) -> None:
    """Fail before the first question when no secret could be stored at the end."""
    try:
        profiles.check_keyring(name)
    except KeyringError as error:
        raise type(error)(
            f"no secret can be stored in the keyring, so nothing was asked: {error}"
        ) from None


def _ask(prompt: str) -> str:
    return _answer(prompt).strip()


def _answer(prompt: str) -> str:
    """One line of stdin after a prompt on stderr (EOF reads as an empty answer).

    A terminal echoes the user's Enter; for a pipe or an EOF the line is ended
    here, so each prompt and any error after it stay on their own line.
    """
    print(prompt, end="", file=sys.stderr, flush=True)
    line = sys.stdin.readline()
    if not (line.endswith("\n") and sys.stdin.isatty()):
        print(file=sys.stderr)
    return line
