"""``kaskada whoami``, ``kaskada token`` and ``kaskada table …``: the API from the shell.

``register`` only builds parsers; handlers import grpc and protobuf when they run.
Each command takes ``--profile``; without it the command runs as ``kda.init()`` would.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kaskada._session import Session
    from kaskada.api.v1alpha.table_pb2 import Table


def _common(parser: argparse.ArgumentParser, *, listing: bool) -> None:
    parser.add_argument(
        "--profile", metavar="NAME", help="run as this profile (default: as kda.init() would)"
    )
    parser.add_argument(
        "--allow-insecure",
        action="store_true",
        help="allow plaintext to a non-loopback host",
    )
    if listing:
        parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def register(subparsers: Any) -> None:
    whoami = subparsers.add_parser(
        "whoami",
        help="prove the credentials with a real call and show where each setting came from",
    )
    _common(whoami, listing=True)
    whoami.set_defaults(handler=_whoami)

    token = subparsers.add_parser(
        "token", help="print a fresh access token for scripts, and nothing else"
    )
    _common(token, listing=False)
    token.set_defaults(handler=_token)

    table = subparsers.add_parser("table", help="list, get, create and delete tables")
    commands = table.add_subparsers(dest="table_command", metavar="ACTION")
    commands.required = True

    listing = commands.add_parser("list", help="list the account's tables")
    listing.add_argument("--search", metavar="TEXT", help="only tables whose name matches")
    _common(listing, listing=True)
    listing.set_defaults(handler=_table_list)

    get = commands.add_parser("get", help="show one table")
    get.add_argument("name", metavar="NAME")
    _common(get, listing=True)
    get.set_defaults(handler=_table_get)

    create = commands.add_parser("create", help="create a table")
    create.add_argument("name", metavar="NAME")
    create.add_argument("--time-column", required=True, metavar="COLUMN")
    create.add_argument("--entity-key-column", required=True, metavar="COLUMN")
    create.add_argument("--subsort-column", metavar="COLUMN")
    create.add_argument("--grouping-id", metavar="ID")
    _common(create, listing=True)
    create.set_defaults(handler=_table_create)

    delete = commands.add_parser("delete", help="delete a table")
    delete.add_argument("name", metavar="NAME")
    delete.add_argument("--force", action="store_true", help="delete even if it holds data")
    _common(delete, listing=False)
    delete.set_defaults(handler=_table_delete)


def _session(args: argparse.Namespace) -> Session:
    """Resolve as ``--profile`` says; resolution warnings become one ``kaskada: warning:`` line.

    Python's own warning format would print a source line of kaskada, which
    means nothing to someone at a shell.
    """
    import warnings

    from kaskada._session import session
    from kaskada.cli._output import note

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        made = session(args.profile, allow_insecure=True if args.allow_insecure else None)
    for warning in caught:
        note(f"kaskada: warning: {warning.message}")
    return made


def _table_json(table: Table) -> dict[str, Any]:
    from google.protobuf import json_format

    return json_format.MessageToDict(table, preserving_proto_field_name=True)


def _print_table(table: Table) -> None:
    from kaskada.cli._output import printable

    fields = _table_json(table)
    width = max((len(name) for name in fields), default=0)
    for name, value in fields.items():
        print(f"{name:<{width}}  {printable(value)}")


def _whoami(args: argparse.Namespace) -> int:
    from kaskada import table
    from kaskada.cli._output import emit_json, printable, printable_lines

    active = _session(args)
    table.first_page(1, session=active)
    explanation = active.explain()
    if args.json:
        document = explanation.to_json()
        document.update(client_id=active.client_id, endpoint=active.endpoint, verified=True)
        emit_json(document)
        return 0
    print(f"client id: {printable(active.client_id or '(pre-issued token)')}")
    print(f"endpoint:  {printable(active.endpoint)}")
    print("credentials accepted (ListTables)")
    print(printable_lines(str(explanation)))
    return 0


def _token(args: argparse.Namespace) -> int:
    print(_session(args).access_token().reveal())
    return 0


def _table_list(args: argparse.Namespace) -> int:
    from kaskada import table
    from kaskada.cli._output import emit_json, note, printable

    tables = table.list_tables(args.search, session=_session(args))
    if args.json:
        emit_json([_table_json(found) for found in tables.values()])
        return 0
    if not tables:
        note("no tables")
        return 0
    for name, found in sorted(tables.items()):
        print(
            f"{printable(name)}\ttime={printable(found.time_column_name)}"
            f"\tentity={printable(found.entity_key_column_name)}"
        )
    return 0


def _table_get(args: argparse.Namespace) -> int:
    from kaskada import table
    from kaskada.cli._output import emit_json

    found = table.get_table(args.name, session=_session(args))
    if args.json:
        emit_json(_table_json(found))
    else:
        _print_table(found)
    return 0


def _table_create(args: argparse.Namespace) -> int:
    from kaskada import table
    from kaskada.cli._output import emit_json

    made = table.create_table(
        args.name,
        args.time_column,
        args.entity_key_column,
        subsort_column_name=args.subsort_column,
        grouping_id=args.grouping_id,
        session=_session(args),
    )
    if args.json:
        emit_json(_table_json(made))
    else:
        _print_table(made)
    return 0


def _table_delete(args: argparse.Namespace) -> int:
    from kaskada import table
    from kaskada.cli._output import note

    table.delete_table(args.name, force=args.force, session=_session(args))
    note(f"deleted table {args.name}")
    return 0
