"""The distribution's metadata: a name of its own on PyPI, an SPDX licence with its
text, the Pythons it claims (the ones CI runs), and nothing stray at the root."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_distribution_name_is_not_the_other_projects() -> None:
    # PyPI's `kaskada` and `fenlmagic` are the earlier Kaskada project's.
    assert PROJECT["name"] not in {"kaskada", "fenlmagic"}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"**`{PROJECT['name']}`**" in readme
    assert "PyPI projects named `kaskada`" in readme and "`fenlmagic`" in readme


def test_licence_is_an_spdx_expression_with_its_text() -> None:
    assert PROJECT["license"] == "Apache-2.0"
    assert PROJECT["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_classifiers_claim_the_pythons_ci_runs() -> None:
    classifiers = set(PROJECT["classifiers"])
    claimed = {c.rsplit(" ", 1)[1] for c in classifiers
               if c.startswith("Programming Language :: Python :: 3.")}
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    runs = re.search(r"^PYTHONS=\(([^)]*)\)", ci, re.MULTILINE)
    assert runs is not None, ".ci/run names no PYTHONS=(…)"
    assert claimed == {"3.11", "3.12", "3.13"} == set(runs.group(1).split())
    assert "Typing :: Typed" in classifiers
    assert PROJECT["authors"] and PROJECT["urls"]


def test_no_stray_files_tracked_at_the_root() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.splitlines()
    if not tracked:  # not a git checkout (an sdist): nothing to check
        return
    stray = [name for name in tracked if "/" not in name and name.startswith("=")]
    assert stray == []
