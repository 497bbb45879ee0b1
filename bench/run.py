"""Run every benchmark and print one table: figure, target, result, ratio, verdict.

    python bench/run.py            # all of them
    python bench/run.py session    # only modules whose name contains "session"

Each ``bench/bench_*.py`` module has ``main() -> list[dict]`` returning rows with
the keys figure, target, result, ratio and ok. Ratios are measured against a
baseline taken in the same run (``python -c pass``, an unauthenticated call...),
so the figures compare across machines. Benchmarks report; they never fail CI.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = ("figure", "target", "result", "ratio", "ok")


def discover(selection: list[str]) -> list[str]:
    names = sorted(p.stem for p in (ROOT / "bench").glob("bench_*.py"))
    if selection:
        names = [n for n in names if any(s in n for s in selection)]
    return names


def render(rows: list[dict[str, Any]]) -> str:
    cells = [[str(row.get(c, "")) for c in COLUMNS] for row in rows]
    for row, cell in zip(rows, cells, strict=True):
        ok = row.get("ok")
        cell[4] = "met" if ok is True else ("MISSED" if ok is False else "-")
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(COLUMNS)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    rows: list[dict[str, Any]] = []
    for name in discover(argv):
        started = time.perf_counter()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        try:
            module = importlib.import_module(f"bench.{name}")
            rows += module.main()
        except Exception as error:  # one broken benchmark must not hide the others
            rows.append({"figure": name, "target": "", "result": f"failed: {error!r}",
                         "ratio": "", "ok": False})
        print(f"  {name}: {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    print(render(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
