"""Issue 18, finding 7: terminal controls and bidi overrides from a server are escaped in
library exception messages too, not only in the CLI (one function, ``kaskada._printable``).

A real gRPC server and a real token endpoint on loopback send text holding
ESC ] 0 (retitle), ESC [ 2J (clear), BEL and U+202E; the exceptions carry it
escaped, and an uncaught one in a real interpreter writes none of it raw.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from kaskada import table
from kaskada._errors import ApiError, AuthenticationError
from kaskada._printable import printable
from kaskada.api.v1alpha import table_pb2_grpc
from kaskada.cli._output import printable as cli_printable
from tests.helpers import run_process, table_service
from tests.scripted_api import jwt_session
from tests.token_fakes import FakeTokenEndpoint

HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x1b[31m\u202eevil\u2066\x9b"
RAW = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


class Hostile(table_pb2_grpc.TableServiceServicer):  # type: ignore[misc]
    """Every call fails with HOSTILE in the status message and in an ErrorInfo detail."""

    def GetTable(self, request: Any, context: grpc.ServicerContext) -> Any:
        from google.protobuf import any_pb2
        from google.rpc import code_pb2, error_details_pb2, status_pb2
        from grpc_status import rpc_status

        detail = any_pb2.Any()
        detail.Pack(error_details_pb2.ErrorInfo(reason=HOSTILE, domain="x"))
        context.abort_with_status(rpc_status.to_status(status_pb2.Status(
            code=code_pb2.FAILED_PRECONDITION, message=HOSTILE, details=[detail])))


@pytest.fixture
def hostile_endpoint() -> Iterator[str]:
    with table_service(Hostile()) as endpoint:
        yield endpoint


def test_the_cli_and_the_library_share_one_escaping_function() -> None:
    assert cli_printable is printable
    assert printable(printable(HOSTILE)) == printable(HOSTILE)  # idempotent


def test_an_api_error_escapes_the_servers_message_and_details(hostile_endpoint: str) -> None:
    with pytest.raises(ApiError) as caught:
        table.get_table("x", session=jwt_session(hostile_endpoint))
    text = str(caught.value)
    assert RAW.search(text) is None, repr(text)
    assert "\\x1b]0;pwned\\x07" in text and "\\u202eevil" in text
    assert all(RAW.search(detail) is None for detail in caught.value.details)


def test_an_authentication_error_escapes_the_token_endpoints_text(
    token_endpoint: FakeTokenEndpoint,
) -> None:
    import kaskada as kda

    body = json.dumps({"error": "invalid_client" + HOSTILE, "error_description": HOSTILE})
    token_endpoint.script = [(401, body.encode())]
    made = kda.session(client_id="c", client_secret="s", endpoint="127.0.0.1:9",
                       exchange_endpoint=token_endpoint.url)
    with pytest.raises(AuthenticationError) as caught:
        made.access_token()
    assert RAW.search(str(caught.value)) is None, repr(str(caught.value))
    assert "\\x1b[2J" in str(caught.value)


def test_an_uncaught_authentication_error_writes_no_control_to_the_terminal(
    token_endpoint: FakeTokenEndpoint,
) -> None:
    """The issue's reproduction: a script that lets AuthenticationError go uncaught."""
    body = json.dumps({"error": "invalid_client", "error_description": HOSTILE})
    token_endpoint.script = [(401, body.encode())]
    script = (
        "import kaskada as kda\n"
        "from kaskada import table\n"
        f"s = kda.session(client_id='c', client_secret='s', endpoint='127.0.0.1:9', "
        f"exchange_endpoint={token_endpoint.url!r})\n"
        "table.list_tables(session=s)\n"
    )
    result = run_process([sys.executable, "-c", script])
    assert result.returncode == 1
    assert "AuthenticationError" in result.stderr
    flat = result.stderr.replace("\n", "")  # the traceback's own line breaks are fine
    assert RAW.search(flat) is None, repr(result.stderr[-400:])
    assert "\\x1b]0;pwned\\x07" in flat
