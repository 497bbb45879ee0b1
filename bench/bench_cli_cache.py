"""A warm ``kaskada table list`` against a minimal script making the same call.

    python bench/run.py cli_cache
    python bench/bench_cli_cache.py [--python /tmp/bench-venv/bin/python] [--runs 15]

Measure in a regular (non-editable) install: an editable install's import finder
inflates every process's start-up. ``--python`` names the interpreter of that
install (the server, the CLI runs and the baselines all use it). Run under a
real Secret Service (``dbus-run-session -- bash scripts/with-secret-service``)
so the cold runs pay what users pay.

Figures, each the min and median wall time of whole processes, interleaved run by
run so drift hits all alike:
- ``python -c pass`` (the floor) and a minimal script: import grpc and the
  generated stubs, ``ListTables`` with a token it already holds;
- warm ``kaskada table list`` (a cached token): target at most 1.3x the script;
- warm and cold ``kaskada whoami`` (cold: after ``kaskada logout``, so it
  imports keyring, reads the secret and exchanges it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_import import NEUTRAL, installed_row, kaskada_command

TARGET = 1.3

MINIMAL = """
import sys, grpc
from kaskada.api.v1alpha import table_pb2, table_pb2_grpc
channel = grpc.insecure_channel(sys.argv[1])
stub = table_pb2_grpc.TableServiceStub(channel)
stub.ListTables(table_pb2.ListTablesRequest(), timeout=30,
                metadata=(("authorization", "Bearer " + sys.argv[2]),))
channel.close()
"""


def _timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, check=False, cwd=NEUTRAL)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{command} failed: {result.stderr.decode()[-500:]}")
    return elapsed


def measure(python: str, runs: int) -> dict[str, list[float]]:
    folder = Path(tempfile.mkdtemp(prefix="kaskada-bench-cache-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("KASKADA_")}
    env.pop("PYTHONPATH", None)
    env.update(
        KASKADA_CONFIG_DIR=str(folder / "config"),
        KASKADA_CACHE_DIR=str(folder / "cache"),
        KASKADA_DATA_DIR=str(folder / "data"),
        KASKADA_KEYRING_SERVICE=f"kaskada-bench-{uuid.uuid4().hex}",
    )
    db = folder / "server.sqlite3"
    server = subprocess.Popen(
        [python, "-m", "kaskada", "serve", "--port", "0", "--token-port", "0",
         "--db", str(db), "--scrypt-n", "16"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=NEUTRAL,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        line = server.stdout.readline().split()
        endpoint = line[line.index("on") + 1].rstrip(",")
        subprocess.run(
            [python, "-m", "kaskada", "server", "add-client", "--account", "bench",
             "--db", str(db), "--save-profile", "bench", "--default"],
            env=env, check=True, capture_output=True, cwd=NEUTRAL,
        )  # fmt: skip
        # The console script users run (``python -m`` adds runpy to every start).
        kaskada = kaskada_command(python)
        token = subprocess.run(
            [*kaskada, "token"], env=env, check=True, capture_output=True, text=True, cwd=NEUTRAL
        ).stdout.strip()
        commands = {
            "python -c pass": [python, "-c", "pass"],
            "minimal grpc script": [python, "-c", MINIMAL, endpoint, token],
            "warm kaskada table list": [*kaskada, "table", "list"],
            "warm kaskada whoami": [*kaskada, "whoami"],
            "cold kaskada whoami": [*kaskada, "whoami"],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for command in commands.values():  # one unmeasured warm-up each
            _timed(command, env)
        for _ in range(runs):
            for name, command in commands.items():
                if name.startswith("cold"):
                    subprocess.run([*kaskada, "logout", "--all"], env=env, check=True, cwd=NEUTRAL,
                                   capture_output=True)  # fmt: skip
                times[name].append(_timed(command, env))
        return times
    finally:
        server.terminate()
        server.wait(15)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args(argv if argv is not None else [])
    times = measure(args.python, args.runs)
    medians = {name: statistics.median(values) for name, values in times.items()}
    script = medians["minimal grpc script"]
    floor = medians["python -c pass"]
    rows: list[dict[str, Any]] = [installed_row(args.python)]
    for name, values in times.items():
        ratio = medians[name] / script
        row: dict[str, Any] = {
            "figure": name,
            "target": f"<= {TARGET}x script" if name.startswith("warm kaskada table") else "",
            "result": f"min {min(values) * 1e3:.0f} ms, median {medians[name] * 1e3:.0f} ms",
            "ratio": f"{ratio:.2f}x script, {medians[name] / floor:.1f}x pass",
        }
        if name.startswith("warm kaskada table"):
            row["ok"] = ratio <= TARGET
        rows.append(row)
    return rows


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from run import render  # type: ignore[import-not-found]

    print(render(main(sys.argv[1:])))
