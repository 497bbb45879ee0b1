"""Every code block in README.md and docs/*.md runs, or says why it cannot.

A block runs in the order of its file against one real ``kaskada serve`` (for
each file), real profiles and the real Secret Service, after the README's
quick start (as a reader who followed it); each Python block runs on its own, in
a fresh namespace, as a reader copies it. A block that cannot run carries
``<!-- not run: REASON -->`` on the line before its fence.

How each kind runs:

- ``python``: executed in a namespace of its own; docs/notebooks.md's blocks run
  as cells of one real IPython shell (they use magics, and a notebook's cells
  build on each other); a block with ``if __name__ == "__main__":`` is a
  script and runs as one in a child process (process pools need that).
- ``console``: the ``$ …`` lines run in bash; the other lines are output.
- ``sh``: the block runs in bash (``set -e``).
- ``toml``: written as ``config.toml`` in a fresh folder; ``kaskada profile
  list --names`` must accept it and list its profiles.

Stand-ins, the only liberties taken: ``kaskada serve`` lines do not start a
second server: the module's server, started by the same command on free ports
(``--port 0 --token-port 0``), on the default database of ``KASKADA_DATA_DIR``,
stands in, so ``server add-client --save-profile`` finds it as a user's would.
The profiles a file uses but does not create itself (``SETUP``) are made first
with ``kaskada server add-client --save-profile``. ``getpass`` answers with a
real client's secret, and the placeholder ``"<id>"`` is that client's id; the
connection variables (``KASKADA_API_ENDPOINT``, ``KASKADA_AUTH_ENDPOINT``) name
the module's server, as docs/client.md tells a user of another server to do.
``HOME`` is a temporary folder (the completion block writes to ``~/.bashrc``).
"""

from __future__ import annotations

import builtins
import contextlib
import getpass
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    ROOT,
    end_processes,
    processes_of_this_run,
    require_real_keyring,
    run_process,
)
from tests.server_fixtures import ServerProcess

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUNNABLE = {"python", "console", "sh", "toml"}
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>\S*)\s*$")
NOT_RUN = re.compile(r"^\s*<!--\s*not run:\s*(?P<reason>\S.*?)\s*-->\s*$")
SERVE_LINE = re.compile(r"^\s*kaskada serve\b.*$", re.MULTILINE)

# Profiles each file uses before (or without) creating them; the first is the default.
SETUP: dict[str, tuple[str, ...]] = {
    "README.md": ("prod", "staging"),
    "client.md": ("dev", "prod", "staging"),
    "notebooks.md": ("staging",),
    "profiles.md": (),
    "concurrency.md": (),
    "server.md": (),
    "protocol.md": (),
}


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    not_run: str | None  # the reason given, when marked

    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown file, dedented, with any not-run marker."""
    found: list[Block] = []
    lines = path.read_text().splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        indent = len(opening["indent"])
        previous = next((text for text in reversed(lines[:index]) if text.strip()), "")
        marker = NOT_RUN.match(previous)
        body: list[str] = []
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            body.append(lines[end][indent:])
            end += 1
        found.append(
            Block(path, index + 1, opening["lang"], "\n".join(body) + "\n",
                  marker["reason"] if marker else None)
        )
        index = end + 1
    return found


def test_every_block_runs_or_says_why_not() -> None:
    unexplained = [
        f"{block.where()} ({block.lang or 'no language'})"
        for path in DOCS
        for block in blocks(path)
        if block.not_run is None and block.lang not in RUNNABLE
    ]
    assert not unexplained, (
        "blocks that are neither run by this test nor marked "
        "'<!-- not run: REASON -->': " + ", ".join(unexplained)
    )


def test_the_block_reader_sees_markers_and_indented_blocks(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        "text\n<!-- not run: output only -->\n```\nout\n```\n- item:\n\n  ```python\n"
        "  x = 1\n  ```\n"
    )
    found = blocks(doc)
    assert [(b.line, b.lang, b.text, b.not_run) for b in found] == [
        (3, "", "out\n", "output only"),
        (8, "python", "x = 1\n", None),
    ]


# -- the world the blocks run in ----------------------------------------------


@pytest.fixture
def docs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A ``kaskada serve`` per doc file, on the default database of a temporary
    KASKADA_DATA_DIR: each file meets a server as a reader's first one, after the
    README's quick start."""
    require_real_keyring()
    root = tmp_path_factory.mktemp("docs-server")
    data = root / "data"
    data.mkdir()
    server = ServerProcess(root / "server", db=data / "server.sqlite3")
    server.data_dir = data  # type: ignore[attr-defined]
    yield server
    server.stop()


@dataclass
class World:
    """One doc file's surroundings: its own config, cache, keyring service and HOME."""

    env: dict[str, str]
    tmp: Path
    server: ServerProcess
    env_client: tuple[str, str]

    def shell(self, script: str, where: str) -> subprocess.CompletedProcess[str]:
        script = SERVE_LINE.sub("true  # kaskada serve: the module's server stands in", script)
        running = set(processes_of_this_run())
        try:
            result = run_process(["bash", "-e", "-o", "pipefail", "-c", script],
                                 env=self.env, cwd=self.tmp, timeout=120)
        finally:
            # A recipe must not leave a daemon behind (the headless-Linux recipe's
            # gnome-keyring-daemon once outlived the shell it was started for).
            left = {pid: command for pid, command in processes_of_this_run().items()
                    if pid not in running}
            end_processes(left)
        assert not left, f"{where}: the block left processes running: {left}"
        assert result.returncode == 0, (
            f"{where}: exit {result.returncode}\n--- script\n{script}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
        return result


@pytest.fixture
def world(
    docs_server: ServerProcess, real_keyring: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> World:
    home = tmp_path / "home"
    (home / ".config" / "fish" / "completions").mkdir(parents=True)
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "kaskada").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m kaskada "$@"\n')
    (shim / "kaskada").chmod(0o755)
    env = {
        "KASKADA_DATA_DIR": str(docs_server.data_dir),  # type: ignore[attr-defined]
        "HOME": str(home),
        "PATH": f"{shim}{os.pathsep}{os.environ['PATH']}",
        "SECRET": "a-secret-for-the-docs",
        # A block may start "$SHELL" (the headless-Linux recipe): pin it, since CI
        # may run with SHELL unset; stdin is empty, so that shell exits at once.
        "SHELL": "/bin/sh",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    env.update({name: os.environ[name] for name in os.environ if name.startswith("KASKADA_")})
    env["PYTHON_KEYRING_BACKEND"] = os.environ["PYTHON_KEYRING_BACKEND"]
    return World(env, tmp_path, docs_server, docs_server.add_client("notebook-env"))


def make_profiles(world: World, names: tuple[str, ...]) -> None:
    for position, name in enumerate(names):
        flags = ["--default"] if position == 0 else []
        world.shell(
            f"kaskada server add-client --account {name} --save-profile {name} --force "
            + " ".join(flags),
            f"setting up profile {name}",
        )


def quick_start() -> list[Block]:
    """The README's "Quick start with a real server" blocks, which run before every file's."""
    readme = ROOT / "README.md"
    lines = readme.read_text().splitlines()
    start = lines.index("## Quick start with a real server") + 1
    end = next(n for n in range(start, len(lines)) if lines[n].startswith("## "))
    return [b for b in blocks(readme) if start < b.line <= end
            and b.not_run is None and b.lang in RUNNABLE]


# -- running each kind of block -------------------------------------------------


def run_python(block: Block, namespace: dict[str, Any], world: World) -> None:
    code = block.text.replace('"<id>"', repr(world.env_client[0]))
    if '__name__ == "__main__"' in code:
        script = world.tmp / f"block_{block.line}.py"
        script.write_text(code)
        result = run_process([sys.executable, str(script)], env=world.env, cwd=world.tmp,
                             timeout=180)
        assert result.returncode == 0, f"{block.where()}: {result.stderr}"
        return
    try:
        exec(compile(code, block.where(), "exec"), namespace)
    except Exception as error:
        raise AssertionError(f"{block.where()} raised {error!r}") from error


def run_cell(block: Block, shell: Any, world: World) -> None:
    code = block.text.replace('"<id>"', repr(world.env_client[0]))
    result = shell.run_cell(code, store_history=False)
    error = result.error_before_exec or result.error_in_exec
    assert result.success, f"{block.where()} failed: {error!r}"


def run_console(block: Block, world: World) -> None:
    commands = [line[2:] for line in block.text.splitlines() if line.startswith("$ ")]
    assert commands, f"{block.where()}: a console block without a '$ ' command"
    world.shell("\n".join(commands), block.where())


def run_toml(block: Block, world: World) -> None:
    folder = world.tmp / f"toml-{block.line}"
    folder.mkdir()
    (folder / "config.toml").write_text(block.text)
    names = sorted(tomllib.loads(block.text).get("profiles", {}))
    result = world.shell(
        f"KASKADA_CONFIG_DIR={folder} kaskada profile list --names", block.where()
    )
    assert sorted(result.stdout.split()) == names, f"{block.where()}: {result.stdout}"


@contextlib.contextmanager
def python_surroundings(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """getpass answers with the env client's secret; os.environ is restored after."""
    saved = dict(os.environ)
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": world.env_client[1])
    os.environ["KASKADA_API_ENDPOINT"] = world.server.endpoint
    os.environ["KASKADA_AUTH_ENDPOINT"] = world.server.token_url
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.mark.real_keyring
@pytest.mark.filterwarnings("error::RuntimeWarning")  # e.g. a coroutine never awaited
@pytest.mark.parametrize("path", DOCS, ids=lambda path: path.name)
def test_the_docs_blocks_run(
    path: Path, world: World, monkeypatch: pytest.MonkeyPatch,
    ipython_shell: Any,
) -> None:
    from kaskada import _reset

    make_profiles(world, SETUP[path.name])
    _reset.reset_all()
    ran = 0
    with python_surroundings(world, monkeypatch):
        # A reader arrives from the README: its quick start has run, then each block.
        before = quick_start() if path.name != "README.md" else []
        for block in [*before, *blocks(path)]:
            if block.not_run is not None or block.lang not in RUNNABLE:
                continue
            ran += 1
            if block.lang == "python" and path.name == "notebooks.md":
                run_cell(block, ipython_shell, world)
            elif block.lang == "python":
                # Each block on its own: a reader copies one, not the ones above it.
                run_python(block, {"__name__": "__docs__", "__builtins__": builtins}, world)
            elif block.lang == "console":
                run_console(block, world)
            elif block.lang == "sh":
                world.shell(block.text, block.where())
            else:
                run_toml(block, world)
    if path.name != "protocol.md":
        assert ran, f"{path.name}: no block ran"
