"""A connection flood for tests: many idle connections held open on one port.

``Flood(address, count, http2=True)`` opens ``count`` connections from a thread of
its own; an HTTP/2 one sends the client preface and an empty SETTINGS frame, answers
the server's SETTINGS with an ACK and then holds still, as an attacker without
credentials can. A connection the server closes is opened again, so the flood keeps
its size for as long as it runs. ``opened`` counts every connection made,
``closed_by_server`` those the server closed. Leave the ``with`` block to close them all.
"""

from __future__ import annotations

import errno
import selectors
import socket
import threading
from types import TracebackType

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
SETTINGS_ACK = b"\x00\x00\x00\x04\x01\x00\x00\x00\x00"


class Flood:
    def __init__(self, address: tuple[str, int], count: int, *, http2: bool) -> None:
        self.address = address
        self.count = count
        self.http2 = http2
        self.opened = 0
        self.closed_by_server = 0
        self.full = threading.Event()
        """Set once ``count`` connections have been opened (at least once each)."""
        self._stop = threading.Event()
        self._selector = selectors.DefaultSelector()
        self._acked: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._run, name="flood", daemon=True)

    def __enter__(self) -> Flood:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(60)

    def _open(self) -> bool:
        try:
            sock = socket.socket()
        except OSError:  # this process is out of descriptors: try again later
            return False
        sock.setblocking(False)
        code = sock.connect_ex(self.address)
        if code not in (0, errno.EINPROGRESS):
            sock.close()
            return False
        self.opened += 1
        self._selector.register(sock, selectors.EVENT_WRITE)
        return True

    def _drop(self, sock: socket.socket) -> None:
        self._selector.unregister(sock)
        self._acked.discard(sock)
        sock.close()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                while len(self._selector.get_map()) < self.count and not self._stop.is_set():
                    if not self._open():
                        break
                else:
                    self.full.set()
                for key, events in self._selector.select(timeout=0.2):
                    self._step(key.fileobj, events)  # type: ignore[arg-type]
        finally:
            for key in list(self._selector.get_map().values()):
                key.fileobj.close()  # type: ignore[union-attr]
            self._selector.close()

    def _step(self, sock: socket.socket, events: int) -> None:
        try:
            if events & selectors.EVENT_WRITE:  # connected: say hello, then wait
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    raise ConnectionRefusedError
                if self.http2:
                    sock.sendall(PREFACE + SETTINGS)
                self._selector.modify(sock, selectors.EVENT_READ)
                return
            if not sock.recv(65536):
                raise ConnectionResetError
            if self.http2 and sock not in self._acked:
                sock.sendall(SETTINGS_ACK)
                self._acked.add(sock)
        except OSError:
            self.closed_by_server += 1
            self._drop(sock)
