"""Second-pass findings on profiles and secrets, each pinned by a test.

Stale secrets never follow a profile to another account; a secret rotated from
another shell is picked up; ``configure`` and ``--secret-stdin`` never echo a
secret typed on a real terminal and never end in a traceback.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import keyring
import pytest

from kaskada._errors import ConfigError
from kaskada._secret import Secret
from kaskada.config import file as _config
from kaskada.config import lifecycle as _profiles
from kaskada.credentials import stored as _stored_secrets
from tests.helpers import assert_one_line_error, files_containing
from tests.helpers import run_cli as kaskada
from tests.stored import entry, secrets, stored

REPO = Path(__file__).resolve().parents[1]
CANARY = "canary-audit-6a1f0e93"
Store = dict[tuple[str, str], str]


def service() -> str:
    from kaskada.config.paths import keyring_service

    return keyring_service()


# --- a secret never follows a name to another account ---------------------------


def test_rename_over_a_profile_drops_the_replaced_secret(memory_keyring: Store) -> None:
    _profiles.add_profile("b", {"client_id": "B"}, Secret(CANARY))
    _profiles.add_profile("a", {"client_id": "A"}, None)
    renamed = _profiles.rename_profile("a", "b", force=True)
    assert renamed.client_id == "A"
    assert (service(), "b") not in memory_keyring  # B's secret must not serve client A
    assert _stored_secrets.profile_secret("b", "A") is None


def test_rename_with_a_secret_over_a_profile_replaces_it(memory_keyring: Store) -> None:
    _profiles.add_profile("b", {"client_id": "B"}, Secret("secret-of-B"))
    _profiles.add_profile("a", {"client_id": "A"}, Secret(CANARY))
    _profiles.rename_profile("a", "b", force=True)
    assert secrets(memory_keyring) == {(service(), "b"): CANARY}


def test_import_force_keeps_a_secret_only_for_the_same_client_id(
    memory_keyring: Store, tmp_path: Path
) -> None:
    _profiles.add_profile("same", {"client_id": "S"}, Secret("kept"))
    _profiles.add_profile("moved", {"client_id": "old-id"}, Secret(CANARY))
    incoming = tmp_path / "incoming.toml"
    incoming.write_text(
        '[profiles.same]\nclient_id = "S"\ntimeout = 5\n'
        '[profiles.moved]\nclient_id = "new-id"\n'
        '[profiles.fresh]\nclient_id = "F"\n'
    )
    assert sorted(_profiles.import_profiles(incoming, force=True)) == ["fresh", "moved", "same"]
    assert secrets(memory_keyring) == {(service(), "same"): "kept"}
    assert _config.get_profile("moved").client_id == "new-id"


def test_import_refuses_allow_insecure_and_writes_nothing(
    isolated_environment: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "insecure.toml"
    bad.write_text('[profiles.x]\nclient_id = "a"\nis_secure = false\nallow_insecure = true\n')
    result = kaskada("profile", "import", str(bad))
    assert_one_line_error(result, str(bad), "allow_insecure cannot be set in a profile file")
    assert not (isolated_environment / "config.toml").exists()


# --- the secret cache follows the file -------------------------------------------


def test_a_secret_rotated_from_another_shell_is_picked_up(real_keyring: str) -> None:
    _profiles.add_profile("dev", {"client_id": "a"}, Secret("first-secret"))
    assert _stored_secrets.profile_secret("dev", "a") == Secret("first-secret")
    rotated = kaskada(
        "profile", "add", "dev", "--client-id", "a", "--force", "--secret-stdin",
        input=CANARY + "\n",
    )  # fmt: skip
    assert rotated.returncode == 0, rotated.stderr
    assert _stored_secrets.profile_secret("dev", "a") == Secret(CANARY)
    _profiles.remove_profile("dev")
    assert keyring.get_password(real_keyring, "dev") is None


def test_an_unchanged_file_serves_the_cached_secret(memory_keyring: Store) -> None:
    _profiles.add_profile("dev", {"client_id": "a"}, Secret("first"))
    assert _stored_secrets.profile_secret("dev", "a") == Secret("first")
    memory_keyring[(service(), "dev")] = entry("changed-behind-our-back", client_id="a")
    assert _stored_secrets.profile_secret("dev", "a") == Secret("first")  # no keyring call
    _config.update(lambda document: None)  # any kaskada write rewrites the file
    assert _stored_secrets.profile_secret("dev", "a") == Secret("changed-behind-our-back")


# --- configure and secrets typed on a terminal -----------------------------------


_BECOME_THE_CLI_ON_THIS_TERMINAL = (
    "import os, sys; os.login_tty(0); "
    "os.execv(sys.executable, [sys.executable, '-m', 'kaskada', *sys.argv[1:]])"
)


def run_in_pty(args: list[str], answers: list[tuple[str, str]]) -> tuple[int, str]:
    """Run the CLI on a real pseudo-terminal; type each answer once its prompt shows.

    Returns the exit code and everything the terminal displayed (echo included).
    """
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    # Not pty.fork(): forking this threaded process may deadlock the child (Python
    # 3.12+ warns). subprocess starts a fresh interpreter that makes the terminal
    # its controlling one (login_tty), then becomes the CLI.
    fd, follower = pty.openpty()
    child = subprocess.Popen(
        [sys.executable, "-c", _BECOME_THE_CLI_ON_THIS_TERMINAL, *args],
        stdin=follower, stdout=follower, stderr=follower, cwd=REPO, env=environment,
    )
    os.close(follower)
    shown = b""
    waiting_from = 0
    pending = list(answers)
    deadline = time.monotonic() + 60
    try:
        while True:
            if pending:
                at = shown.find(pending[0][0].encode(), waiting_from)
                if at >= 0:
                    waiting_from = at + len(pending[0][0])
                    os.write(fd, pending.pop(0)[1].encode() + b"\n")
                    continue
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise AssertionError(f"no progress on the terminal; it shows {shown!r}")
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
    finally:
        if time.monotonic() > deadline:
            child.kill()
        os.close(fd)
    return child.wait(), shown.decode(errors="replace")


def test_configure_on_a_terminal_never_echoes_the_secret(real_keyring: str) -> None:
    code, shown = run_in_pty(
        ["configure", "--profile", "dev"],
        [
            ("Client ID: ", "id-typed"),  # each prompt shows what Enter gives (issue 22)
            ("API endpoint (host:port) [localhost:50051, the local server]: ",
             "localhost:50051"),
            ("Token endpoint (URL) [http://localhost:50052/oauth/token, the local server's]: ",
             "http://localhost:50052/oauth/token"),
            ("Audience [none]: ", ""),
            ("Client secret (hidden; Enter for none): ", CANARY),
        ],
    )
    assert code == 0, shown
    assert "id-typed" in shown  # ordinary answers are echoed: the probe sees echo
    assert CANARY not in shown
    assert "saved profile 'dev' with its secret in the keyring as the default" in shown
    assert stored(keyring.get_password(real_keyring, "dev")) == CANARY
    assert _config.get_profile("dev").client_id == "id-typed"
    _profiles.remove_profile("dev")


def test_secret_stdin_on_a_terminal_is_not_echoed(real_keyring: str) -> None:
    code, shown = run_in_pty(
        ["profile", "add", "dev", "--client-id", "a", "--secret-stdin"],
        [("Client secret for dev (hidden): ", CANARY)],
    )
    assert code == 0, shown
    assert CANARY not in shown
    assert stored(keyring.get_password(real_keyring, "dev")) == CANARY
    _profiles.remove_profile("dev")


def test_add_prompt_on_a_terminal_with_ctrl_d_stores_no_secret(real_keyring: str) -> None:
    code, shown = run_in_pty(
        ["profile", "add", "dev", "--client-id", "a"],
        [("(hidden; Enter for none): ", "\x04")],  # Ctrl-D at the prompt
    )
    assert code == 0, shown
    assert "Traceback" not in shown and "(no secret stored)" in shown
    assert keyring.get_password(real_keyring, "dev") is None


def test_configure_with_stdin_at_eof_is_one_clear_error(
    real_keyring: str, isolated_environment: Path
) -> None:
    # configure checks first that a secret could be stored: this needs a usable keyring
    result = kaskada("configure", "--profile", "dev", input="")
    assert_one_line_error(result, "'dev'", "client id", "kaskada configure --profile dev")
    assert not (isolated_environment / "config.toml").exists()


def test_configure_from_a_pipe_stores_the_secret_without_warnings(
    real_keyring: str, isolated_environment: Path, tmp_path: Path
) -> None:
    result = kaskada("configure", "--profile", "ci", input=f"id-ci\n\n\n\n{CANARY}\n")
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr and CANARY not in result.stdout + result.stderr
    assert stored(keyring.get_password(real_keyring, "ci")) == CANARY
    again = kaskada("configure", "--profile", "ci", input="")  # Enter everywhere: keep all
    assert again.returncode == 0, again.stderr
    assert "Enter keeps it" in again.stderr
    assert stored(keyring.get_password(real_keyring, "ci")) == CANARY
    assert files_containing(tmp_path, CANARY) == []
    assert kaskada("profile", "remove", "ci").returncode == 0
    assert keyring.get_password(real_keyring, "ci") is None


def test_configure_on_a_malformed_file_is_one_clear_error(
    real_keyring: str, isolated_environment: Path
) -> None:
    # configure checks first that a secret could be stored: this needs a usable keyring
    isolated_environment.mkdir(mode=0o700)
    path = isolated_environment / "config.toml"
    path.write_text("profiles = 3\n")
    path.chmod(0o600)
    result = kaskada("configure", "--profile", "dev", input="")
    assert_one_line_error(result, str(path), "'profiles' must be a table", "fix it in an editor")
    assert path.read_text() == "profiles = 3\n"


def test_profile_tables_refuses_a_non_table() -> None:
    with pytest.raises(ConfigError, match="must be a table"):
        _profiles.profile_tables({"profiles": [1, 2]})
    document: dict[str, object] = {}
    assert _profiles.profile_tables(document) == {} and document == {"profiles": {}}


# --- keyring messages and the open-file warning from the CLI ---------------------


def test_an_unloadable_keyring_backend_is_named(isolated_environment: Path) -> None:
    result = kaskada(
        "profile", "add", "dev", "--client-id", "a", "--secret-stdin", input=CANARY,
        env={"PYTHON_KEYRING_BACKEND": "no_such_module.Keyring"},
    )  # fmt: skip
    assert_one_line_error(
        result, "PYTHON_KEYRING_BACKEND='no_such_module.Keyring'", "No module named",
        "KASKADA_CLIENT_SECRET",
    )  # fmt: skip
    assert CANARY not in result.stderr
    assert not (isolated_environment / "config.toml").exists()


def test_remove_and_rename_without_a_keyring_need_none_for_a_profile_never_stored_there(
    isolated_environment: Path,
) -> None:
    """Issue 20, finding 5: a profile added with no secret is removed and renamed on a
    box with no keyring (it used to need --keep-orphan, an option nobody knew)."""
    no_keyring = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    assert kaskada("profile", "add", "a", "--client-id", "a", env=no_keyring).returncode == 0
    renamed = kaskada("profile", "rename", "a", "b", env=no_keyring)
    assert renamed.returncode == 0, renamed.stderr
    removed = kaskada("profile", "remove", "b", env=no_keyring)
    assert removed.returncode == 0, removed.stderr
    assert kaskada("profile", "list", "--json").stdout.strip() == "[]"


def test_remove_without_a_keyring_changes_nothing_unless_keep_orphan(
    isolated_environment: Path,
) -> None:
    """A profile kaskada stored a keyring secret for (marked secret_store = "keyring")
    is not removed while the keyring is away: its secret would stay behind unseen."""
    assert kaskada("profile", "add", "dev", "--client-id", "a").returncode == 0
    assert kaskada("profile", "set", "dev", "secret_store", "keyring").returncode == 0
    no_keyring = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    result = kaskada("profile", "remove", "dev", env=no_keyring)
    assert result.returncode == 1
    assert "was not removed" in result.stderr and "--keep-orphan" in result.stderr
    assert "keyring.backends.fail.Keyring" in result.stderr
    assert "Traceback" not in result.stderr
    assert [row["name"] for row in json.loads(kaskada("profile", "list", "--json").stdout)] == [
        "dev"
    ]
    result = kaskada("profile", "remove", "dev", "--keep-orphan", env=no_keyring)
    assert result.returncode == 0, result.stderr
    assert "orphan" in result.stderr
    assert kaskada("profile", "list", "--json").stdout.strip() == "[]"


@pytest.mark.parametrize("mode", [0o644, 0o620])
def test_cli_warns_once_about_an_open_file(mode: int, isolated_environment: Path) -> None:
    assert kaskada("profile", "add", "dev", "--client-id", "a").returncode == 0
    path = isolated_environment / "config.toml"
    path.chmod(mode)
    result = kaskada("profile", "show", "dev", env={"KASKADA_PROFILE": "dev"})
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "chmod 600" in line]
    assert warnings == [f"{path} is open to other users (mode {mode:o}); make it private: "
                        f"chmod 600 {path}"]  # fmt: skip
