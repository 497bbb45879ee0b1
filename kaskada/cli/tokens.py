"""``kaskada logout``, ``kaskada exec`` and ``kaskada env``: the token cache and handing tokens.

``exec`` and ``env`` give a child process a token, never the secret: the child
sees ``KASKADA_TOKEN``, ``KASKADA_TOKEN_EXPIRES_AT`` and the connection
settings, and no other credential variable. ``logout`` drops cached tokens and
keeps profiles and secrets (as ``aws sso logout``). The grammar is in
``kaskada.cli.parsers.tokens``; this module loads when one of these verbs runs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys

from kaskada import _clock, profiles
from kaskada._errors import ConfigError, CredentialsError
from kaskada.cli import grpc_quieting
from kaskada.cli._connection import session_from_flags
from kaskada.cli._output import note
from kaskada.credentials import handed as _handed
from kaskada.settings import env as _env


def _logout(args: argparse.Namespace) -> int:
    if args.all:
        dropped = profiles.forget_all_tokens()
        note(f"dropped {dropped} cached token(s) from {profiles.token_cache_dir()}")
        return 0
    name = args.profile or os.environ.get(_env.PROFILE) or profiles.default()
    if not name:
        raise ConfigError(
            "no profile to log out: name one with --profile NAME, or drop every cached token "
            "with --all"
        )
    profile = profiles.get(name)
    dropped = profiles.forget_tokens(name)
    if profile.auth == "device":  # revoke and delete the refresh token
        from kaskada.credentials import login as _login

        args.profile = name
        local = bool(getattr(args, "local", False))
        revoked = _login.logout(session_from_flags(args).settings, local=local)
        note(f"dropped {dropped} cached token(s) of profile '{name}'"
             + (("; its refresh token is deleted here (not revoked at the server)" if local
                 else "; its refresh token is revoked and deleted") if revoked else
                "; it was not signed in"))
        return 0
    note(f"dropped {dropped} cached token(s) of profile '{name}' (the profile and secret stay)")
    return 0


def child_variables(args: argparse.Namespace) -> tuple[dict[str, str], float]:
    """The variables a child gets, and when the token expires (epoch seconds)."""
    session = session_from_flags(args)
    settings = session.settings
    source = session.credentials
    if source.refreshable:
        token = source.current()
        secret = token.access_token
        expires = _clock.to_wall(token.expires_at)
    else:
        secret = source.get()
        known: float | None = getattr(secret, "expires_at", None)
        if known is None:
            raise CredentialsError(
                f"the pre-issued token (from {settings.token.source}) has no known expiry: "
                f"set {_env.TOKEN_EXPIRES_AT} too, or use a profile (--profile NAME)"
            )
        expires = known
    variables = {
        _env.TOKEN: secret.reveal(),
        _env.TOKEN_EXPIRES_AT: _handed.format_time(expires),
        _env.API_ENDPOINT: settings.endpoint.value,
        _env.IS_SECURE: "true" if settings.is_secure.value else "false",
    }
    if settings.ca_bundle.value:
        variables[_env.CA_BUNDLE] = os.path.abspath(os.path.expanduser(settings.ca_bundle.value))
    return variables, expires


def child_environment(variables: dict[str, str]) -> dict[str, str]:
    removed = {*_handed.REMOVED, *grpc_quieting()}  # ours, not the child's
    environment = {k: v for k, v in os.environ.items() if k not in removed}
    environment.update(variables)
    return environment


def _exec(args: argparse.Namespace) -> int:
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        print("kaskada exec: error: give a command after --, e.g. "
              "kaskada exec --profile prod -- python job.py", file=sys.stderr)
        return 2
    variables, _ = child_variables(args)
    environment = child_environment(variables)
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "posix":
        try:
            # The command replaces this process: its exit status and signals are its own.
            os.execvpe(command[0], command, environment)
        except OSError as error:
            raise ConfigError(
                f"cannot run {command[0]!r}: {error.strerror}; check the command and PATH"
            ) from None
    try:
        completed = subprocess.run(command, env=environment, check=False)
    except OSError as error:
        raise ConfigError(
            f"cannot run {command[0]!r}: {error.strerror}; check the command and PATH"
        ) from None
    return completed.returncode


def _fish_quote(value: str) -> str:
    """A fish single-quoted string: only ``\\`` and ``\'`` are special inside one."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# Every character PowerShell's tokenizer takes as a single quote: ASCII ' and the
# curly quotes U+2018-U+201B. Any of them ends a '...' string unless doubled.
_POWERSHELL_SINGLE_QUOTES = re.compile("['\u2018\u2019\u201a\u201b]")


def _powershell_quote(value: str) -> str:
    """A PowerShell single-quoted (verbatim) string: each single quote of any kind doubled,
    as PowerShell's own EscapeSingleQuotedStringContent does."""
    return "'" + _POWERSHELL_SINGLE_QUOTES.sub(lambda match: match.group() * 2, value) + "'"


def render(variables: dict[str, str], removed: tuple[str, ...], form: str) -> str:
    """The text for ``eval`` in shell ``form``: set ``variables``, unset ``removed``."""
    unset = [name for name in removed if name not in variables]
    if form == "json":
        return json.dumps(variables, indent=2, sort_keys=True) + "\n"
    lines: list[str] = []
    if form == "sh":
        lines.append("unset " + " ".join(unset) + ";")
        lines += [f"export {name}={shlex.quote(value)};" for name, value in variables.items()]
    elif form == "fish":
        lines += [f"set -e {name};" for name in unset]
        lines += [f"set -gx {name} {_fish_quote(value)};" for name, value in variables.items()]
    else:  # powershell
        lines += [f"Remove-Item Env:{name} -ErrorAction SilentlyContinue" for name in unset]
        lines += [
            f"$Env:{name} = {_powershell_quote(value)}" for name, value in variables.items()
        ]
    return "\n".join(lines) + "\n"


def _print_env(args: argparse.Namespace) -> int:
    variables, _ = child_variables(args)
    if sys.stdout.isatty():
        note(
            "kaskada: warning: this output holds an access token (valid until "
            f"{variables['KASKADA_TOKEN_EXPIRES_AT']}); use it as "
            '`eval "$(kaskada env …)"` and do not paste it anywhere'
        )
    sys.stdout.write(render(variables, _handed.REMOVED, args.format))
    return 0
