"""Sign in from a notebook: resolve, prove with a real call, then activate.

The session is checked before it replaces the active one, so a mistyped secret
leaves the notebook signed in as before rather than half switched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kaskada
from fenlmagic.display import one_line

AUTH_HELP = (
    "Authenticate with one of:\n"
    "  %fenl_auth --profile NAME    a profile saved with `kaskada configure --profile NAME`\n"
    "  %fenl_auth <client-id>       prompts for the client secret without echo\n"
    "  KASKADA_CLIENT_ID and KASKADA_CLIENT_SECRET in the environment, then %fenl_auth"
)


def verify(session: Any) -> int:
    """Prove the credentials with a real call; the number of tables visible."""
    from kaskada import table  # loads grpc: only when a call is made

    return len(table.list_tables(session=session))


def describe(session: Any) -> str:
    """Who calls and where, never the secret."""
    who = f"client id {session.client_id}" if session.client_id else "a pre-issued token"
    profile = f"profile {session.profile!r}, " if session.profile else ""
    return f"{profile}{who} at {session.endpoint}"


def sign_in(options: Mapping[str, Any]) -> tuple[Any, int]:
    """Check the credentials, then activate them globally (as ``kda.init``)."""
    candidate = kaskada.session(**options)
    visible = verify(candidate)
    return kaskada.init(**options), visible


def startup_message() -> str:
    """What loading the extension did: initialised the client, or how to do so.

    Never raises for want of credentials; a broken setting is reported as one line
    with the ways to authenticate.
    """
    try:
        session = kaskada.init()
    except kaskada.NoCredentialsError:
        return "fenlmagic: no Kaskada credentials found.\n" + AUTH_HELP
    except kaskada.KaskadaError as error:
        return f"fenlmagic: {one_line(error)}\n{AUTH_HELP}"
    return (
        f"fenlmagic: Kaskada client initialised as {describe(session)}; "
        "%fenl_whoami checks it and shows where each setting came from."
    )
