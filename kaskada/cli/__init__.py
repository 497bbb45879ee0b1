"""The ``kaskada`` command line.

Each command group lives in its own module with a ``register(subparsers)``
function that only builds argparse parsers; the handlers import the heavy parts
(grpc, keyring) when they run, so ``kaskada profile list`` stays fast.

Exit codes: 0 success, 1 an expected error (one line on stderr, no traceback),
2 a usage error (argparse), 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from kaskada._errors import KaskadaError

# Modules that contribute commands, in the order they appear in --help.
_COMMAND_MODULES = (
    "kaskada.cli.profile",
    "kaskada.cli.api",
    "kaskada.cli.tokens",
    "kaskada.cli.server",
    "kaskada.cli.demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kaskada",
        description="Kaskada API client: profiles, credentials, tables and a local server.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module_name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.handler(args)
    except KaskadaError as error:
        print(f"kaskada: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("kaskada: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
