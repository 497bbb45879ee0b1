"""The grammar of ``kaskada whoami``, ``token`` and ``table …``; the verbs are in
``kaskada.cli.api`` and load (with grpc) when one runs."""

from __future__ import annotations

import argparse
from typing import Any

from kaskada.cli.parsers import takes, verb


def _common(parser: argparse.ArgumentParser, example: str, *, json: bool = True) -> None:
    """--allow-insecure and the example; the global --profile, --timeout (and --json)."""
    takes(parser, "profile", "timeout", *(("json",) if json else ()))
    parser.add_argument(
        "--allow-insecure",
        action="store_true",
        help="allow plaintext to a non-loopback host (only on a trusted network)",
    )
    parser.epilog = f"example:\n  {example}"


def register(subparsers: Any) -> None:
    whoami = subparsers.add_parser(
        "whoami",
        help="prove the credentials with a real call and show where each setting came from",
        description="Sign in and make one real call; print the client id, the endpoint and "
        "the source of every setting. Exit 4 when the credentials are missing or refused.",
    )
    _common(whoami, "kaskada whoami --profile dev")
    whoami.set_defaults(handler=verb("kaskada.cli.api", "_whoami"))

    token = subparsers.add_parser(
        "token",
        help="print a fresh access token for scripts, and nothing else",
        description="Print a fresh access token on stdout (as `gh auth token`).",
    )
    _common(token, 'curl -H "Authorization: Bearer $(kaskada token)" …', json=False)
    token.set_defaults(handler=verb("kaskada.cli.api", "_token"))

    table = subparsers.add_parser(
        "table", help="list, get, create and delete tables",
        description="The table API from the shell.",
    )
    table.epilog = "example:\n  kaskada table list --profile dev"
    commands = table.add_subparsers(dest="table_command", metavar="ACTION")
    commands.required = True

    listing = commands.add_parser(
        "list", aliases=["ls"], help="list the account's tables",
        description="List the account's tables.",
    )
    listing.add_argument("--search", metavar="TEXT", help="only tables whose name matches TEXT")
    _common(listing, "kaskada table list --search purchase --json")
    listing.set_defaults(handler=verb("kaskada.cli.api", "_table_list"))

    get = commands.add_parser("get", help="show one table", description="Show one table.")
    get.add_argument("name", metavar="NAME", help="the table's name")
    _common(get, "kaskada table get purchases")
    get.set_defaults(handler=verb("kaskada.cli.api", "_table_get"))

    create = commands.add_parser("create", help="create a table", description="Create a table.")
    create.add_argument("name", metavar="NAME", help="the new table's name")
    create.add_argument("--time-column", required=True, metavar="COLUMN",
                        help="the column holding each row's time")
    create.add_argument("--entity-key-column", required=True, metavar="COLUMN",
                        help="the column holding each row's entity key")
    create.add_argument("--subsort-column", metavar="COLUMN",
                        help="the column that orders rows of equal time")
    create.add_argument("--grouping-id", metavar="ID", help="the entity grouping id")
    create.add_argument("--exist-ok", action="store_true",
                        help="a table NAME with the same columns is kept as it is (exit 0), "
                             "so a script can run again; different columns are still an error")
    _common(create, "kaskada table create purchases --time-column time "
                    "--entity-key-column user")
    create.set_defaults(handler=verb("kaskada.cli.api", "_table_create"))

    delete = commands.add_parser("delete", aliases=["rm"], help="delete a table",
                                 description="Delete a table.")
    delete.add_argument("name", metavar="NAME", help="the table's name")
    delete.add_argument("--force", action="store_true", help="delete even if it holds data")
    _common(delete, "kaskada table delete purchases --force")
    delete.set_defaults(handler=verb("kaskada.cli.api", "_table_delete"))
