"""``kaskada profile list`` start-up and in-process profile lookups.

Targets: ``profile list`` with 3 profiles at most 4x ``python -c pass``
(1,000 profiles reported too); ``get_profile`` on a loaded file at most 5 µs.
Runs in a throwaway KASKADA_CONFIG_DIR; never touches the user's config or keyring.
"""

from __future__ import annotations

import os
import sys
import tempfile
import timeit
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_import import installed_row, kaskada_command, render, timed

ROOT = Path(__file__).resolve().parent.parent
RUNS = 15


def write_profiles(folder: Path, count: int) -> None:
    import tomli_w

    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    profiles = {
        f"profile-{index}": {
            "client_id": f"client-{index}",
            "endpoint": "localhost:50051",
            "is_secure": False,
            "exchange_endpoint": "http://localhost:50052/oauth/token",
        }
        for index in range(count)
    }
    path = folder / "config.toml"
    path.write_text(tomli_w.dumps({"default_profile": "profile-0", "profiles": profiles}))
    path.chmod(0o600)


def lookup_time(folder: Path) -> float:
    """Seconds per ``get_profile`` once the file is loaded (stat check included)."""
    os.environ["KASKADA_CONFIG_DIR"] = str(folder)
    sys.path.insert(0, str(ROOT))
    from kaskada import _reset
    from kaskada.config import file as _config

    _reset.reset_all()
    _config.get_profile("profile-1")
    number = 20_000
    best = min(timeit.repeat(lambda: _config.get_profile("profile-1"), number=number, repeat=5))
    return best / number


def main() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [installed_row()]
    with tempfile.TemporaryDirectory() as scratch:
        small, large = Path(scratch) / "three", Path(scratch) / "thousand"
        write_profiles(small, 3)
        write_profiles(large, 1000)
        command = [*kaskada_command(), "profile", "list"]
        baseline, *lists = timed(
            [[sys.executable, "-c", "pass"], command, command],
            envs=[None, {**os.environ, "KASKADA_CONFIG_DIR": str(small)},
                  {**os.environ, "KASKADA_CONFIG_DIR": str(large)}],
        )  # fmt: skip
        rows.append(
            {
                "figure": "python -c pass",
                "target": "baseline",
                "result": f"{baseline * 1e3:.1f} ms",
                "ratio": "1.00x",
                "ok": None,
            }
        )
        for seconds, label, target in ((lists[0], "3", 4.0), (lists[1], "1,000", None)):
            ratio = seconds / baseline
            rows.append(
                {
                    "figure": f"kaskada profile list ({label} profiles)",
                    "target": f"<= {target:g}x" if target else "report",
                    "result": f"{seconds * 1e3:.1f} ms",
                    "ratio": f"{ratio:.2f}x",
                    "ok": ratio <= target if target else None,
                }
            )
        per_lookup = lookup_time(large)
        rows.append(
            {
                "figure": "get_profile() on a loaded file (1,000 profiles)",
                "target": "<= 5 µs",
                "result": f"{per_lookup * 1e6:.2f} µs",
                "ratio": f"{per_lookup / 5e-6:.2f}x of target",
                "ok": per_lookup <= 5e-6,
            }
        )
    return rows  # fmt: skip


if __name__ == "__main__":
    print(render(main()))
