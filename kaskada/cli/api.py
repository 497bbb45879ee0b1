"""``kaskada whoami``, ``kaskada token`` and ``kaskada table …``: the API from the shell.

``register`` only builds parsers; handlers import grpc and protobuf when they run.
Each command takes ``--profile``; without it the command runs as ``kda.init()`` would.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kaskada._explain import Explanation
    from kaskada._options import ConnectionOptions
    from kaskada._session import Session
    from kaskada._settings import Settings
    from kaskada.api.v1alpha.table_pb2 import Table


def _common(parser: argparse.ArgumentParser, example: str) -> None:
    """--allow-insecure and the example; --profile, --json, --timeout are global options."""
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
    whoami.set_defaults(handler=_whoami)

    token = subparsers.add_parser(
        "token",
        help="print a fresh access token for scripts, and nothing else",
        description="Print a fresh access token on stdout (as `gh auth token`).",
    )
    _common(token, 'curl -H "Authorization: Bearer $(kaskada token)" …')
    token.set_defaults(handler=_token)

    table = subparsers.add_parser(
        "table", help="list, get, create and delete tables",
        description="The table API from the shell.",
    )
    table.epilog = "example:\n  kaskada table list --profile dev"
    commands = table.add_subparsers(dest="table_command", metavar="ACTION")
    commands.required = True

    listing = commands.add_parser(
        "list", help="list the account's tables", description="List the account's tables."
    )
    listing.add_argument("--search", metavar="TEXT", help="only tables whose name matches TEXT")
    _common(listing, "kaskada table list --search purchase --json")
    listing.set_defaults(handler=_table_list)

    get = commands.add_parser("get", help="show one table", description="Show one table.")
    get.add_argument("name", metavar="NAME", help="the table's name")
    _common(get, "kaskada table get purchases")
    get.set_defaults(handler=_table_get)

    create = commands.add_parser("create", help="create a table", description="Create a table.")
    create.add_argument("name", metavar="NAME", help="the new table's name")
    create.add_argument("--time-column", required=True, metavar="COLUMN",
                        help="the column holding each row's time")
    create.add_argument("--entity-key-column", required=True, metavar="COLUMN",
                        help="the column holding each row's entity key")
    create.add_argument("--subsort-column", metavar="COLUMN",
                        help="the column that orders rows of equal time")
    create.add_argument("--grouping-id", metavar="ID", help="the entity grouping id")
    _common(create, "kaskada table create purchases --time-column time "
                    "--entity-key-column user")
    create.set_defaults(handler=_table_create)

    delete = commands.add_parser("delete", help="delete a table", description="Delete a table.")
    delete.add_argument("name", metavar="NAME", help="the table's name")
    delete.add_argument("--force", action="store_true", help="delete even if it holds data")
    _common(delete, "kaskada table delete purchases --force")
    delete.set_defaults(handler=_table_delete)


def _session(args: argparse.Namespace) -> Session:
    """Resolve as ``--profile`` says; resolution warnings become one ``kaskada: warning:`` line.

    Python's own warning format would print a source line of kaskada, which
    means nothing to someone at a shell.
    """
    import warnings

    from kaskada._session import session_for
    from kaskada.cli._output import note

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        made = session_for(connection_options(args))
    for warning in caught:
        note(f"kaskada: warning: {warning.message}")
    return made


def connection_options(args: argparse.Namespace) -> ConnectionOptions:
    """The connection flags a command was given (--profile, --allow-insecure, --timeout)."""
    from kaskada._options import ConnectionOptions

    return ConnectionOptions(
        profile=getattr(args, "profile", None),
        allow_insecure=True if getattr(args, "allow_insecure", False) else None,
        timeout=getattr(args, "timeout", None),
    )


def typed_json(explanation: Explanation, settings: Settings) -> dict[str, Any]:
    """``explanation.to_json()`` with booleans and numbers as JSON values, not "false" / "30.0"."""
    document = explanation.to_json()
    for name, value, _source in settings.rows():
        if isinstance(value, bool | int | float) and name in document["settings"]:
            document["settings"][name]["value"] = value
    return document


def _table_json(table: Table) -> dict[str, Any]:
    """The table as JSON with typed values: protobuf's JSON writes 64-bit integers as strings."""
    from google.protobuf import json_format
    from google.protobuf.descriptor import FieldDescriptor

    document = json_format.MessageToDict(table, preserving_proto_field_name=True)
    wide = (FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT64)
    for field in table.DESCRIPTOR.fields:
        if field.cpp_type in wide and isinstance(document.get(field.name), str):
            document[field.name] = int(document[field.name])
    return document


def _waiting(args: argparse.Namespace, active: Session, command: str) -> Any:
    from kaskada.cli._progress import waiting

    return waiting(f"{active.endpoint} ({command})")


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
    with _waiting(args, active, "whoami"):
        table.first_page(1, session=active)
    explanation = active.explain()
    if args.json:
        document = typed_json(explanation, active.settings)
        document.update(client_id=active.client_id, endpoint=active.endpoint, verified=True)
        emit_json(document)
        return 0
    print(f"client id: {printable(active.client_id or '(pre-issued token)')}")
    print(f"endpoint:  {printable(active.endpoint)}")
    print("credentials accepted (a table listing succeeded)")
    print(printable_lines(str(explanation)))
    return 0


def _token(args: argparse.Namespace) -> int:
    active = _session(args)
    with _waiting(args, active, "token"):
        token = active.access_token()
    print(token.reveal())
    return 0


def _table_list(args: argparse.Namespace) -> int:
    from kaskada import table
    from kaskada.cli._output import emit_json, note, printable

    active = _session(args)
    with _waiting(args, active, "table list"):
        tables = table.list_tables(args.search, session=active)
    if args.json:
        emit_json([_table_json(found) for found in tables.values()])
        return 0
    if not tables:
        note("no tables")
        return 0
    rows = [("NAME", "TIME COLUMN", "ENTITY KEY COLUMN")] + [
        (printable(name), printable(found.time_column_name),
         printable(found.entity_key_column_name))
        for name, found in sorted(tables.items())
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(2)]
    for row in rows:
        print(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]}".rstrip())
    return 0


def _table_get(args: argparse.Namespace) -> int:
    from kaskada import table
    from kaskada.cli._output import emit_json

    active = _session(args)
    with _waiting(args, active, "table get"):
        found = table.get_table(args.name, session=active)
    if args.json:
        emit_json(_table_json(found))
    else:
        _print_table(found)
    return 0


def _table_create(args: argparse.Namespace) -> int:
    from kaskada import table
    from kaskada.cli._output import emit_json

    active = _session(args)
    with _waiting(args, active, "table create"):
        made = table.create_table(
            args.name,
            args.time_column,
            args.entity_key_column,
            subsort_column_name=args.subsort_column,
            grouping_id=args.grouping_id,
            session=active,
        )
    if args.json:
        emit_json(_table_json(made))
    else:
        _print_table(made)
    return 0


def _table_delete(args: argparse.Namespace) -> int:
    from kaskada import table
    from kaskada.cli._output import emit_json, note

    active = _session(args)
    with _waiting(args, active, "table delete"):
        table.delete_table(args.name, force=args.force, session=active)
    if args.json:
        emit_json({"deleted": args.name})
    else:
        note(f"deleted table {args.name}")
    return 0
