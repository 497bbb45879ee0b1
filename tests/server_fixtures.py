"""Fixtures that start a real ``kaskada serve`` on free loopback ports.

- ``local_server`` (session scope): a running server; attributes ``endpoint``
  ("127.0.0.1:PORT"), ``token_url`` ("http://127.0.0.1:PORT/oauth/token"), ``db``
  (Path); methods ``add_client(account) -> (client_id, client_secret)`` and
  ``revoke_client(client_id)``.
- ``start_server`` (function scope): a factory ``start_server(**options)``
  returning a fresh server of the same shape, stopped after the test. Options
  become ``kaskada serve`` flags (``tls_cert=path`` -> ``--tls-cert path``,
  ``verbose=True`` -> ``--verbose``); ``db`` defaults to a new file.
  ``launcher=("-c", code)`` runs ``python -c code serve …`` instead of
  ``python -m kaskada serve …``: a test can patch the server before it starts
  (the code ends with ``sys.exit(kaskada.cli.main(sys.argv[1:]))``).

The server is a subprocess (``python -m kaskada serve --port 0 --token-port 0``)
with a low scrypt cost; ``add_client`` and ``revoke_client`` work in-process on
the same database file, as a second process would. Its stdout and stderr go to
files (``output_path``, ``log_path``) so tests can search them.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

TEST_SCRYPT_N = 16
READY = re.compile(r"^kaskada serve: gRPC on (\S+), token endpoint (\S+)$")
START_TIMEOUT = 30.0


class ServerProcess:
    """A ``kaskada serve`` child process and the addresses it printed."""

    def __init__(
        self,
        folder: Path,
        *,
        db: Path | None = None,
        launcher: Sequence[str] = ("-m", "kaskada"),
        **options: Any,
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.db = Path(db) if db is not None else folder / "server.sqlite3"
        self.output_path = folder / "serve.out"
        self.log_path = folder / "serve.err"
        args = [sys.executable, *launcher, "serve", "--port", "0", "--token-port", "0",
                "--db", str(self.db), "--scrypt-n", str(TEST_SCRYPT_N)]
        for key, value in options.items():
            flag = "--" + key.replace("_", "-")
            if value is True:
                args.append(flag)
            elif value not in (None, False):
                args += [flag, str(value)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("KASKADA_")}
        env["KASKADA_CONFIG_DIR"] = str(folder / "config")
        env["KASKADA_DATA_DIR"] = str(folder / "data")
        env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
        self._out = open(self.output_path, "wb")  # noqa: SIM115 - closed in stop()
        self._err = open(self.log_path, "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            args, stdout=self._out, stderr=self._err, stdin=subprocess.DEVNULL, env=env
        )
        self.endpoint, self.token_url = self._wait_ready()
        self.is_secure = self.token_url.startswith("https:")

    def _wait_ready(self) -> tuple[str, str]:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            lines = self.output_path.read_text().splitlines()
            if lines:
                match = READY.match(lines[0])
                if not match:
                    self.stop()
                    raise AssertionError(f"unexpected first line from kaskada serve: {lines[0]!r}")
                return match.group(1), match.group(2)
            if self.process.poll() is not None:
                self._close_files()
                raise AssertionError(
                    f"kaskada serve exited {self.process.returncode}: {self.log_path.read_text()}"
                )
            time.sleep(0.05)
        self.stop()
        raise AssertionError("kaskada serve did not print its address line in time")

    def _store(self) -> Any:
        from kaskada.server.store import Store

        return Store(self.db, scrypt_n=TEST_SCRYPT_N)

    def add_client(self, account: str) -> tuple[str, str]:
        store = self._store()
        try:
            client_id, secret = store.add_client(account)
        finally:
            store.close()
        return client_id, secret.reveal()

    def revoke_client(self, client_id: str) -> None:
        store = self._store()
        try:
            store.revoke_client(client_id)
        finally:
            store.close()

    def output(self) -> str:
        return self.output_path.read_text()

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM (a graceful stop) and wait; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._close_files()
        return self.process.returncode

    def _close_files(self) -> None:
        self._out.close()
        self._err.close()


@pytest.fixture(scope="session")
def local_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("local-server"))
    yield server
    server.stop()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Any]:
    started: list[ServerProcess] = []

    def start(**options: Any) -> ServerProcess:
        server = ServerProcess(tmp_path / f"server-{len(started)}", **options)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


# -- helpers for tests that talk to a server without the client library -------


def post_token(
    token_url: str,
    body: bytes,
    *,
    headers: dict[str, str] | None = None,
    context: Any = None,
) -> tuple[int, dict[str, str], dict[str, Any]]:
    """POST to the token endpoint; (status, headers, JSON body) also for error answers."""
    import json
    import urllib.error
    import urllib.request

    request = urllib.request.Request(token_url, data=body, method="POST", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), json.loads(error.read())


def fetch_token(server: Any, client_id: str, secret: str, *, context: Any = None) -> str:
    """An access token by the form-encoded client-credentials grant."""
    import urllib.parse

    body = urllib.parse.urlencode(
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    ).encode()
    status, _, answer = post_token(
        server.token_url,
        body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        context=context,
    )
    assert status == 200, answer
    return str(answer["access_token"])


def table_stub(endpoint: str, *, root_pem: bytes | None = None) -> Any:
    """A raw generated TableService stub on a new channel (close with stub.channel.close())."""
    import grpc

    from kaskada.api.v1alpha import table_pb2_grpc

    if root_pem is not None:
        channel = grpc.secure_channel(endpoint, grpc.ssl_channel_credentials(root_pem))
    else:
        channel = grpc.insecure_channel(endpoint)
    stub = table_pb2_grpc.TableServiceStub(channel)  # type: ignore[no-untyped-call]
    stub.channel = channel  # type: ignore[attr-defined]
    return stub


def bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]
