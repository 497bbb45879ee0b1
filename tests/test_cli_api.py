"""``kaskada whoami``, ``token`` and ``table …`` as a user runs them: a child process.

The child gets the test's config folder and keyring service; profiles use the
real Secret Service (PYTHON_KEYRING_BACKEND is set by ``real_keyring``).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from kaskada._secret import Secret
from tests.helpers import run_cli as run
from tests.helpers import server_fields

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def client_env(local_server: Any) -> tuple[str, str, dict[str, str]]:
    client_id, secret = local_server.add_client(f"cli_{uuid.uuid4().hex[:8]}")
    env = {
        "KASKADA_CLIENT_ID": client_id,
        "KASKADA_CLIENT_SECRET": secret,
        "KASKADA_API_ENDPOINT": local_server.endpoint,
        "KASKADA_AUTH_ENDPOINT": local_server.token_url,
        "KASKADA_IS_SECURE": "false",
    }
    return client_id, secret, env


def test_whoami_proves_credentials_and_shows_sources(
    client_env: tuple[str, str, dict[str, str]], local_server: Any
) -> None:
    client_id, secret, env = client_env
    result = run("whoami", env=env)
    assert result.returncode == 0, result.stderr
    assert client_id in result.stdout and local_server.endpoint in result.stdout
    assert "[KASKADA_CLIENT_ID]" in result.stdout and "[KASKADA_API_ENDPOINT]" in result.stdout
    assert secret not in result.stdout + result.stderr
    document = json.loads(run("whoami", "--json", env=env).stdout)
    assert document["client_id"] == client_id
    assert document["settings"]["client_secret"]["value"] == "********"


def test_whoami_with_a_wrong_secret_is_one_line(
    client_env: tuple[str, str, dict[str, str]],
) -> None:
    _client_id, _secret, env = client_env
    canary = "canary-" + uuid.uuid4().hex
    result = run("whoami", env={**env, "KASKADA_CLIENT_SECRET": canary})
    assert result.returncode == 4  # credentials refused
    assert result.stderr.startswith("kaskada: error: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert canary not in result.stderr + result.stdout


def test_token_prints_only_a_token_the_server_accepts(
    client_env: tuple[str, str, dict[str, str]], local_server: Any
) -> None:
    from kaskada.api.v1alpha import table_pb2
    from tests.server_fixtures import bearer, table_stub

    _client_id, _secret, env = client_env
    result = run("token", env=env)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert result.stdout == token + "\n" and " " not in token
    stub = table_stub(local_server.endpoint)
    try:
        stub.ListTables(table_pb2.ListTablesRequest(), metadata=bearer(token), timeout=10)
    finally:
        stub.channel.close()


def test_table_lifecycle_from_the_shell(client_env: tuple[str, str, dict[str, str]]) -> None:
    _client_id, _secret, env = client_env
    assert json.loads(run("table", "list", "--json", env=env).stdout) == []
    made = run(
        "table",
        "create",
        "purchases",
        "--time-column",
        "ts",
        "--entity-key-column",
        "user",
        "--subsort-column",
        "seq",
        "--json",
        env=env,
    )
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["subsort_column_name"] == "seq"
    listed = json.loads(run("table", "list", "--json", env=env).stdout)
    assert [entry["table_name"] for entry in listed] == ["purchases"]
    got = run("table", "get", "purchases", env=env)
    assert "time_column_name" in got.stdout and "ts" in got.stdout
    again = run(
        "table",
        "create",
        "purchases",
        "--time-column",
        "ts",
        "--entity-key-column",
        "user",
        env=env,
    )
    assert again.returncode == 1 and "ALREADY_EXISTS" in again.stderr
    assert "add --exist-ok" in again.stderr and again.stderr.count("\n") == 1
    # --exist-ok: the same table is kept (a script can run again); other columns are not
    kept = run("table", "create", "purchases", "--time-column", "ts",
               "--entity-key-column", "user", "--exist-ok", "--json", env=env)  # fmt: skip
    assert kept.returncode == 0, kept.stderr
    assert json.loads(kept.stdout)["subsort_column_name"] == "seq"
    assert "exists already" in kept.stderr
    other = run("table", "create", "purchases", "--time-column", "when",
                "--entity-key-column", "user", "--exist-ok", env=env)  # fmt: skip
    assert other.returncode == 1 and other.stderr.count("\n") == 1, other.stderr
    assert "time_column_name is 'ts', not 'when'" in other.stderr
    assert run("table", "delete", "purchases", env=env).returncode == 0
    missing = run("table", "get", "purchases", env=env)
    assert missing.returncode == 1 and "NOT_FOUND" in missing.stderr


def test_profile_flag_selects_the_account(local_server: Any, real_keyring: str) -> None:
    from kaskada import table
    from kaskada.config import lifecycle as _profiles

    ids = {}
    for name in ("alpha", "beta"):
        client_id, secret = local_server.add_client(f"{name}_{uuid.uuid4().hex[:8]}")
        ids[name] = client_id
        _profiles.add_profile(
            name,
            {
                "client_id": client_id,
                "endpoint": local_server.endpoint,
                "exchange_endpoint": local_server.token_url,
                "is_secure": False,
            },
            Secret(secret),
        )
    import kaskada as kda

    table.create_table("only_beta", "t", "k", session=kda.session(profile="beta"))
    alpha = json.loads(run("table", "list", "--json", "--profile", "alpha").stdout)
    beta = json.loads(run("table", "list", "--json", "--profile", "beta").stdout)
    assert alpha == [] and [entry["table_name"] for entry in beta] == ["only_beta"]
    whoami = run("whoami", "--profile", "beta")
    assert ids["beta"] in whoami.stdout and "keyring (profile 'beta')" in whoami.stdout


def test_no_credentials_is_one_line_naming_the_ways() -> None:
    result = run("whoami")
    assert result.returncode == 4  # credentials missing
    assert "KASKADA_CLIENT_ID" in result.stderr and "profile" in result.stderr
    assert "Traceback" not in result.stderr


def test_usage_error_exits_2() -> None:
    assert run("table", "create", "x").returncode == 2


SETTINGS = (
    "profile", "client_id", "client_secret", "token", "auth", "endpoint", "is_secure",
    "exchange_endpoint", "audience", "ca_bundle", "timeout", "allow_insecure",
)  # fmt: skip


def test_whoami_prints_the_source_of_every_setting(
    client_env: tuple[str, str, dict[str, str]],
) -> None:
    _client_id, secret, env = client_env
    result = run("whoami", env={**env, "KASKADA_TIMEOUT": "9"})
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line.startswith("  ")}
    assert set(rows) == set(SETTINGS)
    assert all(row.rstrip().endswith("]") for row in rows.values())
    assert rows["timeout"].endswith("[KASKADA_TIMEOUT]")
    assert rows["client_secret"].split()[1] == "********"
    assert rows["auth"].split()[1:] == ["client_secret", "[KASKADA_CLIENT_SECRET]"]
    assert secret not in result.stdout


@pytest.mark.parametrize(
    ("variable", "value"),
    [("KASKADA_TIMEOUT", "inf"), ("KASKADA_IS_SECURE", "maybe"),
     ("KASKADA_API_ENDPOINT", "http://127.0.0.1:1")],
)  # fmt: skip
def test_bad_variables_are_one_line_naming_the_variable(
    client_env: tuple[str, str, dict[str, str]], variable: str, value: str
) -> None:
    _client_id, secret, env = client_env
    result = run("table", "list", env={**env, variable: value})
    assert result.returncode == 1
    assert result.stderr.startswith("kaskada: error: ") and result.stderr.count("\n") == 1
    assert variable in result.stderr and "Traceback" not in result.stderr
    assert secret not in result.stderr


def test_shadowed_credentials_warn_in_one_line_and_token_output_stays_clean(
    local_server: Any, real_keyring: str
) -> None:
    from kaskada.config import lifecycle as _profiles

    client_id, secret = local_server.add_client(f"shadow_{uuid.uuid4().hex[:8]}")
    _profiles.add_profile("shadow", server_fields(local_server, client_id), Secret(secret))
    canary = "canary-" + uuid.uuid4().hex
    env = {"KASKADA_CLIENT_ID": "someone-else", "KASKADA_CLIENT_SECRET": canary}
    result = run("token", "--profile", "shadow", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1 and " " not in result.stdout.strip()
    assert result.stderr.startswith("kaskada: warning: profile='shadow' is used;")
    assert result.stderr.count("\n") == 1 and "KASKADA_CLIENT_ID" in result.stderr
    assert canary not in result.stderr + result.stdout
