"""Profile names: letters, digits, ``-``, ``_`` and ``.``, so a name is safe everywhere.

A name becomes a TOML key, a keyring user name and a command-line argument; the
rule keeps it free of path tricks (``../x``), whitespace and option look-alikes.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from kaskada._errors import InvalidProfileNameError

MAX_LENGTH = 64
_VALID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
# Many valid names joined by "/" (a character no valid name holds): one regex
# pass for a whole file's names instead of one call per name.
_ALL_VALID = re.compile(rf"(?:[A-Za-z0-9_][A-Za-z0-9._-]{{0,{MAX_LENGTH - 1}}}/)*")


def _shown(name: str) -> str:
    """The name as it may appear in a message: quoted, cut short when huge."""
    return repr(name if len(name) <= 40 else name[:40] + "…")


def validate_profile_name(name: object, *, where: str = "") -> str:
    """``name`` if it is a valid profile name, else InvalidProfileNameError saying why."""
    place = f" in {where}" if where else ""
    fix = "use letters, digits, '-', '_' and '.' (e.g. 'dev', 'prod-eu')"
    if not isinstance(name, str):
        kind = type(name).__name__
        raise InvalidProfileNameError(f"profile name{place} must be text, not {kind}")
    if not name:
        raise InvalidProfileNameError(f"profile name{place} is empty; {fix}")
    if len(name) > MAX_LENGTH:
        raise InvalidProfileNameError(
            f"profile name {_shown(name)}{place} has {len(name)} characters, "
            f"more than {MAX_LENGTH}; choose a shorter name"
        )
    if not _VALID.fullmatch(name) or name in {".", ".."}:
        raise InvalidProfileNameError(
            f"invalid profile name {_shown(name)}{place}: {fix}, not starting with '-' or '.'"
        )
    return name


def validate_profile_names(names: Collection[object], *, where: str = "") -> None:
    """InvalidProfileNameError for the first invalid name; one regex pass if all are valid."""
    try:
        joined = "/".join(names) + "/"  # type: ignore[arg-type]  # TypeError: not all text
    except TypeError:
        joined = ""
    if joined.count("/") == len(names) and _ALL_VALID.fullmatch(joined):
        return
    for name in names:
        validate_profile_name(name, where=where)
