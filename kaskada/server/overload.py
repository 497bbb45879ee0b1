"""Back-pressure on the gRPC port: queue briefly, then ask callers to retry after a delay.

Calls wait for one of the server's worker threads in a queue. Up to ``MAX_QUEUED``
calls (running or waiting) are taken; beyond that a call is answered at once with
``RESOURCE_EXHAUSTED`` carrying a ``google.rpc.RetryInfo`` (in
``grpc-status-details-bin``) whose delay is how long the queue takes to drain at
the rate calls have been finishing. A client that honours RetryInfo (kaskada's
does) rides out the overload; one that does not sees one clear error.

grpc's own ``maximum_concurrent_rpcs`` stays as a backstop above ``MAX_QUEUED``: it
answers RESOURCE_EXHAUSTED too, but without a delay (grpc gives it no details).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, NoReturn, ParamSpec, TypeVar

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

MAX_QUEUED = 1024
"""Calls taken at once, running or waiting for a worker; beyond: RESOURCE_EXHAUSTED
with a retry delay."""
BACKSTOP = 2 * MAX_QUEUED
"""grpc's maximum_concurrent_rpcs: the refusals above are calls too while they wait."""
MIN_DELAY = 0.05
MAX_DELAY = 2.0
_P = ParamSpec("_P")
_R = TypeVar("_R")


class CallQueue(ThreadPoolExecutor):
    """The gRPC server's worker pool, counting the calls it holds and timing them.

    A call submitted while ``limit`` are held is one the interceptor refused (grpc
    submits each call on its polling thread right after the interceptors ran, and
    only workers finishing change the count in between): it runs on a small pool of
    its own, so the refusal goes out at once instead of after the queue.
    """

    def __init__(self, workers: int, thread_name_prefix: str, limit: int = MAX_QUEUED) -> None:
        super().__init__(max_workers=workers, thread_name_prefix=thread_name_prefix)
        self.workers = workers
        self.limit = limit
        self.held = 0
        self._seconds_per_call = 0.005  # a first guess, replaced as calls finish
        self._lock = threading.Lock()
        self._refusals = ThreadPoolExecutor(2, thread_name_prefix=f"{thread_name_prefix}-busy")

    def submit(
        self, fn: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs
    ) -> Future[_R]:
        with self._lock:
            if self.held >= self.limit:
                return self._refusals.submit(fn, *args, **kwargs)
            self.held += 1

        def timed() -> _R:
            started = time.monotonic()
            try:
                return fn(*args, **kwargs)
            finally:
                took = time.monotonic() - started
                with self._lock:
                    self.held -= 1
                    self._seconds_per_call += (took - self._seconds_per_call) / 16

        try:
            return super().submit(timed)
        except BaseException:
            with self._lock:
                self.held -= 1
            raise

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._refusals.shutdown(wait, cancel_futures=cancel_futures)
        super().shutdown(wait, cancel_futures=cancel_futures)

    def retry_delay(self) -> float:
        """Seconds until the calls held now are done, at the recent pace."""
        with self._lock:
            drain = self.held * self._seconds_per_call / self.workers
        return min(MAX_DELAY, max(MIN_DELAY, drain))


if TYPE_CHECKING:
    _Interceptor = grpc.ServerInterceptor[Any, Any]
else:  # grpc's runtime class is not generic; only its stubs are
    _Interceptor = grpc.ServerInterceptor


class OverloadInterceptor(_Interceptor):
    """Answers a unary call RESOURCE_EXHAUSTED with RetryInfo while the queue is full.

    grpc runs interceptors on its polling thread, as each call arrives: the count it
    reads is the queue the call would join.
    """

    def __init__(self, queue: CallQueue) -> None:
        self._queue = queue

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None or self._queue.held < self._queue.limit:
            return handler
        delay = self._queue.retry_delay()
        return grpc.unary_unary_rpc_method_handler(
            lambda request, context: _busy(context, delay, self._queue.held)
        )


def _busy(context: grpc.ServicerContext, delay: float, held: int) -> NoReturn:
    retry = error_details_pb2.RetryInfo(
        retry_delay=duration_pb2.Duration(seconds=int(delay), nanos=int(delay % 1 * 1e9))
    )
    packed = any_pb2.Any()
    packed.Pack(retry)
    status = status_pb2.Status(
        code=code_pb2.RESOURCE_EXHAUSTED,
        message=f"the server is busy ({held} calls queued): retry after {delay:.2f} s",
        details=[packed],
    )
    context.abort_with_status(rpc_status.to_status(status))
    raise AssertionError("abort_with_status returned")  # pragma: no cover
