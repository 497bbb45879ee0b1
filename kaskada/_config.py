"""The profiles file: ``config.toml`` under the user config folder.

CONTRACT STUB (the profiles issue fills it in). Other modules rely on exactly
these names and shapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROFILE_KEYS = (
    "client_id",
    "endpoint",
    "is_secure",
    "exchange_endpoint",
    "audience",
    "ca_bundle",
    "timeout",
)


@dataclass(frozen=True)
class Profile:
    """One ``[profiles.NAME]`` table, validated. ``None`` means "not set"."""

    name: str
    client_id: str | None = None
    endpoint: str | None = None
    is_secure: bool | None = None
    exchange_endpoint: str | None = None
    audience: str | None = None
    ca_bundle: str | None = None
    timeout: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)  # unknown keys, kept on rewrite


@dataclass(frozen=True)
class ConfigFile:
    """The parsed file; an absent file is an empty ConfigFile."""

    path: Path
    default_profile: str | None
    profiles: Mapping[str, Profile]


def load() -> ConfigFile:
    """The current file, cached; re-read when it changed on disk."""
    raise NotImplementedError


def get_profile(name: str) -> Profile:
    """The named profile, or ProfileNotFoundError naming the known ones."""
    raise NotImplementedError
