"""Start and stop the local server: gRPC (TableService, health, reflection) and the
token endpoint, on one store, both on TLS when a certificate is given."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc

from kaskada._secret import Secret
from kaskada.api.v1alpha import table_pb2, table_pb2_grpc
from kaskada.server._errors import ServerError
from kaskada.server.auth import AuthInterceptor
from kaskada.server.limits import FD_RESERVE, raise_descriptor_limit
from kaskada.server.options import WILDCARD_HOSTS, ServerOptions
from kaskada.server.overload import BACKSTOP, CallQueue, OverloadInterceptor
from kaskada.server.store import Store
from kaskada.server.tables import TableServicer

log: logging.Logger = logging.getLogger(__name__)

TOKEN_PATH = "/oauth/token"
MAX_WORKERS = 16
MIN_GRPC_CONNECTIONS = 64
IDLE_SECONDS = 10
"""A gRPC connection with no call in flight for this long is closed (a GOAWAY; a client's
channel reconnects at its next call)."""
GRPC_OPTIONS: list[tuple[str, int]] = [
    ("grpc.so_reuseport", 0),
    ("grpc.max_receive_message_length", 1 << 20),
    ("grpc.max_send_message_length", 4 << 20),
    ("grpc.max_metadata_size", 16 << 10),
    ("grpc.absolute_max_metadata_size", 16 << 10),
    ("grpc.max_connection_idle_ms", IDLE_SECONDS * 1000),
    ("grpc.server_handshake_timeout_ms", 10 * 1000),
    ("grpc.keepalive_time_ms", 2 * 60 * 60 * 1000),
    ("grpc.keepalive_timeout_ms", 20 * 1000),
    ("grpc.keepalive_permit_without_calls", 0),
    ("grpc.http2.min_ping_interval_without_data_ms", 5 * 60 * 1000),
    ("grpc.http2.max_ping_strikes", 2),
]
"""Bounds on what one connection may hold or cost: see docs/server.md, "Limits"."""
SERVER_EXTRA = (
    "kaskada serve needs the server extra ({missing} is not installed): "
    "python3 -m pip install 'kaskada-client[server]' (or -e '.[server]' in a clone)"
)


def _join(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def grpc_connection_cap(descriptors: int | None, token_connections: int) -> int | None:
    """gRPC's per-listener connection cap: the descriptors the token endpoint and the
    reserve leave (None: no descriptor limit, no cap).

    A guard for the token endpoint's descriptors, never a throttle: at the cap grpc
    closes every new connection while idle ones hold their slots (measured: a
    reconnecting flood of 300 against a cap of 100 answered 0 of 13 health checks), so
    it sits as high as the descriptors allow, and idle connections close after
    ``IDLE_SECONDS``.
    """
    if descriptors is None:
        return None
    return max(MIN_GRPC_CONNECTIONS, descriptors - FD_RESERVE - token_connections)


class RunningServer:
    """A started server; ``stop()`` (or leaving the ``with`` block) shuts it down."""

    def __init__(self, options: ServerOptions | None = None) -> None:
        """Start both ports on ``options`` (the defaults when None); returns once both listen.

        Raises:
            ServerError: a port is taken, the certificate is unreadable, the database is
                unusable or the server extra is missing (the message names the fix).
        """
        options = ServerOptions() if options is None else options
        self.options = options
        self.is_secure: bool = options.tls_cert is not None
        self.store: Store = Store(
            options.db, scrypt_n=options.scrypt_n,
            max_tables_per_account=options.max_tables_per_account,
            max_db_bytes=None if options.max_db_mb is None else options.max_db_mb << 20,
        )
        self.db: Path = self.store.path
        try:
            self._start(options)
        except BaseException:
            self.store.close()
            raise
        try:  # where clients reach this server: what add-client --save-profile writes
            self.store.set_meta(
                {"endpoint": self.endpoint, "token_url": self.token_url,
                 "is_secure": "true" if self.is_secure else "false"}
            )
        except BaseException:
            self.stop(grace=0)
            raise
        log.info("serving gRPC on %s, token endpoint %s", self.endpoint, self.token_url)

    def _start(self, options: ServerOptions) -> None:
        try:  # the server extra: missing, it is one clear line, not an ImportError
            from grpc_health.v1 import health, health_pb2, health_pb2_grpc
            from grpc_reflection.v1alpha import reflection  # noqa: F401 (the extra is here)

            from kaskada.server.token_http import TokenEndpoint, connection_cap
        except ImportError as error:
            raise ServerError(SERVER_EXTRA.format(missing=error.name)) from None

        descriptors = raise_descriptor_limit(log)
        token_connections = connection_cap(options.max_connections)
        grpc_cap = grpc_connection_cap(descriptors, token_connections)
        log.debug("connection caps: gRPC %s, token endpoint %d (descriptor limit %s)",
                  grpc_cap, token_connections, descriptors)
        host, tls_cert, tls_key = options.host, options.tls_cert, options.tls_key
        auth = options.auth
        cert_pem = key_pem = None
        ssl_context = None
        if tls_cert is not None and tls_key is not None:
            try:
                cert_pem = Path(tls_cert).read_bytes()
                key_pem = Path(tls_key).read_bytes()
                ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ssl_context.minimum_version = ssl.TLSVersion.TLSv1_2
                ssl_context.load_cert_chain(str(tls_cert), str(tls_key))
            except (OSError, ssl.SSLError) as error:
                raise ServerError(
                    f"cannot load the TLS certificate {tls_cert} and key {tls_key}: {error}; "
                    "give a PEM certificate chain and its unencrypted PEM key"
                ) from None

        self._auth = AuthInterceptor(self.store) if auth else None
        self._calls = CallQueue(MAX_WORKERS, "kaskada-grpc")
        interceptors: list[grpc.ServerInterceptor[Any, Any]] = [OverloadInterceptor(self._calls)]
        if self._auth is not None:
            interceptors.append(self._auth)
        server = grpc.server(
            self._calls,
            interceptors=interceptors,
            options=GRPC_OPTIONS + (
                [] if grpc_cap is None else [("grpc.max_allowed_incoming_connections", grpc_cap)]
            ),
            maximum_concurrent_rpcs=BACKSTOP,
        )
        table_pb2_grpc.add_TableServiceServicer_to_server(
            TableServicer(self.store, default_account=None if auth else "default"), server
        )
        health_servicer = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        service_name = table_pb2.DESCRIPTOR.services_by_name["TableService"].full_name
        for name in ("", service_name):
            health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        _enable_reflection(server, (service_name, health.SERVICE_NAME))
        address = _join(host, options.port)
        try:
            if cert_pem is not None and key_pem is not None:
                bound = server.add_secure_port(
                    address, grpc.ssl_server_credentials([(key_pem, cert_pem)])
                )
            else:
                bound = server.add_insecure_port(address)
        except RuntimeError:
            bound = 0
        if not bound:
            raise ServerError(
                f"cannot listen for gRPC on {address}: the port is taken or the address is "
                "not this machine's; choose another with --port (0 picks a free one)"
            )
        try:
            self._http = TokenEndpoint(
                (host.strip("[]"), options.token_port), self.store, token_ttl=options.token_ttl,
                ssl_context=ssl_context, max_connections=token_connections,
                public_url=options.public_url,
                device_codes_per_peer=options.max_device_codes_per_address,
            )
        except OSError as error:
            server.stop(None)
            raise ServerError(
                f"cannot listen for the token endpoint on {_join(host, options.token_port)}: "
                f"{error.strerror}; choose another with --token-port (0 picks a free one)"
            ) from None
        self._grpc = server
        self._health = health_servicer
        server.start()
        self._http.start()
        self.endpoint: str = _join(host, bound)
        scheme = "https" if self.is_secure else "http"
        self.token_url: str = f"{scheme}://{_join(host, self._http.server_address[1])}{TOKEN_PATH}"
        self.public_url: str = self._http.base_url
        """The issuer and device-page address clients are told (``--public-url``)."""
        if options.public_url is None and host.strip("[]") in WILDCARD_HOSTS:
            log.warning(
                "bound to every interface (%s) without --public-url: the sign-in metadata "
                "names %s, which only this machine reaches; give --public-url "
                "http(s)://NAME:%d for device login and discovery from other machines",
                host, self.public_url, self._http.server_address[1])
        self._stopped = False

    def add_client(self, account: str) -> tuple[str, Secret]:
        """A new client of ``account``: (client id, secret)."""
        return self.store.add_client(account)

    def revoke_client(self, client_id: str) -> None:
        self.store.revoke_client(client_id)

    def stop(self, grace: float = 1.0) -> None:
        """Refuse new calls, let calls in flight finish within ``grace`` seconds, close."""
        if self._stopped:
            return
        self._stopped = True
        self._health.enter_graceful_shutdown()
        self._http.stop()
        self._grpc.stop(grace).wait()
        self._calls.shutdown(wait=False)
        if self._auth is not None:
            self._auth.refusals.flush()
        self.store.close()
        log.info("stopped")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the gRPC server terminates (True) or ``timeout`` passes."""
        return bool(self._grpc.wait_for_termination(timeout))

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"RunningServer(endpoint={self.endpoint!r}, token_url={self.token_url!r})"


REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"


def _enable_reflection(server: grpc.Server, service_names: tuple[str, ...]) -> None:
    """Serve reflection as both ``grpc.reflection.v1`` and ``v1alpha``.

    grpcio-reflection implements v1alpha only, but tools (grpcurl, Postman) ask v1
    first. v1 is v1alpha renamed, message for message, so one servicer answers
    both: the v1 service reuses v1alpha's messages, identical on the wire, as
    grpc-java and grpc-go serve the two.
    """
    from grpc_reflection.v1alpha import reflection, reflection_pb2

    names = (*service_names, REFLECTION_V1, reflection.SERVICE_NAME)
    servicer = reflection.ReflectionServicer(names)
    reflection.enable_server_reflection(list(names), server)
    handler = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(REFLECTION_V1, {"ServerReflectionInfo": handler}),)
    )
