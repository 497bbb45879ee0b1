"""The README's settings and environment tables agree with the one table of settings."""

from __future__ import annotations

import re

from kaskada.settings import env as _env
from kaskada.settings.schema import SETTINGS, Setting
from tests.helpers import ROOT


def _section(title: str) -> list[list[str]]:
    """The rows (cells, stripped) of the first table under ``## title`` in the README."""
    text = (ROOT / "README.md").read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    rows = [line for line in text[start:end].splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows[2:]]


def _code(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, float):
        return f"`{value:g}`"
    return f"`{value}`"


def _row(setting: Setting) -> list[str]:
    return [
        f"`{setting.name}`",
        _code(setting.profile_key),
        _code(setting.env),
        _code(setting.default),
        "yes" if setting.bound else "no",
        setting.help,
    ]


def test_the_settings_table_is_the_one_table_of_settings() -> None:
    assert _section("Settings") == [_row(setting) for setting in SETTINGS]


def test_the_environment_table_names_every_variable_of_a_setting_and_no_unknown_one() -> None:
    listed = {re.sub(r"`", "", row[0]) for row in _section("Environment variables")}
    declared = {value for name, value in vars(_env).items() if name.isupper() and
                isinstance(value, str) and value.startswith("KASKADA_")}  # fmt: skip
    assert {setting.env for setting in SETTINGS if setting.env} <= listed
    assert listed - {"PYTHON_KEYRING_BACKEND"} <= declared
