"""One place that knows whether this platform forks (Windows does not).

Modules holding locks or channels register their after-fork-in-child handler
here instead of calling ``os.register_at_fork`` at import time, which would
fail on Windows (no ``fork``, no ``register_at_fork``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

Handler = Callable[[], None]


def in_child_after_fork(handler: Handler) -> Handler:
    """Run ``handler`` in the child after ``os.fork()``; a no-op where there is no fork."""
    if sys.platform != "win32" and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=handler)
    return handler
