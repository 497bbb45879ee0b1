"""The grammar of ``kaskada login``; the verb is in ``kaskada.cli.login``."""

from __future__ import annotations

from typing import Any

from kaskada.cli._output import example
from kaskada.cli.parsers import takes, verb


def register(subparsers: Any) -> None:
    login = subparsers.add_parser(
        "login", help="sign a person in through the browser (profiles with auth = device)",
        description="Device login (RFC 8628): prints an address and a code to approve in a "
        "browser, on this machine or another, and waits. The refresh token goes to the "
        "profile's keyring entry; `kaskada logout` revokes it.",
    )
    login.add_argument("--profile", metavar="NAME", help="the profile to sign in")
    example(login, "kaskada login --profile me")
    takes(login, "profile")
    login.set_defaults(handler=verb("kaskada.cli.login", "_login"))
