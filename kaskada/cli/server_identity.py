"""``kaskada server add-user|list-users|remove-user|trust-issuer|list-issuers|
remove-issuer``: the people and CI identities of the local server's database."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import re
import sys
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from kaskada.cli._output import emit_json, note
from kaskada.cli.parsers import UsageError
from kaskada.server._errors import ServerError
from kaskada.server.oauth_store import OAuthStore
from kaskada.server.store import Store

_Row = TypeVar("_Row")


@contextlib.contextmanager
def _oauth(db: Path | None, *, create: bool = True) -> Iterator[OAuthStore]:
    """The people-and-CI side of the server's database, closed after one command."""
    store = Store(db, create=create)
    try:
        yield OAuthStore(store)
    finally:
        store.close()


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin or not sys.stdin.isatty():
        if not args.password_stdin:
            raise ServerError("no terminal to prompt for the password: pipe it in with "
                              "--password-stdin")
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"Password for {args.name}: ")
    if getpass.getpass("Again: ") != first:
        raise ServerError("the two passwords differ: run the command again")
    return first


def _add_user(args: argparse.Namespace) -> int:
    password = _read_password(args)
    with _oauth(args.db) as oauth:
        ended = oauth.add_user(args.account, args.name, password, force=args.force)
    if args.json:
        emit_json({"account": args.account, "user": args.name, "signed_out": ended})
        return 0
    note(f"kaskada: user {args.name!r} of account {args.account!r} can now approve "
         "device logins (kaskada login)")
    if args.force:
        note(f"kaskada: {_signed_out(ended)}: a new password ends the user's device logins; "
             "they sign in again with `kaskada login`")
    return 0


def _signed_out(ended: int) -> str:
    return f"ended {ended} device login{'' if ended == 1 else 's'} (refresh tokens and their " \
        "access tokens revoked)"


def _remove_user(args: argparse.Namespace) -> int:
    with _oauth(args.db, create=False) as oauth:
        ended = oauth.remove_user(args.account, args.name)
    if args.json:
        emit_json({"account": args.account, "user": args.name, "signed_out": ended})
    else:
        note(f"kaskada: removed user {args.name!r} of account {args.account!r}; "
             f"{_signed_out(ended)}")
    return 0


def _list_users(args: argparse.Namespace) -> int:
    return _list(
        args, OAuthStore.users,
        lambda row: {"account": row[0], "user": row[1]},
        lambda row: f"{row[0]}\t{row[1]}",
        "kaskada: no users: add one with `kaskada server add-user --account NAME USER`")


def _list(
    args: argparse.Namespace, read: Callable[[OAuthStore], Sequence[_Row]],
    record: Callable[[_Row], dict[str, object]], line: Callable[[_Row], str], empty: str,
) -> int:
    """A ``list-*`` command: the rows of an existing database as JSON records or one line
    each (``empty`` on stderr when there are none)."""
    with _oauth(args.db, create=False) as oauth:
        rows = read(oauth)
    if args.json:
        emit_json([record(row) for row in rows])
        return 0
    for row in rows:
        print(line(row))
    if not rows:
        note(empty)
    return 0


def _check_trust(args: argparse.Namespace) -> None:
    """Refuse a trust entry that is wrong on its face (usage, exit 2) or whose key set
    cannot be read (exit 1), now rather than as refused exchanges later."""
    from kaskada.server.exchange import Refused, load_jwks, source_problem

    issuer = urllib.parse.urlsplit(args.issuer)
    if issuer.scheme not in ("https", "http") or not issuer.hostname:
        raise UsageError(f"--issuer {args.issuer[:200]!r} is not a URL: give the tokens' iss "
                         "exactly, e.g. https://token.actions.githubusercontent.com")
    problem = source_problem(args.jwks)
    if problem is not None:
        raise UsageError(problem)
    pattern = args.subject
    if not pattern.strip() or not pattern.isprintable():
        raise UsageError(f"--subject {pattern[:200]!r} is empty or has control characters: "
                         "give the tokens' sub, e.g. 'repo:org/repo:ref:refs/heads/main'")
    if re.search(r"\[(?![^\]]+\])", pattern):
        raise UsageError(f"--subject {pattern[:200]!r} has a '[' without its ']': close the "
                         "set (fnmatch: [abc]), or write [[] for a literal '['")
    if set(pattern) <= set("*?") and not args.any_subject:
        raise UsageError(f"--subject {pattern!r} matches every subject of {args.issuer}: on a "
                         "shared issuer (GitHub, GitLab) that is every repository there; "
                         "name the subject, or pass --any-subject if you mean it")
    if args.issuer.endswith("/"):
        note(f"kaskada: warning: --issuer {args.issuer!r} ends with '/': a token's iss must "
             "match exactly (GitHub's has no trailing slash); check the issuer's tokens")
    try:
        keys = load_jwks(args.jwks)
    except Refused as refused:
        raise ServerError(f"{refused}: give the issuer's key set (its jwks_uri, or a "
                          "JSON file of it)") from None
    if not keys:
        raise ServerError(f"the key set {args.jwks} holds no signing key")


def _trust_issuer(args: argparse.Namespace) -> int:
    _check_trust(args)
    with _oauth(args.db) as oauth:
        if not args.new_account and not oauth.account_known(args.account):
            raise ServerError(
                f"no client, user, table or issuer of {oauth.store.path} names account "
                f"{args.account!r}: check the name, or pass --new-account to start that "
                "account with this issuer")
        trust_id = oauth.trust_issuer(
            args.issuer, args.jwks, args.audience, args.subject, args.account)
    if args.json:
        emit_json({"id": trust_id})
    else:
        print(trust_id)
        note(f"kaskada: tokens of {args.issuer} for audience {args.audience!r} with subject "
             f"{args.subject!r} now sign in to account {args.account!r}")
    return 0


def _list_issuers(args: argparse.Namespace) -> int:
    return _list(
        args, lambda oauth: oauth.trusted_issuers(),
        lambda r: {"id": r.id, "issuer": r.issuer, "jwks": r.jwks, "audience": r.audience,
                   "subject": r.subject, "account": r.account},
        lambda r: f"{r.id}\t{r.issuer}\taud={r.audience}\tsub={r.subject}\t"
                  f"account={r.account}\tjwks={r.jwks}",
        "kaskada: no trusted issuers")


def _remove_issuer(args: argparse.Namespace) -> int:
    with _oauth(args.db, create=False) as oauth:
        oauth.remove_issuer(args.trust_id)
    note(f"kaskada: removed trusted issuer {args.trust_id}")
    return 0


def add_public_client(args: argparse.Namespace) -> int:
    """``server add-client --public``: a client without a secret, for device login."""
    if args.save_profile:
        raise ServerError("--public does not take --save-profile: write a profile with "
                          'auth = "device" and this client_id')
    with _oauth(args.db) as oauth:
        client_id = oauth.add_public_client()
    if args.json:
        emit_json({"client_id": client_id, "public": True})
    else:
        print(f"client_id:     {client_id}")
        note("kaskada: a public client (no secret): use it as client_id of a profile "
             'with auth = "device"')
    return 0
