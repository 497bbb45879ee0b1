"""The config file: strict reading, cached loads, private atomic writes."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kaskada import _reset
from kaskada._errors import ConfigError, InvalidProfileNameError, ProfileNotFoundError
from kaskada.config import file as _config
from kaskada.config import lifecycle as _profiles
from kaskada.config.names import validate_profile_name

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "profiles"


def write(config_dir: Path, text: str | bytes) -> Path:
    config_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = config_dir / "config.toml"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    path.chmod(0o600)
    return path


def test_absent_file_is_empty(isolated_environment: Path) -> None:
    config = _config.load()
    assert config.profiles == {} and config.default_profile is None
    assert config.path == isolated_environment / "config.toml"
    assert not isolated_environment.exists()  # reading never creates anything


def test_reads_the_design_shape(isolated_environment: Path) -> None:
    write(isolated_environment, (EXAMPLES / "several-accounts.toml").read_text())
    config = _config.load()
    assert config.default_profile == "dev"
    assert sorted(config.profiles) == ["dev", "prod", "staging"]
    dev = _config.get_profile("dev")
    assert dev.is_secure is False and dev.endpoint == "localhost:50051"
    prod = _config.get_profile("prod")
    assert prod.timeout == 60.0 and isinstance(prod.timeout, float)
    assert prod.fields()["audience"] == "https://kaskada.example.com"


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.toml")))
def test_example_files_are_valid(example: str, isolated_environment: Path) -> None:
    config = _profiles.read_profiles_file(EXAMPLES / example)
    assert config.profiles
    assert all(profile.client_id for profile in config.profiles.values())


def test_unknown_profile_names_the_known_ones(isolated_environment: Path) -> None:
    write(
        isolated_environment, '[profiles.dev]\nclient_id = "a"\n[profiles.prod]\nclient_id = "b"\n'
    )
    with pytest.raises(ProfileNotFoundError) as caught:
        _config.get_profile("qa")
    message = str(caught.value)
    assert "'qa'" in message and "dev, prod" in message and "kaskada profile add qa" in message


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('is_secure = "yes"', "is_secure must be true or false, not str"),
        ("client_id = 42", "client_id must be a string, not int"),
        ("endpoint = true", "endpoint must be a string, not bool"),
        ('timeout = "5"', "timeout must be a number of seconds, not str"),
        ("timeout = true", "timeout must be a number of seconds, not bool"),
        ("timeout = 0", "timeout must be a positive number"),
        ("timeout = -3.5", "timeout must be a positive number"),
        ("timeout = nan", "timeout must be a positive number"),
        ('audience = ""', "audience is empty"),
        ('endpoint = "a\\nb"', "control character"),
        (f'ca_bundle = "{"x" * 5000}"', "more than 4096"),
    ],
)
def test_wrong_values_name_file_profile_key_and_type(
    line: str, expected: str, isolated_environment: Path
) -> None:
    path = write(isolated_environment, f'[profiles.dev]\nclient_id = "a"\n{line}\n')
    if line.startswith("client_id"):
        path.write_text(f"[profiles.dev]\n{line}\n")
    with pytest.raises(ConfigError) as caught:
        _config.get_profile("dev")  # a profile's values are checked when it is used
    message = str(caught.value)
    assert str(path) in message and "'dev'" in message and expected in message


def test_client_secret_in_file_says_how_to_move_it(isolated_environment: Path) -> None:
    canary = "canary-in-the-file-5b1d"
    write(isolated_environment, f'[profiles.prod]\nclient_id = "a"\nclient_secret = "{canary}"\n')
    with pytest.raises(ConfigError) as caught:
        _config.load()
    message = str(caught.value)
    assert "kaskada configure --profile prod" in message
    assert canary not in message


def test_allow_insecure_in_file_is_refused(isolated_environment: Path) -> None:
    write(isolated_environment, '[profiles.x]\nclient_id = "a"\nallow_insecure = true\n')
    with pytest.raises(ConfigError, match="allow_insecure cannot be set in a profile file"):
        _config.load()


def test_corrupt_toml_names_path_and_line(isolated_environment: Path) -> None:
    path = write(isolated_environment, '[profiles.dev]\nclient_id = "a"\nendpoint = \n')
    with pytest.raises(ConfigError) as caught:
        _config.load()
    assert str(path) in str(caught.value) and "line 3" in str(caught.value)


@pytest.mark.parametrize("depth", [1_000, 200_000])
def test_hostile_nesting_is_one_clear_error(isolated_environment: Path, depth: int) -> None:
    """A file of deeply nested inline arrays stops at the parser's cap with the fix,
    never a crash: the parser is compiled, so it must not recurse without bound."""
    path = write(isolated_environment, "[profiles.dev]\nextra = " + "[" * depth + "]" * depth)
    with pytest.raises(ConfigError) as caught:
        _config.load()
    assert str(path) in str(caught.value) and "nested too deeply" in str(caught.value)


def test_invalid_utf8_names_the_line(isolated_environment: Path) -> None:
    path = write(isolated_environment, b'[profiles.dev]\nclient_id = "a"\naudience = "\xff\xfe"\n')
    with pytest.raises(ConfigError) as caught:
        _config.load()
    assert str(path) in str(caught.value) and "line 3" in str(caught.value)
    assert "UTF-8" in str(caught.value)


def test_corrupt_file_is_never_overwritten(isolated_environment: Path) -> None:
    original = b'default_profile = "dev"\n[profiles.dev\nclient_id = "a"\n'
    path = write(isolated_environment, original)
    with pytest.raises(ConfigError, match="line 2"):
        _profiles.add_profile("new", {"client_id": "b"}, None)
    assert path.read_bytes() == original


def test_bad_profile_names_in_file(isolated_environment: Path) -> None:
    write(isolated_environment, '[profiles."a b"]\nclient_id = "a"\n')
    with pytest.raises(InvalidProfileNameError, match="'a b'"):
        _config.load()


@pytest.mark.parametrize(
    "name", ["", " ", "a b", "../x", "x/y", "-rf", ".hidden", "..", "é", "x" * 10_000]
)
def test_invalid_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidProfileNameError) as caught:
        validate_profile_name(name)
    assert len(str(caught.value)) < 300  # a 10,000-character name is not echoed whole


@given(st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,63}", fullmatch=True))
def test_valid_names_are_accepted(name: str) -> None:
    if name != "..":
        assert validate_profile_name(name) == name


def test_files_are_private_from_creation(isolated_environment: Path) -> None:
    previous = os.umask(0)  # the most permissive umask: modes must not depend on it
    try:
        _profiles.add_profile("dev", {"client_id": "a"}, None)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(isolated_environment.stat().st_mode) == 0o700
    for entry in isolated_environment.iterdir():
        assert stat.S_IMODE(entry.stat().st_mode) == 0o600, entry


def test_too_open_file_warns_once_with_the_fix(
    isolated_environment: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(isolated_environment, '[profiles.dev]\nclient_id = "a"\n')
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="kaskada"):
        _config.load()
        path.write_text('[profiles.dev]\nclient_id = "b"\n')  # re-read, same mode
        assert _config.get_profile("dev").client_id == "b"
    warnings = [r for r in caplog.records if "chmod 600" in r.getMessage()]
    assert len(warnings) == 1
    assert str(path) in warnings[0].getMessage()


def test_rewrite_keeps_unknown_keys_and_fixes_mode(isolated_environment: Path) -> None:
    path = write(
        isolated_environment,
        'owner = "data-team"\n[tool.x]\nflag = 1\n'
        '[profiles.dev]\nclient_id = "a"\ncolor = "blue"\n',
    )
    path.chmod(0o644)
    _profiles.add_profile("prod", {"client_id": "b"}, None)
    document = tomllib.loads(path.read_text())
    assert document["owner"] == "data-team" and document["tool"] == {"x": {"flag": 1}}
    assert document["profiles"]["dev"] == {"client_id": "a", "color": "blue"}
    assert _config.get_profile("dev").extra == {"color": "blue"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_load_is_cached_until_the_file_changes(isolated_environment: Path) -> None:
    path = write(isolated_environment, '[profiles.dev]\nclient_id = "a"\n')
    first = _config.load()
    assert _config.load() is first  # unchanged file: no re-read
    path.write_text('[profiles.dev]\nclient_id = "a"\n[profiles.qa]\nclient_id = "q"\n')
    assert "qa" in _config.load().profiles


def test_reset_drops_the_cache(isolated_environment: Path) -> None:
    write(isolated_environment, '[profiles.dev]\nclient_id = "a"\n')
    first = _config.load()
    _reset.reset_all()
    second = _config.load()
    assert second is not first and second == first


def test_a_long_running_process_sees_a_profile_added_from_a_shell(
    isolated_environment: Path,
) -> None:
    _profiles.add_profile("dev", {"client_id": "a"}, None)
    assert "shell" not in _config.load().profiles
    subprocess.run(
        [sys.executable, "-m", "kaskada", "profile", "add", "shell", "--client-id", "s"],
        check=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        cwd=REPO,
        timeout=60,
    )
    assert _config.get_profile("shell").client_id == "s"


def test_config_dir_change_is_followed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "one", '[profiles.one]\nclient_id = "1"\n')
    write(tmp_path / "two", '[profiles.two]\nclient_id = "2"\n')
    monkeypatch.setenv("KASKADA_CONFIG_DIR", str(tmp_path / "one"))
    assert list(_config.load().profiles) == ["one"]
    monkeypatch.setenv("KASKADA_CONFIG_DIR", str(tmp_path / "two"))
    assert list(_config.load().profiles) == ["two"]


def test_a_broken_profile_does_not_stop_another(isolated_environment: Path) -> None:
    """As boto3: each profile is checked when used, so one typo does not stop the others."""
    path = write(
        isolated_environment,
        '[profiles.good]\nclient_id = "a"\n[profiles.bad]\nclient_id = "b"\ntimeout = "5"\n',
    )
    assert _config.get_profile("good").client_id == "a"
    with pytest.raises(ConfigError) as caught:
        _config.get_profile("bad")
    assert str(path) in str(caught.value) and "'bad'" in str(caught.value)
    with pytest.raises(ConfigError, match="timeout must be a number"):
        dict(_config.load().profiles)  # listing every profile reports it


def test_a_write_still_checks_every_profile(isolated_environment: Path) -> None:
    original = '[profiles.bad]\nclient_id = "b"\ntimeout = "5"\n'
    path = write(isolated_environment, original)
    with pytest.raises(ConfigError, match="'bad'"):
        _profiles.add_profile("new", {"client_id": "n"}, None)
    assert path.read_text() == original


@pytest.mark.parametrize(
    "table",
    [
        'client_id = "a"\nclient_secret = "s"',
        'client_id = "a"\n[profiles.other.auth]\ntoken = "s"',
        'client_id = {token = "s"}',
        'client_id = "a"\nx = [{api_key = "s"}]',
    ],
)
def test_a_secret_in_any_profile_refuses_the_whole_file(
    table: str, isolated_environment: Path
) -> None:
    """Unlike a wrong value, a secret-like key anywhere stops every lookup."""
    write(isolated_environment, f'[profiles.good]\nclient_id = "g"\n[profiles.other]\n{table}\n')
    with pytest.raises(ConfigError, match="looks like a secret"):
        _config.get_profile("good")
