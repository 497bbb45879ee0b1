"""``kaskada profile list``: what shell completion runs on every Tab
(``--names``), so it reads one TOML file and loads neither keyring nor grpc."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kaskada import profiles
from kaskada.cli._output import emit_json, note, printable
from kaskada.profiles import Profile


def _profile_row(profile: Profile, default: str | None) -> dict[str, Any]:
    return {"name": profile.name, "default": profile.name == default, **profile.fields()}


def _list(args: argparse.Namespace) -> int:
    config = profiles.load()
    if args.names:
        sys.stdout.write("".join(f"{name}\n" for name in sorted(config.profiles)))
        return 0
    rows = [
        _profile_row(config.profiles[name], config.default_profile)
        for name in sorted(config.profiles)
    ]
    if args.json:
        emit_json(rows)
        return 0
    if not rows:
        note(
            f"no profiles in {config.path}; add one with `kaskada profile add NAME --client-id ID`"
        )
        return 0
    table = [("", "NAME", "CLIENT ID", "ENDPOINT")] + [
        (
            "*" if row["default"] else "",
            row["name"],
            row.get("client_id", "-"),
            row.get("endpoint", "(default)"),
        )
        for row in rows
    ]
    widths = [max(len(str(line[column])) for line in table) for column in range(3)]
    lines = []
    for line in table:
        cells = [str(cell).ljust(width) for cell, width in zip(line, widths, strict=False)]
        lines.append(printable(" ".join([*cells, str(line[3])]).rstrip()))
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
