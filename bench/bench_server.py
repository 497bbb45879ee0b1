"""Local server costs: what authentication adds to a call, and token grants per second.

    python bench/run.py server
    python bench/bench_server.py

Targets: authenticated ``ListTables`` keeps at least 0.9x the throughput of the
same server with authentication switched off, with 1, 4 and 16 client threads
(loopback, one channel, per-call ``authorization`` metadata). Token grants per
second and their p50/p99 latency with 1, 4 and 16 client threads (one kept-alive
connection each), beside the same figures for a request the endpoint refuses at
once (a ``GET``, answered 405) on the same server in the same run: a grant costs
at most 3x a refusal, since the secret check is a keyed hash, not a password hash
(0.1's scrypt made it about 50x), and 4 threads get at least 1.1x the grants of
one (the endpoint's worker threads overlap SQLite's waits).

Each server runs in its own child process (``--child``), so client and server
do not share a GIL. The ratio is the median over 15 rounds of paired 0.25 s
slices (both modes back to back, order alternating, one warm channel each), so
load from other work on the machine cancels out of each pair; the result column
shows the median rate and the spread of the per-round ratios.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ROUNDS = 15
SLICE_SECONDS = 0.25
WARMUP_CALLS = 200
TOKEN_SECONDS = 1.0
TOKEN_ROUNDS = 3
TARGET_RATIO = 0.9
GRANT_TARGET = 3.0
SCALING_TARGET = 1.1


def _child(mode: str, db: str, scrypt_n: int) -> int:
    """Serve until stdin closes; print the addresses and a client as one JSON line."""
    from kaskada.server import start_server

    with start_server(db=Path(db), scrypt_n=scrypt_n, auth=(mode == "auth")) as server:
        client_id, secret = server.add_client("bench")
        print(json.dumps({"endpoint": server.endpoint, "token_url": server.token_url,
                          "client_id": client_id, "secret": secret.reveal()}), flush=True)
        sys.stdin.read()
    return 0


class Child:
    def __init__(self, mode: str, folder: Path, scrypt_n: int = 16) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KASKADA_")}
        env["KASKADA_DATA_DIR"] = str(folder / "data")
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--child", mode, str(folder / f"{mode}.sqlite3"),
             str(scrypt_n)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True,
        )
        assert self.process.stdout is not None
        self.info: dict[str, str] = json.loads(self.process.stdout.readline())

    def token(self) -> str:
        body = urllib.parse.urlencode({"grant_type": "client_credentials",
                                       "client_id": self.info["client_id"],
                                       "client_secret": self.info["secret"]}).encode()
        with urllib.request.urlopen(self.info["token_url"], data=body, timeout=30) as answer:
            return str(json.load(answer)["access_token"])

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(30)


class Caller:
    """One warm channel to one server: a slice of calls costs no connection set-up."""

    def __init__(self, endpoint: str, token: str) -> None:
        import grpc

        from kaskada.api.v1alpha import table_pb2, table_pb2_grpc

        self.metadata = [("authorization", f"Bearer {token}")]
        self.channel = grpc.insecure_channel(endpoint)
        self.stub = table_pb2_grpc.TableServiceStub(self.channel)  # type: ignore[no-untyped-call]
        self.request = table_pb2.ListTablesRequest(page_size=10)
        for _ in range(WARMUP_CALLS):
            self.stub.ListTables(self.request, metadata=self.metadata)

    def calls_per_second(self, threads: int) -> float:
        """Calls answered per second by ``threads`` client threads in one slice."""
        counts = [0] * threads
        deadline = time.perf_counter() + SLICE_SECONDS

        def loop(index: int) -> None:
            n = 0
            while time.perf_counter() < deadline:
                self.stub.ListTables(self.request, metadata=self.metadata)
                n += 1
            counts[index] = n

        started = time.perf_counter()
        workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        return sum(counts) / (time.perf_counter() - started)

    def close(self) -> None:
        self.channel.close()


def paired_rates(
    callers: dict[str, Caller], threads: int
) -> tuple[float, float, list[float]]:
    """Median rates of each mode and the ratio auth/noauth of every round.

    Each round measures both modes back to back, in alternating order, so a burst
    of other work on the machine hits both sides of a ratio alike; the median of
    the per-round ratios then ignores the rounds it hit unevenly.
    """
    rates: dict[str, list[float]] = {"auth": [], "noauth": []}
    ratios: list[float] = []
    for round_ in range(ROUNDS):
        order = ("noauth", "auth") if round_ % 2 == 0 else ("auth", "noauth")
        got = {mode: callers[mode].calls_per_second(threads) for mode in order}
        for mode, rate in got.items():
            rates[mode].append(rate)
        ratios.append(got["auth"] / got["noauth"])
    return statistics.median(rates["auth"]), statistics.median(rates["noauth"]), ratios


def main() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with_auth, without = Child("auth", folder), Child("noauth", folder)
        try:
            token = with_auth.token()
            callers = {"auth": Caller(with_auth.info["endpoint"], token),
                       "noauth": Caller(without.info["endpoint"], token)}
            try:
                for threads in (1, 4, 16):
                    auth_rate, noauth_rate, ratios = paired_rates(callers, threads)
                    ratio = statistics.median(ratios)
                    label = "sequential" if threads == 1 else f"{threads} threads"
                    rows.append({
                        "figure": f"server: authenticated ListTables, {label}",
                        "target": f">= {TARGET_RATIO}x unauthenticated ({noauth_rate:.0f}/s)",
                        "result": f"{auth_rate:.0f} calls/s (rounds {min(ratios):.2f}"
                                  f"-{max(ratios):.2f}x)",
                        "ratio": f"{ratio:.2f}x",
                        "ok": ratio >= TARGET_RATIO,
                    })
            finally:
                for caller in callers.values():
                    caller.close()
            rows += _token_rows(with_auth)
        finally:
            with_auth.close()
            without.close()
    return rows


def _requests(child: Child, grant: bool, threads: int) -> tuple[float, list[float]]:
    """Answers per second and each one's latency (s): ``threads`` threads, each on one
    kept-alive connection, for TOKEN_SECONDS; grants, or GETs refused at once."""
    import http.client

    parts = urllib.parse.urlsplit(child.info["token_url"])
    body = urllib.parse.urlencode({"grant_type": "client_credentials",
                                   "client_id": child.info["client_id"],
                                   "client_secret": child.info["secret"]})
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    latencies: list[list[float]] = [[] for _ in range(threads)]
    start = threading.Barrier(threads + 1)

    def loop(index: int) -> None:
        connection = http.client.HTTPConnection(str(parts.hostname), parts.port, timeout=30)
        connection.connect()
        mine = latencies[index]
        start.wait()
        deadline = time.perf_counter() + TOKEN_SECONDS
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            if grant:
                connection.request("POST", parts.path, body=body, headers=headers)
            else:
                connection.request("GET", parts.path)
            answer = connection.getresponse()
            answer.read()
            assert answer.status == (200 if grant else 405), answer.status
            mine.append(time.perf_counter() - began)
        connection.close()

    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    start.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    took = time.perf_counter() - started
    every = [latency for mine in latencies for latency in mine]
    return len(every) / took, every


def _percentiles(latencies: list[float]) -> str:
    cuts = statistics.quantiles(latencies, n=100)
    return f"p50 {cuts[49] * 1000:.1f} ms, p99 {cuts[98] * 1000:.1f} ms"


def _token_rows(child: Child) -> list[dict[str, Any]]:
    """Grants and refusals per thread count, TOKEN_ROUNDS rounds in alternating order;
    the median rate of each and the latencies of all rounds."""
    rows: list[dict[str, Any]] = []
    grant_rates: dict[int, float] = {}
    for threads in (1, 4, 16):
        rates: dict[bool, list[float]] = {True: [], False: []}
        latencies: dict[bool, list[float]] = {True: [], False: []}
        for round_ in range(TOKEN_ROUNDS):
            for grant in ((True, False) if round_ % 2 == 0 else (False, True)):
                rate, every = _requests(child, grant, threads)
                rates[grant].append(rate)
                latencies[grant] += every
        grants, refused = statistics.median(rates[True]), statistics.median(rates[False])
        grant_rates[threads] = grants
        ratio = refused / grants
        label = "1 thread" if threads == 1 else f"{threads} threads"
        rows.append({
            "figure": f"server: token grants, {label} (vs a GET refused at once)",
            "target": f"<= {GRANT_TARGET}x the refusal ({refused:.0f} refused/s, "
                      f"{_percentiles(latencies[False])})",
            "result": f"{grants:.0f} grants/s, {_percentiles(latencies[True])}",
            "ratio": f"{ratio:.2f}x", "ok": ratio <= GRANT_TARGET,
        })
    scaling = grant_rates[4] / grant_rates[1]
    rows.append({"figure": "server: token grants, 4 threads vs 1 thread",
                 "target": f">= {SCALING_TARGET}x", "result": f"{grant_rates[4]:.0f} vs "
                 f"{grant_rates[1]:.0f} grants/s", "ratio": f"{scaling:.2f}x",
                 "ok": scaling >= SCALING_TARGET})
    return rows


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        sys.exit(_child(sys.argv[2], sys.argv[3], int(sys.argv[4])))
    from bench.run import render

    print(render(main()))
