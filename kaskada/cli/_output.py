"""Printing for the CLI: plain text for people, ``--json`` for scripts.

Text a server or a file supplied may hold terminal escapes (``ESC ] 0;...``
retitles the window, ``ESC [ 2J`` clears it) or bidirectional overrides that
make text read other than it is: :func:`printable` (``kaskada._printable``, the
same function that escapes server text in exception messages) escapes them for
text output. JSON output stays exact JSON (``json`` escapes control characters, and
a consumer of JSON parses rather than displays).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from kaskada._printable import printable, printable_lines

__all__ = ["emit_json", "example", "note", "printable", "printable_lines", "typed_json"]

if TYPE_CHECKING:
    from kaskada.settings.explain import Explanation
    from kaskada.settings.values import Settings


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
