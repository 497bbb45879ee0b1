"""``kaskada demo`` runs the whole job and leaves nothing behind."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest


def _run_demo(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**env, "TMPDIR": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-m", "kaskada", "demo"],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )


def _leftovers(tmp_path: Path) -> list[str]:
    return [p.name for p in tmp_path.iterdir() if p.name.startswith("kaskada-demo-")]


@pytest.mark.usefixtures("real_keyring")
def test_demo_on_the_real_keyring_walks_through_and_cleans_up(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    result = _run_demo(dict(os.environ), scratch)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "real keyring" in out
    # dev sees its own new table; prod (another account) does not, also via the environment
    assert "kda.init(profile='dev'); table.list_tables()\n   -> {}" in out
    assert "list_tables() now: ['purchases']" in out
    assert "with kda.session(profile='prod')" in out
    assert "back outside the block, as dev: ['purchases']" in out
    assert "credentials from KASKADA_CLIENT_ID (they come before the default profile): " \
        "list_tables() = {}   (prod's account)" in out
    # the config file is shown, and it holds client ids but no secret
    assert '     default_profile = "dev"' in out and "     [profiles.prod]" in out
    assert "secret =" not in out
    assert out.count("2. ") == 1  # each step is numbered once
    assert "client_secret      ********" in out
    # nothing left: no temporary folder, no secret under the throwaway service
    assert _leftovers(scratch) == []
    service = re.search(r"throwaway service '([^']+)'", out)
    assert service is not None
    import keyring

    for profile in ("dev", "prod", "demo-probe"):
        assert keyring.get_password(service.group(1), profile) is None
    # and the caller's own config folder was never touched
    assert not Path(os.environ["KASKADA_CONFIG_DIR"]).exists()


@pytest.mark.usefixtures("real_keyring")
def test_demo_leaves_nothing_in_the_users_folders(tmp_path: Path) -> None:
    """A user's HOME with no KASKADA_* or XDG_* folders set, as a first run has:
    the demo kept its token cache in ~/.cache/kaskada."""
    home, scratch = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    scratch.mkdir()
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("KASKADA_") and name not in
           ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME")}
    # The Secret Service's folders (XDG_DATA_HOME, XDG_RUNTIME_DIR) stay: its daemon's.
    result = _run_demo({**env, "HOME": str(home)}, scratch)
    assert result.returncode == 0, result.stderr
    left = sorted(str(p.relative_to(home)) for p in home.rglob("*"))
    assert left == []
    assert _leftovers(scratch) == []


def test_demo_without_a_keyring_says_so_and_still_runs(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    result = _run_demo(env, scratch)
    assert result.returncode == 0, result.stderr
    assert "No usable keyring here (no keyring backend is available: " \
        "keyring.backends.fail.Keyring)" in result.stdout
    assert "in memory" in result.stdout
    assert "list_tables() now: ['purchases']" in result.stdout
    # True things about where the secrets went (issue 20: it said "the keyring" here).
    assert "The secrets went to this process's memory" in result.stdout
    assert "keyring entries are removed" not in result.stdout
    assert "went to the keyring" not in result.stdout
    assert "No desktop keyring?" in result.stdout
    assert _leftovers(scratch) == []
    assert "Traceback" not in result.stderr


def test_demo_cleans_up_after_a_failed_step(
    memory_keyring: dict[tuple[str, str], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A step that fails still stops the server, removes the folder, secrets and variables."""
    import tempfile

    from kaskada import _demo, table

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("KASKADA_PROFILE", "the-callers-own")
    seen: list[str] = []

    def broken(*args: object, **kwargs: object) -> None:
        seen.extend(name for name in os.environ if name.startswith("KASKADA_"))
        raise RuntimeError("step 4 broke")

    monkeypatch.setattr(table, "create_table", broken)
    said: list[str] = []
    with pytest.raises(RuntimeError, match="step 4 broke"):
        _demo.run(said.append)
    assert any("3. kda.init(profile='dev')" in line for line in said)  # it got that far
    assert "KASKADA_PROFILE" not in seen  # the caller's variables were hidden meanwhile
    assert os.environ["KASKADA_PROFILE"] == "the-callers-own"  # and are back
    assert memory_keyring == {}  # both profiles' secrets (and the probe) removed
    assert _leftovers(tmp_path) == []


def test_demo_with_a_hung_keyring_says_so_and_runs_in_memory(tmp_path: Path) -> None:
    """A locked Secret Service costs one timeout, then the demo runs on its memory keyring."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    root = str(Path(__file__).resolve().parents[1])
    env = {
        **os.environ,
        "PYTHON_KEYRING_BACKEND": "tests.keyring_blocking.Keyring",
        "KASKADA_KEYRING_TIMEOUT": "1",
        "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]),
    }
    result = _run_demo(env, scratch)
    assert result.returncode == 0, result.stderr
    assert "No usable keyring here (the keyring did not answer within 1 s; it may be locked)" \
        in result.stdout
    assert "list_tables() now: ['purchases']" in result.stdout
    assert "Traceback" not in result.stderr
    assert _leftovers(scratch) == []


def test_demo_with_a_malformed_keyring_timeout_is_one_line(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    result = _run_demo({**os.environ, "KASKADA_KEYRING_TIMEOUT": "soon"}, scratch)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "kaskada: error: KASKADA_KEYRING_TIMEOUT='soon' is not a positive number of seconds; "
        "fix or unset it (default 5)"
    ]
    assert _leftovers(scratch) == []
