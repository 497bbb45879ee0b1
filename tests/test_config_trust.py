"""Issue 9, holes 3, 4 and 10 (part): who else could have written the config file.

- Hole 3: a config folder or file that another account can write or owns is
  refused for anything that reads a stored secret (one line: path and fix), while
  listing profiles warns once. A capture server on loopback stands where the
  swapped-in file would send the secret; the tests assert it never arrives.
  The tests run as root here: root may chown to another uid (65534, "nobody");
  as any other user the ownership tests skip (only root can give a file away).
- Hole 4: a symlinked lock file is refused and its target never created.
- Hole 10: secret-like keys (client-secret, jwt, token, password…) are refused like
  client_secret and never printed; a config file over the size cap is a one-line
  error, refused before it is read.
"""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest

from kaskada import _reset
from kaskada._errors import ConfigError, UntrustedConfigError
from kaskada.config import file as _config
from kaskada.config import lifecycle as _profiles
from kaskada.credentials import stored as _stored_secrets
from tests.capture import CaptureHTTP
from tests.helpers import assert_one_line_error as one_line_error
from tests.helpers import run_cli as kaskada

REPO = Path(__file__).resolve().parents[1]
CANARY = "canary-trust-5e1d0c7a93"
NOBODY = 65534


@pytest.fixture
def victim(
    real_keyring: str, isolated_environment: Path, capture: CaptureHTTP
) -> tuple[Path, CaptureHTTP]:
    """A default profile whose secret (CANARY) is in the real keyring; its token
    endpoint is the capture server (as if another user had swapped the file)."""
    result = kaskada(
        "profile", "add", "dev", "--client-id", "cid", "--endpoint", "127.0.0.1:9",
        "--exchange-endpoint", capture.url, "--plaintext", "--default", "--secret-stdin",
        input=CANARY + "\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return isolated_environment, capture


def assert_secret_never_sent(received: CaptureHTTP) -> None:
    assert received.requests == []  # nothing at all went to the capture server


@pytest.mark.real_keyring
def test_the_capture_server_does_receive_the_secret_from_a_trusted_folder(
    victim: tuple[Path, CaptureHTTP],
) -> None:
    """The control: without the open folder the secret does reach the (capture) endpoint."""
    _, received = victim
    assert kaskada("whoami").returncode == 4  # the capture server refuses every secret: exit 4
    assert CANARY.encode() in received.received()


@pytest.mark.real_keyring
def test_a_world_writable_folder_refuses_to_read_the_secret(
    victim: tuple[Path, CaptureHTTP],
) -> None:
    folder, received = victim
    folder.chmod(0o777)
    line = one_line_error(kaskada("whoami"), str(folder), f"chmod 700 {folder}")
    assert "writable by other users" in line
    assert_secret_never_sent(received)


@pytest.mark.real_keyring
def test_a_group_writable_file_refuses_to_read_the_secret(
    victim: tuple[Path, CaptureHTTP],
) -> None:
    folder, received = victim
    path = folder / "config.toml"
    path.chmod(0o620)
    one_line_error(kaskada("whoami"), f"chmod 600 {path}")
    assert_secret_never_sent(received)


@pytest.mark.real_keyring
@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown")
@pytest.mark.parametrize("which", ["folder", "file"])
def test_a_folder_or_file_owned_by_another_user_refuses_to_read_the_secret(
    which: str, victim: tuple[Path, CaptureHTTP]
) -> None:
    folder, received = victim
    target = folder if which == "folder" else folder / "config.toml"
    os.chown(target, NOBODY, NOBODY)  # root gives it away: "another user" owns it now
    line = one_line_error(kaskada("whoami"), str(target), "chown root")
    assert f"uid {NOBODY}" in line
    assert_secret_never_sent(received)


@pytest.mark.real_keyring
def test_listing_profiles_in_an_open_folder_warns_once(
    victim: tuple[Path, CaptureHTTP],
) -> None:
    folder, _ = victim
    folder.chmod(0o757)
    result = kaskada("profile", "list")
    assert result.returncode == 0, result.stderr
    assert "dev" in result.stdout
    warnings = [line for line in result.stderr.splitlines() if f"chmod 700 {folder}" in line]
    assert len(warnings) == 1, result.stderr
    assert "will not send a credential where this file says" in warnings[0]


def test_check_trusted_in_process(isolated_environment: Path) -> None:
    _profiles.add_profile("dev", {"client_id": "a"}, None)
    _config.check_trusted()  # kaskada's own 0700 folder and 0600 file: trusted
    isolated_environment.chmod(0o770)
    with pytest.raises(UntrustedConfigError, match="chmod 700"):
        _config.check_trusted()
    with pytest.raises(ConfigError):
        _stored_secrets.profile_secret("dev", "a")  # the secret-reading path calls it


# --- issue 18, finding 3: one rule for every credential a profile leads to ------


@pytest.mark.parametrize("opened", ["folder", "file"])
def test_a_secret_passed_with_profile_goes_nowhere_an_open_file_says(
    opened: str, isolated_environment: Path, capture: CaptureHTTP
) -> None:
    """kda.session(profile="dev", client_secret=...) once warned, then sent the secret
    to the exchange endpoint of a world-writable file (twice)."""
    import kaskada as kda
    from kaskada import table

    _profiles.add_profile(
        "dev", {"client_id": "cid", "endpoint": "127.0.0.1:9", "exchange_endpoint": capture.url,
                "is_secure": False}, None,
    )  # fmt: skip
    target = isolated_environment if opened == "folder" else isolated_environment / "config.toml"
    target.chmod(0o777 if opened == "folder" else 0o666)
    made = kda.session(profile="dev", client_secret=CANARY)
    for attempt in (lambda: table.list_tables(session=made), made.access_token, made.delegate):
        with pytest.raises(UntrustedConfigError) as caught:
            attempt()
        text = str(caught.value)
        assert str(target) in text and f"chmod {'700' if opened == 'folder' else '600'}" in text
        assert "\n" not in text and CANARY not in text
    assert_secret_never_sent(capture)


@pytest.mark.real_keyring
def test_a_cached_token_goes_nowhere_an_open_folder_says(
    local_server: object, real_keyring: str, isolated_environment: Path
) -> None:
    """``kaskada whoami`` with a token already cached once warned and exited 0 under a
    world-writable config folder: the file's destinations were still used."""
    from tests.helpers import add_profile, entries

    add_profile(local_server, "dev")
    assert kaskada("whoami", "--profile", "dev").returncode == 0  # caches a token
    assert entries(), "the first whoami should have cached its token"
    isolated_environment.chmod(0o777)
    line = one_line_error(
        kaskada("whoami", "--profile", "dev"), str(isolated_environment), "chmod 700"
    )
    assert "refusing to send a credential" in line
    isolated_environment.chmod(0o700)
    assert kaskada("whoami", "--profile", "dev").returncode == 0  # the fix is the fix


@pytest.mark.real_keyring
@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown")
def test_a_cached_token_goes_nowhere_a_file_owned_by_another_user_says(
    local_server: object, real_keyring: str, isolated_environment: Path
) -> None:
    from tests.helpers import add_profile

    add_profile(local_server, "dev")
    assert kaskada("whoami", "--profile", "dev").returncode == 0
    path = isolated_environment / "config.toml"
    os.chown(path, NOBODY, NOBODY)
    line = one_line_error(kaskada("whoami", "--profile", "dev"), str(path), "chown root")
    assert f"uid {NOBODY}" in line


def test_showing_profiles_in_an_open_folder_still_works(isolated_environment: Path) -> None:
    _profiles.add_profile("dev", {"client_id": "cid", "endpoint": "127.0.0.1:9",
                                  "exchange_endpoint": "http://127.0.0.1:9/t",
                                  "is_secure": False}, None)  # fmt: skip
    isolated_environment.chmod(0o777)
    for args in (("profile", "list"), ("profile", "show", "dev")):
        result = kaskada(*args)
        assert result.returncode == 0, result.stderr
        assert "dev" in result.stdout and f"chmod 700 {isolated_environment}" in result.stderr


# --- hole 4: the lock file is never followed ----------------------------------


@pytest.mark.parametrize("target_exists", [False, True])
def test_a_symlinked_lock_file_is_refused_and_its_target_untouched(
    target_exists: bool, isolated_environment: Path, tmp_path: Path
) -> None:
    isolated_environment.mkdir(mode=0o700)
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.parent.mkdir()
    if target_exists:
        elsewhere.write_text("precious\n")
    (isolated_environment / "config.toml.lock").symlink_to(elsewhere)
    line = one_line_error(
        kaskada("profile", "add", "dev", "--client-id", "a"), "symbolic link", "rm "
    )
    assert str(isolated_environment / "config.toml.lock") in line
    if target_exists:
        assert elsewhere.read_text() == "precious\n"
    else:
        assert not elsewhere.exists()
    assert not (isolated_environment / "config.toml").exists()


def test_every_file_kaskada_creates_is_0600_and_the_lock_is_not_a_link(
    isolated_environment: Path,
) -> None:
    _profiles.add_profile("dev", {"client_id": "a"}, None)
    for entry in isolated_environment.iterdir():
        assert not entry.is_symlink()
        assert (entry.lstat().st_mode & 0o777) == 0o600, entry


# --- hole 10: secret-like keys and the size cap --------------------------------

SECRET_KEYS = [
    "client-secret",
    "Client_Secret",
    "secret",
    "JWT",
    "token",
    "password",
    "access_token",
    "access-token",
    "refresh_token",
    "api_key",
]


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_secret_like_keys_are_refused_and_never_printed(
    key: str, isolated_environment: Path
) -> None:
    isolated_environment.mkdir(mode=0o700)
    path = isolated_environment / "config.toml"
    path.write_text(f'[profiles.dev]\nclient_id = "a"\n"{key}" = "{CANARY}"\n')
    path.chmod(0o600)
    for argv in (["profile", "export"], ["profile", "show", "dev", "--json"], ["profile", "list"]):
        result = kaskada(*argv)
        assert CANARY not in result.stdout + result.stderr, argv
        one_line_error(result, repr(key), "keyring", "kaskada configure --profile dev")


@pytest.mark.parametrize(
    "text",
    [
        '[profiles.dev]\nclient_id = "a"\n[profiles.dev.auth]\ntoken = "{c}"\n',
        'password = "{c}"\n[profiles.dev]\nclient_id = "a"\n',
    ],
)
def test_nested_and_top_level_secret_keys_are_refused_too(
    text: str, isolated_environment: Path
) -> None:
    isolated_environment.mkdir(mode=0o700)
    path = isolated_environment / "config.toml"
    path.write_text(text.format(c=CANARY))
    path.chmod(0o600)
    result = kaskada("profile", "export")
    assert CANARY not in result.stdout + result.stderr
    one_line_error(result, "looks like a secret")


def test_an_imported_file_with_a_secret_like_key_is_refused(
    isolated_environment: Path, tmp_path: Path
) -> None:
    evil = tmp_path / "evil.toml"
    evil.write_text(f'[profiles.dev]\nclient_id = "a"\njwt = "{CANARY}"\n')
    result = kaskada("profile", "import", str(evil))
    assert CANARY not in result.stdout + result.stderr
    one_line_error(result, "'jwt'", "looks like a secret")
    assert not (isolated_environment / "config.toml").exists()


def big_file(folder: Path, size: int) -> Path:
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / "config.toml"
    line = b"# " + b"x" * 1021 + b"\n"
    with open(path, "wb") as handle:
        handle.write(b'[profiles.dev]\nclient_id = "a"\n')
        for _ in range(size // len(line) + 1):
            handle.write(line)
    path.chmod(0o600)
    return path


def test_a_25_mb_config_file_is_one_clear_line(isolated_environment: Path) -> None:
    path = big_file(isolated_environment, 25 * 1024 * 1024)
    one_line_error(kaskada("profile", "list"), str(path), "larger than 4 MiB", "move it away")


def test_the_size_cap_refuses_before_reading(isolated_environment: Path) -> None:
    path = big_file(isolated_environment, 25 * 1024 * 1024)
    _reset.reset_all()
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError, match="larger than 4 MiB"):
            _config.load()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024  # the 25 MB were never read into memory
    before = path.stat().st_size
    with pytest.raises(ConfigError, match="larger than 4 MiB"):
        _profiles.add_profile("other", {"client_id": "b"}, None)
    assert path.stat().st_size == before  # a refused file is never rewritten


def test_a_file_just_over_the_cap_is_refused_and_one_under_is_read(
    isolated_environment: Path,
) -> None:
    path = big_file(isolated_environment, _config.MAX_FILE_BYTES)
    assert path.stat().st_size > _config.MAX_FILE_BYTES
    with pytest.raises(ConfigError, match="larger than"):
        _config.load()
    with open(path, "r+b") as handle:
        handle.truncate(_config.MAX_FILE_BYTES - 10)
        handle.seek(0, os.SEEK_END)
        handle.write(b"\n")
    assert _config.load().profiles["dev"].client_id == "a"
