"""Local server costs: what authentication adds to a call, and token grants per second.

    python bench/run.py server
    python bench/bench_server.py

Targets: authenticated ``ListTables`` keeps at least 0.9x the throughput of the
same server with authentication switched off, sequentially and with 4 client
threads (loopback, one channel, per-call ``authorization`` metadata). The token
endpoint's grants per second are reported at the default scrypt cost (the
hash check dominates, by design) and at the test cost (the endpoint itself).

Each server runs in its own child process (``--child``), so client and server
do not share a GIL; modes alternate over a few rounds and the best round counts,
which damps noise from other work on the machine.
"""

from __future__ import annotations

import json
import os
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

ROUNDS = 3
CALL_SECONDS = 1.5
TOKEN_SECONDS = 2.0
TARGET_RATIO = 0.9


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


def _calls_per_second(endpoint: str, token: str, threads: int) -> float:
    import grpc

    from kaskada.api.v1alpha import table_pb2, table_pb2_grpc

    metadata = [("authorization", f"Bearer {token}")]
    with grpc.insecure_channel(endpoint) as channel:
        stub = table_pb2_grpc.TableServiceStub(channel)  # type: ignore[no-untyped-call]
        request = table_pb2.ListTablesRequest(page_size=10)
        for _ in range(50):
            stub.ListTables(request, metadata=metadata)
        counts = [0] * threads
        deadline = time.perf_counter() + CALL_SECONDS

        def loop(index: int) -> None:
            n = 0
            while time.perf_counter() < deadline:
                stub.ListTables(request, metadata=metadata)
                n += 1
            counts[index] = n

        started = time.perf_counter()
        workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        return sum(counts) / (time.perf_counter() - started)


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
            for threads in (1, 4):
                best = {"auth": 0.0, "noauth": 0.0}
                for _ in range(ROUNDS):
                    for mode, child in (("noauth", without), ("auth", with_auth)):
                        rate = _calls_per_second(child.info["endpoint"], token, threads)
                        best[mode] = max(best[mode], rate)
                ratio = best["auth"] / best["noauth"]
                label = "sequential" if threads == 1 else f"{threads} threads"
                rows.append({
                    "figure": f"server: authenticated ListTables, {label}",
                    "target": f">= {TARGET_RATIO}x unauthenticated ({best['noauth']:.0f}/s)",
                    "result": f"{best['auth']:.0f} calls/s",
                    "ratio": f"{ratio:.2f}x",
                    "ok": ratio >= TARGET_RATIO,
                })
            rows.append(_token_row(with_auth, "test cost n=16"))
        finally:
            with_auth.close()
            without.close()
        default_cost = Child("auth", folder / "default", scrypt_n=2**14)
        try:
            rows.append(_token_row(default_cost, "default cost n=16384"))
        finally:
            default_cost.close()
    return rows


def _token_row(child: Child, label: str) -> dict[str, Any]:
    rate = _tokens_per_second(child)
    return {"figure": f"server: token grants, {label}", "target": "reported",
            "result": f"{rate:.0f} grants/s", "ratio": "", "ok": None}


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        sys.exit(_child(sys.argv[2], sys.argv[3], int(sys.argv[4])))
    from bench.run import render

    print(render(main()))
