"""The grammar of ``kaskada configure`` and ``kaskada profile …``.

Only parsers: each verb's code lives in ``kaskada.cli.profile`` (``profile list``
in ``kaskada.cli.profile_list``, the path shell completion runs on every Tab) and
loads when that verb runs.
"""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from kaskada.cli._output import example
from kaskada.cli.parsers import seconds, takes, verb
from kaskada.settings.hostport import endpoint_message
from kaskada.settings.schema import BY_NAME, SETTINGS

_example = example


def host_port(value: str) -> str:
    """An argparse type for ``--endpoint``: the one endpoint check, a usage error here."""
    message = endpoint_message(value.strip(), None)
    if message is not None and value.strip():  # empty: the profile check says "is empty"
        raise argparse.ArgumentTypeError(message)
    return value.strip()


def saved_seconds(value: str) -> float:
    """An argparse type for ``profile add --timeout``: checked as ``profile set`` checks it."""
    from kaskada._errors import ConfigError  # lazy: only `profile add --timeout` parses one
    from kaskada.settings.parse import parse_timeout

    try:
        return parse_timeout(value, f"--timeout {value!r}")
    except ConfigError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _name_or_profile(parser: argparse.ArgumentParser, what: str) -> None:
    """NAME, optional when ``--profile NAME`` says it (``aws configure get KEY --profile X``)."""
    parser.add_argument("name", nargs="?", metavar="NAME",
                        help=f"the profile {what} (or --profile NAME)")


def _connection_flags(parser: argparse.ArgumentParser) -> None:
    tls = parser.add_mutually_exclusive_group()
    tls.add_argument("--plaintext", action="store_true",
                     help="no TLS for the API (loopback hosts only)")
    tls.add_argument("--tls", action="store_true",
                     help="TLS for the API, also on a loopback host (the default elsewhere)")
    parser.add_argument("--ca-bundle", metavar="FILE",
                        help="PEM file of roots to trust (e.g. the certificate of "
                        "`kaskada serve --tls-cert`); implies --tls")


def _command_words(raw: str) -> list[str]:
    """--secret-command split as a shell would; an unbalanced quote named as such."""
    try:
        return shlex.split(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{raw!r} has an unbalanced quote; quote the whole command for the shell"
        ) from None


def _store_flags(parser: argparse.ArgumentParser) -> None:
    """Where the profile's secret lives (default: the keyring)."""
    store = parser.add_mutually_exclusive_group()
    store.add_argument("--secret-env", metavar="VAR",
                       help="read the secret from this environment variable (no keyring)")
    store.add_argument("--secret-command", metavar="'PROGRAM ARGS'", type=_command_words,
                       help="run this program (no shell) and use what it prints (no keyring)")
    store.add_argument("--insecure-storage", action="store_true",
                       help="keep the secret in a plain-text 0600 file (no keyring)")


def _sign_in_flags(parser: argparse.ArgumentParser) -> None:
    """Who signs in (default: a client secret), each flag's help from the one table."""
    for key, metavar in (("auth", "KIND"), ("issuer", "URL"), ("subject_token_file", "FILE"),
                         ("subject_token_env", "VAR"), ("subject_token_source", "SOURCE")):
        setting = BY_NAME[key]
        parser.add_argument("--" + key.replace("_", "-"), metavar=metavar, help=setting.help)


def register(subparsers: Any) -> None:
    configure = subparsers.add_parser(
        "configure",
        help="create or update a profile interactively (the secret is read without echo)",
        description="Create or update a profile interactively (--profile NAME, default "
        "'default'); the secret goes to the keyring, which is checked before any question.",
    )
    configure.add_argument(
        "listing", nargs="?", choices=("list", "list-profiles"), metavar="list|list-profiles",
        help="as aws: `list` prints the settings in force and where each came from (with "
        "--profile, that profile's); `list-profiles` the profile names",
    )
    _connection_flags(configure)
    _store_flags(configure)
    _example(configure, "kaskada configure --profile dev",
             "kaskada configure --profile local --tls --ca-bundle cert.pem",
             "kaskada configure list --profile dev")
    takes(configure, "profile", "json")
    configure.set_defaults(handler=verb("kaskada.cli.profile", "_configure"))

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
    add.add_argument("--timeout", type=saved_seconds, metavar="SECONDS", dest="saved_timeout",
                     help="seconds per call, saved in the profile")
    add.add_argument("--secret-stdin", action="store_true", help="read the secret from stdin")
    _store_flags(add)
    _sign_in_flags(add)
    add.add_argument("--default", action="store_true", help="make it the default profile")
    add.add_argument("--force", action="store_true", help="replace an existing profile")
    _example(add, 'printf %s "$SECRET" | kaskada profile add prod --client-id ID '
             "--endpoint api.example.com:443 --exchange-endpoint "
             "https://auth.example.com/oauth/token --secret-stdin",
             "kaskada profile add me --auth device --client-id kaskada-cli",
             "kaskada profile add ci --auth federated --client-id kaskada-cli "
             "--subject-token-file /var/run/secrets/tokens/kaskada")
    takes(add, "json")
    add.set_defaults(handler=verb("kaskada.cli.profile", "_add"))

    setting = commands.add_parser(
        "set", help="change one setting of a profile; the others stay",
        description="Change one setting of a profile (as `aws configure set`). KEY is one of: "
        + "; ".join(f"{s.profile_key} ({s.help})" for s in SETTINGS if s.profile_key)
        + ". Changing a setting the stored secret is bound to removes the secret and says so.",
    )
    _name_or_profile(setting, "to change")
    setting.add_argument("key", metavar="KEY", help="the setting, e.g. timeout")
    setting.add_argument("value", metavar="VALUE", help="its new value")
    _example(setting, "kaskada profile set dev timeout 60",
             "kaskada profile set timeout 60 --profile dev",
             "kaskada profile set dev exchange_endpoint http://localhost:50052/oauth/token")
    setting.add_argument("--insecure-storage", action="store_true",
                         help="needed to set secret_store file (a plain-text file)")
    takes(setting, "profile", "json")
    setting.set_defaults(handler=verb("kaskada.cli.profile", "_set"))

    getting = commands.add_parser("get", help="print one setting of a profile",
                                  description="Print one setting of a profile (exit 1 if unset).")
    _name_or_profile(getting, "to read")
    getting.add_argument("key", metavar="KEY", help="the setting, e.g. endpoint")
    _example(getting, "kaskada profile get dev endpoint",
             "kaskada profile get endpoint --profile dev")
    takes(getting, "profile", "json")
    getting.set_defaults(handler=verb("kaskada.cli.profile", "_get"))

    unsetting = commands.add_parser("unset", help="remove one setting of a profile",
                                    description="Remove one setting: it takes the default.")
    _name_or_profile(unsetting, "to change")
    unsetting.add_argument("key", metavar="KEY", help="the setting, e.g. audience")
    _example(unsetting, "kaskada profile unset dev audience")
    takes(unsetting, "profile", "json")
    unsetting.set_defaults(handler=verb("kaskada.cli.profile", "_unset"))

    check = commands.add_parser(
        "check", help="sign in with profiles in parallel, one row each",
        description="Sign in and make one call with each profile, in parallel, each within "
        "--timeout (default 10 s); one row per profile (as `gh auth status`). Exit 0 when "
        "all succeed, 4 when a failure is credentials missing or refused, else 1.",
    )
    check.add_argument("--timeout", type=seconds, metavar="SECONDS",
                       help="seconds for each profile's sign-in and call (default 10)")
    check.add_argument("names", nargs="*", metavar="NAME",
                       help="profiles to check (default: --profile, else the default profile)")
    check.add_argument("--all", action="store_true", help="check every profile")
    _example(check, "kaskada profile check --all", "kaskada profile check dev prod --json")
    takes(check, "profile", "json", "timeout")
    check.set_defaults(handler=verb("kaskada.cli.profile_check", "_check"))

    listing = commands.add_parser("list", aliases=["ls"],
                                  help="list profiles (never touches the keyring)",
                                  description="List profiles; * marks the default.")
    listing.add_argument("--names", action="store_true",
                         help="print only the names, one a line (for shell completion)")
    _example(listing, "kaskada profile list --json")
    takes(listing, "json")
    listing.set_defaults(handler=verb("kaskada.cli.profile_list", "_list"))

    show = commands.add_parser("show", help="show a profile and whether a secret is stored",
                               description="Show a profile; says whether a secret is stored, "
                               "never its value.")
    _name_or_profile(show, "to show")
    _example(show, "kaskada profile show dev", "kaskada profile show --profile dev")
    takes(show, "profile", "json")
    show.set_defaults(handler=verb("kaskada.cli.profile", "_show"))

    keep_orphan = (
        "when the keyring cannot delete the secret, change the file anyway and leave the "
        "secret behind (it is never used again)"
    )
    remove = commands.add_parser("remove", aliases=["delete", "rm"],
                                 help="remove a profile and its secret",
                                 description="Remove a profile and its secret.")
    remove.add_argument("name", metavar="NAME", help="the profile's name")
    _example(remove, "kaskada profile remove old")
    remove.add_argument("--keep-orphan", action="store_true", help=keep_orphan)
    takes(remove, "json")
    remove.set_defaults(handler=verb("kaskada.cli.profile", "_remove"))

    rename = commands.add_parser("rename", help="rename a profile; its secret follows",
                                 description="Rename a profile; its secret and the default "
                                 "follow.")
    rename.add_argument("old", metavar="OLD", help="the current name")
    rename.add_argument("new", metavar="NEW", help="the new name")
    rename.add_argument("--force", action="store_true", help="replace an existing NEW")
    rename.add_argument("--keep-orphan", action="store_true", help=keep_orphan)
    _example(rename, "kaskada profile rename dev staging")
    takes(rename, "json")
    rename.set_defaults(handler=verb("kaskada.cli.profile", "_rename"))

    use = commands.add_parser("use", help="make a profile the default",
                              description="Make a profile the default.")
    use.add_argument("name", metavar="NAME", help="the profile's name")
    _example(use, "kaskada profile use prod")
    takes(use, "json")
    use.set_defaults(handler=verb("kaskada.cli.profile", "_use"))

    current = commands.add_parser("current", help="what kaskada would use now, and why",
                                  description="What a command without --profile (and "
                                  "kda.init()) would use, and where each setting came from.")
    _example(current, "kaskada profile current --json")
    takes(current, "json", refusing={
        "profile": "`kaskada profile current` shows what a command WITHOUT --profile would "
        "use; to see a named profile: kaskada profile show NAME",
    })
    current.set_defaults(handler=verb("kaskada.cli.profile", "_current"))

    importing = commands.add_parser("import", help="add the profiles of a TOML file",
                                    description="Add the profiles of a TOML file (no secrets).")
    importing.add_argument("file", metavar="FILE", help="a TOML file of [profiles.NAME] tables")
    importing.add_argument("--force", action="store_true", help="replace existing profiles")
    importing.add_argument("--accept-secret-sources", action="store_true",
                           help="accept secret_env and secret_command settings in the file "
                           "(they choose a variable to read or a program to run)")
    _example(importing, "kaskada profile import profiles/local.toml")
    takes(importing, "json")
    importing.set_defaults(handler=verb("kaskada.cli.profile", "_import"))

    export = commands.add_parser("export", help="print profiles as TOML (never secrets)",
                                 description="Print profiles as TOML; never a secret.")
    export.add_argument("names", nargs="*", metavar="NAME", help="profiles (default: all)")
    _example(export, "kaskada profile export dev > dev.toml")
    takes(export)
    export.set_defaults(handler=verb("kaskada.cli.profile", "_export"))


# --- handlers ----------------------------------------------------------------
