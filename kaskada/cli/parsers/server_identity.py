"""The grammar of the server commands for people and CI: ``add-user``, ``remove-user``,
``list-users``,
``trust-issuer``, ``list-issuers``, ``remove-issuer`` (verbs in
``kaskada.cli.server_identity``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from kaskada.cli.parsers import takes, verb

_MODULE = "kaskada.cli.server_identity"


def register(commands: Any, db_argument: Callable[[argparse.ArgumentParser], None]) -> None:
    user = commands.add_parser(
        "add-user", help="add a person who may approve device logins of an account",
        description="Add user NAME to ACCOUNT. The password is read from a prompt without "
        "echo, or from stdin with --password-stdin; it is stored only as a salted scrypt hash.",
    )
    user.add_argument("name", metavar="NAME", help="the user name")
    user.add_argument("--account", required=True, help="the account the user signs in to")
    user.add_argument("--password-stdin", action="store_true",
                      help="read the password from stdin (one line)")
    user.add_argument("--force", action="store_true",
                      help="replace the user's password (ends the user's device logins)")
    db_argument(user)
    user.epilog = ("examples:\n  kaskada server add-user --account dev alice\n"
                   '  printf %s "$PW" | kaskada server add-user --account dev ci --password-stdin')
    takes(user, "json")
    user.set_defaults(handler=verb(_MODULE, "_add_user"))

    removal = commands.add_parser(
        "remove-user", help="remove a person and end their device logins",
        description="Remove user NAME of ACCOUNT and revoke every refresh token (and its "
        "access tokens) that the user's device logins hold.")
    removal.add_argument("name", metavar="NAME", help="the user name")
    removal.add_argument("--account", required=True, help="the user's account")
    db_argument(removal)
    removal.epilog = "example:\n  kaskada server remove-user --account dev alice"
    takes(removal, "json")
    removal.set_defaults(handler=verb(_MODULE, "_remove_user"))

    users = commands.add_parser("list-users", help="list the people who may approve device "
                                "logins", description="List the users, one row each: account "
                                "and name.")
    db_argument(users)
    users.epilog = "examples:\n  kaskada server list-users\n  kaskada server list-users --json"
    takes(users, "json")
    users.set_defaults(handler=verb(_MODULE, "_list_users"))

    trust = commands.add_parser(
        "trust-issuer", help="accept OIDC tokens of an issuer in token exchange (RFC 8693)",
        description="Trust subject tokens of ISSUER whose audience is A and whose subject "
        "matches PATTERN (fnmatch: * and ?): they are exchanged for access tokens of ACCOUNT.",
    )
    trust.add_argument("--issuer", required=True, metavar="URL", help="the tokens' iss")
    trust.add_argument("--jwks", required=True, metavar="FILE|URL",
                       help="the issuer's key set (a JSON file, or an https URL; "
                       "http only on loopback; read now, and refused if invalid)")
    trust.add_argument("--audience", required=True, metavar="A", help="the tokens' aud")
    trust.add_argument("--subject", required=True, metavar="PATTERN",
                       help="the tokens' sub, e.g. 'repo:org/repo:ref:refs/heads/main'")
    trust.add_argument("--account", required=True, metavar="NAME", help="the account to map to")
    trust.add_argument("--any-subject", action="store_true",
                       help="allow a --subject of only wildcards (every subject of the issuer)")
    trust.add_argument("--new-account", action="store_true",
                       help="allow an --account that no client, user or table names yet")
    db_argument(trust)
    trust.epilog = (
        "example:\n  kaskada server trust-issuer --issuer "
        "https://token.actions.githubusercontent.com \\\n    --jwks "
        "https://token.actions.githubusercontent.com/.well-known/jwks --audience kaskada \\\n"
        "    --subject 'repo:org/repo:*' --account ci")
    takes(trust, "json")
    trust.set_defaults(handler=verb(_MODULE, "_trust_issuer"))

    listing = commands.add_parser("list-issuers", help="list trusted issuers",
                                  description="List the trusted issuers, one row each.")
    db_argument(listing)
    listing.epilog = (
        "examples:\n  kaskada server list-issuers\n  kaskada server list-issuers --json")
    takes(listing, "json")
    listing.set_defaults(handler=verb(_MODULE, "_list_issuers"))

    remove = commands.add_parser("remove-issuer", help="stop trusting an issuer entry",
                                 description="Remove trusted issuer entry ID (see list-issuers).")
    remove.add_argument("trust_id", type=int, metavar="ID", help="the id list-issuers shows")
    db_argument(remove)
    remove.epilog = "example:\n  kaskada server remove-issuer 3"
    takes(remove, "json")
    remove.set_defaults(handler=verb(_MODULE, "_remove_issuer"))
