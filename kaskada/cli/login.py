"""``kaskada login``: device login for a profile with ``auth = "device"``."""

from __future__ import annotations

import argparse

from kaskada.cli._connection import session_from_flags
from kaskada.cli._output import note
from kaskada.credentials import login as device_login


def _login(args: argparse.Namespace) -> int:
    settings = session_from_flags(args).settings
    pending = device_login.start(settings)
    print(pending.block(), flush=True)
    device_login.wait(pending, say=note)
    where = pending.login.store_of_token().describe()
    note(f"kaskada: signed in: profile '{pending.profile}' (refresh token in {where})")
    return 0
