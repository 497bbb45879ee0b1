"""Blocking steps (token exchanges, keyring reads) awaited without blocking the event loop.

The step runs in a thread (``asyncio.to_thread``, which copies the context).
Tasks of one loop that ask for the same key at once share that one thread's
answer (single-flight); a cancelled waiter leaves the shared flight running.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


async def shared(flights: dict[Any, Any], key: Hashable, call: Callable[[], T]) -> T:
    """``call()`` in a thread, shared by every task of this loop awaiting ``key`` meanwhile."""
    loop = asyncio.get_running_loop()
    slot = (loop, key)
    flight = flights.get(slot)
    if flight is None:
        flight = asyncio.ensure_future(asyncio.to_thread(call))
        flights[slot] = flight
        flight.add_done_callback(lambda _: flights.pop(slot, None))
    result: T = await asyncio.shield(flight)
    return result
