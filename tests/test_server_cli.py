"""``kaskada serve`` and ``kaskada server`` as a user runs them: real processes, loopback."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import ssl
import time
import urllib.error
from pathlib import Path
from typing import Any

import grpc
import pytest

from kaskada.api.v1alpha import table_pb2
from tests.certs import Issued
from tests.helpers import run_cli as kaskada
from tests.server_fixtures import (
    READY,
    bearer,
    fetch_token,
    post_token,
    table_stub,
)
from tests.stored import secrets, stored

CANARY = "canary-Zq7x-secret-do-not-leak"


def make_table(stub: Any, token: str, name: str) -> None:
    request = table_pb2.CreateTableRequest(
        table=table_pb2.Table(table_name=name, time_column_name="t", entity_key_column_name="k")
    )
    stub.CreateTable(request, metadata=bearer(token), timeout=10)


def test_serve_prints_one_line_and_stops_gracefully_on_sigterm(start_server: Any) -> None:
    server = start_server()
    lines = server.output().splitlines()
    assert len(lines) == 1 and READY.match(lines[0])
    assert server.endpoint.startswith("127.0.0.1:")
    assert server.token_url.startswith("http://127.0.0.1:")
    assert server.token_url.endswith("/oauth/token")
    assert server.stop() == 0
    assert "Traceback" not in server.log()


def test_restart_keeps_clients_tokens_and_tables(start_server: Any, tmp_path: Path) -> None:
    db = tmp_path / "kept.sqlite3"
    first = start_server(db=db)
    client_id, secret = first.add_client("restart")
    token = fetch_token(first, client_id, secret)
    stub = table_stub(first.endpoint)
    make_table(stub, token, "survivor")
    stub.channel.close()
    assert first.stop() == 0

    second = start_server(db=db)
    stub = table_stub(second.endpoint)
    try:
        got = stub.GetTable(table_pb2.GetTableRequest(table_name="survivor"),
                            metadata=bearer(token), timeout=10)  # the old token still works
        assert got.table.table_name == "survivor"
        fresh = fetch_token(second, client_id, secret)
        listed = stub.ListTables(table_pb2.ListTablesRequest(), metadata=bearer(fresh), timeout=10)
        assert [t.table_name for t in listed.tables] == ["survivor"]
    finally:
        stub.channel.close()


def test_tls_on_both_ports(start_server: Any, ca: Issued, signed_leaf: Issued) -> None:
    ca_path, cert_path, key_path = ca.cert, signed_leaf.cert, signed_leaf.key
    server = start_server(tls_cert=cert_path, tls_key=key_path)
    assert server.token_url.startswith("https://127.0.0.1:")
    client_id, secret = server.add_client("tls")
    context = ssl.create_default_context(cafile=str(ca_path))
    token = fetch_token(server, client_id, secret, context=context)
    stub = table_stub(server.endpoint, root_pem=ca_path.read_bytes())
    try:
        make_table(stub, token, "over_tls")
        listed = stub.ListTables(table_pb2.ListTablesRequest(), metadata=bearer(token), timeout=10)
        assert [t.table_name for t in listed.tables] == ["over_tls"]
    finally:
        stub.channel.close()
    # Neither port speaks plaintext.
    plain = table_stub(server.endpoint)
    try:
        with pytest.raises(grpc.RpcError) as caught:
            plain.ListTables(table_pb2.ListTablesRequest(), metadata=bearer(token), timeout=5)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        plain.channel.close()
    # The TLS-only port drops a plaintext request: no HTTP answer at all.
    with pytest.raises((urllib.error.URLError, http.client.HTTPException, ConnectionError)):
        post_token(server.token_url.replace("https:", "http:"), b"grant_type=x",
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    # An untrusted certificate is refused by a verifying client.
    with pytest.raises(urllib.error.URLError) as refused:
        fetch_token(server, client_id, secret, context=ssl.create_default_context())
    assert isinstance(refused.value.reason, ssl.SSLCertVerificationError)


def test_plaintext_on_a_non_loopback_address_is_refused_before_binding() -> None:
    # 192.0.2.1 is TEST-NET-1: never this machine, so nothing could bind even if the check failed.
    result = kaskada("serve", "--host", "192.0.2.1", "--port", "0", "--token-port", "0")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "--allow-insecure" in result.stderr and "--tls-cert" in result.stderr
    assert result.stdout == ""


def test_a_taken_port_is_one_error_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = kaskada("serve", "--port", "0", "--token-port", str(port),
                         "--db", str(tmp_path / "db.sqlite3"))
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("kaskada: error: ") and result.stderr.count("\n") == 1
    assert "--token-port" in result.stderr


def test_tls_needs_both_files_and_bad_files_are_named(tmp_path: Path) -> None:
    result = kaskada("serve", "--port", "0", "--token-port", "0", "--tls-cert", "x.pem",
                     "--db", str(tmp_path / "db.sqlite3"))
    assert result.returncode == 2 and "--tls-key" in result.stderr  # a usage error (issue 22)
    missing = tmp_path / "missing.pem"
    result = kaskada("serve", "--port", "0", "--token-port", "0", "--tls-cert", str(missing),
                     "--tls-key", str(missing), "--db", str(tmp_path / "db.sqlite3"))
    assert result.returncode == 1 and str(missing) in result.stderr
    assert "Traceback" not in result.stderr


def test_add_client_json_then_revoke(tmp_path: Path) -> None:
    db = tmp_path / "cli.sqlite3"
    result = kaskada("server", "add-client", "--account", "team", "--db", str(db), "--json",
                     "--scrypt-n", "16")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert set(answer) == {"client_id", "client_secret", "account"}
    assert answer["account"] == "team"
    assert not answer["client_id"].startswith("-") and not answer["client_secret"].startswith("-")
    assert answer["client_secret"] not in result.stderr
    result = kaskada("server", "revoke-client", answer["client_id"], "--db", str(db))
    assert result.returncode == 0, result.stderr
    result = kaskada("server", "revoke-client", "no-such-id", "--db", str(db))
    assert result.returncode == 1
    assert result.stderr == f"kaskada: error: no client 'no-such-id' in the server database {db}" \
        ": check the id (and --db)\n"


def test_usage_errors_exit_2() -> None:
    assert kaskada("server", "add-client").returncode == 2
    assert kaskada("serve", "--port", "not-a-number").returncode == 2


def test_canary_secret_never_in_the_database_log_or_output(
    start_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kaskada.server import store as store_module

    server = start_server(verbose=True)
    real = store_module.new_identifier
    calls = iter(["canary-client-id", CANARY])
    monkeypatch.setattr(store_module, "new_identifier", lambda n: next(calls, None) or real(n))
    client_id, secret = server.add_client("canary")
    assert secret == CANARY
    token = fetch_token(server, client_id, secret)
    stub = table_stub(server.endpoint)
    try:
        make_table(stub, token, "canary_table")
        with pytest.raises(grpc.RpcError):
            stub.ListTables(table_pb2.ListTablesRequest(), metadata=bearer(token + "x"))
    finally:
        stub.channel.close()
    # Failed grants and a secret in a query string must not reach the log either.
    post_token(server.token_url, f"grant_type=client_credentials&client_id={client_id}"
               f"&client_secret={CANARY}x".encode(),
               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert server.stop() == 0
    log, output = server.log(), server.output()
    assert "issued a token" in log  # the verbose log did record the events
    files = b"".join(p.read_bytes() for p in server.db.parent.iterdir()
                     if p.name.startswith(server.db.name))
    for text in (log, output):
        assert CANARY not in text and token not in text
    assert CANARY.encode() not in files and token.encode() not in files


@pytest.mark.real_keyring
def test_save_profile_puts_the_secret_in_the_keyring(
    real_keyring: str, tmp_path: Path
) -> None:
    import keyring

    db = tmp_path / "profile.sqlite3"
    result = kaskada("server", "add-client", "--account", "dev", "--db", str(db), "--json",
                     "--scrypt-n", "16", "--save-profile", "local", "--default")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    config = (Path(os.environ["KASKADA_CONFIG_DIR"]) / "config.toml").read_text()
    assert answer["client_id"] in config and answer["client_secret"] not in config
    assert 'default_profile = "local"' in config
    assert stored(keyring.get_password(real_keyring, "local")) == answer["client_secret"]
    # An existing profile without --force: one error, and the new client is undone.
    result = kaskada("server", "add-client", "--account", "dev", "--db", str(db),
                     "--scrypt-n", "16", "--save-profile", "local")
    assert result.returncode == 1 and "already exists" in result.stderr
    assert result.stdout == ""
    from kaskada.server.store import Store

    store = Store(db, scrypt_n=16)
    try:
        count = store._connect().execute(  # besides the built-in public kaskada-cli
            "SELECT count(*) FROM clients WHERE hash_scheme != 'public'").fetchone()[0]
    finally:
        store.close()
    assert count == 1


@pytest.mark.real_keyring
def test_add_client_text_says_where_the_secret_went(real_keyring: str, tmp_path: Path) -> None:
    db = tmp_path / "notes.sqlite3"
    shown = kaskada("server", "add-client", "--account", "a", "--db", str(db), "--scrypt-n", "16")
    assert shown.returncode == 0, shown.stderr
    assert "shown only now; give it to kaskada in one of these ways" in shown.stderr
    saved = kaskada("server", "add-client", "--account", "b", "--db", str(db), "--scrypt-n", "16",
                    "--save-profile", "b")
    assert saved.returncode == 0, saved.stderr
    assert "saved profile 'b' (secret in the keyring)" in saved.stderr
    assert "store it" not in saved.stderr  # it was stored: no advice to store it again


# A server whose GetTable of the table "held" blocks until a file appears: a call
# that is certainly in flight when SIGTERM arrives. Paths come in as argv[1:3].
HOLDING_SERVER = """
import sys, time
from pathlib import Path
from kaskada.server import tables

entered, release = Path(sys.argv.pop(1)), Path(sys.argv.pop(1))
original = tables.TableServicer.GetTable

def held(self, request, context):
    if request.table_name == "held":
        entered.touch()
        deadline = time.monotonic() + 30
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    return original(self, request, context)

tables.TableServicer.GetTable = held
from kaskada.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _wait_for(condition: Any, what: str, seconds: float = 20.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_sigterm_finishes_a_call_in_flight_and_refuses_new_ones(
    start_server: Any, tmp_path: Path
) -> None:
    """SIGTERM while a call is held open in a handler: new calls are refused (health
    said NOT_SERVING first, if asked in time), the held call is still answered, and
    the server exits 0."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    entered, release = tmp_path / "entered", tmp_path / "release"
    server = start_server(launcher=("-c", HOLDING_SERVER, str(entered), str(release)))
    client_id, secret = server.add_client("inflight")
    token = fetch_token(server, client_id, secret)
    stub = table_stub(server.endpoint)
    health_channel = grpc.insecure_channel(server.endpoint)
    health = health_pb2_grpc.HealthStub(health_channel)
    try:
        make_table(stub, token, "held")
        future = stub.GetTable.future(table_pb2.GetTableRequest(table_name="held"),
                                      metadata=bearer(token), timeout=60)
        _wait_for(entered.exists, "the held call to reach its handler")
        server.process.send_signal(signal.SIGTERM)

        statuses: list[int] = []

        def refusing_new_calls() -> bool:
            try:
                answer = health.Check(health_pb2.HealthCheckRequest(), timeout=5)
            except grpc.RpcError as error:
                return bool(error.code() == grpc.StatusCode.UNAVAILABLE)
            statuses.append(answer.status)
            return False

        _wait_for(refusing_new_calls, "the gRPC server to refuse new calls")
        assert not future.done()  # still held: it is in flight during the shutdown
        assert server.process.poll() is None
        assert set(statuses) <= {health_pb2.HealthCheckResponse.SERVING,
                                 health_pb2.HealthCheckResponse.NOT_SERVING}
        release.touch()
        assert future.result().table.table_name == "held"
    finally:
        release.touch()
        health_channel.close()
        stub.channel.close()
    assert server.stop() == 0
    assert "finishing calls in flight" in server.log()
    assert "Traceback" not in server.log()


@pytest.mark.parametrize("flag", ["--port", "--token-port"])
@pytest.mark.parametrize("value", ["-1", "65536", "99999", "http"])
def test_a_bad_port_is_a_usage_error(flag: str, value: str, tmp_path: Path) -> None:
    result = kaskada("serve", "--port", "0", "--token-port", "0", flag, value,
                     "--db", str(tmp_path / "db.sqlite3"))
    assert result.returncode == 2
    assert f"argument {flag}" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_start_server_refuses_a_port_out_of_range(tmp_path: Path) -> None:
    from kaskada.server import start_server
    from kaskada.server._errors import ServerError

    with pytest.raises(ServerError, match="--port -1 is not a TCP port"):
        start_server(db=tmp_path / "db.sqlite3", scrypt_n=16, port=-1)
    with pytest.raises(ServerError, match="--token-port 70000 is not a TCP port"):
        start_server(db=tmp_path / "db.sqlite3", scrypt_n=16, token_port=70000)


def test_revoke_on_a_missing_database_names_it_and_creates_nothing(tmp_path: Path) -> None:
    typo = tmp_path / "typo.sqlite3"
    result = kaskada("server", "revoke-client", "some-id", "--db", str(typo))
    assert result.returncode == 1
    assert result.stderr == (f"kaskada: error: no server database at {typo}: check --db (it is "
                             "created by 'kaskada serve' or 'kaskada server add-client')\n")
    assert list(tmp_path.iterdir()) == []


def test_save_profile_of_a_server_bound_to_every_interface_uses_localhost(
    tmp_path: Path, memory_keyring: dict[tuple[str, str], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A server on 0.0.0.0 is reached as localhost: a profile for 0.0.0.0 could not connect."""
    import tomllib

    from kaskada.cli import main
    from kaskada.server.store import Store

    db = tmp_path / "any.sqlite3"
    store = Store(db, scrypt_n=16)
    store.set_meta({"endpoint": "0.0.0.0:50061", "is_secure": "false",
                    "token_url": "http://0.0.0.0:50062/oauth/token"})
    store.close()
    assert main(["server", "add-client", "--account", "dev", "--db", str(db), "--json",
                 "--scrypt-n", "16", "--save-profile", "anywhere"]) == 0
    answer = json.loads(capsys.readouterr().out)
    config = tomllib.loads((Path(os.environ["KASKADA_CONFIG_DIR"]) / "config.toml").read_text())
    profile = config["profiles"]["anywhere"]
    assert profile["endpoint"] == "localhost:50061"
    assert profile["exchange_endpoint"] == "http://localhost:50062/oauth/token"
    assert profile["client_id"] == answer["client_id"]
    assert answer["client_secret"] in secrets(memory_keyring).values()


def test_ctrl_c_stops_the_server_cleanly(start_server: Any) -> None:
    server = start_server()
    server.process.send_signal(signal.SIGINT)
    assert server.process.wait(30) == 0
    assert server.stop() == 0
    assert "finishing calls in flight" in server.log()
    assert "Traceback" not in server.log() and "interrupted" not in server.log()
