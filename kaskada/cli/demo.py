"""``kaskada demo``: the end-to-end walk-through on a throwaway local server."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the whole job end to end on a throwaway local server",
        description="Start a local server on free ports, create two accounts and profiles, "
        "and walk through init, tables, sessions, the environment and explain(). "
        "Leaves nothing behind.",
    )
    parser.epilog = "example:\n  kaskada demo"
    parser.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    from kaskada import _demo

    _demo.run()
    return 0
