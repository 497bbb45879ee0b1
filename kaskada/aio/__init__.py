"""The asyncio client: ``from kaskada.aio import table`` then ``await table.list_tables()``.

The same functions, arguments, results and errors as ``kaskada.table``, on
grpc.aio channels of the running loop. Sessions work as in sync code, and also
with ``async with``; ``kaskada.aio.session(...)`` resolves one off the loop (a
profile's first use reads the OS keyring, which may be slow).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kaskada.aio import table as table
    from kaskada.aio._session import close as close
    from kaskada.aio._session import session as session

__all__ = ["close", "session", "table"]

_LAZY = {
    "table": ("kaskada.aio.table", None),
    "session": ("kaskada.aio._session", "session"),
    "close": ("kaskada.aio._session", "close"),
}


def __getattr__(name: str) -> Any:
    """Load grpc.aio on first use."""
    try:
        module_name, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'kaskada.aio' has no attribute {name!r}") from None
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value
