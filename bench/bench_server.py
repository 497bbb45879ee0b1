"""Local server costs: what authentication adds to a call, and token grants per second.

    python bench/run.py server
    python bench/bench_server.py

Targets: authenticated ``ListTables`` keeps at least 0.9x the throughput of the
same server with authentication switched off, with 1, 4 and 16 client threads
(loopback, one channel, per-call ``authorization`` metadata). A token grant
costs at most 3x a request the endpoint refuses at once (a ``GET``), on the
same server in the same run: the secret check is a keyed hash, not a password
hash (0.1's scrypt made it about 50x).

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
import urllib.error
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
TOKEN_SECONDS = 2.0
TARGET_RATIO = 0.9
GRANT_TARGET = 3.0


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


def _tokens_per_second(child: Child) -> float:
    count = 0
    started = time.perf_counter()
    while time.perf_counter() - started < TOKEN_SECONDS:
        child.token()
        count += 1
    return count / (time.perf_counter() - started)


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
            rows.append(_token_row(with_auth))
        finally:
            with_auth.close()
            without.close()
    return rows


def _refused_per_second(child: Child) -> float:
    """GETs answered 405 per second: the endpoint's cost without any credential check."""
    count = 0
    started = time.perf_counter()
    while time.perf_counter() - started < TOKEN_SECONDS:
        try:
            urllib.request.urlopen(child.info["token_url"], timeout=30).close()
        except urllib.error.HTTPError as error:
            error.close()
        count += 1
    return count / (time.perf_counter() - started)


def _token_row(child: Child) -> dict[str, Any]:
    grants = statistics.median(_tokens_per_second(child) for _ in range(3))
    refused = statistics.median(_refused_per_second(child) for _ in range(3))
    ratio = refused / grants
    return {"figure": "server: token grant vs a GET refused at once (same server)",
            "target": f"<= {GRANT_TARGET}x ({refused:.0f} refusals/s)",
            "result": f"{grants:.0f} grants/s", "ratio": f"{ratio:.2f}x",
            "ok": ratio <= GRANT_TARGET}


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        sys.exit(_child(sys.argv[2], sys.argv[3], int(sys.argv[4])))
    from bench.run import render

    print(render(main()))
