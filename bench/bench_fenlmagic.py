"""fenlmagic costs: import, ``%load_ext`` and ``%fenl_auth`` against the client itself.

    python bench/run.py fenlmagic
    python bench/bench_fenlmagic.py

Targets: importing fenlmagic adds little to ``python -c pass`` (it must not load
IPython, grpc or keyring); loading the extension with no credentials stays well
under a quarter second; ``%fenl_auth`` (parse, resolve, check call, activate)
adds at most 1 ms to the same job written by hand (``kda.session()``, a
``list_tables`` check, ``kda.init()``) on loopback: IPython's own line-magic
dispatch (``$var`` expansion) is part of that millisecond.
Everything runs in temporary folders on 127.0.0.1.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # this checkout, also under a stale editable install
from bench.bench_import import NEUTRAL  # noqa: E402 - needs ROOT on sys.path


def _fresh_process_ms(code: str, env: dict[str, str], runs: int = 7) -> float:
    """Best of ``runs`` process starts: the minimum is the least noisy on a busy machine."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=NEUTRAL, env=env, check=True,
                       capture_output=True)
        times.append((time.perf_counter() - start) * 1000)
    return min(times)


def _isolated_env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KASKADA_")}
    env.update(
        KASKADA_CONFIG_DIR=str(folder / "config"),
        KASKADA_DATA_DIR=str(folder / "data"),
        KASKADA_KEYRING_SERVICE=f"kaskada-bench-{uuid.uuid4().hex}",
        IPYTHONDIR=str(folder / "ipython"),
    )
    return env


LOAD_SCRIPT = """
import time
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config
config = Config(); config.HistoryManager.hist_file = ":memory:"
shell = InteractiveShell.instance(config=config)
start = time.perf_counter()
shell.extension_manager.load_extension("fenlmagic")
print((time.perf_counter() - start) * 1000)
"""


def _load_ms(env: dict[str, str], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", LOAD_SCRIPT], cwd=NEUTRAL, env=env,
                              check=True, capture_output=True, text=True)
        times.append(float(done.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def _auth_vs_client(folder: Path, rounds: int = 30) -> tuple[float, float]:
    """Median ms of ``%fenl_auth`` and of the same job by hand, same server and client."""
    os.environ.update({k: v for k, v in _isolated_env(folder).items() if k.startswith(
        ("KASKADA_", "IPYTHONDIR"))})
    import contextlib
    import io

    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    import kaskada as kda
    from kaskada import table
    from kaskada.server import start_server

    server = start_server(db=folder / "bench.sqlite3", scrypt_n=2**10)
    try:
        client_id, secret = server.add_client("bench")
        options = dict(client_id=client_id, client_secret=secret, endpoint=server.endpoint,
                       exchange_endpoint=server.token_url, is_secure=False)
        config = Config()
        config.HistoryManager.hist_file = ":memory:"
        shell = InteractiveShell.instance(config=config)
        with contextlib.redirect_stdout(io.StringIO()):
            shell.extension_manager.load_extension("fenlmagic")
        import getpass

        getpass.getpass = lambda prompt="": secret.reveal()  # type: ignore[assignment]
        line = (f"{client_id} --endpoint {server.endpoint} "
                f"--exchange-endpoint {server.token_url} --plaintext")
        table.list_tables(session=kda.session(**options))  # warm: token and channel
        magic, bare = [], []
        for _ in range(rounds):
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                shell.run_line_magic("fenl_auth", line)
            magic.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            table.list_tables(session=kda.session(**options))
            kda.init(**options)
            bare.append((time.perf_counter() - start) * 1000)
        return statistics.median(magic), statistics.median(bare)
    finally:
        server.stop()


def main() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        env = _isolated_env(folder)
        baseline = _fresh_process_ms("pass", env)
        imported = _fresh_process_ms("import fenlmagic", env)
        extra = imported - baseline
        rows.append({"figure": "import fenlmagic, over `python -c pass` (ms)",
                     "target": "<= 60", "result": f"{extra:.0f}",
                     "ratio": f"{imported / baseline:.2f}x", "ok": extra <= 60})
        load = _load_ms(env)
        rows.append({"figure": "%load_ext fenlmagic, no credentials (ms)", "target": "<= 250",
                     "result": f"{load:.0f}", "ratio": "-", "ok": load <= 250})
        magic, bare = _auth_vs_client(folder)
        rows.append({"figure": "%fenl_auth vs session()+list_tables+init() by hand (ms)",
                     "target": "+<= 1 ms", "result": f"{magic:.2f} vs {bare:.2f}",
                     "ratio": f"{magic / bare:.2f}x", "ok": magic - bare <= 1.0})
    return rows


if __name__ == "__main__":
    for row in main():
        print(f"{row['figure']}: {row['result']} (target {row['target']}, ratio {row['ratio']}, "
              f"{'met' if row['ok'] else 'MISSED'})")
