"""`kaskada configure` and `kaskada profile …` as a user runs them: real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keyring
import pytest

from tests.helpers import assert_one_line_error, files_containing
from tests.helpers import run_cli as kaskada
from tests.stored import stored

REPO = Path(__file__).resolve().parents[1]
CANARY = "canary-cli-0c5f2b9d7e"


def test_lifecycle_against_the_real_secret_service(
    real_keyring: str, isolated_environment: Path
) -> None:
    added = kaskada(
        "profile", "add", "dev", "--client-id", "id-dev", "--endpoint", "localhost:50051",
        "--plaintext", "--secret-stdin", "--default", input=CANARY + "\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert stored(keyring.get_password(real_keyring, "dev")) == CANARY

    shown = kaskada("profile", "show", "dev", "--json")
    assert shown.returncode == 0, shown.stderr
    row = json.loads(shown.stdout)
    assert row["secret_stored"] is True and row["default"] is True
    assert row["client_id"] == "id-dev" and row["is_secure"] is False

    renamed = kaskada("profile", "rename", "dev", "staging")
    assert renamed.returncode == 0, renamed.stderr
    assert stored(keyring.get_password(real_keyring, "staging")) == CANARY
    assert keyring.get_password(real_keyring, "dev") is None
    listed = json.loads(kaskada("profile", "list", "--json").stdout)
    assert listed == [
        {"name": "staging", "default": True, "client_id": "id-dev",
         "endpoint": "localhost:50051", "is_secure": False, "secret_store": "keyring"}
    ]  # fmt: skip

    removed = kaskada("profile", "remove", "staging")
    assert removed.returncode == 0, removed.stderr
    assert "was the default" in removed.stderr
    assert keyring.get_password(real_keyring, "staging") is None
    assert json.loads(kaskada("profile", "list", "--json").stdout) == []
    for result in (added, shown, renamed, removed):
        assert CANARY not in result.stdout + result.stderr


def test_canary_never_leaks(real_keyring: str, isolated_environment: Path, tmp_path: Path) -> None:
    outputs = [
        kaskada("profile", "add", "prod", "--client-id", "id-p", "--endpoint",
                "localhost:50051", "--plaintext", "--exchange-endpoint",
                "http://localhost:50052/oauth/token", "--secret-stdin", "--default",
                input=CANARY),
        kaskada("profile", "list"),
        kaskada("profile", "list", "--json"),
        kaskada("profile", "show", "prod"),
        kaskada("profile", "show", "prod", "--json"),
        kaskada("profile", "export"),
        kaskada("profile", "current"),
        kaskada("profile", "current", "--json"),
        kaskada("profile", "add", "prod", "--client-id", "x", "--secret-stdin", input=CANARY),
        kaskada("profile", "rename", "prod", "prod2"),
        kaskada("profile", "use", "prod2"),
    ]  # fmt: skip
    assert outputs[0].returncode == 0, outputs[0].stderr
    assert outputs[8].returncode == 1  # exists without --force
    for result in outputs:
        assert CANARY not in result.stdout and CANARY not in result.stderr, result.args
    assert stored(keyring.get_password(real_keyring, "prod2")) == CANARY
    assert files_containing(tmp_path, CANARY) == []
    kaskada("profile", "remove", "prod2")
    assert keyring.get_password(real_keyring, "prod2") is None


def test_canary_not_in_logs_or_reprs(
    memory_keyring: dict[tuple[str, str], str], caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from kaskada._secret import Secret
    from kaskada.config import file as _config
    from kaskada.config import lifecycle as _profiles
    from kaskada.credentials import stored as _stored_secrets

    with caplog.at_level(logging.DEBUG, logger="kaskada"):
        profile = _profiles.add_profile("dev", {"client_id": "a"}, Secret(CANARY))
        secret = _stored_secrets.profile_secret("dev", "a")
        _profiles.rename_profile("dev", "qa")
        _profiles.remove_profile("qa")
    assert secret is not None and secret.reveal() == CANARY
    assert CANARY not in caplog.text
    assert CANARY not in repr(profile) + repr(secret) + repr(_config.load())


def test_list_never_imports_keyring(isolated_environment: Path) -> None:
    assert kaskada("profile", "add", "dev", "--client-id", "a").returncode == 0
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "kaskada", "profile", "list"],
        capture_output=True, text=True, env=environment, cwd=REPO, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0 and "dev" in result.stdout
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert "kaskada.config.file" in imported  # the probe works
    assert not {name for name in imported if name.split(".")[0] == "keyring"}


def test_fail_backend_refuses_and_writes_nothing(tmp_path: Path) -> None:
    result = kaskada(
        "profile", "add", "dev", "--client-id", "a", "--secret-stdin",
        input=CANARY, env={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"},
    )  # fmt: skip
    assert_one_line_error(
        result, "keyring.backends.fail.Keyring", "'dev'", "PYTHON_KEYRING_BACKEND",
        "KASKADA_CLIENT_SECRET", "Secret Service",
    )  # fmt: skip
    assert CANARY not in result.stdout + result.stderr
    assert files_containing(tmp_path, CANARY) == []
    assert "dev" not in kaskada("profile", "list").stdout


def test_blocking_backend_returns_within_the_timeout(isolated_environment: Path) -> None:
    blocking = {
        "PYTHON_KEYRING_BACKEND": "tests.keyring_blocking.Keyring",
        "KASKADA_KEYRING_TIMEOUT": "1",
    }
    result = kaskada(
        "profile", "add", "dev", "--client-id", "a", "--secret-stdin", input=CANARY, env=blocking
    )
    assert_one_line_error(result, "did not answer within 1 s", "KASKADA_KEYRING_TIMEOUT")
    assert "dev" not in kaskada("profile", "list").stdout
    assert kaskada("profile", "add", "dev", "--client-id", "a").returncode == 0
    shown = kaskada("profile", "show", "dev", env=blocking)
    assert shown.returncode == 0 and "secret: unknown" in shown.stdout
    assert_one_line_error(kaskada("profile", "remove", "dev", env=blocking), "did not answer")
    assert "dev" in kaskada("profile", "list").stdout  # nothing removed half-way


def test_corrupt_file_exit_1_with_path_and_line(isolated_environment: Path) -> None:
    isolated_environment.mkdir(mode=0o700)
    path = isolated_environment / "config.toml"
    original = b'default_profile = "dev"\n\n[profiles.dev\nclient_id = "a"\n'
    path.write_bytes(original)
    path.chmod(0o600)
    for args in (("profile", "list"), ("profile", "add", "x", "--client-id", "y"),
                 ("profile", "use", "dev"), ("profile", "remove", "dev")):  # fmt: skip
        assert_one_line_error(kaskada(*args), str(path), "line 3")
    assert path.read_bytes() == original


def test_invalid_utf8_in_file(isolated_environment: Path) -> None:
    isolated_environment.mkdir(mode=0o700)
    path = isolated_environment / "config.toml"
    path.write_bytes(b'[profiles.dev]\nclient_id = "\xc3\x28"\n')
    path.chmod(0o600)
    assert_one_line_error(kaskada("profile", "list"), str(path), "line 2", "UTF-8")


@pytest.mark.parametrize("name", ["", "a b", "../x", "x" * 10_000])
def test_bad_names_are_clear_errors(name: str, isolated_environment: Path) -> None:
    result = kaskada("profile", "add", name, "--client-id", "a")
    assert_one_line_error(result, "profile name")
    assert len(result.stderr) < 400
    assert not (isolated_environment / "config.toml").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--endpoint", ""), "endpoint is empty"),
        (("--ca-bundle", "/nonexistent/roots.pem"), "--ca-bundle /nonexistent/roots.pem"),
    ],
)
def test_bad_values_are_clear_errors(args: tuple[str, ...], message: str) -> None:
    assert_one_line_error(kaskada("profile", "add", "dev", "--client-id", "a", *args), message)


def test_usage_errors_exit_2() -> None:
    assert kaskada("profile", "add", "dev").returncode == 2  # --client-id is required
    assert kaskada("profile").returncode == 2
    assert kaskada("profile", "add", "dev", "--client-id", "a", "--timeout", "soon").returncode == 2
    zero = kaskada("profile", "add", "dev", "--client-id", "a", "--timeout", "0")
    assert zero.returncode == 2 and "above 0" in zero.stderr  # as `profile set dev timeout 0`


def test_empty_secret_on_stdin_is_refused(isolated_environment: Path) -> None:
    result = kaskada("profile", "add", "dev", "--client-id", "a", "--secret-stdin", input="")
    assert_one_line_error(result, "--secret-stdin read an empty secret")


def test_import_examples_use_current_export(isolated_environment: Path) -> None:
    imported = kaskada("profile", "import", str(REPO / "profiles" / "several-accounts.toml"))
    assert imported.returncode == 0, imported.stderr
    again = kaskada("profile", "import", str(REPO / "profiles" / "several-accounts.toml"))
    assert_one_line_error(again, "already exist", "--force")
    assert kaskada("profile", "import", str(REPO / "profiles" / "hosted.toml")).returncode == 0
    text = kaskada("profile", "list").stdout
    assert "* dev" in text and "hosted" in text and "kaskada.example.com:443" in text
    assert kaskada("profile", "use", "hosted").returncode == 0
    current = kaskada("profile", "current", env={"KASKADA_PROFILE": "staging"})
    assert "staging" in current.stdout + current.stderr
    exported = kaskada("profile", "export", "prod")
    assert exported.returncode == 0
    assert '[profiles.prod]\nclient_id = "replace-with-the-prod-client-id"' in exported.stdout
    assert "hosted" not in exported.stdout
    missing = kaskada("profile", "import", str(REPO / "profiles" / "nope.toml"))
    assert_one_line_error(missing, "nope.toml")


def test_show_unknown_profile(isolated_environment: Path) -> None:
    assert_one_line_error(kaskada("profile", "show", "ghost"), "'ghost'", "kaskada profile add")


def test_configure_reads_answers_and_moves_a_plain_secret(
    memory_keyring: dict[tuple[str, str], str],
    isolated_environment: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """In-process (the keyring is the memory one); the answers come from a pipe."""
    import io

    from kaskada.cli import main
    from kaskada.config import file as _config

    isolated_environment.mkdir(mode=0o700)
    path = isolated_environment / "config.toml"
    path.write_text(f'[profiles.old]\nclient_id = "o"\nclient_secret = "{CANARY}"\n')
    path.chmod(0o600)
    assert_error = main(["profile", "list"])
    assert assert_error == 1 and "kaskada configure --profile old" in capsys.readouterr().err
    # Client ID kept, endpoint typed, token endpoint and audience kept, Enter at the secret.
    monkeypatch.setattr("sys.stdin", io.StringIO("\nlocalhost:50051\n\n\n\n"))
    assert main(["configure", "--profile", "old"]) == 0
    assert CANARY not in path.read_text()
    from kaskada.config.paths import keyring_service

    assert stored(memory_keyring.get((keyring_service(), "old"))) == CANARY
    profile = _config.get_profile("old")
    assert profile.client_id == "o" and profile.endpoint == "localhost:50051"
    assert _config.load().default_profile == "old"
    assert CANARY not in capsys.readouterr().err
