"""The ``kaskada`` command line.

Each command group's grammar lives in ``kaskada.cli.parsers`` (a
``register(subparsers)`` that only builds argparse parsers); its verbs live in
their own modules, imported when the verb runs, so ``kaskada --version`` and the
shell completion's ``kaskada profile list --names`` load neither grpc nor keyring.

The global options (``--profile``, ``--json``, ``--debug``, ``--timeout``) are
accepted before or after the verb: they are defined on the top parser and
copied onto every verb's parser with a suppressed default, so a value given
before the verb is not overwritten by the verb's parser.

Exit codes (README, "Exit codes"): 0 success, 1 an expected error (one line on
stderr, no traceback), 2 a usage error (argparse), 4 credentials missing or
refused, 130 interrupted (Ctrl-C), 141 the reader of the output went away
(``kaskada table list | head -1``: quietly, as git and gh).

A verb declares the global options it honours (``parsers.takes``); its help lists
only those, and the others are refused with exit 2 wherever they are given.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

from kaskada import __version__
from kaskada._errors import (
    AuthenticationError,
    IncompleteCredentialsError,
    KaskadaError,
    NoCredentialsError,
    ProfileNotFoundError,
)
from kaskada._printable import printable_lines
from kaskada.cli._output import printable
from kaskada.cli.parsers import GLOBAL_NAMES, Parser, UsageError, seconds

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_CREDENTIALS = 4
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for git or gh cut off by `head`

# Modules that contribute commands, in the order they appear in --help.
_COMMAND_MODULES = (
    "kaskada.cli.parsers.profile",
    "kaskada.cli.parsers.api",
    "kaskada.cli.parsers.tokens",
    "kaskada.cli.parsers.login",
    "kaskada.cli.parsers.server",
    "kaskada.cli.parsers.demo",
    "kaskada.cli.parsers.completion",
)
# Which module declares each verb, so that a command builds only its own verb's
# grammar (argparse makes a help formatter per argument; see bench/bench_cli.py).
# tests/test_code_shape.py checks this table against what the modules declare.
VERB_MODULES = {
    "configure": "kaskada.cli.parsers.profile",
    "profile": "kaskada.cli.parsers.profile",
    "whoami": "kaskada.cli.parsers.api",
    "token": "kaskada.cli.parsers.api",
    "table": "kaskada.cli.parsers.api",
    "logout": "kaskada.cli.parsers.tokens",
    "login": "kaskada.cli.parsers.login",
    "exec": "kaskada.cli.parsers.tokens",
    "env": "kaskada.cli.parsers.tokens",
    "serve": "kaskada.cli.parsers.server",
    "server": "kaskada.cli.parsers.server",
    "demo": "kaskada.cli.parsers.demo",
    "completion": "kaskada.cli.parsers.completion",
}


_GLOBAL_OPTIONS: tuple[tuple[str, dict[str, Any]], ...] = (
    (
        "--profile",
        {
            "metavar": "NAME",
            "help": "run as this profile (default: KASKADA_PROFILE, then the credential "
            "variables, then the default profile)",
        },
    ),
    ("--json", {"action": "store_true", "help": "print JSON for scripts"}),
    (
        "--debug",
        {
            "action": "store_true",
            "help": "log resolution and calls on stderr, and let gRPC print its own diagnostics",
        },
    ),
    (
        "--timeout",
        {
            "type": seconds,
            "metavar": "SECONDS",
            "help": "seconds per server call (default: the profile's timeout, then "
            "KASKADA_TIMEOUT, then 30)",
        },
    ),
)

_EPILOG = """\
examples:
  kaskada serve                                   # the local server, in another terminal
  kaskada server add-client --account dev --save-profile dev --default
  kaskada whoami
  kaskada --profile prod table list

exit codes: 0 ok, 1 error, 2 usage error, 4 credentials missing or refused, 130 interrupted,
141 the reader of the output went away (`| head`)
"""


class _VersionAction(argparse.Action):
    """``--version``: prints and exits before any verb is looked at."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        print(f"kaskada {__version__}")
        parser.exit()


def _verb_module(argv: Sequence[str]) -> str | None:
    """The module declaring the verb of ``argv``; None (build every verb) when there is
    no known verb, so that help and "invalid choice" still list them all."""
    takes_value = {flag for flag, options in _GLOBAL_OPTIONS if "action" not in options}
    tokens = iter(argv)
    for token in tokens:
        if token == "--":
            return None
        if token in takes_value:
            next(tokens, None)
        elif not token.startswith("-"):
            return VERB_MODULES.get(token)
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The CLI's grammar: every verb, or with ``argv`` only the verb it names."""
    modules: tuple[str, ...] = _COMMAND_MODULES
    if argv is not None:
        wanted = _verb_module(argv)
        if wanted is not None:
            modules = (wanted,)
        elif "--version" in argv and not {"-h", "--help"} & set(argv):
            modules = ()  # the version needs no verb's grammar
    parser = Parser(
        prog="kaskada",
        description="Kaskada API client: profiles, credentials, tables and a local server.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_VersionAction, help="print the version and exit")
    for flag, options in _GLOBAL_OPTIONS:
        parser.add_argument(flag, **options)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module_name in modules:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            continue
        module.register(subparsers)
    _spread_global_options(parser)
    return parser


def _tolerant_console() -> None:
    """Text the console cannot encode is escaped (``\\u5ba2``), never a crash.

    A Windows console or a redirected stream often uses a legacy code page
    (cp1252, cp437) where profile values and server text may not fit.
    """
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            # A closed or unusual stream is left as it is.
            with contextlib.suppress(ValueError, OSError):
                reconfigure(errors="backslashreplace")


def _spread_global_options(parser: argparse.ArgumentParser) -> None:
    """Accept the global options after the verb too, on every parser below the top.

    A verb's ``--help`` lists only the global options it declared with ``takes``;
    the others are still parsed (hidden) so that :func:`_refuse_unused` can say
    why they mean nothing there, instead of argparse's bare "unrecognized".
    """
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        seen: set[int] = set()
        for child in action.choices.values():
            if id(child) in seen:
                continue
            seen.add(id(child))
            if child.formatter_class is argparse.HelpFormatter:
                child.formatter_class = argparse.RawDescriptionHelpFormatter
            uses = child.get_default("global_options") or frozenset()
            for flag, options in _GLOBAL_OPTIONS:
                dest = flag.lstrip("-")
                existing = child._option_string_actions.get(flag)
                if existing is None:
                    shown = dict(options)
                    if dest != "debug" and dest not in uses:
                        shown["help"] = argparse.SUPPRESS
                    child.add_argument(flag, default=argparse.SUPPRESS, **shown)
                elif existing.dest == dest:
                    existing.default = argparse.SUPPRESS
            if child.get_default("handler") is not None:
                child.set_defaults(verb_parser=child)
            _spread_global_options(child)


def _refuse_unused(args: argparse.Namespace) -> None:
    """A global option the verb cannot honour is a usage error, never ignored."""
    uses: frozenset[str] = getattr(args, "global_options", frozenset())
    refusals: dict[str, str] = getattr(args, "global_refusals", {})
    for name in GLOBAL_NAMES:
        if name in uses or getattr(args, name, None) in (None, False):
            continue
        prog = args.verb_parser.prog
        reason = refusals.get(name) or f"`{prog}` does not use it; leave it out"
        raise UsageError(f"--{name} means nothing here: {reason}")


def _quiet_grpc(debug: bool) -> None:
    """gRPC's C core prints its own log lines (``I1201 … ssl_transport_security.cc``,
    ``E1201 … add_port.cc``) before our one-line error; silence them unless --debug.
    It reads these variables when it loads, so this runs before anything imports grpc."""
    if debug or "grpc" in sys.modules:  # loaded already (a test calling main()): too late
        return
    for name, value in (("GRPC_VERBOSITY", "NONE"), ("GRPC_TRACE", "")):
        if name not in os.environ:
            os.environ[name] = value
            _grpc_quieting.add(name)


_grpc_quieting: set[str] = set()


def grpc_quieting() -> frozenset[str]:
    """The gRPC variables this CLI set for itself, which a child (``kaskada exec``) must
    not inherit: the user's own settings stay."""
    return frozenset(_grpc_quieting)


def _debug_logging() -> None:
    # Lazy: logging (with traceback, string, weakref) is a few ms of every start that
    # `kaskada --version` and most verbs never need; --debug pays it.
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("kaskada: debug: %(name)s: %(message)s"))
    logger = logging.getLogger("kaskada")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


def _wants_debug(argv: Sequence[str]) -> bool:
    end = list(argv).index("--") if "--" in argv else len(argv)
    return "--debug" in argv[:end]


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = _main(argv)
        sys.stdout.flush()  # a pipe closed under buffered output fails here, not at exit
    except BrokenPipeError:
        return _closed_pipe()
    return code


def _main(argv: Sequence[str] | None) -> int:
    _tolerant_console()
    arguments = list(sys.argv[1:] if argv is None else argv)
    _quiet_grpc(_wants_debug(arguments))
    parser = build_parser(arguments)
    args = parser.parse_args(arguments)
    if args.debug:
        _debug_logging()
    try:
        _refuse_unused(args)
        result = args.handler(args)
    except UsageError as error:
        args.verb_parser.error(printable(str(error)))
    except KaskadaError as error:
        # Line breaks of our own making stay (a command's stderr, indented); every other
        # control character is escaped: text from elsewhere was scrubbed line by line.
        message = printable_lines(for_the_shell(str(error)))
        print(f"kaskada: error: {message}{_did_you_mean(error)}", file=sys.stderr)
        return exit_code(error)
    except KeyboardInterrupt:
        print("\nkaskada: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return int(result or 0)


def _closed_pipe() -> int:
    """The reader went away (``kaskada table list | head -1``): stop quietly, as git
    and gh do when SIGPIPE ends them, and exit 141 (128 + SIGPIPE), the status a
    shell reports for them. Output still buffered goes to the null device, so
    Python's flush at exit prints no "Exception ignored" either."""
    with contextlib.suppress(OSError, ValueError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    return EXIT_BROKEN_PIPE


def exit_code(error: BaseException) -> int:
    """4 for credentials missing or refused (as a script wants to tell "sign in
    again" from "try later"), else 1."""
    credentials = (AuthenticationError, NoCredentialsError, IncompleteCredentialsError)
    return EXIT_CREDENTIALS if isinstance(error, credentials) else EXIT_ERROR


# Library messages speak Python (they are also raised in notebooks); at a shell
# the same advice is a flag or a command.
_SHELL_WORDS = (
    ("(the name came from argument profile=)", "(the name came from --profile)"),
    (
        "(kda.explain() shows where it came from)",
        "(`kaskada profile current` shows where it came from)",
    ),
    (
        "`kaskada profile use NAME`, or kda.init(profile=NAME))",
        "`kaskada profile use NAME`, or --profile NAME)",
    ),
    (", or arguments (kda.init(client_id=..., client_secret=...))", ""),
    ("give credentials in one of three ways: ", "give credentials in one of two ways: "),
    (
        "`kaskada profile use NAME`, or kda.init(profile=NAME);",
        "`kaskada profile use NAME`, or --profile NAME;",
    ),
    ("pass allow_insecure=True / set KASKADA_ALLOW_INSECURE=1 / --allow-insecure",
     "pass --allow-insecure or set KASKADA_ALLOW_INSECURE=1"),
    ("allow_insecure=True / KASKADA_ALLOW_INSECURE=1",
     "--allow-insecure / KASKADA_ALLOW_INSECURE=1"),
    ("pass --force (force=True)", "pass --force"),
    ("check the name with ListTables", "check the name with `kaskada table list`"),
    ("pass allow_insecure=True, ", ""),
    ("kda.init() would use:", "a command without --profile (and kda.init()) would use:"),
)


def for_the_shell(message: str) -> str:
    for python, shell in _SHELL_WORDS:
        message = message.replace(python, shell)
    return message


def _did_you_mean(error: KaskadaError) -> str:
    """``; did you mean 'dev'?`` for a mistyped profile name (as git does for verbs)."""
    if not isinstance(error, ProfileNotFoundError):
        return ""
    match = re.search(r"no profile '([^']*)'", str(error))
    if match is None:
        return ""
    # Lazy: only a mistyped profile name gets here; profiles (with typing, dataclasses
    # and logging) and difflib would otherwise load on every start, --version included.
    import difflib

    from kaskada import profiles

    try:
        names = profiles.names()
    except KaskadaError:
        return ""
    close = difflib.get_close_matches(match.group(1), names, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


if __name__ == "__main__":
    sys.exit(main())
