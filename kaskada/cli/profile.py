"""``kaskada configure`` and ``kaskada profile …``: named accounts and their secrets.

``register`` only builds parsers; each handler imports what it needs, so
``profile list`` reads one TOML file and never loads keyring.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from kaskada.cli._output import example

if TYPE_CHECKING:
    from kaskada._config import Profile
    from kaskada._secret import Secret


_example = example


def host_port(value: str) -> str:
    """An argparse type for ``--endpoint``: a gRPC endpoint needs its port."""
    from kaskada._hostport import example_for, host_port_problem

    problem = host_port_problem(value.strip())
    if problem is not None and value.strip():  # empty: the profile check says "is empty"
        raise argparse.ArgumentTypeError(
            f"{value!r} {problem}: give host:port, e.g. {example_for(value)}"
        )
    return value.strip()


def _connection_flags(parser: argparse.ArgumentParser) -> None:
    tls = parser.add_mutually_exclusive_group()
    tls.add_argument("--plaintext", action="store_true",
                     help="no TLS for the API (loopback hosts only)")
    tls.add_argument("--tls", action="store_true",
                     help="TLS for the API, also on a loopback host (the default elsewhere)")
    parser.add_argument("--ca-bundle", metavar="FILE",
                        help="PEM file of roots to trust (e.g. the certificate of "
                        "`kaskada serve --tls-cert`); implies --tls")


def register(subparsers: Any) -> None:
    configure = subparsers.add_parser(
        "configure",
        help="create or update a profile interactively (the secret is read without echo)",
        description="Create or update a profile interactively (--profile NAME, default "
        "'default'); the secret goes to the keyring, which is checked before any question.",
    )
    _connection_flags(configure)
    _example(configure, "kaskada configure --profile dev",
             "kaskada configure --profile local --tls --ca-bundle cert.pem")
    configure.set_defaults(handler=_configure)

    profile = subparsers.add_parser(
        "profile", help="manage named profiles", description="Manage named profiles."
    )
    _example(profile, "kaskada profile list", "kaskada profile set dev timeout 60")
    commands = profile.add_subparsers(dest="profile_command", metavar="ACTION")
    commands.required = True

    add = commands.add_parser("add", help="add a profile", description="Add a profile; the "
                              "secret is read from stdin with --secret-stdin, else prompted "
                              "for on a terminal.")
    add.add_argument("name", metavar="NAME", help="the profile's name")
    add.add_argument("--client-id", required=True, metavar="ID", help="the OAuth2 client id")
    add.add_argument("--endpoint", type=host_port, metavar="HOST:PORT",
                     help="gRPC API endpoint (default localhost:50051)")
    add.add_argument("--exchange-endpoint", metavar="URL",
                     help="OAuth2 token endpoint (needed with --endpoint)")
    add.add_argument("--audience", metavar="A", help="audience sent in the token exchange")
    _connection_flags(add)
    add.add_argument("--timeout", type=float, metavar="SECONDS", dest="saved_timeout",
                     help="seconds per call, saved in the profile")
    add.add_argument("--secret-stdin", action="store_true", help="read the secret from stdin")
    add.add_argument("--default", action="store_true", help="make it the default profile")
    add.add_argument("--force", action="store_true", help="replace an existing profile")
    _example(add, 'printf %s "$SECRET" | kaskada profile add prod --client-id ID '
             "--endpoint api.example.com:443 --exchange-endpoint "
             "https://auth.example.com/oauth/token --secret-stdin")
    add.set_defaults(handler=_add)

    setting = commands.add_parser(
        "set", help="change one setting of a profile; the others stay",
        description="Change one setting of a profile (as `aws configure set`). KEY is one of "
        "client_id, endpoint, is_secure, exchange_endpoint, audience, ca_bundle, timeout. "
        "Changing a setting the stored secret is bound to removes the secret and says so.",
    )
    setting.add_argument("name", metavar="NAME", help="the profile's name")
    setting.add_argument("key", metavar="KEY", help="the setting, e.g. timeout")
    setting.add_argument("value", metavar="VALUE", help="its new value")
    _example(setting, "kaskada profile set dev timeout 60",
             "kaskada profile set dev exchange_endpoint http://localhost:50052/oauth/token")
    setting.set_defaults(handler=_set)

    getting = commands.add_parser("get", help="print one setting of a profile",
                                  description="Print one setting of a profile (exit 1 if unset).")
    getting.add_argument("name", metavar="NAME", help="the profile's name")
    getting.add_argument("key", metavar="KEY", help="the setting, e.g. endpoint")
    _example(getting, "kaskada profile get dev endpoint")
    getting.set_defaults(handler=_get)

    unsetting = commands.add_parser("unset", help="remove one setting of a profile",
                                    description="Remove one setting: it takes the default.")
    unsetting.add_argument("name", metavar="NAME", help="the profile's name")
    unsetting.add_argument("key", metavar="KEY", help="the setting, e.g. audience")
    _example(unsetting, "kaskada profile unset dev audience")
    unsetting.set_defaults(handler=_unset)

    check = commands.add_parser(
        "check", help="sign in with profiles in parallel, one row each",
        description="Sign in and make one call with each profile, in parallel, each within "
        "--timeout (default 10 s); one row per profile (as `gh auth status`). Exit 0 when "
        "all succeed, 4 when a failure is credentials missing or refused, else 1.",
    )
    check.add_argument("names", nargs="*", metavar="NAME",
                       help="profiles to check (default: --profile, else the default profile)")
    check.add_argument("--all", action="store_true", help="check every profile")
    _example(check, "kaskada profile check --all", "kaskada profile check dev prod --json")
    check.set_defaults(handler=_check)

    listing = commands.add_parser("list", help="list profiles (never touches the keyring)",
                                  description="List profiles; * marks the default.")
    listing.add_argument("--names", action="store_true",
                         help="print only the names, one a line (for shell completion)")
    _example(listing, "kaskada profile list --json")
    listing.set_defaults(handler=_list)

    show = commands.add_parser("show", help="show a profile and whether a secret is stored",
                               description="Show a profile; says whether a secret is stored, "
                               "never its value.")
    show.add_argument("name", metavar="NAME", help="the profile's name")
    _example(show, "kaskada profile show dev")
    show.set_defaults(handler=_show)

    keep_orphan = (
        "when the keyring cannot delete the secret, change the file anyway and leave the "
        "secret behind (it is never used again)"
    )
    remove = commands.add_parser("remove", help="remove a profile and its secret",
                                 description="Remove a profile and its secret.")
    remove.add_argument("name", metavar="NAME", help="the profile's name")
    _example(remove, "kaskada profile remove old")
    remove.add_argument("--keep-orphan", action="store_true", help=keep_orphan)
    remove.set_defaults(handler=_remove)

    rename = commands.add_parser("rename", help="rename a profile; its secret follows",
                                 description="Rename a profile; its secret and the default "
                                 "follow.")
    rename.add_argument("old", metavar="OLD", help="the current name")
    rename.add_argument("new", metavar="NEW", help="the new name")
    rename.add_argument("--force", action="store_true", help="replace an existing NEW")
    rename.add_argument("--keep-orphan", action="store_true", help=keep_orphan)
    _example(rename, "kaskada profile rename dev staging")
    rename.set_defaults(handler=_rename)

    use = commands.add_parser("use", help="make a profile the default",
                              description="Make a profile the default.")
    use.add_argument("name", metavar="NAME", help="the profile's name")
    _example(use, "kaskada profile use prod")
    use.set_defaults(handler=_use)

    current = commands.add_parser("current", help="what kaskada would use now, and why",
                                  description="What a command without --profile (and "
                                  "kda.init()) would use, and where each setting came from.")
    _example(current, "kaskada profile current --json")
    current.set_defaults(handler=_current)

    importing = commands.add_parser("import", help="add the profiles of a TOML file",
                                    description="Add the profiles of a TOML file (no secrets).")
    importing.add_argument("file", metavar="FILE", help="a TOML file of [profiles.NAME] tables")
    importing.add_argument("--force", action="store_true", help="replace existing profiles")
    _example(importing, "kaskada profile import profiles/local.toml")
    importing.set_defaults(handler=_import)

    export = commands.add_parser("export", help="print profiles as TOML (never secrets)",
                                 description="Print profiles as TOML; never a secret.")
    export.add_argument("names", nargs="*", metavar="NAME", help="profiles (default: all)")
    _example(export, "kaskada profile export dev > dev.toml")
    export.set_defaults(handler=_export)


# --- handlers ----------------------------------------------------------------


def _read_secret_stdin(name: str) -> Secret:
    """``--secret-stdin``: one line from a pipe; typed on a terminal, it is not echoed."""
    from kaskada._errors import ConfigError
    from kaskada._secret import Secret

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
        import getpass

        try:
            return getpass.getpass(prompt)
        except EOFError:
            print(file=sys.stderr)
            return ""
    return _answer(prompt).rstrip("\r\n")


def _prompt_secret(prompt: str) -> Secret | None:
    from kaskada._secret import Secret

    value = _read_secret_line(prompt)
    return Secret(value) if value else None


def _add(args: argparse.Namespace) -> int:
    from kaskada import _profiles
    from kaskada.cli._output import emit_json, note

    fields: dict[str, Any] = {
        "client_id": args.client_id,
        "endpoint": args.endpoint,
        "exchange_endpoint": args.exchange_endpoint,
        "audience": args.audience,
        "is_secure": _is_secure(args),
        "ca_bundle": _ca_bundle(args.ca_bundle),
        "timeout": args.saved_timeout,
    }
    secret: Secret | None
    if args.secret_stdin:
        secret = _read_secret_stdin(args.name)
    elif sys.stdin.isatty():
        secret = _prompt_secret(f"Client secret for {args.name} (hidden; Enter for none): ")
    else:
        secret = None
    notes: list[str] = []
    profile = _profiles.add_profile(
        args.name, fields, secret, make_default=args.default, force=args.force, notes=notes
    )
    kept = secret is None and _has_secret(profile.name)
    if args.json:
        emit_json({"saved": profile.name, "secret_stored": secret is not None or kept,
                   "default": bool(args.default), **profile.fields()})
        return 0
    if secret is not None:
        stored = " with its secret in the keyring"
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
    """Whether the keyring holds a secret for ``name`` (False when it cannot say)."""
    from kaskada import _keyring
    from kaskada._errors import KeyringError

    try:
        return _keyring.get_secret(name) is not None
    except KeyringError:
        return False


def _ca_bundle(value: str | None) -> str | None:
    if value is None:
        return None
    from pathlib import Path

    from kaskada._errors import ConfigError

    path = Path(value).expanduser().absolute()
    if not path.is_file():
        raise ConfigError(f"--ca-bundle {value}: no such file; give the path of a PEM file")
    return str(path)


def _profile_row(profile: Profile, default: str | None) -> dict[str, Any]:
    return {"name": profile.name, "default": profile.name == default, **profile.fields()}


def _list(args: argparse.Namespace) -> int:
    from kaskada import _config
    from kaskada.cli._output import emit_json, note, printable

    config = _config.load()
    if args.names:
        sys.stdout.write("".join(f"{name}\n" for name in sorted(config.profiles)))
        return 0
    rows = [
        _profile_row(config.profiles[name], config.default_profile)
        for name in sorted(config.profiles)
    ]
    if args.json:
        emit_json(rows)
        return 0
    if not rows:
        note(
            f"no profiles in {config.path}; add one with `kaskada profile add NAME --client-id ID`"
        )
        return 0
    table = [("", "NAME", "CLIENT ID", "ENDPOINT")] + [
        (
            "*" if row["default"] else "",
            row["name"],
            row.get("client_id", "-"),
            row.get("endpoint", "(default)"),
        )
        for row in rows
    ]
    widths = [max(len(str(line[column])) for line in table) for column in range(3)]
    lines = []
    for line in table:
        cells = [str(cell).ljust(width) for cell, width in zip(line, widths, strict=False)]
        lines.append(printable(" ".join([*cells, str(line[3])]).rstrip()))
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def _show(args: argparse.Namespace) -> int:
    from kaskada import _binding, _config, _keyring
    from kaskada._errors import KaskadaError, SecretBindingError
    from kaskada.cli._output import emit_json, printable

    config = _config.load()
    profile = _config.get_profile(args.name)
    secret_note: str | None = None
    usable: bool | None = None
    try:
        entry = _keyring.get_entry(profile.name)
        stored: bool | None = entry is not None
        if entry is not None:
            _binding.check(profile.name, entry, profile.fields())
            usable = True
    except SecretBindingError as error:
        usable, secret_note = False, str(error)
    except KaskadaError as error:
        stored, secret_note = None, str(error)
    row = _profile_row(profile, config.default_profile)
    row["secret_stored"] = stored
    row["secret_usable"] = usable
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
    if stored is None:
        print(f"  secret: unknown ({printable(secret_note)})")
    elif not stored:
        print("  secret: none stored")
    elif usable:
        print("  secret: stored in the keyring, bound to these settings")
    else:
        print(f"  secret: stored in the keyring but NOT usable: {printable(secret_note)}")
    return 0


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _remove(args: argparse.Namespace) -> int:
    from kaskada import _profiles
    from kaskada.cli._output import emit_json, note

    removed = _profiles.remove_profile(args.name, keep_orphan=args.keep_orphan)
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
    from kaskada import _profiles
    from kaskada.cli._output import emit_json, note

    _profiles.rename_profile(args.old, args.new, force=args.force, keep_orphan=args.keep_orphan)
    if args.json:
        emit_json({"renamed": args.old, "to": args.new})
        return 0
    note(f"renamed profile {args.old!r} to {args.new!r}")
    return 0


def _use(args: argparse.Namespace) -> int:
    from kaskada import _profiles
    from kaskada.cli._output import emit_json, note

    _profiles.set_default(args.name)
    if args.json:
        emit_json({"default_profile": args.name})
        return 0
    note(f"default profile is now {args.name!r}")
    return 0


def _current(args: argparse.Namespace) -> int:
    from kaskada._explain import Explanation
    from kaskada._memo import resolve_default
    from kaskada.cli import for_the_shell
    from kaskada.cli._output import emit_json

    settings = resolve_default()
    description = Explanation.from_settings(settings, title="kda.init() would use")
    if args.json:
        from kaskada.cli.api import typed_json

        emit_json(typed_json(description, settings))
    else:
        print(for_the_shell(str(description)))
    return 0


def _import(args: argparse.Namespace) -> int:
    from pathlib import Path

    from kaskada import _profiles
    from kaskada.cli._output import emit_json, note

    notes: list[str] = []
    names = _profiles.import_profiles(Path(args.file), force=args.force, notes=notes)
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
    from kaskada import _profiles

    sys.stdout.write(_profiles.export_profiles(args.names))
    return 0


def _key(raw: str) -> str:
    """A setting name as typed (``exchange-endpoint`` too); a usage-level error otherwise."""
    from kaskada._config import PROFILE_KEYS
    from kaskada._errors import ConfigError

    key = raw.strip().replace("-", "_")
    if key not in PROFILE_KEYS:
        import difflib

        close = difflib.get_close_matches(key, PROFILE_KEYS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"{raw!r} is not a profile setting; the settings are {', '.join(PROFILE_KEYS)}{hint}"
        )
    return key


def _value(key: str, raw: str) -> Any:
    """The typed value of ``profile set KEY VALUE``, checked as its flag would be."""
    from kaskada._errors import ConfigError
    from kaskada._values import parse_bool, parse_timeout

    if key == "is_secure":
        return parse_bool(raw, f"is_secure {raw!r}")
    if key == "timeout":
        return parse_timeout(raw, "timeout")
    if key == "ca_bundle":
        return _ca_bundle(raw)
    if key == "endpoint":
        try:
            return host_port(raw)
        except argparse.ArgumentTypeError as error:
            raise ConfigError(f"endpoint {error}") from None
    return raw


def _set(args: argparse.Namespace) -> int:
    key = _key(args.key)
    return _change(args, key, _value(key, args.value))


def _unset(args: argparse.Namespace) -> int:
    return _change(args, _key(args.key), None)


def _change(args: argparse.Namespace, key: str, value: Any) -> int:
    from kaskada import _profiles
    from kaskada.cli._output import emit_json, note

    changed = _profiles.set_field(args.name, key, value)
    if args.json:
        emit_json({"profile": changed.name, "key": key, "value": changed.new,
                   "previous": changed.old, "secret_removed": changed.secret_removed})
        return 0
    shown = "unset" if changed.new is None else f"= {_shown(changed.new)}"
    was = "unset" if changed.old is None else _shown(changed.old)
    note(f"profile {changed.name!r}: {key} {shown} (was {was})")
    if changed.secret_removed:
        note(
            f"the stored secret was removed because {key} changed; store it again with: "
            f"kaskada configure --profile {changed.name}"
        )
    return 0


def _get(args: argparse.Namespace) -> int:
    from kaskada import _config
    from kaskada._errors import ConfigError
    from kaskada.cli._output import emit_json

    key = _key(args.key)
    value = getattr(_config.get_profile(args.name), key)
    if args.json:
        emit_json({"profile": args.name, "key": key, "value": value})
        return 0
    if value is None:
        raise ConfigError(
            f"profile {args.name!r} has no {key} set (it takes the default); set it with "
            f"`kaskada profile set {args.name} {key} VALUE`"
        )
    print(_shown(value))
    return 0


CHECK_TIMEOUT = 10.0


def _check(args: argparse.Namespace) -> int:
    """Sign in with each profile in parallel threads, each within its deadline."""
    from concurrent.futures import ThreadPoolExecutor

    from kaskada import _config
    from kaskada._errors import ConfigError
    from kaskada.cli import EXIT_CREDENTIALS, EXIT_ERROR, exit_code, for_the_shell
    from kaskada.cli._output import emit_json

    config = _config.load()
    if args.all:
        names = sorted(config.profiles)
    else:
        names = list(args.names) or [args.profile or config.default_profile or ""]
    if not names or not all(names):
        raise ConfigError(
            "no profile to check: name one (`kaskada profile check NAME`), pass --all, or "
            "choose a default with `kaskada profile use NAME`"
        )
    timeout = args.timeout or CHECK_TIMEOUT
    with ThreadPoolExecutor(max_workers=min(8, len(names))) as pool:
        results = list(pool.map(lambda name: _check_one(name, timeout), names))
    rows: list[dict[str, Any]] = [
        {"profile": name, "ok": error is None,
         "detail": "signed in" if error is None else for_the_shell(str(error)),
         "exit_code": 0 if error is None else exit_code(error)}
        for name, error in zip(names, results, strict=True)
    ]
    if args.json:
        emit_json(rows)
    else:
        width = max(len("PROFILE"), *(len(row["profile"]) for row in rows))
        print(f"{'PROFILE':<{width}}  STATUS  DETAIL")
        for row in rows:
            status = "ok" if row["ok"] else "failed"
            print(f"{row['profile']:<{width}}  {status:<6}  {row['detail']}")
    codes = {row["exit_code"] for row in rows} - {0}
    if not codes:
        return 0
    return EXIT_CREDENTIALS if codes == {EXIT_CREDENTIALS} else EXIT_ERROR


def _check_one(name: str, timeout: float) -> Exception | None:
    from kaskada import table
    from kaskada._errors import KaskadaError
    from kaskada._session import session

    try:
        table.first_page(1, session=session(name, timeout=timeout))
    except KaskadaError as error:
        return error
    return None


def _configure(args: argparse.Namespace) -> int:
    from kaskada import _config, _profiles
    from kaskada._names import validate_profile_name
    from kaskada._secret import Secret
    from kaskada.cli._output import note

    name = validate_profile_name(args.profile or "default")
    _check_keyring_first(name)
    # The raw document, not load(): a client_secret left in the file must be readable
    # here so that it can be moved into the keyring.
    document = _config.read_document(_config.config_path())
    old = _profiles.profile_tables(document).get(name)
    old = old if isinstance(old, dict) else {}
    print(f"Configuring profile {name!r} (Enter keeps the value in brackets).", file=sys.stderr)
    fields: dict[str, Any] = {}
    for key, label in (
        ("client_id", "Client ID"),
        ("endpoint", "API endpoint (host:port)"),
        ("exchange_endpoint", "Token endpoint (URL)"),
        ("audience", "Audience"),
    ):
        current = old.get(key)
        answer = _ask(f"{label} [{current if current is not None else ''}]: ")
        fields[key] = answer or current
    for key in ("is_secure", "ca_bundle", "timeout"):
        fields[key] = old.get(key)
    if args.plaintext or args.tls:
        fields["is_secure"] = _is_secure(args)
    if args.ca_bundle:
        fields["ca_bundle"] = _ca_bundle(args.ca_bundle)
    if not fields["client_id"]:
        from kaskada._errors import ConfigError

        raise ConfigError(
            f"profile {name!r} needs a client id and none was entered; run "
            f"`kaskada configure --profile {name}` again and type it at the first question"
        )
    plain = old.get("client_secret")
    legacy = _legacy_secret(name) if old and not plain else None
    hint = (
        "found in the file; Enter moves it to the keyring"
        if plain
        else "stored by kaskada 0.1; Enter binds it to the settings above"
        if legacy is not None
        else ("Enter keeps it" if old else "Enter for none")
    )
    secret = _prompt_secret(f"Client secret (hidden; {hint}): ")
    if secret is None and isinstance(plain, str) and plain:
        secret = Secret(plain)
    if secret is None and legacy is not None:
        secret = legacy  # the person at the terminal has just confirmed where it goes
    first = not document.get("default_profile")
    notes: list[str] = []
    _profiles.add_profile(name, fields, secret, make_default=first, force=True, notes=notes)
    note(f"saved profile {name!r}" + (" as the default" if first else ""))
    for line in notes:
        note(line)
    return 0


def _legacy_secret(name: str) -> Secret | None:
    """A secret stored by 0.1 (no binding) under ``name``; None otherwise or unreadable."""
    from kaskada import _keyring
    from kaskada._errors import KeyringError

    try:
        entry = _keyring.get_entry(name)
    except KeyringError:
        return None
    if entry is None or entry.binding is not None or not entry.secret:
        return None
    return entry.secret


def _check_keyring_first(name: str) -> None:
    """Fail before the first question when no secret could be stored at the end."""
    from kaskada import _keyring
    from kaskada._errors import KeyringError

    try:
        _keyring.get_entry(name)
    except KeyringError as error:
        raise KeyringError(
            f"no secret can be stored, so nothing was asked: {error}; or add the profile "
            "without a secret (`kaskada profile add NAME --client-id ID`) and supply the "
            "secret as KASKADA_CLIENT_SECRET"
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
