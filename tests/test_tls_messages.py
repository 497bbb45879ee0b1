"""A certificate the client refuses is named as such, with the fix, on the gRPC
channel and at the token endpoint alike: not "could not be reached … check that
the server is running" (the server is running; trust, a name or a date is wrong)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import kaskada as kda
from kaskada import table
from tests.certs import Issued, make_leaf

CASES = {
    # case: (leaf for, expired, trust the CA, words the one line must hold)
    "untrusted": (("localhost", "127.0.0.1"), False, False,
                  ("certificate is not trusted", "--ca-bundle FILE", "system's roots")),
    "mismatch": (("example.test",), False, True,
                 ("certificate is not for 127.0.0.1", "it holds example.test")),
    "expired": (("localhost", "127.0.0.1"), True, True,
                ("certificate has expired", "renewed certificate")),
}


def serve(tmp_path: Path, leaf: Issued) -> Any:
    from kaskada.server import start_server

    return start_server(db=str(tmp_path / "server.sqlite3"), port=0, token_port=0,
                        tls_cert=str(leaf.cert), tls_key=str(leaf.key), scrypt_n=16)


@pytest.fixture(params=sorted(CASES))
def refused(request: pytest.FixtureRequest, tmp_path: Path, ca: Issued) -> Iterator[Any]:
    names, expired, trusted, words = CASES[request.param]
    leaf = make_leaf(tmp_path, ca, names=names, expired=expired, stem="leaf")
    server = serve(tmp_path, leaf)
    try:
        yield server, (str(ca.cert) if trusted else None), words
    finally:
        server.stop(grace=0)


def one_line(error: BaseException, words: tuple[str, ...]) -> None:
    message = str(error)
    assert "\n" not in message
    assert "check that the server is running" not in message
    for word in words:
        assert word in message, message


def test_the_grpc_channel_names_the_refusal(refused: Any) -> None:
    server, ca_bundle, words = refused
    with kda.session(endpoint=server.endpoint, is_secure=True, ca_bundle=ca_bundle,
                     jwt="pre-issued-token", timeout=5), \
            pytest.raises(kda.KaskadaError) as caught:
        table.list_tables()
    one_line(caught.value, words)


def test_the_token_exchange_names_the_refusal(refused: Any) -> None:
    server, ca_bundle, words = refused
    client_id, secret = server.store.add_client("tls")
    with kda.session(endpoint=server.endpoint, is_secure=True, ca_bundle=ca_bundle,
                     client_id=client_id, client_secret=secret.reveal(),
                     exchange_endpoint=server.token_url, timeout=5), \
            pytest.raises(kda.KaskadaError) as caught:
        table.list_tables()
    one_line(caught.value, words)


def test_the_cheap_check_and_the_full_one_agree_on_what_a_refusal_looks_like() -> None:
    """transport.errors checks the markers without importing ssl; _tls owns them."""
    from kaskada import _tls
    from kaskada.transport import errors as _grpc_errors

    assert _grpc_errors._REFUSED_MARKERS == _tls.REFUSED_MARKERS
