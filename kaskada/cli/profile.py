"""``kaskada configure`` and ``kaskada profile …``: named accounts and their secrets.

``register`` only builds parsers; each handler imports what it needs, so
``profile list`` reads one TOML file and never loads keyring.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kaskada._config import Profile
    from kaskada._secret import Secret


def register(subparsers: Any) -> None:
    configure = subparsers.add_parser(
        "configure",
        help="create or update a profile interactively (the secret is read without echo)",
        description="Create or update a profile interactively; the secret goes to the keyring.",
    )
    configure.add_argument("--profile", default="default", metavar="NAME")
    configure.set_defaults(handler=_configure)

    profile = subparsers.add_parser(
        "profile", help="manage named profiles", description="Manage named profiles."
    )
    commands = profile.add_subparsers(dest="profile_command", metavar="ACTION")
    commands.required = True

    add = commands.add_parser("add", help="add a profile")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--client-id", required=True, metavar="ID")
    add.add_argument("--endpoint", metavar="HOST:PORT", help="gRPC API endpoint")
    add.add_argument("--exchange-endpoint", metavar="URL", help="OAuth2 token endpoint")
    add.add_argument("--audience", metavar="A")
    add.add_argument("--plaintext", action="store_true", help="no TLS (loopback hosts only)")
    add.add_argument("--ca-bundle", metavar="FILE", help="PEM file of roots to trust")
    add.add_argument("--timeout", type=float, metavar="SECONDS", help="seconds per call")
    add.add_argument("--secret-stdin", action="store_true", help="read the secret from stdin")
    add.add_argument("--default", action="store_true", help="make it the default profile")
    add.add_argument("--force", action="store_true", help="replace an existing profile")
    add.set_defaults(handler=_add)

    listing = commands.add_parser("list", help="list profiles (never touches the keyring)")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list)

    show = commands.add_parser("show", help="show a profile and whether a secret is stored")
    show.add_argument("name", metavar="NAME")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=_show)

    keep_orphan = (
        "when the keyring cannot delete the secret, change the file anyway and leave the "
        "secret behind (it is never used again)"
    )
    remove = commands.add_parser("remove", help="remove a profile and its secret")
    remove.add_argument("name", metavar="NAME")
    remove.add_argument("--keep-orphan", action="store_true", help=keep_orphan)
    remove.set_defaults(handler=_remove)

    rename = commands.add_parser("rename", help="rename a profile; its secret follows")
    rename.add_argument("old", metavar="OLD")
    rename.add_argument("new", metavar="NEW")
    rename.add_argument("--force", action="store_true", help="replace an existing NEW")
    rename.add_argument("--keep-orphan", action="store_true", help=keep_orphan)
    rename.set_defaults(handler=_rename)

    use = commands.add_parser("use", help="make a profile the default")
    use.add_argument("name", metavar="NAME")
    use.set_defaults(handler=_use)

    current = commands.add_parser("current", help="what kda.init() would use, and why")
    current.add_argument("--json", action="store_true")
    current.set_defaults(handler=_current)

    importing = commands.add_parser("import", help="add the profiles of a TOML file")
    importing.add_argument("file", metavar="FILE")
    importing.add_argument("--force", action="store_true", help="replace existing profiles")
    importing.set_defaults(handler=_import)

    export = commands.add_parser("export", help="print profiles as TOML (never secrets)")
    export.add_argument("names", nargs="*", metavar="NAME")
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
    from kaskada.cli._output import note

    fields: dict[str, Any] = {
        "client_id": args.client_id,
        "endpoint": args.endpoint,
        "exchange_endpoint": args.exchange_endpoint,
        "audience": args.audience,
        "is_secure": False if args.plaintext else None,
        "ca_bundle": _ca_bundle(args.ca_bundle),
        "timeout": args.timeout,
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
    stored = " with its secret in the keyring" if secret is not None else " (no secret stored)"
    default = " as the default" if args.default else ""
    note(f"saved profile {profile.name!r}{stored}{default}")
    for line in notes:
        note(line)
    return 0


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
    from kaskada._errors import KaskadaError
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
    except _binding.SecretBindingError as error:
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
    from kaskada.cli._output import note

    removed = _profiles.remove_profile(args.name, keep_orphan=args.keep_orphan)
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
    from kaskada.cli._output import note

    _profiles.rename_profile(args.old, args.new, force=args.force, keep_orphan=args.keep_orphan)
    note(f"renamed profile {args.old!r} to {args.new!r}")
    return 0


def _use(args: argparse.Namespace) -> int:
    from kaskada import _profiles
    from kaskada.cli._output import note

    _profiles.set_default(args.name)
    note(f"default profile is now {args.name!r}")
    return 0


def _current(args: argparse.Namespace) -> int:
    from kaskada._resolve import describe_default
    from kaskada.cli._output import emit_json

    description = describe_default()
    if args.json:
        emit_json(description.to_json())
    else:
        print(str(description))
    return 0


def _import(args: argparse.Namespace) -> int:
    from pathlib import Path

    from kaskada import _profiles
    from kaskada.cli._output import note

    notes: list[str] = []
    names = _profiles.import_profiles(Path(args.file), force=args.force, notes=notes)
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


def _configure(args: argparse.Namespace) -> int:
    from kaskada import _config, _profiles
    from kaskada._names import validate_profile_name
    from kaskada._secret import Secret
    from kaskada.cli._output import note

    name = validate_profile_name(args.profile)
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
