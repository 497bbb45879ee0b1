"""The table API: list, get, create and delete tables of the account in force.

Each function takes ``session=`` (the way to use a session in a thread pool);
without it the call runs as ``kda.explain()`` describes. ``Table`` is the
protobuf message of ``kaskada.api.v1alpha``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from google.protobuf.message import Message

from kaskada._errors import ApiError
from kaskada._session import current
from kaskada.api.v1alpha.table_pb2 import (
    CreateTableRequest,
    CreateTableResponse,
    DeleteTableRequest,
    DeleteTableResponse,
    GetTableRequest,
    GetTableResponse,
    ListTablesRequest,
    ListTablesResponse,
    Table,
)
from kaskada.transport import sync as _transport

if TYPE_CHECKING:
    from kaskada._session import Session

__all__ = ["Table", "create_table", "delete_table", "get_table", "list_tables"]

_SERVICE = "/kaskada.api.v1alpha.TableService/"
MAX_PAGES = 1000
"""Pages one list_tables follows at most: 100,000 tables at the server's default page
size, 1,000,000 at page_size=1000, and seconds of calls on loopback; a server still
sending page tokens after that never ends (ApiError, not a silent stop)."""

Response = TypeVar("Response", bound=Message)


def _call(
    method: str,
    request: Message,
    response_type: type[Response],
    session: Session | None,
    *,
    read: bool,
) -> Response:
    """One TableService call; the response is ``response_type`` (the transport decodes it
    with that type's deserializer), so no check is needed on the way out."""
    response: Response = _transport.call(
        current(session), _SERVICE + method, request, response_type, read=read
    )
    return response


def list_tables(
    search: str | None = None, *, page_size: int = 0, session: Session | None = None
) -> dict[str, Table]:
    """Every table (matching ``search``) by name, following page tokens.

    Args:
        search: only tables whose name contains this (the server's rule); all when None.
        page_size: tables per page asked of the server (0: the server's default).
        session: the session to call as; without it, the one ``kda.explain()`` describes.

    Returns:
        The tables by name; ``{}`` when there are none.

    Raises:
        KaskadaError: a subclass naming the failure, e.g. ``NoCredentialsError``,
            ``AuthenticationError``, ``UnavailableError`` or ``ApiError`` (also when the
            server repeats a page token, or still sends one after ``MAX_PAGES`` pages).
    """
    resolved = current(session)
    pages = _Pages(search, page_size, resolved.endpoint)
    request: ListTablesRequest | None = pages.first()
    while request is not None:
        response = _call("ListTables", request, ListTablesResponse, resolved, read=True)
        request = pages.after(response)
    return pages.tables


class _Pages:
    """The page-token walk of ListTables, shared by the sync and aio clients.

    A server that never ends (a page token seen before, or still one after
    MAX_PAGES pages) is an ApiError naming the endpoint: stopping silently would
    hand back a partial list as if it were whole.
    """

    def __init__(self, search: str | None, page_size: int, endpoint: str) -> None:
        self.search = search or ""
        self.page_size = page_size
        self.endpoint = endpoint
        self.tables: dict[str, Table] = {}
        self._seen: set[str] = set()

    def first(self) -> ListTablesRequest:
        return ListTablesRequest(search=self.search, page_size=self.page_size)

    def after(self, response: ListTablesResponse) -> ListTablesRequest | None:
        """Take a page in; the request for the next one, or None when done."""
        for found in response.tables:
            self.tables[found.table_name] = found
        token = response.next_page_token
        if not token:
            return None
        if token in self._seen:
            raise ApiError(
                f"ListTables at {self.endpoint} returned a page token it had already returned "
                f"(after {len(self._seen) + 1} pages): the server is looping; report it to the "
                "server's operator",
                code="INTERNAL",
            )
        if len(self._seen) + 1 >= MAX_PAGES:
            raise ApiError(
                f"ListTables at {self.endpoint} still had a next page after {MAX_PAGES} pages "
                f"({len(self.tables)} tables): a server that never ends is broken or hostile, so "
                "kaskada stopped rather than return a partial list; if the account really has "
                "more tables, ask for bigger pages (page_size=1000) or narrow it with search=",
                code="INTERNAL",
            )
        self._seen.add(token)
        return ListTablesRequest(search=self.search, page_size=self.page_size, page_token=token)


def first_page(page_size: int = 1, *, session: Session | None = None) -> list[Table]:
    """One page of tables (``kaskada whoami`` proves credentials with it).

    Args:
        page_size: how many tables at most.
        session: the session to call as; without it, the one ``kda.explain()`` describes.

    Returns:
        Up to ``page_size`` tables, in the server's order.

    Raises:
        KaskadaError: as for ``list_tables``.
    """
    request = ListTablesRequest(page_size=page_size)
    response = _call("ListTables", request, ListTablesResponse, session, read=True)
    return list(response.tables)


def get_table(name: str, *, session: Session | None = None) -> Table:
    """The named table.

    Args:
        name: the table's name.
        session: the session to call as; without it, the one ``kda.explain()`` describes.

    Returns:
        The table message.

    Raises:
        NotFoundError: this account has no table of that name.
        KaskadaError: another subclass for other failures, as for ``list_tables``.
    """
    response = _call(
        "GetTable", GetTableRequest(table_name=name), GetTableResponse, session, read=True
    )
    return response.table


def create_table(
    table_name: str,
    time_column_name: str,
    entity_key_column_name: str,
    subsort_column_name: str | None = None,
    grouping_id: str | None = None,
    *,
    session: Session | None = None,
) -> Table:
    """Create a table (never retried: a write).

    Args:
        table_name: the new table's name.
        time_column_name: the column holding each row's time.
        entity_key_column_name: the column holding each row's entity key.
        subsort_column_name: the column ordering rows of equal time; None for none.
        grouping_id: the entity grouping the table belongs to; None for none.
        session: the session to call as; without it, the one ``kda.explain()`` describes.

    Returns:
        The table as the server created it.

    Raises:
        AlreadyExistsError: the name is taken.
        InvalidArgumentError: the server refused a field.
        KaskadaError: another subclass for other failures, as for ``list_tables``.
    """
    table = _new_table(
        table_name, time_column_name, entity_key_column_name, subsort_column_name, grouping_id
    )
    response = _call(
        "CreateTable", CreateTableRequest(table=table), CreateTableResponse, session, read=False
    )
    return response.table


def _new_table(
    table_name: str,
    time_column_name: str,
    entity_key_column_name: str,
    subsort_column_name: str | None,
    grouping_id: str | None,
) -> Table:
    """The Table message create_table sends (sync and aio)."""
    table = Table(
        table_name=table_name,
        time_column_name=time_column_name,
        entity_key_column_name=entity_key_column_name,
        grouping_id=grouping_id or "",
    )
    if subsort_column_name is not None:
        table.subsort_column_name.value = subsort_column_name
    return table


def delete_table(name: str, force: bool = False, *, session: Session | None = None) -> None:
    """Delete the named table (never retried: a write).

    Args:
        name: the table's name.
        force: sent as the request's ``force`` field (the server decides what it allows).
        session: the session to call as; without it, the one ``kda.explain()`` describes.

    Raises:
        NotFoundError: this account has no table of that name.
        KaskadaError: another subclass for other failures, as for ``list_tables``.
    """
    _call(
        "DeleteTable",
        DeleteTableRequest(table_name=name, force=force),
        DeleteTableResponse,
        session,
        read=False,
    )
