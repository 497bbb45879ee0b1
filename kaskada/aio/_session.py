"""Sessions for coroutines: resolution (config file, keyring) in a thread, not on the loop."""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from types import TracebackType
from typing import TYPE_CHECKING, Any

from kaskada import _session

if TYPE_CHECKING:
    from kaskada._session import Session


class _Resolving:
    """``await kaskada.aio.session(...)`` or ``async with kaskada.aio.session(...)``."""

    __slots__ = ("_arguments", "_entered")

    def __init__(self, arguments: dict[str, Any]) -> None:
        self._arguments = arguments
        self._entered: Session | None = None

    async def resolve(self) -> Session:
        return await asyncio.to_thread(lambda: _session.session(**self._arguments))

    def __await__(self) -> Generator[Any, None, Session]:
        return self.resolve().__await__()

    async def __aenter__(self) -> Session:
        made = await self.resolve()
        self._entered = made
        return await made.__aenter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        entered = self._entered
        if entered is not None:
            self._entered = None
            await entered.__aexit__(exc_type, exc, traceback)


def session(profile: str | None = None, **arguments: Any) -> _Resolving:
    """``kda.session(...)`` resolved in a thread: ``await`` it, or use it with ``async with``.

    The first use of a profile reads the OS keyring, which can take seconds on a
    locked Secret Service; in a thread, the loop keeps running meanwhile.

    Args:
        profile: the profile to use, as for ``kda.session``.
        **arguments: the other keyword arguments of ``kda.session`` (``client_id``,
            ``endpoint``, ``timeout``, …).

    Returns:
        An awaitable giving the ``Session``; with ``async with`` it is also the
        task's session inside the block.

    Raises:
        KaskadaError: when awaited or entered, as ``kda.session`` raises
            (``ProfileNotFoundError``, ``ConfigError``, ``KeyringError``, …).
    """
    return _Resolving({"profile": profile, **arguments})


async def current(session: Session | None) -> Session:
    """``_session.current`` for a coroutine: the default is resolved in a thread."""
    if session is not None or _session._active.get() is not None or _session._global is not None:
        found = _session.current(session)
    else:
        # to_thread copies the context, so a `with` around this call still counts.
        found = await asyncio.to_thread(_session.current)
    if isinstance(found, _session._Deferred):
        await found.resolve()  # made on this loop by kda.session(): resolve it off the loop
    return found


async def close() -> None:
    """Close the running loop's channels now (``asyncio.run`` also closes them at its end).

    Later calls on this loop open new channels; nothing is raised for a loop
    that has none.
    """
    # Lazy: _aio_transport loads grpc.aio, which a session resolved here may never need.
    from kaskada.transport import aio as _aio_transport

    await _aio_transport.close()
