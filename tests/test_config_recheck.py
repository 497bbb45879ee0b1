"""A memoised session looks at the config file at most every RECHECK_SECONDS (issue 11 speed):
this process's own writes are seen at once, another writer's after the next look."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from kaskada._errors import ConfigError
from kaskada.config import file as _config


def _write(text: str) -> None:
    path = _config.config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    os.chmod(path, 0o600)


def test_own_write_is_seen_without_waiting() -> None:
    _write('[profiles.a]\nclient_id = "id-a"\n')
    assert set(_config.load_recent().profiles) == {"a"}

    def change(document: dict[str, object]) -> None:
        document["profiles"]["b"] = {"client_id": "id-b"}  # type: ignore[index]

    _config.update(change)
    assert set(_config.load_recent().profiles) == {"a", "b"}


def test_another_process_write_is_seen_at_the_next_look() -> None:
    _write('[profiles.a]\nclient_id = "id-a"\n')
    assert set(_config.load_recent().profiles) == {"a"}
    path = _config.config_path()
    script = "import sys, pathlib; pathlib.Path(sys.argv[1]).write_text(sys.argv[2])"
    body = '[profiles.a]\nclient_id = "id-a"\n[profiles.c]\nclient_id = "id-c"\n'
    subprocess.run([sys.executable, "-c", script, str(path), body], check=True)
    _config.recheck()
    assert set(_config.load_recent().profiles) == {"a", "c"}
    assert _config.load_recent() is _config.load()  # the same cached object


def test_a_broken_file_is_not_kept_as_checked() -> None:
    _write('[profiles.a]\nclient_id = "id-a"\n')
    _config.load_recent()
    _write("[profiles.a\n")
    _config.recheck()
    with pytest.raises(ConfigError, match="not valid TOML") as caught:
        _config.load_recent()
    assert str(_config.config_path()) in str(caught.value)
