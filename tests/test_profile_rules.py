"""The rules between a profile's keys, and what ``profile show`` says of each kind.

A profile that would be refused when read is refused when written, by ``profile add``,
``profile set`` and ``kaskada.profiles`` alike, and the file stays as it was:
``issuer`` belongs to device and federated sign-in, a federated profile keeps no
secret, the subject-token keys belong to federated profiles, and ``secret_store`` env or
command needs the variable or program it names. Keys typed one at a time are checked
against the whole profile (``--auth federated --subject-token-file F`` in one command).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kaskada import profiles
from kaskada._errors import ConfigError
from tests.helpers import assert_one_line_error
from tests.helpers import run_cli as run


def config_file() -> Path:
    return Path(os.environ["KASKADA_CONFIG_DIR"]) / "config.toml"


def test_sign_in_keys_typed_together_are_judged_together() -> None:
    made = run("profile", "add", "ci", "--auth", "federated", "--client-id", "x",
               "--subject-token-file", "/run/token.jwt")  # fmt: skip
    assert made.returncode == 0, made.stderr
    device = run("profile", "add", "me", "--auth", "device", "--client-id", "kaskada-cli",
                 "--issuer", "https://auth.example.com")  # fmt: skip
    assert device.returncode == 0, device.stderr
    assert profiles.get("ci").subject_token_file == "/run/token.jwt"
    assert profiles.get("me").issuer == "https://auth.example.com"
    # `profile set` on a device profile judges issuer with the profile's own auth
    changed = run("profile", "set", "me", "issuer", "https://other.example.com")
    assert changed.returncode == 0, changed.stderr


@pytest.mark.parametrize(
    ("add", "key", "value", "parts"),
    [
        (("--client-id", "abc"), "issuer", "https://auth.example.com",
         ("issuer is read only by a device or federated sign-in", "profile set p auth device")),
        (("--client-id", "x", "--auth", "federated"), "secret_env", "FOO",
         ("keeps no secret, so secret_env would never be read",)),
        (("--client-id", "abc"), "subject_token_file", "/run/token.jwt",
         ("subject_token_file is read only by a federated sign-in",
          "profile set p auth federated")),
        (("--client-id", "x", "--auth", "device", "--issuer", "https://a.example.com"),
         "auth", "client_secret", ("issuer is read only by a device or federated sign-in",)),
        (("--client-id", "x", "--auth", "federated", "--subject-token-env", "CI_JWT"),
         "subject_token_source", "file",
         ("subject_token_source is 'file' but subject_token_file is not set",)),
        (("--client-id", "abc", "--secret-command", "pass show x"), "secret_command", "",
         ("secret_store is 'command' but secret_command is not set",)),
    ],
)  # fmt: skip
def test_profile_set_refuses_what_the_reader_would_refuse_and_writes_nothing(
    add: tuple[str, ...], key: str, value: str, parts: tuple[str, ...]
) -> None:
    assert run("profile", "add", "p", *add).returncode == 0
    before = config_file().read_bytes()
    change = ("set", "p", key, value) if value else ("unset", "p", key)
    refused = run("profile", *change)
    line = assert_one_line_error(refused, "profile 'p'", *parts)
    assert "Traceback" not in refused.stderr and line
    assert config_file().read_bytes() == before  # the old file, whole
    assert run("profile", "show", "p").returncode == 0  # and still readable


def test_the_rules_hold_from_python_and_in_a_hand_written_file() -> None:
    with pytest.raises(ConfigError, match="keeps no secret"):
        profiles.add("ci", client_id="x", auth="federated", secret_env="FOO")
    assert "ci" not in profiles.names()
    config_file().parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    config_file().write_text('[profiles.cs]\nclient_id = "abc"\nissuer = "https://a.example"\n'
                             '[profiles.imp]\nclient_id = "abc"\nsecret_store = "command"\n')
    config_file().chmod(0o600)
    for name, part in (("cs", "issuer is read only by a device or federated sign-in"),
                       ("imp", "secret_store is 'command' but secret_command is not set")):
        assert_one_line_error(run("whoami", "--profile", name), f"profile '{name}'", part)


def test_profile_import_refuses_a_command_store_without_its_command(tmp_path: Path) -> None:
    source = tmp_path / "team.toml"
    source.write_text('[profiles.imp]\nclient_id = "abc"\nsecret_store = "command"\n')
    refused = run("profile", "import", str(source))
    assert refused.returncode == 1, refused.stderr
    assert "secret_store is 'command' but secret_command is not set" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not config_file().exists() or "imp" not in config_file().read_text()


def test_show_names_what_each_kind_keeps_and_whether_its_source_is_there(
    tmp_path: Path,
) -> None:
    token_file = tmp_path / "token.jwt"
    assert run("profile", "add", "me", "--auth", "device", "--client-id", "kaskada-cli",
               "--insecure-storage").returncode == 0  # fmt: skip
    assert run("profile", "add", "ci", "--auth", "federated", "--client-id", "x",
               "--subject-token-file", str(token_file)).returncode == 0  # fmt: skip
    assert run("profile", "add", "cs", "--client-id", "abc",
               "--secret-env", "CS_SECRET_FOR_SHOW").returncode == 0  # fmt: skip
    assert run("profile", "add", "cmd", "--client-id", "abc",
               "--secret-command", "no-such-program-for-show --x").returncode == 0  # fmt: skip

    device = run("profile", "show", "me").stdout
    assert "refresh token: none in the plain-text file" in device
    assert "sign in with `kaskada login --profile me`" in device and "secret:" not in device
    federated = run("profile", "show", "ci").stdout
    assert f"subject token: read from the file {token_file} when needed (NO such file" in federated
    token_file.write_text("a.b.c")
    assert "(the file is there now)" in run("profile", "show", "ci").stdout
    assert "(NOT set in this environment)" in run("profile", "show", "cs").stdout
    env = {"CS_SECRET_FOR_SHOW": "never-shown-canary"}
    shown = run("profile", "show", "cs", env=env)
    assert "(set now)" in shown.stdout and "never-shown-canary" not in shown.stdout
    assert "(NOT found on the PATH)" in run("profile", "show", "cmd").stdout

    document = json.loads(run("profile", "show", "ci", "--json").stdout)
    assert document["store_holds"] == "nothing" and document["present_now"] is True
    assert json.loads(run("profile", "show", "me", "--json").stdout)["store_holds"] == (
        "refresh token")
    listed = run("profile", "list").stdout
    rows = {line.split()[0]: line for line in listed.splitlines()[1:]}
    assert "device login (file)" in rows["me"] and "federated" in rows["ci"]


def test_no_keyring_advice_for_a_device_profile_names_a_store_it_can_use() -> None:
    from kaskada.credentials.keyring import ways_out

    profiles.add("me", client_id="kaskada-cli", auth="device")
    advice = ways_out("me")
    assert "secret_env" not in advice and "secret_command" not in advice
    assert "kaskada profile set me secret_store file --insecure-storage" in advice
    profiles.add("cs", client_id="abc", secret_env="CS_SECRET")
    assert "secret_env" in ways_out("cs")
