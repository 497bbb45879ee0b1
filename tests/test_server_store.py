"""The server's SQLite store: permissions, schema version, hashing, revocation."""

from __future__ import annotations

import base64
import os
import re
import secrets
import sqlite3
import stat
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from kaskada._errors import ServerError
from kaskada.server import store as store_module
from kaskada.server.store import SCHEMA_VERSION, TOKEN_BYTES, Store, hash_token, new_identifier
from tests.helpers import open_fds

CANARY = "canary-secret-Zq7x"
URL_SAFE = re.compile(r"[A-Za-z0-9_-]+")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_database_and_wal_files_are_private(tmp_path: Path) -> None:
    db = tmp_path / "fresh" / "server.sqlite3"
    store = Store(db, scrypt_n=16)
    try:
        store.add_client("acct")  # a write, so the -wal and -shm files exist
        assert mode(db.parent) == 0o700
        companions = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
        assert all(path.exists() for path in companions)
        assert {path.name: mode(path) for path in companions} == {
            path.name: 0o600 for path in companions
        }
        journal = sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0]
        assert journal == "wal"
    finally:
        store.close()


def test_default_location_is_the_data_dir(tmp_path: Path) -> None:
    store = Store(scrypt_n=16)
    try:
        assert store.path == Path(os.environ["KASKADA_DATA_DIR"]) / "server.sqlite3"
        assert store.path.exists()
    finally:
        store.close()


def test_schema_version_is_recorded_and_a_newer_one_refused(tmp_path: Path) -> None:
    db = tmp_path / "server.sqlite3"
    Store(db, scrypt_n=16).close()
    connection = sqlite3.connect(db)
    assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.close()
    with pytest.raises(ServerError) as caught:
        Store(db, scrypt_n=16)
    assert str(db) in str(caught.value) and "upgrade kaskada" in str(caught.value)


def test_a_file_that_is_not_a_database_is_refused_with_its_path(tmp_path: Path) -> None:
    db = tmp_path / "server.sqlite3"
    db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ServerError) as caught:
        Store(db, scrypt_n=16)
    assert str(db) in str(caught.value) and "--db" in str(caught.value)


def test_secret_is_stored_only_as_a_salted_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "new_identifier", _canary_identifiers())
    db = tmp_path / "server.sqlite3"
    store = Store(db, scrypt_n=16)
    try:
        client_id, secret = store.add_client("acct")
        assert secret.reveal() == CANARY
        assert store.authenticate_client(client_id, CANARY) is not None
        assert store.authenticate_client(client_id, CANARY + "x") is None
        assert store.authenticate_client("no-such-client", CANARY) is None
        data = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
        assert CANARY.encode() not in data
    finally:
        store.close()


def _canary_identifiers() -> Callable[[int], str]:
    calls = iter(["client-id-1", CANARY])

    def fake(nbytes: int) -> str:
        return next(calls, "token-" + "a" * 40)

    return fake


def test_generated_identifiers_never_start_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    values = iter(["-starts-with-dash", "--again", "fine-value"])
    monkeypatch.setattr(secrets, "token_urlsafe", lambda n: next(values))
    assert new_identifier(32) == "fine-value"


def test_scrypt_cost_must_be_a_power_of_two(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ServerError, match="power of 2"):
        Store(tmp_path / "a.sqlite3", scrypt_n=1000)
    monkeypatch.setenv("KASKADA_SERVER_SCRYPT_N", "abc")
    with pytest.raises(ServerError, match="KASKADA_SERVER_SCRYPT_N"):
        Store(tmp_path / "b.sqlite3")
    monkeypatch.setenv("KASKADA_SERVER_SCRYPT_N", "32")
    store = Store(tmp_path / "c.sqlite3")
    assert store.scrypt_n == 32
    store.close()


def test_revocation_by_another_process_reaches_a_warm_connection(tmp_path: Path) -> None:
    db = tmp_path / "server.sqlite3"
    store = Store(db, scrypt_n=16)
    try:
        client_id, _ = store.add_client("acct")
        token = store.issue_token(client_id, 3600).reveal()
        first = store.lookup_token(token)
        assert first is not None and not first.revoked
        assert store.lookup_token(token) == first  # now served from the cache
        result = subprocess.run(
            [sys.executable, "-m", "kaskada", "server", "revoke-client", client_id, "--db",
             str(db)],
            capture_output=True, text=True, timeout=60,
        )
        assert result.returncode == 0, result.stderr
        after = store.lookup_token(token)
        assert after is not None and after.revoked
    finally:
        store.close()


def test_revoking_an_unknown_client_names_it(tmp_path: Path) -> None:
    store = Store(tmp_path / "server.sqlite3", scrypt_n=16)
    try:
        with pytest.raises(ServerError, match="no client 'nope'"):
            store.revoke_client("nope")
    finally:
        store.close()


def test_tables_are_per_account(tmp_path: Path) -> None:
    store = Store(tmp_path / "server.sqlite3", scrypt_n=16)
    try:
        for account in ("a", "b"):
            store.create_table(
                account, table_name="same", time_column_name="t",
                entity_key_column_name="k", subsort_column_name=None, grouping_id="",
            )
        a = store.get_table("a", "same")
        b = store.get_table("b", "same")
        assert a is not None and b is not None and a.table_id != b.table_id
        assert store.delete_table("a", "same")
        assert store.get_table("a", "same") is None
        assert store.get_table("b", "same") is not None
    finally:
        store.close()


def test_tokens_are_stored_only_as_their_sha256(tmp_path: Path) -> None:
    db = tmp_path / "server.sqlite3"
    store = Store(db, scrypt_n=16)
    try:
        client_id, _ = store.add_client("acct")
        tokens = [store.issue_token(client_id, 3600).reveal() for _ in range(3)]
        rows = store._connect().execute("SELECT token_hash FROM tokens").fetchall()
        assert {row[0] for row in rows} == {hash_token(token) for token in tokens}
        assert all(len(row[0]) == 32 for row in rows)
        data = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
        for token in tokens:
            assert token.encode() not in data
            assert len(base64.urlsafe_b64decode(token + "=")) == TOKEN_BYTES
    finally:
        store.close()


def test_many_generated_ids_and_secrets_are_url_safe_and_never_start_with_a_dash(
    tmp_path: Path,
) -> None:
    # Without the guard about 1 in 64 would start with '-': 4000 draws would show it.
    for nbytes in (16, 32):
        values = [new_identifier(nbytes) for _ in range(2000)]
        assert not [v for v in values if v.startswith("-")]
        assert all(URL_SAFE.fullmatch(v) for v in values)
        assert len(set(values)) == len(values)
    store = Store(tmp_path / "server.sqlite3", scrypt_n=2)
    try:
        pairs = [store.add_client("acct") for _ in range(200)]
    finally:
        store.close()
    for client_id, secret in pairs:
        for value in (client_id, secret.reveal()):
            assert URL_SAFE.fullmatch(value) and not value.startswith("-")


def test_a_read_only_command_does_not_create_a_database(tmp_path: Path) -> None:
    db = tmp_path / "typo.sqlite3"
    with pytest.raises(ServerError, match=r"no server database at .*check --db"):
        Store(db, scrypt_n=16, create=False)
    assert not db.exists()


def test_a_refused_database_leaves_no_connection_open(tmp_path: Path) -> None:
    db = tmp_path / "server.sqlite3"
    Store(db, scrypt_n=16).close()
    connection = sqlite3.connect(db)
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.close()
    before = _open_files(db)
    with pytest.raises(ServerError):
        Store(db, scrypt_n=16)
    assert _open_files(db) == before


def _open_files(db: Path) -> int:
    """How many of this process's file descriptors point at ``db`` or its companions."""
    return len(open_fds(under=db))


def test_a_finished_thread_releases_its_connection(tmp_path: Path) -> None:
    """The token endpoint serves each connection on a new thread; each must close its
    SQLite connection, or every token request leaks two file descriptors."""
    db = tmp_path / "server.sqlite3"
    store = Store(db, scrypt_n=16)
    try:
        client_id, _ = store.add_client("acct")
        baseline = _open_files(db)

        def request() -> None:
            store.issue_token(client_id, 60)
            store.release_thread()

        def run(threads: int) -> int:
            for _ in range(threads):
                thread = threading.Thread(target=request)
                thread.start()
                thread.join(10)
            return _open_files(db)

        # SQLite may keep a closed connection's descriptor for reuse while another
        # connection holds the file, so: a small constant, not two per thread.
        after_few = run(5)
        assert run(30) == after_few <= baseline + 2
        assert store.lookup_token("x" * 43) is None  # this thread's connection still works
    finally:
        store.close()
    assert _open_files(db) == 0


def test_a_database_and_companions_made_wider_are_narrowed(tmp_path: Path) -> None:
    db = tmp_path / "server.sqlite3"
    Store(db, scrypt_n=16).close()
    companions = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
    for path in companions[1:]:  # as an unclean stop leaves them: not empty
        path.write_bytes(b"\0" * 64)  # (SQLite itself narrows an empty one)
    for path in companions:
        path.chmod(0o644)
    store = Store(db, scrypt_n=16)
    try:
        store.add_client("acct")
        assert {path.name: mode(path) for path in companions} == {
            path.name: 0o600 for path in companions
        }
    finally:
        store.close()
