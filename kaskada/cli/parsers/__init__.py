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
import re
from collections.abc import Callable
from typing import NoReturn

Handler = Callable[[argparse.Namespace], int]


def verb(module: str, function: str) -> Handler:
    """The handler of one verb: ``module.function(args)``, imported when it runs."""

    def run(args: argparse.Namespace) -> int:
        implementation: Handler = getattr(importlib.import_module(module), function)
        return int(implementation(args) or 0)

    run.verb = (module, function)  # type: ignore[attr-defined]  # tests check each resolves
    return run


def seconds(value: str) -> float:
    """An argparse type for ``--timeout``: a bad value is a usage error naming the fix."""
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 < number <= 86400:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a number of seconds from above 0 to 86400: give e.g. 30"
        )
    return number


class UsageError(Exception):
    """A command line that cannot mean anything: exit 2 with the verb's usage, as
    argparse's own errors. Raised where the grammar alone cannot tell (a VALUE
    whose form depends on its KEY, two names for one profile)."""


# The global options a verb may honour; the others are refused when given.
GLOBAL_NAMES = ("profile", "json", "timeout")


def takes(
    parser: argparse.ArgumentParser, *options: str, refusing: dict[str, str] | None = None
) -> None:
    """Declare which global options (``profile``, ``json``, ``timeout``) this verb
    honours: its ``--help`` lists only those, and the others are refused, before
    or after the verb, never ignored. ``refusing`` gives the reason for one."""
    unknown = set(options) - set(GLOBAL_NAMES)
    if unknown:
        raise ValueError(f"not global options: {sorted(unknown)}")
    parser.set_defaults(global_options=frozenset(options), global_refusals=refusing or {})


class Parser(argparse.ArgumentParser):
    """argparse with "did you mean" for a mistyped verb or choice, as git and gh do."""

    def error(self, message: str) -> NoReturn:
        hint = _did_you_mean(message, self._choices())
        super().error(message + hint)

    def _choices(self) -> list[str]:
        names: list[str] = []
        for action in self._actions:
            if action.choices is not None:
                names.extend(str(choice) for choice in action.choices)
        return names


_INVALID_CHOICE = re.compile(r"invalid choice: (?P<value>'[^']*'|\"[^\"]*\")")


def _did_you_mean(message: str, choices: list[str]) -> str:
    match = _INVALID_CHOICE.search(message)
    if match is None or not choices:
        return ""
    # Lazy: only a mistyped word gets here (difflib need not weigh on every start).
    import difflib

    typed = match.group("value")[1:-1]
    close = difflib.get_close_matches(typed, choices, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""
