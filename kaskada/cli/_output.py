"""Printing for the CLI: plain text for people, ``--json`` for scripts."""

from __future__ import annotations

import json
import sys
from typing import Any


def emit_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")


def note(message: str) -> None:
    """A remark for the person at the terminal; on stderr so stdout stays parseable."""
    print(message, file=sys.stderr)
