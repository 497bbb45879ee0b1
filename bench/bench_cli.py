"""The CLI's start: ``kaskada profile list --names`` (what shell completion runs on
every Tab) and ``kaskada --version`` against ``python -c pass``, same run.

Target: at most 4x the bare interpreter; building the parsers must not import
grpc, protobuf or keyring. Prints a table; never fails anything.
"""

from __future__ import annotations

import os
import sys
import tempfile
from typing import Any

from bench.bench_import import installed_row, kaskada_command, render, timed


def main() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "KASKADA_CONFIG_DIR": folder}
        commands = [
            [sys.executable, "-c", "pass"],
            [*kaskada_command(), "profile", "list", "--names"],
            [*kaskada_command(), "--version"],
        ]
        baseline, names, version = timed(commands, envs=[env, env, env])
    rows: list[dict[str, Any]] = [
        installed_row(),
        {"figure": "python -c pass", "target": "baseline", "result": f"{baseline * 1e3:.1f} ms",
         "ratio": "1.00x", "ok": None},
    ]  # fmt: skip
    for label, value in (("kaskada profile list --names", names), ("kaskada --version", version)):
        ratio = value / baseline
        rows.append({"figure": label, "target": "<= 4x", "result": f"{value * 1e3:.1f} ms",
                     "ratio": f"{ratio:.2f}x", "ok": ratio <= 4})  # fmt: skip
    return rows


if __name__ == "__main__":
    print(render(main()))
