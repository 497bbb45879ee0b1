"""Many writers at once, and writers killed mid-write: the file stays whole."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

from kaskada.config import file as _config
from kaskada.config import lifecycle as _profiles

REPO = Path(__file__).resolve().parents[1]

ADDER = """
import sys
from kaskada.config import lifecycle as _profiles
worker = sys.argv[1]
for index in range(25):
    _profiles.add_profile(f"w{worker}-{index}", {"client_id": f"id-{worker}-{index}"}, None)
"""

# Rewrites a large file in a loop; says "ready" once the first write is done.
REWRITER = """
import sys
from kaskada.config import file as _config
round = 0
def change(document):
    profiles = document.setdefault("profiles", {})
    for index in range(300):
        profiles[f"p{index}"] = {"client_id": f"{round}-" + "x" * 200}
    document["round"] = round
while True:
    _config.update(change)
    round += 1
    if round == 1:
        print("ready", flush=True)
"""


def test_eight_processes_add_200_profiles(isolated_environment: Path) -> None:
    workers = [
        subprocess.Popen([sys.executable, "-c", ADDER, str(worker)], cwd=REPO)
        for worker in range(8)
    ]
    for worker in workers:
        assert worker.wait(timeout=120) == 0
    data = (isolated_environment / "config.toml").read_bytes()
    profiles = tomllib.loads(data.decode())["profiles"]
    expected = {f"w{worker}-{index}" for worker in range(8) for index in range(25)}
    assert set(profiles) == expected
    assert _config.load().profiles["w7-24"].client_id == "id-7-24"


def test_sigkill_mid_write_never_leaves_a_broken_file(isolated_environment: Path) -> None:
    _profiles.add_profile("keep", {"client_id": "k"}, None)
    path = isolated_environment / "config.toml"
    chooser = random.Random(20240501)
    for _ in range(50):
        writer = subprocess.Popen(
            [sys.executable, "-c", REWRITER], cwd=REPO, stdout=subprocess.PIPE, text=True
        )
        assert writer.stdout is not None
        assert writer.stdout.readline() == "ready\n"
        # Kill somewhere inside the next few rewrites (each takes milliseconds).
        time.sleep(chooser.uniform(0, 0.03))
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
        writer.stdout.close()
        document = tomllib.loads(path.read_bytes().decode())  # parses: never truncated
        assert document["profiles"]["keep"] == {"client_id": "k"}
        assert len(document["profiles"]) == 301
        assert (path.stat().st_mode & 0o777) == 0o600
    # The next writer clears temp files the killed ones left behind.
    _profiles.add_profile("after", {"client_id": "a"}, None)
    leftovers = [entry for entry in os.listdir(isolated_environment) if entry.endswith(".tmp")]
    assert leftovers == []
    assert "after" in _config.load().profiles
