"""The command line's grammar: one module per command group, each with a
``register(subparsers)`` that only builds argparse parsers.

Every start builds all of them (``--help`` and completion need the whole tree),
so these modules import nothing heavy. A verb's code lives in its own module
(``kaskada.cli.profile``, ``kaskada.cli.api``, …) with its imports at the top,
and is imported by ``verb`` only when that verb runs: ``kaskada --version``
and completion's ``kaskada profile list --names`` never load the keyring,
grpc or protobuf (bench/bench_cli.py measures both).
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable

Handler = Callable[[argparse.Namespace], int]


def verb(module: str, function: str) -> Handler:
    """The handler of one verb: ``module.function(args)``, imported when it runs."""

    def run(args: argparse.Namespace) -> int:
        implementation: Handler = getattr(importlib.import_module(module), function)
        return int(implementation(args) or 0)

    run.verb = (module, function)  # type: ignore[attr-defined]  # tests check each resolves
    return run
