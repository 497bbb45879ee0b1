"""Issue 18, finding 8: paging detects a server that never ends instead of stopping silently.

A real gRPC server on loopback answers every ListTables with one table and a
fresh page token, forever (or repeats one token). The sync client, the aio
client and ``kaskada table list`` each raise one clear error naming the
endpoint after ``MAX_PAGES`` pages; none returns a partial list as if whole.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from kaskada import table
from kaskada._errors import ApiError
from kaskada.aio import table as atable
from kaskada.api.v1alpha import table_pb2, table_pb2_grpc
from tests.helpers import run_cli, table_service
from tests.scripted_api import CANARY, jwt_session


class Endless(table_pb2_grpc.TableServiceServicer):  # type: ignore[misc]
    """One table and a new page token per page, forever; ``repeat_after`` pages, then the
    first token again."""

    def __init__(self) -> None:
        self.counter = itertools.count(1)
        self.lock = threading.Lock()
        self.pages = 0
        self.repeat_after: int | None = None

    def ListTables(self, request: Any, context: grpc.ServicerContext) -> Any:
        with self.lock:
            self.pages += 1
            number = next(self.counter)
        token = f"page-{number}"
        if self.repeat_after is not None and number > self.repeat_after:
            token = "page-1"
        return table_pb2.ListTablesResponse(
            tables=[table_pb2.Table(table_name=f"t{number}")], next_page_token=token
        )


@pytest.fixture
def endless() -> Iterator[tuple[Endless, str]]:
    servicer = Endless()
    with table_service(servicer) as endpoint:
        yield servicer, endpoint


def test_a_server_that_never_ends_is_an_error_not_a_partial_list(
    endless: tuple[Endless, str],
) -> None:
    servicer, endpoint = endless
    with pytest.raises(ApiError) as caught:
        table.list_tables(session=jwt_session(endpoint))
    text = str(caught.value)
    assert f"after {table.MAX_PAGES} pages" in text and endpoint in text
    assert "page_size=1000" in text  # the fix for an account that really is that big
    assert servicer.pages == table.MAX_PAGES


def test_aio_stops_a_server_that_never_ends(endless: tuple[Endless, str]) -> None:
    servicer, endpoint = endless
    with pytest.raises(ApiError, match=f"after {table.MAX_PAGES} pages"):
        asyncio.run(atable.list_tables(session=jwt_session(endpoint)))
    assert servicer.pages == table.MAX_PAGES


def test_a_repeated_page_token_is_an_error_naming_the_endpoint(
    endless: tuple[Endless, str],
) -> None:
    servicer, endpoint = endless
    servicer.repeat_after = 3
    with pytest.raises(ApiError, match="already returned") as caught:
        table.list_tables(session=jwt_session(endpoint))
    assert endpoint in str(caught.value)
    assert servicer.pages == 4


def test_the_cli_table_list_exits_1_with_one_line(endless: tuple[Endless, str]) -> None:
    _servicer, endpoint = endless
    env = {"KASKADA_TOKEN": CANARY, "KASKADA_API_ENDPOINT": endpoint, "KASKADA_IS_SECURE": "false"}
    result = run_cli("table", "list", env=env)
    assert result.returncode == 1, (result.stdout[-300:], result.stderr)
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("kaskada: error:")]
    assert len(errors) == 1 and f"after {table.MAX_PAGES} pages" in errors[0], result.stderr
    assert result.stdout == ""  # no partial list printed as if it were whole
