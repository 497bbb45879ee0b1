"""``import kaskada`` against ``python -c pass``, measured in the same run.

Target: at most 1.5x the bare interpreter (``import boto3`` is about 16x here):
grpc, keyring, hashlib and typing load with the modules that need them, not
at ``import kaskada``. Measure a regular
(non-editable) install: an editable one adds its finder to every start.
Prints a table; returns rows for ``bench/run.py``. Never fails anything.

Every process a benchmark times starts in ``NEUTRAL``, an empty folder: started
in the checkout, ``python -c``/``-m`` would put it first on ``sys.path`` and
import its source instead of the installed package (with
``PYTHONDONTWRITEBYTECODE`` set, recompiling every module at every start).
``installed_row()`` says which copy the timed processes import.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RUNS = 15
NEUTRAL = tempfile.mkdtemp(prefix="kaskada-bench-cwd-")
"""The folder every timed process starts in: nothing there to import."""


def kaskada_command(python: str = sys.executable) -> list[str]:
    """The console script users run, beside ``python`` (``python -m kaskada`` adds
    runpy to every start); ``-m`` only where no script was installed."""
    script = Path(python).with_name("kaskada")
    return [str(script)] if script.exists() else [python, "-m", "kaskada"]


def installed_row(python: str = sys.executable) -> dict[str, Any]:
    """A row naming the kaskada the timed processes import (a checkout's source, or
    an editable install, inflates every start-up ratio)."""
    where = subprocess.run(
        [python, "-c", "import kaskada, os; print(os.path.dirname(kaskada.__file__))"],
        cwd=NEUTRAL, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    from_checkout = Path(where).resolve().is_relative_to(ROOT)
    return {
        "figure": "kaskada imported by the timed processes",
        "target": "an installed copy",
        "result": where,
        "ratio": "editable or source: ratios inflated" if from_checkout else "installed",
        "ok": not from_checkout,
    }


def timed(
    commands: list[list[str]], runs: int = RUNS, envs: list[dict[str, str] | None] | None = None
) -> list[float]:
    """Median wall time of each command, run round-robin so load drift hits all alike."""
    times: list[list[float]] = [[] for _ in commands]
    envs = envs or [None] * len(commands)
    for _ in range(runs):
        for index, command in enumerate(commands):
            start = time.perf_counter()
            subprocess.run(
                command, check=True, cwd=NEUTRAL, stdout=subprocess.DEVNULL, env=envs[index]
            )
            times[index].append(time.perf_counter() - start)
    return [statistics.median(column) for column in times]


def startup(code: str, runs: int = RUNS) -> float:
    """Median wall time of ``python -c code`` in seconds."""
    return timed([[sys.executable, "-c", code]], runs)[0]


def main() -> list[dict[str, Any]]:
    baseline, imported = timed(
        [[sys.executable, "-c", "pass"], [sys.executable, "-c", "import kaskada"]]
    )
    rows: list[dict[str, Any]] = [
        installed_row(),
        {"figure": "python -c pass", "target": "baseline", "result": f"{baseline * 1e3:.1f} ms",
         "ratio": "1.00x", "ok": None},
    ]  # fmt: skip
    ratio = imported / baseline
    rows.append(
        {"figure": "python -c 'import kaskada'", "target": "<= 1.5x",
         "result": f"{imported * 1e3:.1f} ms", "ratio": f"{ratio:.2f}x", "ok": ratio <= 1.5}
    )  # fmt: skip
    return rows


def render(rows: list[dict[str, Any]]) -> str:
    columns = ("figure", "target", "result", "ratio", "ok")
    cells = [[str(row[c]) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(main()))
