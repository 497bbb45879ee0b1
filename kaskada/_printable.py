"""Text from elsewhere made safe to show: one rule for exception messages and the CLI.

Text a server, a keyring backend or a file supplied may hold terminal escapes
(``ESC ] 0;...`` retitles the window, ``ESC [ 2J`` clears it, BEL rings) or
bidirectional overrides that make text read other than it is. An exception's
message reaches a terminal uncaught as surely as CLI output does, so both escape
with :func:`printable`: ``_secret.scrub`` (the path of all server text into an
exception) and the CLI's own output (``kaskada.cli._output``).
"""

from __future__ import annotations

import re

# C0 and C1 controls and DEL, plus the bidirectional marks, embeddings, overrides
# and isolates (U+061C, U+200E-F, U+202A-E, U+2066-9).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value: object) -> str:
    """``str(value)`` with controls and bidi overrides escaped (``\\x1b``, ``\\u202e``).

    Idempotent: escaped text holds no such character, so escaping twice changes nothing.
    """
    return _UNSAFE.sub(_escape, str(value))


def printable_lines(text: str) -> str:
    """Like :func:`printable`, but newlines stay (multi-line text of our own making)."""
    return "\n".join(printable(line) for line in text.split("\n"))
