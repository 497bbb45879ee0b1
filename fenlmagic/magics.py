"""The magics: ``%fenl_auth``, ``%fenl_whoami`` and ``%%fenl_session``.

Each magic lets a KaskadaError propagate: the cell fails (so "Run all" stops)
and the error shows as one line through the handler in ``fenlmagic.display``.
Magics are plain methods registered with ``register_magic_function``; their
arguments are parsed with argparse, and a usage error is IPython's UsageError.
"""

from __future__ import annotations

import argparse
import functools
import getpass
import re
import shlex
import sys
from collections.abc import Iterable
from typing import Any, NoReturn

from IPython.core.error import UsageError

import kaskada
from fenlmagic import _login
from fenlmagic.display import SettingsView
from kaskada import IncompleteCredentialsError, KaskadaError, Secret

HISTORY_WARNING = (
    "fenlmagic: warning: a client secret typed on the magic line is kept in IPython's "
    "input history (In, the history database) and in the saved notebook. Rotate it if "
    "this notebook is shared, and next time use `%fenl_auth <client-id>`, which prompts "
    "for the secret without echo."
)


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad magic line as UsageError instead of exiting.

    Built once per magic (``functools.cache``): building costs more than parsing.
    The message repeats only option names (see ``_shown_words``): a client secret
    may be anywhere on the line, typed where the client id or a value belongs.
    """

    def __init__(self, prog: str) -> None:
        super().__init__(prog=prog, add_help=False)
        self._hidden: list[str] = []

    def error(self, message: str) -> NoReturn:
        message = mask_words(message, self._hidden)
        raise UsageError(f"{self.prog}: {message}\n{self.format_usage().strip()}")

    def parse_line(self, line: str) -> argparse.Namespace:
        try:
            words = shlex.split(line)
        except ValueError as error:
            raise UsageError(f"{self.prog}: {error}") from None
        self._hidden = self._hidden_words(words)
        return self.parse_args(words)

    @staticmethod
    def _hidden_words(words: list[str]) -> list[str]:
        """Every word but option names (``--word``): values, positionals, the rest.

        A secret typed as the client id or as an option's value (``--timeout S``,
        ``--timeout=S``) would otherwise come back in "invalid float value: '...'"
        and the like. (Secrets kaskada serve makes never start with '-'.)
        """
        hidden: list[str] = []
        for word in words:
            if not word.startswith("--"):
                hidden.append(word)
            elif "=" in word:
                hidden.append(word.split("=", 1)[1])
        return hidden


def mask_words(message: str, hidden: Iterable[str]) -> str:
    """``message`` with each of ``hidden`` masked where it stands as a whole word
    (whole words only: "a" must not mask "arguments")."""
    for word in sorted(set(hidden), key=len, reverse=True):
        if word:
            message = re.sub(rf"(?<![^\s'\"]){re.escape(word)}(?![^\s'\"])", Secret.MASK, message)
    return message


@functools.cache
def _auth_parser() -> _Parser:
    parser = _Parser("%fenl_auth")
    parser.add_argument("client_id", nargs="?", help="client id; prompts for its secret")
    parser.add_argument("client_secret", nargs="?", help="client secret (lands in history)")
    parser.add_argument("--profile", help="a saved profile (`kaskada profile list`)")
    parser.add_argument("--endpoint", help="gRPC host:port of the Kaskada API")
    parser.add_argument("--exchange-endpoint", help="token endpoint: a host or a full URL")
    parser.add_argument("--audience", help="audience sent in the token exchange")
    parser.add_argument("--plaintext", action="store_true", help="no TLS (loopback hosts only)")
    parser.add_argument("--ca-bundle", help="PEM file of roots to trust")
    parser.add_argument("--timeout", type=float, help="seconds per call")
    parser.add_argument(
        "--allow-insecure", action="store_true", help="plaintext to a non-loopback host"
    )
    return parser


@functools.cache
def _whoami_parser() -> _Parser:
    parser = _Parser("%fenl_whoami")
    parser.add_argument("--no-check", action="store_true", help="skip the checking call")
    return parser


@functools.cache
def _login_parser() -> _Parser:
    parser = _Parser("%fenl_login")
    parser.add_argument("--profile", help="a profile with auth = \"device\"")
    return parser


@functools.cache
def _session_parser() -> _Parser:
    parser = _Parser("%%fenl_session")
    parser.add_argument("profile", help="the profile to run this cell as")
    return parser


class CellFailed(Exception):
    """The cell under %%fenl_session failed; its error is already on screen.

    Raised so the cell counts as failed (Run all stops), shown as one line since
    the real traceback is printed just above.
    """

    def __init__(self, profile: str) -> None:
        super().__init__(
            f"the cell above failed while running as profile {profile!r}; "
            "the previous session is active again"
        )

    def _render_traceback_(self) -> list[str]:
        return [f"%%fenl_session: {self}"]


def _prompt_secret() -> str:
    """The secret typed at a getpass prompt; a frontend without input is told the other ways.

    Neither names the client id typed on the line: until the server accepts it, it
    may be the secret typed in the wrong place.
    """
    try:
        return getpass.getpass("Client secret: ")
    except (NotImplementedError, EOFError):  # IPython's StdinNotImplementedError; closed stdin
        raise IncompleteCredentialsError(
            "cannot prompt for the client secret: this frontend "
            "does not support input; use %fenl_auth --profile NAME (a profile saved with "
            "`kaskada configure --profile NAME`), or set KASKADA_CLIENT_ID and "
            "KASKADA_CLIENT_SECRET in the kernel's environment and run %fenl_auth"
        ) from None


def _count(visible: int) -> str:
    return "1 table" if visible == 1 else f"{visible} tables"


class FenlMagics:
    """Kaskada sign-in and session switching for one IPython shell."""

    LINE = ("fenl_auth", "fenl_whoami", "fenl_login")
    CELL = ("fenl_session",)

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self.warned_about_history = False

    def register(self) -> None:
        for name in self.LINE:
            self.shell.register_magic_function(getattr(self, name), "line", name)
        for name in self.CELL:
            self.shell.register_magic_function(getattr(self, name), "cell", name)

    def unregister(self) -> None:
        manager = self.shell.magics_manager
        for kind, names in (("line", self.LINE), ("cell", self.CELL)):
            for name in names:
                manager.magics[kind].pop(name, None)

    def fenl_auth(self, line: str) -> None:
        """Sign in to Kaskada, check it with a real call, and say who you are now.

        %fenl_auth --profile NAME     a saved profile (its secret from its store: the
                                      keyring, a variable, a command or an opted-in file)
        %fenl_auth CLIENT_ID          prompts for the secret without echo
        %fenl_auth CLIENT_ID SECRET   works, but the secret lands in history
        %fenl_auth                    what kda.init() picks (environment, default profile)

        Options: --endpoint HOST:PORT, --exchange-endpoint URL, --audience A,
        --plaintext, --ca-bundle FILE, --timeout SECONDS (override the profile's);
        --allow-insecure permits --plaintext to a host that is not loopback.
        """
        args = _auth_parser().parse_line(line)
        try:
            options = self._auth_options(args)
            session, visible = _login.sign_in(options)
        except KaskadaError as error:
            # Until the server accepts it, the "client id" may be the secret typed in
            # the wrong place: no error repeats it (resolution, the token endpoint's
            # refusal and the API's all name the client id).
            if args.client_id:
                error.args = tuple(
                    mask_words(part, [args.client_id]) if isinstance(part, str) else part
                    for part in error.args
                )
            raise
        print(f"Authenticated as {_login.describe(session)} ({_count(visible)} visible).")

    def _auth_options(self, args: argparse.Namespace) -> dict[str, Any]:
        """The connection options (as kda.init takes them) from the parsed magic line."""
        if args.profile and args.client_id:
            raise UsageError("%fenl_auth takes a client id or --profile NAME, not both.")
        secret: Secret | None = None
        if args.client_id:
            if args.client_secret is None:
                typed = _prompt_secret()
                if not typed:
                    raise IncompleteCredentialsError(
                        "no client secret was entered; run %fenl_auth CLIENT_ID again and "
                        "type it at the prompt"
                    )
                secret = Secret(typed)
            else:
                secret = Secret(args.client_secret)
                self._warn_history_once()
        return {
            "profile": args.profile or None,
            "client_id": args.client_id or None,
            "client_secret": secret,
            "endpoint": args.endpoint,
            "exchange_endpoint": args.exchange_endpoint,
            "audience": args.audience,
            "ca_bundle": args.ca_bundle,
            "timeout": args.timeout,
            "is_secure": False if args.plaintext else None,
            "allow_insecure": True if args.allow_insecure else None,
        }

    def _warn_history_once(self) -> None:
        if not self.warned_about_history:
            self.warned_about_history = True
            print(HISTORY_WARNING, file=sys.stderr)

    def fenl_whoami(self, line: str) -> None:
        """Show every setting in force and where it came from, then prove it with a call.

        %fenl_whoami              settings, sources, and a checking call
        %fenl_whoami --no-check   settings and sources only
        """
        args = _whoami_parser().parse_line(line)
        self.shell.display_pub.publish(_mime_bundle(SettingsView(kaskada.explain())))
        if not args.no_check:
            print(f"Credentials accepted ({_count(_login.verify(None))} visible).")

    def fenl_login(self, line: str) -> Any:
        """Sign a person in through the browser (a profile with auth = "device").

        %fenl_login [--profile NAME]

        Returns the login's handle, which shows the address as a link and the code; it
        polls in the background, so the kernel stays free (``.wait()`` blocks until the
        approval); the next call with the profile uses the new sign-in.
        """
        args = _login_parser().parse_line(line)
        return kaskada.login(profile=args.profile, say=print)  # shown as a link

    def fenl_session(self, line: str, cell: str) -> None:
        """Run this cell as another profile; the previous session is back afterwards.

        %%fenl_session PROFILE
        """
        args = _session_parser().parse_line(line)
        with kaskada.session(profile=args.profile):
            result = self.shell.run_cell(cell)
        if not result.success:
            raise CellFailed(args.profile)


def _mime_bundle(view: SettingsView) -> dict[str, str]:
    return {"text/plain": repr(view), "text/html": view._repr_html_()}
