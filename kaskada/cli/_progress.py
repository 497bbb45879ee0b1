"""A word on a terminal when a call is slow: what it waits for, and how to stop it.

Silence for 30 s looks like a hang; after ``DELAY`` seconds one line on stderr
says what the command waits for and that Ctrl-C stops it (exit 130). Nothing is
printed when stderr is not a terminal, so scripts and pipes stay clean.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

DELAY = 2.0


@contextmanager
def waiting(what: str) -> Iterator[None]:
    if not sys.stderr.isatty():
        yield
        return

    def say() -> None:
        print(f"kaskada: waiting for {what}… Ctrl-C to stop", file=sys.stderr, flush=True)

    timer = threading.Timer(DELAY, say)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
