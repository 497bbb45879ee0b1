"""The real_keyring marker follows the fixture (the hook in tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.helpers import ROOT

CONFTEST = """
from tests.conftest import pytest_collection_modifyitems, real_keyring  # noqa: F401
"""

TESTS = """
import pytest

@pytest.fixture
def through(real_keyring):
    return real_keyring

def test_direct(real_keyring):
    pass

def test_indirect(through):
    pass

@pytest.mark.real_keyring
def test_marked(real_keyring):
    pass

def test_plain():
    pass
"""


def _selected(pytester: pytest.Pytester, expression: str) -> set[str]:
    result = pytester.runpytest_subprocess("--collect-only", "-q", "-m", expression,
                                           "-p", "no:cacheprovider")
    return {line.split("::")[-1] for line in result.outlines if "::" in line}


def test_a_test_using_the_fixture_is_selected_by_the_marker(pytester: pytest.Pytester) -> None:
    pytester.makeini(f"[pytest]\npythonpath = {ROOT}\nmarkers =\n    real_keyring: x\n")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_sample=TESTS)
    assert _selected(pytester, "real_keyring") == {"test_direct", "test_indirect", "test_marked"}
    assert _selected(pytester, "not real_keyring") == {"test_plain"}


def test_a_marked_test_without_the_fixture_is_refused(pytester: pytest.Pytester) -> None:
    pytester.makeini(f"[pytest]\npythonpath = {ROOT}\nmarkers =\n    real_keyring: x\n")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        test_sample="import pytest\n\n@pytest.mark.real_keyring\ndef test_lies():\n    pass\n"
    )
    result = pytester.runpytest_subprocess("--collect-only", "-q", "-p", "no:cacheprovider")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*test_lies: marked real_keyring but does not use*"])
