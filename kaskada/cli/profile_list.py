"""``kaskada profile list``: what shell completion runs on every Tab
(``--names``), so it reads one TOML file and loads neither keyring nor grpc."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import Any

from kaskada import profiles
from kaskada.cli._output import emit_json, note, printable
from kaskada.profiles import Profile


def _profile_row(profile: Profile, default: str | None) -> dict[str, Any]:
    fields = profiles.toml_fields(profile.fields())
    row = {"name": profile.name, "default": profile.name == default, **fields}
    row["secret_store"] = profiles.store_kind(fields)
    return row


def secret_column(row: Mapping[str, Any]) -> str:
    """Where the secret (a device login's refresh token) lives, in a few words; a
    federated profile keeps none. No store is read."""
    store = row["secret_store"]
    if row.get("auth") == "federated":
        return "federated"
    if row.get("auth") == "device":
        return "device login" + (" (file)" if store == "file" else "")
    if store == "env":
        return f"env ${row.get('secret_env')}"
    if store == "file":
        return "file (plain text)"
    return str(store)


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
    table = [("", "NAME", "CLIENT ID", "SECRET", "ENDPOINT")] + [
        (
            "*" if row["default"] else "",
            row["name"],
            row.get("client_id", "-"),
            secret_column(row),
            row.get("endpoint", "(default)"),
        )
        for row in rows
    ]
    widths = [max(len(str(line[column])) for line in table) for column in range(4)]
    lines = []
    for line in table:
        cells = [str(cell).ljust(width) for cell, width in zip(line, widths, strict=False)]
        lines.append(printable(" ".join([*cells, str(line[4])]).rstrip()))
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
