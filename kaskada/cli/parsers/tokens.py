"""The grammar of ``kaskada logout``, ``exec`` and ``env``; the verbs are in
``kaskada.cli.tokens`` and load when one runs."""

from __future__ import annotations

import argparse
from typing import Any

from kaskada.cli._output import example
from kaskada.cli.parsers import takes, verb

FORMATS = ("sh", "fish", "powershell", "json")


def register(subparsers: Any) -> None:
    logout = subparsers.add_parser(
        "logout", help="drop cached access tokens (profiles and secrets stay)"
    )
    which = logout.add_mutually_exclusive_group()
    which.add_argument("--profile", metavar="NAME", help="only this profile's tokens")
    which.add_argument("--all", action="store_true", help="every cached token")
    logout.add_argument(
        "--local", action="store_true",
        help="device login: delete the refresh token here without revoking it at the server "
        "(when the server cannot be reached; it stays valid there until it expires)")
    example(logout, "kaskada logout --profile prod", "kaskada logout --all")
    takes(logout, "profile")
    logout.set_defaults(handler=verb("kaskada.cli.tokens", "_logout"))

    run = subparsers.add_parser(
        "exec",
        help="run a command with a token for the account (never the secret)",
        description="Run COMMAND with KASKADA_TOKEN, KASKADA_TOKEN_EXPIRES_AT and the "
        "connection settings of the account, and without any other credential variable.",
    )
    run.add_argument("--profile", metavar="NAME", help="run as this profile")
    run.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARGS…]",
                     help="the command to run, after --")
    example(run, "kaskada exec --profile prod -- python job.py")
    takes(run, "profile", "timeout")
    run.set_defaults(handler=verb("kaskada.cli.tokens", "_exec"))

    env = subparsers.add_parser(
        "env",
        help="print the variables of `kaskada exec` for eval (they hold a token)",
        description='For eval "$(kaskada env --profile NAME)": the token and connection '
        "settings of the account, and unsetting every other credential variable.",
    )
    env.add_argument("--profile", metavar="NAME", help="as this profile")
    env.add_argument("--format", choices=FORMATS, default="sh", help="the shell (default sh)")
    example(env, 'eval "$(kaskada env --profile prod)"',
            "kaskada env --profile prod --format fish | source")
    takes(env, "profile", "timeout")
    env.set_defaults(handler=verb("kaskada.cli.tokens", "_print_env"))
