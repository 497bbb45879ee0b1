"""``kaskada whoami``, ``kaskada token`` and ``kaskada table …``: the API from the shell.

The verbs (``kaskada.cli.parsers.api`` holds the grammar); this module loads grpc
and protobuf, so it is imported only when one of its verbs runs.
Each command takes ``--profile``; without it the command runs as ``kda.init()`` would.
"""

from __future__ import annotations

import argparse
from typing import Any

from kaskada import table
from kaskada._errors import AlreadyExistsError
from kaskada._session import Session
from kaskada.api.v1alpha.table_pb2 import Table
from kaskada.cli._connection import session_from_flags as _session
from kaskada.cli._output import emit_json, note, printable, printable_lines, typed_json
from kaskada.cli._progress import waiting


def _table_json(table: Table) -> dict[str, Any]:
    """The table as JSON with typed values: protobuf's JSON writes 64-bit integers as strings."""
    # Here, not at the top: json_format is costly to import, and a warm
    # `kaskada table list` prints no JSON unless --json.
    from google.protobuf import json_format
    from google.protobuf.descriptor import FieldDescriptor

    document = json_format.MessageToDict(table, preserving_proto_field_name=True)
    wide = (FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT64)
    for field in table.DESCRIPTOR.fields:
        if field.cpp_type in wide and isinstance(document.get(field.name), str):
            document[field.name] = int(document[field.name])
    return document


def _waiting(args: argparse.Namespace, active: Session, command: str) -> Any:
    return waiting(f"{active.endpoint} ({command})")


def _show(args: argparse.Namespace, found: Table) -> None:
    """One table: typed JSON with --json, else ``field  value`` lines."""
    if args.json:
        emit_json(_table_json(found))
    else:
        _print_table(found)


def _print_table(table: Table) -> None:
    fields = _table_json(table)
    width = max((len(name) for name in fields), default=0)
    for name, value in fields.items():
        print(f"{name:<{width}}  {printable(value)}")


def _whoami(args: argparse.Namespace) -> int:
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
    active = _session(args)
    with _waiting(args, active, "table get"):
        found = table.get_table(args.name, session=active)
    _show(args, found)
    return 0


def _table_create(args: argparse.Namespace) -> int:
    active = _session(args)
    with _waiting(args, active, "table create"):
        try:
            made = table.create_table(
                args.name,
                args.time_column,
                args.entity_key_column,
                subsort_column_name=args.subsort_column,
                grouping_id=args.grouping_id,
                session=active,
            )
        except AlreadyExistsError as error:
            if not args.exist_ok:
                raise AlreadyExistsError(
                    f"{error}; to keep it and go on (a script run again), add --exist-ok"
                ) from None
            made = _same_table(args, table.get_table(args.name, session=active))
    _show(args, made)
    return 0


def _same_table(args: argparse.Namespace, found: Table) -> Table:
    """``--exist-ok``: the table already there, if it is the one asked for (as
    ``mkdir -p`` keeps a folder but not a file of that name)."""
    asked = {
        "time_column_name": args.time_column,
        "entity_key_column_name": args.entity_key_column,
        "subsort_column_name": args.subsort_column,
        "grouping_id": args.grouping_id,
    }
    differ = [
        f"{field} is {printable(str(getattr(found, field))) or '(none)'!r}, not "
        f"{printable(want)!r}"
        for field, want in asked.items()
        if want is not None and getattr(found, field) != want
    ]
    if differ:
        raise AlreadyExistsError(
            f"table {printable(args.name)!r} exists with other columns ({'; '.join(differ)}): "
            "--exist-ok keeps only the same table; delete it first (`kaskada table delete "
            f"{printable(args.name)}`) or choose another name"
        )
    note(f"table {printable(args.name)} exists already with these columns: kept as it is")
    return found


def _table_delete(args: argparse.Namespace) -> int:
    active = _session(args)
    with _waiting(args, active, "table delete"):
        table.delete_table(args.name, force=args.force, session=active)
    if args.json:
        emit_json({"deleted": args.name})
    else:
        note(f"deleted table {args.name}")
    return 0
