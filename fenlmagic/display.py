"""How kaskada objects and errors look in a notebook.

Expected errors (``KaskadaError``) become one line instead of a wall of
traceback, because the message already names the thing, the place and the fix;
``%tb`` still shows the full traceback. Table listings and settings render as
small HTML tables, with a plain-text form for terminals and logs.
"""

from __future__ import annotations

import html
import sys
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

from kaskada import KaskadaError

TABLE_MODULE = "kaskada.api.v1alpha.table_pb2"
TABLE_COLUMNS = ("table_name", "time_column_name", "entity_key_column_name", "subsort_column_name",
                 "grouping_id", "version", "create_time")


def one_line(error: BaseException) -> str:
    """``ClassName: message`` on one line, controls and bidi overrides escaped (as the CLI
    does); messages never carry a secret."""
    from kaskada._printable import printable

    message = printable(" ".join(str(error).split()))
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _show_kaskada_error(
    shell: Any,
    etype: type[BaseException],
    value: BaseException,
    tb: TracebackType | None,
    tb_offset: int | None = None,
) -> list[str]:
    """IPython custom-exception handler: one line, and ``%tb`` keeps the details."""
    shell._get_exc_info((etype, value, tb))  # stores sys.last_* so %tb still works
    stb = [one_line(value)]
    shell._showtraceback(etype, value, stb)
    return stb


class ErrorDisplay:
    """Installs the one-line display of KaskadaError on a shell, and undoes it."""

    def __init__(self, shell: Any) -> None:
        self._shell = shell
        self._previous: tuple[Any, Any] | None = None

    def install(self) -> None:
        shell = self._shell
        previous_types = tuple(shell.custom_exceptions)
        self._previous = (previous_types, shell.CustomTB)
        if previous_types:
            # Another extension owns the hook: keep it rather than steal it.
            print(
                "fenlmagic: another custom exception handler is installed; "
                "kaskada errors keep their full traceback.",
                file=sys.stderr,
            )
            self._previous = None
            return
        shell.set_custom_exc((KaskadaError,), _show_kaskada_error)

    def remove(self) -> None:
        if self._previous is None:
            return
        types, handler = self._previous
        self._shell.custom_exceptions = types
        self._shell.CustomTB = handler
        self._previous = None


def _cell(value: Any) -> str:
    """One field of a table message as text (empty for unset)."""
    if value is None:
        return ""
    if hasattr(value, "ToJsonString"):  # google.protobuf.Timestamp
        if not (getattr(value, "seconds", 0) or getattr(value, "nanos", 0)):
            return ""
        return str(value.ToJsonString())
    if hasattr(value, "value") and not isinstance(value, (str, int, float)):  # StringValue
        return str(value.value)
    return str(value)


def table_row(table: Any) -> list[str]:
    """The displayed fields of one Table message, in TABLE_COLUMNS order."""
    row = []
    for column in TABLE_COLUMNS:
        if column == "subsort_column_name" and not table.HasField(column):
            row.append("")
            continue
        row.append(_cell(getattr(table, column, None)))
    return row


def rows_html(headers: Sequence[str], rows: Iterable[Sequence[str]], caption: str) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return (
        f"<table><caption>{html.escape(caption)}</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def rows_text(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns, for terminals and plain-text outputs."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = [headers, ["-" * w for w in widths], *rows]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _is_table(value: Any) -> bool:
    kind = type(value)
    return kind.__module__ == TABLE_MODULE and kind.__name__ == "Table"


def _table_mapping(value: Any) -> list[Any] | None:
    """The tables of a name -> Table mapping, or None when it is something else."""
    if not isinstance(value, Mapping) or not value:
        return None
    tables = list(value.values())
    if not all(_is_table(t) for t in tables):
        return None
    return tables


def tables_html(value: Any) -> str | None:
    """HTML for a table listing (or one Table); None for anything else."""
    tables = [value] if _is_table(value) else _table_mapping(value)
    if tables is None:
        return None
    caption = "1 table" if len(tables) == 1 else f"{len(tables)} tables"
    return rows_html(TABLE_COLUMNS, [table_row(t) for t in tables], caption)


class SettingsView:
    """The settings in force with their sources (``kda.explain()``), for display."""

    def __init__(self, explanation: Any) -> None:
        self.explanation = explanation

    def _rows(self) -> list[list[str]]:
        """(setting, value, source) rows; an unset value reads "(not set)"."""
        rows: list[list[str]] = []
        for row in getattr(self.explanation, "rows", ()):
            name, value, source = [*row, None, None, None][:3]
            rows.append([str(name), "(not set)" if value is None else str(value), str(source)])
        return rows

    def _repr_html_(self) -> str:
        rows = self._rows()
        if not rows:
            return f"<pre>{html.escape(str(self.explanation))}</pre>"
        title = getattr(self.explanation, "title", "settings in force")
        layer = getattr(self.explanation, "layer", "")
        caption = f"Kaskada {title}: {layer}" if layer else f"Kaskada {title}"
        return rows_html(("setting", "value", "source"), rows, caption)

    def __repr__(self) -> str:
        return str(self.explanation)


def install_formatters(shell: Any) -> None:
    """Render Table messages and name -> Table mappings as tables (HTML and text)."""
    formatters = shell.display_formatter.formatters
    html_formatter = formatters["text/html"]
    html_formatter.for_type_by_name(TABLE_MODULE, "Table", tables_html)
    if dict not in html_formatter.type_printers:  # never replace another extension's
        html_formatter.for_type(dict, _dict_html)
    plain = formatters["text/plain"]
    previous = plain.type_printers.get(dict)
    if previous is not None and not isinstance(previous, _PlainTables):
        plain.for_type(dict, _PlainTables(previous))


def remove_formatters(shell: Any) -> None:
    formatters = shell.display_formatter.formatters
    html_formatter = formatters["text/html"]
    html_formatter.pop(f"{TABLE_MODULE}.Table", None)
    if html_formatter.type_printers.get(dict) is _dict_html:
        html_formatter.pop(dict, None)
    plain = formatters["text/plain"]
    current = plain.type_printers.get(dict)
    if isinstance(current, _PlainTables):
        plain.for_type(dict, current.previous)


def _dict_html(value: dict[Any, Any]) -> str | None:
    """Only dicts of Table messages get HTML; every other dict keeps its usual repr."""
    return tables_html(value)


class _PlainTables:
    """Pretty-printer for dicts: columns for a table listing, IPython's own otherwise."""

    def __init__(self, previous: Any) -> None:
        self.previous = previous

    def __call__(self, value: Any, printer: Any, cycle: bool) -> Any:
        tables = None if cycle else _table_mapping(value)
        if tables is None:
            return self.previous(value, printer, cycle)
        printer.text(rows_text(TABLE_COLUMNS, [table_row(t) for t in tables]))
        return None
