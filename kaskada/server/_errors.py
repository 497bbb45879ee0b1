"""The local server's own error: outside the client's tree (a client never raises it).

Still a KaskadaError, so ``kaskada serve`` prints it as one line like any other.
"""

from __future__ import annotations

from kaskada._errors import KaskadaError


class ServerError(KaskadaError):
    """The local server (``kaskada serve``) cannot start, or its database cannot be used."""


ServerError.__module__ = "kaskada.server"
