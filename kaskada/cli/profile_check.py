"""``kaskada profile check``: sign in with each profile, in parallel (loads grpc)."""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kaskada import profiles, table
from kaskada._errors import ConfigError, KaskadaError
from kaskada._session import session
from kaskada.cli import EXIT_CREDENTIALS, EXIT_ERROR, exit_code, for_the_shell
from kaskada.cli._output import emit_json

CHECK_TIMEOUT = 10.0


def _check(args: argparse.Namespace) -> int:
    """Sign in with each profile in parallel threads, each within its deadline."""
    config = profiles.load()
    if args.all:
        names = sorted(config.profiles)
    else:
        names = list(args.names) or [args.profile or config.default_profile or ""]
    if not names or not all(names):
        raise ConfigError(
            "no profile to check: name one (`kaskada profile check NAME`), pass --all, or "
            "choose a default with `kaskada profile use NAME`"
        )
    timeout = args.timeout or CHECK_TIMEOUT
    with ThreadPoolExecutor(max_workers=min(8, len(names))) as pool:
        results = list(pool.map(lambda name: _check_one(name, timeout), names))
    rows: list[dict[str, Any]] = [
        {"profile": name, "ok": error is None, "secret_store": _store(config, name),
         "detail": f"signed in (secret: {_store(config, name)})" if error is None
         else for_the_shell(str(error)),
         "exit_code": 0 if error is None else exit_code(error)}
        for name, error in zip(names, results, strict=True)
    ]
    if args.json:
        emit_json(rows)
    else:
        width = max(len("PROFILE"), *(len(row["profile"]) for row in rows))
        print(f"{'PROFILE':<{width}}  STATUS  DETAIL")
        for row in rows:
            status = "ok" if row["ok"] else "failed"
            print(f"{row['profile']:<{width}}  {status:<6}  {row['detail']}")
    codes = {row["exit_code"] for row in rows} - {0}
    if not codes:
        return 0
    return EXIT_CREDENTIALS if codes == {EXIT_CREDENTIALS} else EXIT_ERROR


def _store(config: profiles.ConfigFile, name: str) -> str:
    """The profile's secret store (``keyring`` when it cannot be read)."""
    try:
        return profiles.store_kind(config.profiles[name].fields())
    except (KeyError, KaskadaError):
        return "keyring"


def _check_one(name: str, timeout: float) -> Exception | None:
    try:
        table.first_page(1, session=session(name, timeout=timeout))
    except KaskadaError as error:
        return error
    return None
