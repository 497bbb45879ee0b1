"""``kaskada demo``: the end-to-end walk-through on a throwaway local server."""

from __future__ import annotations

import argparse

from kaskada import _demo


def _run(args: argparse.Namespace) -> int:
    _demo.run()
    return 0
