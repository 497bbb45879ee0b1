"""Printing for the CLI: plain text for people, ``--json`` for scripts.

Text a server or a file supplied may hold terminal escapes (``ESC ] 0;...``
retitles the window, ``ESC [ 2J`` clears it) or bidirectional overrides that
make text read other than it is: :func:`printable` escapes them for text
output. JSON output stays exact JSON (``json`` escapes control characters, and
a consumer of JSON parses rather than displays).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kaskada._explain import Explanation
    from kaskada._settings import Settings

# C0 and C1 controls and DEL, plus the bidirectional marks, embeddings, overrides
# and isolates (U+061C, U+200E-F, U+202A-E, U+2066-9).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value: Any) -> str:
    """``str(value)`` with controls and bidi overrides escaped (``\\x1b``, ``\\u202e``)."""
    return _UNSAFE.sub(_escape, str(value))


def printable_lines(text: str) -> str:
    """Like :func:`printable`, but newlines stay (multi-line text of our own making)."""
    return "\n".join(printable(line) for line in text.split("\n"))


def emit_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")


def note(message: str) -> None:
    """A remark for the person at the terminal; on stderr so stdout stays parseable."""
    print(printable_lines(message), file=sys.stderr)


def example(parser: argparse.ArgumentParser, *lines: str) -> None:
    """Put working example command lines in a verb's help (its epilog)."""
    parser.epilog = "example" + ("s" if len(lines) > 1 else "") + ":\n" + "\n".join(
        f"  {line}" for line in lines
    )


def typed_json(explanation: Explanation, settings: Settings) -> dict[str, Any]:
    """``explanation.to_json()`` with booleans and numbers as JSON values, not "false" / "30.0"."""
    document = explanation.to_json()
    for name, value, _source in settings.rows():
        if isinstance(value, bool | int | float) and name in document["settings"]:
            document["settings"][name]["value"] = value
    return document
