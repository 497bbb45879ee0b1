"""The grpc.aio twin of ``_transport``: the same metadata, deadlines, retries and errors.

grpc.aio channels belong to the event loop they were made on, so they are
shared per (loop, endpoint, TLS settings), each with its own bound on calls in
flight (``KASKADA_MAX_IN_FLIGHT``, an ``asyncio.Semaphore`` of that loop: a
thousand tasks in one ``gather`` wait for a slot instead of flooding the
server), and closed when that loop shuts down
(``asyncio.run`` closes async generators first; a parked one closes the
channels) or by ``await kaskada.aio.close()``. Tokens come from the same
cache as the sync client, fetched off the loop (``Credentials.aget``).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio

from kaskada import _fork
from kaskada.settings.options import ChannelKey
from kaskada.transport.sync import (
    _credentials,
    failure,
    max_in_flight,
    no_slot,
    retry_pause,
    user_agent,
)

if TYPE_CHECKING:
    from kaskada._secret import Secret
    from kaskada._session import Session

log = logging.getLogger(__name__)



class _LoopChannels:
    """The channels and bound methods of one event loop."""

    def __init__(self) -> None:
        self.channels: dict[ChannelKey, tuple[grpc.aio.Channel, asyncio.Semaphore]] = {}
        self.methods: dict[
            tuple[ChannelKey, str], tuple[Callable[..., Any], asyncio.Semaphore]
        ] = {}
        self.closer: AsyncIterator[None] | None = None

    async def close(self) -> None:
        channels = [opened for opened, _ in self.channels.values()]
        self.channels.clear()
        self.methods.clear()
        for open_channel in channels:
            await open_channel.close(None)


_loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopChannels] = (
    weakref.WeakKeyDictionary()
)


async def _close_at_shutdown(state: _LoopChannels) -> AsyncIterator[None]:
    """Parked at its yield; the loop's shutdown_asyncgens() closes it, and the channels."""
    try:
        yield
    finally:
        loop = asyncio.get_running_loop()
        if _loops.get(loop) is state:
            del _loops[loop]
        await state.close()


async def _state() -> _LoopChannels:
    loop = asyncio.get_running_loop()
    state = _loops.get(loop)
    if state is None:
        state = _LoopChannels()
        _loops[loop] = state
        closer = _close_at_shutdown(state)
        await closer.__anext__()  # the loop's first-iteration hook now tracks it
        state.closer = closer
    return state


async def _method(
    key: ChannelKey, path: str, response_type: Any
) -> tuple[Callable[..., Any], asyncio.Semaphore]:
    state = await _state()
    found = state.methods.get((key, path))
    if found is None:
        shared = state.channels.get(key)
        if shared is None:
            endpoint = key.endpoint
            bound = max_in_flight()
            log.debug("opening %s aio channel to %s (at most %d calls in flight)",
                      "TLS" if key.is_secure else "plaintext", endpoint, bound)
            options = user_agent(key.options)
            interceptors = list(key.interceptors) or None
            if key.is_secure:
                opened = grpc.aio.secure_channel(
                    endpoint, _credentials(key.ca_bundle, endpoint), options=options,
                    interceptors=interceptors,
                )  # fmt: skip
            else:
                opened = grpc.aio.insecure_channel(
                    endpoint, options=options, interceptors=interceptors
                )
            shared = (opened, asyncio.Semaphore(bound))
            state.channels[key] = shared
        invoke = shared[0].unary_unary(  # type: ignore[call-arg]
            path,
            request_serializer=lambda message: message.SerializeToString(),
            response_deserializer=response_type.FromString,
            _registered_method=True,
        )
        found = (invoke, shared[1])
        state.methods[(key, path)] = found
    return found


async def _take(slots: asyncio.Semaphore, deadline: float) -> bool:
    """A slot on the channel, waited for until ``deadline`` at most; False if none came."""
    if not slots.locked():
        await slots.acquire()  # free: no timer needed
        return True
    try:
        async with asyncio.timeout(max(deadline - time.monotonic(), 0.0)):
            await slots.acquire()
    except TimeoutError:
        return False
    return True


async def call(
    session: Session, path: str, request: Any, response_type: Any, *, read: bool
) -> Any:
    """One unary call as ``session``, awaited: the rules of ``_transport.call``."""
    settings = session.settings
    invoke, slots = await _method(session.channel_key(), path, response_type)
    credentials = session.credentials.for_call()
    token: Secret = await credentials.aget()
    deadline = time.monotonic() + settings.timeout.value
    attempt = 0
    while True:
        if not await _take(slots, deadline):
            raise no_slot(session, path)
        started = time.monotonic()
        metadata = (("authorization", "Bearer " + token.reveal()),)
        try:
            return await invoke(request, timeout=max(deadline - started, 0.001), metadata=metadata)
        except grpc.RpcError as failed:
            error = failed
        finally:
            slots.release()  # a pause between attempts holds no slot
        code = error.code() if isinstance(error, grpc.aio.AioRpcError) else None
        log.debug("%s at %s failed: %s", path.rsplit("/", 1)[-1], settings.endpoint.value, code)
        if code == grpc.StatusCode.UNAUTHENTICATED:
            fresh = await credentials.aon_rejected(token)
            if fresh is not None:
                token = fresh
                continue
        pause = retry_pause(error, read=read, attempt=attempt, deadline=deadline)
        if pause is not None:
            attempt += 1
            await asyncio.sleep(pause)
            continue
        raise failure(
            session, error, path, sent=(token, *session.credentials.sent_secrets()), read=read
        ) from None


async def close() -> None:
    """Close this event loop's channels now (they also close when the loop shuts down)."""
    state = _loops.pop(asyncio.get_running_loop(), None)
    if state is not None:
        await state.close()


def _after_fork_in_child() -> None:
    _loops.clear()  # the parent's loops and channels are not the child's to close


_fork.in_child_after_fork(_after_fork_in_child)
