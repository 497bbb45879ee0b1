"""Issue 10: ``kaskada serve`` survives anyone who can reach it (the fast findings).

Each test reproduces one finding of the issue against a real server on loopback
(or the real store) and fails on 0.1. The flood and memory tests are in
tests/test_server_flood.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import sqlite3
import time
import urllib.parse
from pathlib import Path
from typing import Any

import grpc
import pytest

from kaskada.api.v1alpha import table_pb2
from tests.capture import CaptureHTTP
from tests.server_fixtures import bearer, fetch_token, post_token, table_stub

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _form(client_id: str, secret: str) -> bytes:
    return urllib.parse.urlencode(
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    ).encode()


def _signed_in(server: Any, account: str = "limits") -> tuple[Any, list[tuple[str, str]]]:
    client_id, secret = server.add_client(account)
    return table_stub(server.endpoint), bearer(fetch_token(server, client_id, secret))


def _create(stub: Any, metadata: Any, name: str, **fields: Any) -> Any:
    table = table_pb2.Table(
        table_name=name, time_column_name="ts", entity_key_column_name="key", **fields
    )
    return stub.CreateTable(table_pb2.CreateTableRequest(table=table), metadata=metadata,
                            timeout=10)


# -- finding 3: every string field validated, quotas, response size ------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("grouping_id", "g" * 300_000),  # 4 MB ones stop at the 1 MiB message cap
        ("grouping_id", "abc\u202edef"),  # right-to-left override
        ("time_column_name", "ts\u2066x"),  # isolate
        ("entity_key_column_name", "key\u200b"),  # zero-width space
        ("grouping_id", "a\x00b"),
    ],
)
def test_every_string_field_of_a_table_is_validated_and_named(
    local_server: Any, field: str, value: str
) -> None:
    stub, metadata = _signed_in(local_server)
    fields = {"table_name": "t_validated", "time_column_name": "ts",
              "entity_key_column_name": "key", field: value}
    request = table_pb2.CreateTableRequest(table=table_pb2.Table(**fields))
    with pytest.raises(grpc.RpcError) as raised:
        stub.CreateTable(request, metadata=metadata, timeout=10)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert field in raised.value.details()
    stub.channel.close()


def test_a_per_account_table_quota_answers_resource_exhausted(start_server: Any) -> None:
    server = start_server(max_tables_per_account=3)
    stub, metadata = _signed_in(server)
    for n in range(3):
        _create(stub, metadata, f"t{n}")
    with pytest.raises(grpc.RpcError) as raised:
        _create(stub, metadata, "t3")
    assert raised.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "--max-tables-per-account" in raised.value.details()
    other_stub, other = _signed_in(server, "other")  # another account is not affected
    _create(other_stub, other, "t0")
    stub.channel.close()
    other_stub.channel.close()


def _legacy_database(path: Path, *, secret: str | None = None, big_tables: int = 0) -> str:
    """A database as kaskada 0.1 wrote it: schema 1, one scrypt client, maybe fat tables."""
    from kaskada.server.store import _SCHEMA

    connection = sqlite3.connect(path, isolation_level=None)
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            connection.execute(statement)
    connection.execute("PRAGMA user_version = 1")
    client_id = "legacy-client-0001"
    if secret is not None:
        salt = os.urandom(16)
        digest = hashlib.scrypt(secret.encode(), salt=salt, n=16, r=8, p=1, dklen=32)
        connection.execute(
            "INSERT INTO clients VALUES (?, 'legacy', ?, ?, 16, 8, 1, ?, NULL)",
            (client_id, digest, salt, time.time()),
        )
    for n in range(big_tables):
        connection.execute(
            "INSERT INTO tables VALUES ('legacy', ?, ?, 'ts', 'key', NULL, ?, 1, 1, 1)",
            (f"big_{n:03d}", f"id-{n}", "g" * 1_000_000),
        )
    connection.close()
    os.chmod(path, 0o600)
    return client_id


def test_a_list_page_stops_at_the_response_size_cap(start_server: Any, tmp_path: Path) -> None:
    """0.1 let 4 MB grouping ids in; ListTables(page_size=1000) of them must stay small."""
    db = tmp_path / "fat.sqlite3"
    client_id = _legacy_database(db, secret="legacy-secret-of-the-fat-db", big_tables=12)
    server = start_server(db=db)
    token = fetch_token(server, client_id, "legacy-secret-of-the-fat-db")
    stub = table_stub(server.endpoint)
    names: list[str] = []
    page_token = ""
    for _ in range(20):
        response = stub.ListTables(
            table_pb2.ListTablesRequest(page_size=1000, page_token=page_token),
            metadata=bearer(token), timeout=30,
        )
        assert response.ByteSize() <= 4 << 20
        names += [table.table_name for table in response.tables]
        page_token = response.next_page_token
        if not page_token:
            break
    assert names == [f"big_{n:03d}" for n in range(12)]
    stub.channel.close()


# -- finding 4: every failure has its code ---------------------------------------------


def test_a_malformed_page_token_is_invalid_argument(local_server: Any) -> None:
    stub, metadata = _signed_in(local_server)
    deep = base64.urlsafe_b64encode(b"[" * 100_000).decode()
    with pytest.raises(grpc.RpcError) as raised:
        stub.ListTables(table_pb2.ListTablesRequest(page_token=deep), metadata=metadata,
                        timeout=10)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "page_token" in raised.value.details()
    stub.channel.close()


def test_a_full_database_is_resource_exhausted_and_503_with_retry_after(
    start_server: Any,
) -> None:
    server = start_server(max_db_mb=1)
    client_id, secret = server.add_client("full")
    stub = table_stub(server.endpoint)
    metadata = bearer(fetch_token(server, client_id, secret))
    code = None
    for n in range(5000):
        try:
            _create(stub, metadata, f"t{n:05d}", grouping_id="g" * 256)
        except grpc.RpcError as error:
            code, details = error.code(), error.details()
            break
    assert code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "storage is full" in details and "\n" not in details
    for _ in range(500):  # a token row is smaller than a table row: fill the last pages
        status, headers, answer = post_token(server.token_url, _form(client_id, secret),
                                             headers=FORM)
        if status != 200:
            break
    assert status == 503
    assert int(headers["Retry-After"]) > 0
    assert "storage is full" in answer["error_description"]
    # The client library shows it as one line and does not retry in a loop.
    from kaskada._errors import TokenEndpointUnavailableError
    from kaskada._secret import Secret
    from kaskada.credentials import tokens as _token

    with pytest.raises(TokenEndpointUnavailableError) as raised:  # an outage, not a refusal
        _token.exchange(server.token_url, client_id, Secret(secret), timeout=10)
    assert "503" in str(raised.value) and "\n" not in str(raised.value)
    assert server.process.poll() is None
    assert "Traceback" not in server.log()
    stub.channel.close()


# -- finding 5: failed sign-ins logged, limited; refusals summarised ---------------------


def test_failed_sign_ins_are_logged_at_info_without_the_secret(start_server: Any) -> None:
    server = start_server()
    client_id, _ = server.add_client("logged")
    canary = "canary-secret-" + os.urandom(8).hex()
    status, _, _ = post_token(server.token_url, _form(client_id, canary), headers=FORM)
    assert status == 401
    status, _, _ = post_token(server.token_url, _form("no-such-client", canary), headers=FORM)
    assert status == 401
    server.stop()
    text = server.log()
    failed = [line for line in text.splitlines() if "sign-in failed" in line]
    assert len(failed) == 2, text
    assert " INFO " in failed[0] and client_id in failed[0] and "127.0.0.1" in failed[0]
    assert "wrong secret" in failed[0]
    assert "no-such-client" in failed[1] and "unknown client" in failed[1]
    assert canary not in text


def test_the_client_reports_429_as_one_line_and_does_not_retry() -> None:
    from kaskada._errors import TokenEndpointUnavailableError
    from kaskada._secret import Secret
    from kaskada.credentials import tokens as _token

    body = (b'{"error": "temporarily_unavailable", "error_description": '
            b'"too many failed sign-ins from this address: try again in 30 s"}')
    capture = CaptureHTTP(lambda request: (429, {"Retry-After": "30"}, body))
    try:
        with pytest.raises(TokenEndpointUnavailableError) as raised:  # asks to wait: an outage
            _token.exchange(capture.url, "some-client", Secret("s3cr3t-canary"), timeout=10)
    finally:
        capture.close()
    message = str(raised.value)
    assert len(capture.requests) == 1
    assert "429" in message and "try again in 30 s" in message and "\n" not in message
    assert "s3cr3t-canary" not in message


def test_refused_grpc_calls_are_summarised_not_logged_one_line_each(start_server: Any) -> None:
    server = start_server()
    stub = table_stub(server.endpoint)
    for _ in range(200):
        with pytest.raises(grpc.RpcError) as raised:
            stub.ListTables(table_pb2.ListTablesRequest(), timeout=10)
        assert raised.value.code() is grpc.StatusCode.UNAUTHENTICATED
    stub.channel.close()
    server.stop()
    refused = [line for line in server.log().splitlines() if "refused" in line]
    assert 1 <= len(refused) <= 3, refused
    assert "200" in " ".join(refused) or "199" in " ".join(refused)


# -- finding 6 and the hash change ----------------------------------------------------------


def _trace(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """Records every hash computation (function and cost parameters, not the inputs)."""
    calls: list[tuple[str, Any]] = []
    real_scrypt, real_digest, real_new = hashlib.scrypt, hmac.digest, hmac.new

    def scrypt(password: bytes, **kw: Any) -> bytes:
        calls.append(("scrypt", (kw.get("n"), kw.get("r"), kw.get("p"))))
        return real_scrypt(password, **kw)

    def digest(key: bytes, msg: bytes, name: Any) -> bytes:
        calls.append(("hmac", (len(key), name)))
        return real_digest(key, msg, name)

    def new(key: bytes, msg: Any = None, digestmod: Any = None) -> Any:
        calls.append(("hmac", (len(key), digestmod)))
        return real_new(key, msg, digestmod)

    monkeypatch.setattr(hashlib, "scrypt", scrypt)
    monkeypatch.setattr(hmac, "digest", digest)
    monkeypatch.setattr(hmac, "new", new)
    return calls


def test_an_unknown_client_id_costs_what_a_known_one_costs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No timing oracle: the same hash work, whatever the id and whenever it was made."""
    from kaskada.server.store import Store

    db = tmp_path / "server.sqlite3"
    early = Store(db, scrypt_n=2)  # a client made at another (0.1: cheaper) cost
    known_id, known_secret = early.add_client("a")
    early.close()
    store = Store(db, scrypt_n=2**14)
    calls = _trace(monkeypatch)
    traces = []
    for client_id, secret in ((known_id, known_secret.reveal()), (known_id, "wrong"),
                              ("unknown-id", "wrong")):
        calls.clear()
        store.authenticate_client(client_id, secret)
        traces.append(list(calls))
    store.close()
    assert traces[0] == traces[1] == traces[2]
    assert all(name != "scrypt" for name, _ in traces[0])


def test_secrets_are_256_bit_and_stored_as_a_keyed_hash(tmp_path: Path) -> None:
    from kaskada.server.store import Store

    db = tmp_path / "server.sqlite3"
    store = Store(db)
    client_id, secret = store.add_client("a")
    store.close()
    assert len(base64.urlsafe_b64decode(secret.reveal() + "=" * (-len(secret.reveal()) % 4))) >= 32
    connection = sqlite3.connect(db)
    scheme, stored = connection.execute(
        "SELECT hash_scheme, secret_hash FROM clients WHERE client_id = ?", (client_id,)
    ).fetchone()
    key = connection.execute("SELECT value FROM secret_keys WHERE name = 'hmac'").fetchone()[0]
    connection.close()
    assert scheme == "hmac-sha256" and len(key) == 32
    assert stored == hmac.digest(key, secret.reveal().encode(), "sha256")


def test_a_0_1_database_still_signs_in_and_is_rehashed(start_server: Any, tmp_path: Path) -> None:
    db = tmp_path / "legacy.sqlite3"
    client_id = _legacy_database(db, secret="the-0.1-secret")
    server = start_server(db=db)
    assert post_token(server.token_url, _form(client_id, "not-it"), headers=FORM)[0] == 401
    scheme = sqlite3.connect(db).execute("SELECT hash_scheme FROM clients").fetchone()[0]
    assert scheme == "scrypt"  # a wrong secret changes nothing
    assert fetch_token(server, client_id, "the-0.1-secret")
    scheme = sqlite3.connect(db).execute("SELECT hash_scheme FROM clients").fetchone()[0]
    assert scheme == "hmac-sha256"
    assert fetch_token(server, client_id, "the-0.1-secret")  # and signs in after it
    assert post_token(server.token_url, _form(client_id, "not-it"), headers=FORM)[0] == 401


def test_the_server_extra_is_not_needed_to_import_kaskada() -> None:
    import subprocess
    import sys

    code = ("import sys; import kaskada, kaskada.server; "
            "bad = [m for m in ('grpc_health', 'grpc_reflection', 'h11') if m in sys.modules]; "
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_a_missing_server_extra_is_one_clear_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = ("import sys; sys.modules['h11'] = None; import kaskada.cli; "
            "sys.exit(kaskada.cli.main(sys.argv[1:]))")
    result = subprocess.run(
        [sys.executable, "-c", code, "serve", "--port", "0", "--token-port", "0",
         "--db", str(tmp_path / "db.sqlite3")],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "KASKADA_CONFIG_DIR": str(tmp_path / "c"),
             "KASKADA_DATA_DIR": str(tmp_path / "d")},
    )
    assert result.returncode == 1
    assert "kaskada-client[server]" in result.stderr and "Traceback" not in result.stderr

