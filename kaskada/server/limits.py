"""Rate limits and log summaries: what keeps one noisy caller from costing everyone.

``FailureLimiter`` is a token bucket per key (a peer address, or one key for the whole
server): each failed sign-in takes a token, and an empty bucket answers "retry after N s".
``LogSummary`` turns a flood of similar events into one line per interval.
"""

from __future__ import annotations

import logging
import math
import sys
import threading
import time
from collections import Counter

FD_RESERVE = 256
"""Descriptors neither port's connections may take: SQLite, logs, grpc's own, and
room for the token endpoint to accept and close at its cap."""
OPEN_MAX = 10240
"""macOS's ceiling on a process's descriptors, whatever its hard limit says."""


class FailureLimiter:
    """At most ``burst`` failures at once per key, refilled at ``per_second``."""

    MAX_KEYS = 10000

    def __init__(self, burst: int, per_second: float) -> None:
        self.burst = burst
        self.per_second = per_second
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def _level(self, key: str, now: float) -> float:
        tokens, updated = self._buckets.get(key, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - updated) * self.per_second)

    def retry_after(self, key: str) -> int:
        """0 when ``key`` may try again now, else whole seconds to wait."""
        with self._lock:
            now = time.monotonic()
            level = self._level(key, now)
            if level >= 1.0:
                return 0
            return max(1, math.ceil((1.0 - level) / self.per_second))

    def record(self, key: str) -> None:
        """One failure of ``key``."""
        with self._lock:
            self._take(key, time.monotonic())

    def take(self, key: str) -> int:
        """One failure of ``key`` if its bucket holds one (0), else whole seconds to wait.

        Checking and taking under one lock: concurrent failures cannot all pass a
        bucket that holds one token.
        """
        with self._lock:
            now = time.monotonic()
            level = self._level(key, now)
            if level < 1.0:
                return max(1, math.ceil((1.0 - level) / self.per_second))
            self._take(key, now)
            return 0

    def _take(self, key: str, now: float) -> None:
        self._buckets[key] = (max(0.0, self._level(key, now) - 1.0), now)
        if len(self._buckets) > self.MAX_KEYS:
            self._prune(now)

    def _prune(self, now: float) -> None:
        """Forget full buckets; if that is not enough (a spray of ids), the oldest half."""
        self._buckets = {
            key: value for key, value in self._buckets.items()
            if self._level(key, now) < self.burst
        }
        if len(self._buckets) > self.MAX_KEYS // 2:
            ordered = sorted(self._buckets.items(), key=lambda item: item[1][1])
            self._buckets = dict(ordered[len(ordered) // 2:])


class LogSummary:
    """The first event of a quiet spell is logged as it comes; the rest are counted and
    logged as one line per ``interval`` seconds (and at ``flush``)."""

    def __init__(self, logger: logging.Logger, what: str, interval: float = 10.0) -> None:
        self._log = logger
        self._what = what
        self._interval = interval
        self._counts: Counter[str] = Counter()
        self._since = 0.0
        self._last = -math.inf
        self._lock = threading.Lock()

    def note(self, reason: str, detail: str = "") -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._last >= self._interval and not self._counts:
                self._last = now
                self._since = now
                self._log.info("%s: %s%s", self._what, reason, detail)
                return
            self._counts[reason] += 1
            if now - self._since >= self._interval:
                self._emit(now)

    def _emit(self, now: float) -> None:
        total = sum(self._counts.values())
        parts = ", ".join(f"{reason}: {n}" for reason, n in self._counts.most_common(5))
        self._log.info("%s: %d more in the last %.0f s (%s)",
                       self._what, total, now - self._since, parts)
        self._counts.clear()
        self._since = self._last = now

    def flush(self) -> None:
        with self._lock:
            if self._counts:
                self._emit(time.monotonic())


def raise_descriptor_limit(log: logging.Logger) -> int | None:
    """Raise the soft file-descriptor limit as far as the hard one allows; the limit now.

    A soft limit of 1024 is a common default under a hard one of tens of thousands:
    left as it is, 1,200 idle connections on one port starve both ports. None: no
    limit (Windows has none, and no ``resource``).
    """
    if sys.platform == "win32":
        return None
    import resource  # POSIX only (returned above on Windows)

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return None
    highest = hard if hard != resource.RLIM_INFINITY else 1 << 20
    wanted = [highest]
    if soft < OPEN_MAX < highest:  # macOS refuses more than OPEN_MAX however high the hard limit
        wanted.append(OPEN_MAX)
    for target in wanted:
        if target <= soft:
            break
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (OSError, ValueError):
            continue
        log.debug("raised the file-descriptor soft limit from %d to %d (hard limit %s)",
                  soft, target, "unlimited" if hard == resource.RLIM_INFINITY else hard)
        return target
    log.debug("file-descriptor limit %d (the hard limit is %s)", soft,
              "unlimited" if hard == resource.RLIM_INFINITY else hard)
    return soft
