"""The session a command runs as, from its connection flags (--profile,
--allow-insecure, --timeout).

Its own module, without grpc or protobuf: ``exec`` and ``env`` need a session but
never make a call, and kaskada.cli.api (which loads both) is for the verbs
that do.
"""

from __future__ import annotations

import argparse
import warnings

from kaskada._session import Session, session_for
from kaskada.cli._output import note
from kaskada.settings.options import ConnectionOptions


def connection_options(args: argparse.Namespace) -> ConnectionOptions:
    """The connection flags a command was given; a verb without --allow-insecure has none."""
    return ConnectionOptions(
        profile=getattr(args, "profile", None),
        allow_insecure=True if getattr(args, "allow_insecure", False) else None,
        timeout=getattr(args, "timeout", None),
    )


def session_from_flags(args: argparse.Namespace) -> Session:
    """Resolve as the flags say; resolution warnings become one ``kaskada: warning:`` line.

    Python's own warning format would print a source line of kaskada, which
    means nothing to someone at a shell.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        made = session_for(connection_options(args))
    for warning in caught:
        note(f"kaskada: warning: {warning.message}")
    return made
