"""The grammar of ``kaskada demo``; the walk-through is ``kaskada._demo``."""

from __future__ import annotations

from typing import Any

from kaskada.cli.parsers import takes, verb


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the whole job end to end on a throwaway local server",
        description="Start a local server on free ports, create two accounts and profiles, "
        "and walk through init, tables, sessions, the environment and explain(). "
        "Leaves nothing behind.",
    )
    parser.epilog = "example:\n  kaskada demo"
    takes(parser)
    parser.set_defaults(handler=verb("kaskada.cli.demo", "_run"))
