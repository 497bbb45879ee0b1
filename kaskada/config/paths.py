"""Where kaskada keeps its files on this machine (platformdirs, overridable)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from kaskada.settings import env as _env

CONFIG_FILE_NAME = "config.toml"


def config_dir() -> Path:
    """The folder of config.toml: ``KASKADA_CONFIG_DIR`` or the user config dir."""
    override = os.environ.get(_env.CONFIG_DIR)
    if override:
        return Path(override).expanduser()
    import platformdirs  # costly to import: not when a variable says where

    return Path(platformdirs.user_config_dir("kaskada", appauthor=False))


def config_file() -> Path:
    return config_dir() / CONFIG_FILE_NAME


def data_dir() -> Path:
    """The local server's folder: ``KASKADA_DATA_DIR`` or the user data dir."""
    override = os.environ.get(_env.DATA_DIR)
    if override:
        return Path(override).expanduser()
    import platformdirs  # costly to import: not when a variable says where

    return Path(platformdirs.user_data_dir("kaskada", appauthor=False))


def keyring_service(environ: Mapping[str, str | None] | None = None) -> str:
    """The keyring service of every entry (``KASKADA_KEYRING_SERVICE``, else kaskada);
    ``environ``: where resolution reads its variables, so a kept session knows it read it."""
    found = (os.environ if environ is None else environ).get(_env.KEYRING_SERVICE)
    return found or "kaskada"
