"""Hardening: one canary client secret through every surface at once.

A client of a real server (loopback) gets a recognisable canary secret; it is
saved as a profile through the CLI on the real Secret Service, then used by
the CLI, the Python API, ``kda.explain()``, the logs, and fenlmagic in a real
IPython shell. Afterwards the canary (and every access token we can see) must
appear in no output, log, repr, traceback or file: only in the keyring.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.capture import CaptureHTTP, EchoGrpc
from tests.helpers import run_cli as kaskada
from tests.stored import stored

ROOT = Path(__file__).resolve().parent.parent


def files_under(folder: Path) -> Iterator[tuple[Path, bytes]]:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            yield path, path.read_bytes()


class Leaks:
    """Collects every text a user or an operator could see, then searches it."""

    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []

    def add(self, where: str, text: str) -> None:
        self.texts.append((where, text))

    def add_cli(self, result: subprocess.CompletedProcess[str]) -> None:
        where = " ".join(str(arg) for arg in result.args[3:])
        self.add(f"stdout of kaskada {where}", result.stdout)
        self.add(f"stderr of kaskada {where}", result.stderr)

    def containing(self, needle: str) -> list[str]:
        return [where for where, text in self.texts if needle in text]


@pytest.mark.real_keyring
def test_canary_appears_nowhere_but_the_keyring(
    real_keyring: str,
    start_server: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    ipython_shell: Any,
) -> None:
    import keyring

    import kaskada as kda
    from kaskada import table
    from kaskada._errors import AuthenticationError, KaskadaError
    from kaskada.server import store as store_module

    canary = f"canary{uuid.uuid4().hex}"
    wrong = canary + "-wrong"  # contains the canary: if it leaks, the canary is found
    server = start_server(verbose=True)
    real = store_module.new_identifier
    names = iter([f"canary-client-{uuid.uuid4().hex[:8]}", canary])
    monkeypatch.setattr(store_module, "new_identifier", lambda n: next(names, None) or real(n))
    client_id, secret = server.add_client(f"canary-{uuid.uuid4().hex[:6]}")
    assert secret == canary
    connection = [
        "--endpoint", server.endpoint, "--plaintext", "--exchange-endpoint", server.token_url,
    ]  # fmt: skip
    leaks = Leaks()
    tokens: list[str] = []

    # -- the CLI, each command a real child process --------------------------------
    added = kaskada("profile", "add", "canary", "--client-id", client_id, *connection,
                    "--secret-stdin", "--default", input=canary)  # fmt: skip
    assert added.returncode == 0, added.stderr
    bad = kaskada("profile", "add", "bad", "--client-id", client_id, *connection,
                  "--secret-stdin", input=wrong)  # fmt: skip
    assert bad.returncode == 0, bad.stderr
    assert stored(keyring.get_password(real_keyring, "canary")) == canary  # the one allowed place
    assert stored(keyring.get_password(real_keyring, "bad")) == wrong
    results = [added, bad]
    for args in (
        ("profile", "list"),
        ("profile", "list", "--json"),
        ("profile", "show", "canary"),
        ("profile", "show", "canary", "--json"),
        ("profile", "show", "bad", "--json"),
        ("profile", "export"),
        ("profile", "current", "--json"),
        ("whoami",),
        ("whoami", "--profile", "canary", "--json"),
        ("table", "create", "canary_table", "--time-column", "t", "--entity-key-column", "k"),
        ("table", "list", "--json"),
        ("table", "get", "canary_table", "--json"),
        ("table", "get", "no_such_table"),
    ):
        results.append(kaskada(*args))
    assert all(result.returncode == 0 for result in results[:-1]), [
        (result.args, result.stderr) for result in results if result.returncode
    ]
    assert results[-1].returncode == 1  # NOT_FOUND: an expected error, one line
    listed = json.loads(results[-3].stdout)
    assert [found["table_name"] for found in listed] == ["canary_table"]  # the calls really ran
    failing = kaskada("whoami", "--profile", "bad")
    assert failing.returncode == 4 and "Traceback" not in failing.stderr  # refused: exit 4
    assert len(failing.stderr.strip().splitlines()) == 1
    results.append(failing)
    printed_token = kaskada("token", "--profile", "canary")
    assert printed_token.returncode == 0
    tokens.append(printed_token.stdout.strip())  # printing it is that command's job
    for result in results:
        leaks.add_cli(result)

    # -- import, replace, and servers that echo what they receive (issue 9) -------------
    echo_http = CaptureHTTP()
    echo_grpc = EchoGrpc()
    try:
        exported = tmp_path / "exported.toml"
        exported.write_text(kaskada("profile", "export", "canary").stdout)
        replaced = [
            kaskada("profile", "import", str(exported), "--force"),  # unchanged: secret kept
            kaskada("profile", "add", "echo", "--client-id", client_id, "--exchange-endpoint",
                    echo_http.url, "--secret-stdin", input=canary),
            kaskada("whoami", "--profile", "echo"),  # the token endpoint echoes the form body
            kaskada("profile", "add", "grpcecho", "--client-id", client_id, "--endpoint",
                    echo_grpc.endpoint, "--plaintext", "--exchange-endpoint", server.token_url,
                    "--secret-stdin", input=canary),
            kaskada("table", "list", "--profile", "grpcecho"),  # gRPC echoes the header
            kaskada("profile", "add", "echo", "--client-id", client_id, "--exchange-endpoint",
                    server.token_url, "--force"),  # replaced: the secret is dropped
        ]
        assert [result.returncode for result in replaced] == [0, 0, 4, 0, 1, 0], [
            result.stderr for result in replaced
        ]
        assert "deleted the stored secret" in replaced[-1].stderr
        assert kaskada("whoami", "--profile", "canary").returncode == 0  # import kept it
        assert echo_http.requests and echo_grpc.metadata  # the echoes really happened
        tokens.extend(
            found["authorization"].removeprefix("Bearer ") for found in echo_grpc.metadata
        )
        for result in replaced:
            leaks.add_cli(result)
        with pytest.raises(KaskadaError) as echoed:
            table.list_tables(session=kda.session(profile="grpcecho"))
        leaks.add("echoed error", str(echoed.value) + repr(echoed.value))
        leaks.add("echoed traceback", "".join(traceback.format_exception(echoed.value)))
        with pytest.raises(AuthenticationError) as refused:
            kda.session(client_id=client_id, client_secret=kda.Secret(canary),
                        exchange_endpoint=echo_http.url).access_token()  # fmt: skip
        leaks.add("echoed exchange error", str(refused.value) + repr(refused.value))
    finally:
        echo_http.close()
        echo_grpc.close()

    # -- the Python API, logging at DEBUG ---------------------------------------------
    with caplog.at_level(logging.DEBUG, logger="kaskada"):
        session = kda.init(profile="canary")
        tables = table.list_tables()
        assert "canary_table" in tables
        tokens.append(session.access_token().reveal())
        explanation = kda.explain()
        leaks.add("str(kda.explain())", str(explanation))
        leaks.add("repr(kda.explain())", repr(explanation))
        leaks.add("kda.explain().to_json()", json.dumps(explanation.to_json()))
        leaks.add("repr(Session)", repr(session))
        leaks.add("str(Session)", str(session))
        leaks.add("repr(Settings)", repr(session.settings))
        leaks.add("str(Settings)", str(session.settings))
        leaks.add("Settings.rows()", repr(session.settings.rows()))
        leaks.add("repr(tables)", repr(tables))
        with pytest.raises(AuthenticationError) as caught, kda.session(profile="bad"):
            table.list_tables()
        error = caught.value
        leaks.add("str(error)", str(error))
        leaks.add("repr(error)", repr(error))
        leaks.add("traceback", "".join(traceback.format_exception(error)))
        env_session = kda.session(
            client_id=client_id,
            client_secret=kda.Secret(canary),
            endpoint=server.endpoint,
            exchange_endpoint=server.token_url,
            is_secure=False,
        )
        leaks.add("repr(explicit Session)", repr(env_session))
        leaks.add("str(explain(explicit))", str(kda.explain(env_session)))
        assert "canary_table" in table.list_tables(session=env_session)
    leaks.add("kaskada logger at DEBUG", caplog.text)
    assert "canary" in caplog.text  # the DEBUG log did record the profile's activity
    leaks.add("captured stdout/stderr", "".join(capsys.readouterr()))

    # -- fenlmagic in a real IPython shell ----------------------------------------------
    shell = ipython_shell
    for source in (
        "%load_ext fenlmagic",
        "%fenl_auth --profile canary",
        "%fenl_whoami",
        "import kaskada as kda; kda.explain()",
        "from kaskada import table; table.list_tables()",
        "%%fenl_session bad\ntable.list_tables()",
        "%fenl_auth --profile bad",
        f"%fenl_auth {client_id} -{canary}",  # a usage error: must not repeat the word
        f"%fenl_auth {client_id} {canary} " + " ".join(connection),
    ):
        result = shell.run_cell(source, store_history=True)
        out = capsys.readouterr()
        leaks.add(f"IPython {source.splitlines()[0]!r}", out.out + out.err)
        leaks.add(f"IPython result of {source.splitlines()[0]!r}", repr(result.result))
        if result.error_in_exec is not None:
            leaks.add(f"IPython error of {source!r}", repr(result.error_in_exec))
    assert any("Authenticated as" in text for _, text in leaks.texts)
    assert any("UsageError" in text for _, text in leaks.texts)
    history = "\n".join(
        str(entry) for entry in shell.history_manager.get_range(output=True, raw=False)
    )
    # The last magic typed the secret on purpose: it is in the user's own input history
    # (fenlmagic warns about that). Everything else must be clean.
    leaks.add("IPython output history", repr(shell.history_manager.output_hist_reprs))

    # -- the server and every file ---------------------------------------------------
    files_while_running = list(files_under(tmp_path))
    assert server.stop() == 0
    leaks.add("server stdout", server.output())
    leaks.add("server stderr (verbose log)", server.log())
    assert "issued a token" in server.log()
    for path, data in files_while_running + list(files_under(tmp_path)):
        leaks.add(str(path), data.decode("utf-8", "replace"))
        leaks.add(f"{path} (hex)", data.hex())
    folders = {Path(os.environ["KASKADA_CONFIG_DIR"]), Path(os.environ["KASKADA_DATA_DIR"])}
    assert all(folder.is_relative_to(tmp_path) for folder in folders)
    assert any(path.suffix == ".sqlite3" for path, _ in files_while_running)

    # -- the verdict -------------------------------------------------------------------
    assert leaks.containing(canary) == []
    assert leaks.containing(canary.encode().hex()) == []
    for token in tokens:
        assert len(token) >= 16
        # The token cache on disk holds tokens by design (0600 in a 0700 folder; the
        # secret, checked above, is never there).
        cache = os.environ["KASKADA_CACHE_DIR"]
        found = [where for where in leaks.containing(token) if not where.startswith(cache)]
        assert found in ([], ["stdout of kaskada token --profile canary"]), found
    assert history  # the shell did record the session
