"""Session and resolution costs.

    python bench/run.py session
    python bench/bench_session.py

Targets: entering plus leaving ``kda.session(profile=...)`` for settings already
seen costs at most 20 us (boto3.Session(profile_name=...) is 7-14 ms here, a
Databricks SDK Config(profile=...) about 140 us). With 1,000 profiles in the
file the first resolution costs no more than one parse of the file (ratio to a
parse measured in the same run, target 1.5x for the keyring lookup and
bookkeeping), and later ones are constant time (a 1,000-profile file against a
10-profile file, target 2x). Profiles' secrets sit in an in-memory keyring so
the figure is kaskada's own cost. Everything runs in a temporary folder.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _memory_keyring() -> None:
    import keyring

    from kaskada import _keyring

    keyring.set_keyring(_keyring.memory_backend())


def _write_profiles(folder: Path, count: int) -> None:
    import tomli_w

    from kaskada import _keyring, _paths
    from kaskada._secret import Secret

    folder.mkdir(parents=True, exist_ok=True)
    document: dict[str, Any] = {"default_profile": "p0", "profiles": {}}
    for index in range(count):
        document["profiles"][f"p{index}"] = {
            "client_id": f"id-{index}",
            "endpoint": "127.0.0.1:50051",
            "exchange_endpoint": "http://127.0.0.1:50052/oauth/token",
            "is_secure": False,
        }
    path = _paths.config_file()
    path.write_bytes(tomli_w.dumps(document).encode())
    os.chmod(path, 0o600)
    from kaskada._binding import binding_of

    for index in (0, count // 2, count - 1):
        fields = document["profiles"][f"p{index}"]
        _keyring.set_secret(f"p{index}", Secret(f"secret-{index}"), binding_of(fields))


def _per_op(function: Any, loops: int, rounds: int = 7) -> float:
    """Median seconds per call of ``function`` over ``rounds`` rounds of ``loops``."""
    results = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(loops):
            function()
        results.append((time.perf_counter() - start) / loops)
    return statistics.median(results)


def _use(folder: Path) -> None:
    from kaskada import _reset

    os.environ["KASKADA_CONFIG_DIR"] = str(folder)
    _reset.reset_all()


def main() -> list[dict[str, Any]]:
    for name in [name for name in os.environ if name.startswith("KASKADA_")]:
        del os.environ[name]
    os.environ["KASKADA_KEYRING_SERVICE"] = f"kaskada-bench-{uuid.uuid4().hex}"
    _memory_keyring()
    import kaskada as kda
    from kaskada import _config, _reset, _resolve

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as scratch:
        big, small = Path(scratch) / "big", Path(scratch) / "small"
        for folder, count in ((big, 1000), (small, 10)):
            _use(folder)
            _write_profiles(folder, count)

        # session enter + exit for settings already seen
        _use(big)
        kda.session(profile="p500")

        def enter_exit() -> None:
            with kda.session(profile="p500"):
                pass

        made = kda.session(profile="p500")

        def enter_exit_object() -> None:
            with made:
                pass

        per = _per_op(enter_exit, 20_000)
        rows.append(
            {
                "figure": "kda.session(profile=...) enter+exit, seen settings",
                "target": "<= 20 us",
                "result": f"{per * 1e6:.2f} us",
                "ratio": f"{per / 20e-6:.2f} of target",
                "ok": per <= 20e-6,
            }
        )
        per_object = _per_op(enter_exit_object, 50_000)
        rows.append(
            {
                "figure": "with session: (object kept) enter+exit",
                "target": "<= 20 us",
                "result": f"{per_object * 1e6:.2f} us",
                "ratio": f"{per_object / 20e-6:.3f} of target",
                "ok": per_object <= 20e-6,
            }
        )

        # 1,000 profiles: first resolution against one parse of the file
        path = big / "config.toml"

        def parse_once() -> None:
            _config.parse(path, _config.decode(path, path.read_bytes()))

        parse = _per_op(parse_once, 5)
        firsts = []
        for _ in range(7):
            _reset.reset_all()
            start = time.perf_counter()
            _resolve.resolve(profile="p500")
            firsts.append(time.perf_counter() - start)
        first = statistics.median(firsts)
        rows.append(
            {
                "figure": "first resolution, 1,000 profiles (vs one parse)",
                "target": "<= 1.5x one parse",
                "result": f"{first * 1e3:.2f} ms (parse {parse * 1e3:.2f} ms)",
                "ratio": f"{first / parse:.2f}x",
                "ok": first / parse <= 1.5,
            }
        )

        def later() -> None:
            _resolve.resolve(profile="p999")

        later_big = _per_op(later, 5_000)
        _use(small)
        _resolve.resolve(profile="p9")

        def later_small_fn() -> None:
            _resolve.resolve(profile="p9")

        later_small = _per_op(later_small_fn, 5_000)
        rows.append(
            {
                "figure": "later resolution, 1,000 vs 10 profiles",
                "target": "<= 2x (constant time)",
                "result": f"{later_big * 1e6:.2f} us vs {later_small * 1e6:.2f} us",
                "ratio": f"{later_big / later_small:.2f}x",
                "ok": later_big / later_small <= 2,
            }
        )
        _reset.reset_all()
    return rows  # fmt: skip


if __name__ == "__main__":
    from bench.run import render

    print(render(main()))
