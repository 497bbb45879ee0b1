"""gRPC failures as KaskadaError subclasses: code, message and unpacked google.rpc details.

A server's status becomes one readable line; the details travel in the
``grpc-status-details-bin`` trailer and are unpacked with grpcio-status.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from kaskada._errors import (
    AlreadyExistsError,
    ApiAuthenticationError,
    ApiError,
    ApiUnavailableError,
    InvalidArgumentError,
    KaskadaError,
    NotFoundError,
)
from kaskada._secret import Secret, scrub

if TYPE_CHECKING:
    import grpc
    from google.protobuf.any_pb2 import Any as AnyMessage

_BY_CODE: dict[str, type[ApiError]] = {
    "NOT_FOUND": NotFoundError,
    "ALREADY_EXISTS": AlreadyExistsError,
    "INVALID_ARGUMENT": InvalidArgumentError,
    "UNAVAILABLE": ApiUnavailableError,
    "DEADLINE_EXCEEDED": ApiUnavailableError,
    "UNAUTHENTICATED": ApiAuthenticationError,
    "PERMISSION_DENIED": ApiAuthenticationError,
}


def render_detail(detail: AnyMessage) -> str:
    """One standard google.rpc detail as short text; unknown types by their type URL."""
    # Only for a status that carries details: protobuf's text_format and the
    # google.rpc types are costly to import.
    from google.protobuf import text_format
    from google.rpc import error_details_pb2

    for name in (
        "BadRequest",
        "ErrorInfo",
        "RetryInfo",
        "DebugInfo",
        "QuotaFailure",
        "PreconditionFailure",
        "ResourceInfo",
        "RequestInfo",
        "Help",
        "LocalizedMessage",
    ):
        message_type = getattr(error_details_pb2, name)
        if detail.Is(message_type.DESCRIPTOR):
            message = message_type()
            detail.Unpack(message)
            if name == "BadRequest":
                parts = [f"{v.field}: {v.description}" for v in message.field_violations]
                return "bad request: " + "; ".join(parts)
            return f"{name}: {text_format.MessageToString(message, as_one_line=True)}"
    return f"detail of type {detail.type_url}"


def _status_details(error: grpc.RpcError) -> list[AnyMessage]:
    """The packed google.rpc.Status details of a failed call; [] when none or malformed."""
    try:
        from grpc_status import rpc_status  # costly to import: only for a status with details

        status = rpc_status.from_call(error)  # type: ignore[arg-type]
    except Exception:  # a malformed trailer must not hide the real error
        return []
    return [] if status is None else list(status.details)


def status_details(error: grpc.RpcError, sent: Sequence[Secret | None] = ()) -> list[str]:
    """The unpacked google.rpc.Status details of a failed call (empty when none),
    with what the call carried (``sent``: the token, the secret) scrubbed out."""
    return [scrub(render_detail(detail), *sent) for detail in _status_details(error)]


# grpcio's own answer when a server's maximum_concurrent_rpcs is reached (no RetryInfo).
GRPC_CONCURRENCY_LIMIT = "Concurrent RPC limit exceeded!"


def retry_delay(error: grpc.RpcError) -> float | None:
    """The delay (seconds) a google.rpc.RetryInfo detail asks for; None when there is none."""
    from google.rpc import error_details_pb2

    for detail in _status_details(error):
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            delay = float(info.retry_delay.seconds + info.retry_delay.nanos / 1e9)
            return max(delay, 0.0)
    return None


def is_overload(code: str, server_message: str | None, delay: float | None) -> bool:
    """RESOURCE_EXHAUSTED meaning "too busy, come back later", not a quota or a full disk.

    A server says so with a RetryInfo delay; grpcio's own concurrency limit says
    so in fixed words. A quota (tables per account) or a full database is neither.
    """
    return code == "RESOURCE_EXHAUSTED" and (
        delay is not None or server_message == GRPC_CONCURRENCY_LIMIT
    )


# kaskada._tls.REFUSED_MARKERS, here so that no failure imports ssl to check them.
_REFUSED_MARKERS = ("CERTIFICATE_VERIFY_FAILED", "Verification Check", "peer certificate")
_TLS_TO_PLAINTEXT = ("WRONG_VERSION_NUMBER", "Tls handshake failed", "Ssl handshake failed")


def scheme_mismatch(text: str) -> str | None:
    """Name a TLS/plaintext mismatch that gRPC reports as a vague UNAVAILABLE.

    A TLS client at a plaintext port fails the handshake (WRONG_VERSION_NUMBER);
    a plaintext client at a TLS port sees the server close the socket.
    """
    if any(marker in text for marker in _TLS_TO_PLAINTEXT):
        return (
            "the client speaks TLS but the server answers in plaintext: turn TLS off for "
            "this endpoint (is_secure = false, `--plaintext`, KASKADA_IS_SECURE=false), or "
            "start the server with TLS (`kaskada serve --tls-cert CERT --tls-key KEY`)"
        )
    if text.endswith("Socket closed") or "Socket closed" in text:
        return (
            "the server closed the connection at once, as a TLS server does to a plaintext "
            "client: if it uses TLS (`kaskada serve --tls-cert`), turn TLS on (is_secure = "
            "true, `--tls --ca-bundle CERT`, KASKADA_IS_SECURE=true)"
        )
    return None


def from_rpc_error(
    error: grpc.RpcError,
    *,
    endpoint: str,
    method: str,
    who: str = "",
    sent: Sequence[Secret | None] = (),
    read: bool = True,
    ca_bundle: str | None = None,
) -> KaskadaError:
    """The KaskadaError for a failed call to ``method`` at ``endpoint``.

    A server may echo the request (the ``authorization`` header) in its status
    message or details: every value in ``sent`` is scrubbed from both. ``read``
    says whether the call was retried (a read) or could not be (a write): an
    overloaded server's refusal says which.
    """
    code_enum = error.code() if hasattr(error, "code") else None
    code = code_enum.name if code_enum is not None else "UNKNOWN"
    server_message = error.details() if hasattr(error, "details") else None
    if server_message is not None:
        server_message = scrub(str(server_message), *sent)
    details = status_details(error, sent)
    text = server_message or code
    if details:
        text += " (" + "; ".join(details) + ")"
    overload = code == "RESOURCE_EXHAUSTED" and is_overload(
        code, server_message, retry_delay(error)
    )
    if overload:
        message = f"{method} at {endpoint} was refused: the server is overloaded ({code}: {text}); "
        message += (
            "a read is retried as long as the call's deadline allows, and this one ran out: try "
            "again later, give the call a longer timeout, or make fewer calls at once "
            "(KASKADA_MAX_IN_FLIGHT)"
            if read
            else "a write is never retried automatically: try it again later, or make fewer "
            "calls at once (KASKADA_MAX_IN_FLIGHT)"
        )
        return ApiUnavailableError(message, code=code, details=details)
    refused = None
    if code == "UNAVAILABLE" and any(marker in text for marker in _REFUSED_MARKERS):
        from kaskada._tls import verify_failure  # ssl: only when a certificate was refused

        refused = verify_failure(
            text, what=f"the Kaskada API at {endpoint}", address=endpoint, ca_bundle=ca_bundle
        )
    mismatch = scheme_mismatch(text) if code == "UNAVAILABLE" and refused is None else None
    if refused is not None:
        message = refused
    elif mismatch is not None:
        message = f"the Kaskada API at {endpoint} could not be reached ({code}: {text}): {mismatch}"
    elif code in ("UNAVAILABLE", "DEADLINE_EXCEEDED"):
        message = (
            f"the Kaskada API at {endpoint} could not be reached ({code}: {text}): "
            "check that the server is running and the endpoint setting "
            "(kda.explain() shows where it came from)"
        )
    elif code in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
        message = (
            f"the Kaskada API at {endpoint} refused the credentials{who} ({code}: {text}): "
            "check that the client is not revoked and its secret is current "
            "(`kaskada configure --profile NAME`)"
        )
    else:
        message = f"{method} at {endpoint} failed ({code}): {text}"
    cls = _BY_CODE.get(code, ApiError)
    return cls(message, code=code, details=details)
