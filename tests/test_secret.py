"""Secret never shows its value and refuses to travel by pickle."""

from __future__ import annotations

import copy
import logging
import pickle

import pytest

from kaskada._secret import MASK, Secret

CANARY = "canary-7f3a9c1e-do-not-leak"


def test_repr_str_format_mask_the_value() -> None:
    secret = Secret(CANARY)
    for shown in (repr(secret), str(secret), f"{secret}", f"{secret:>30}", "%s" % secret):  # noqa: UP031
        assert CANARY not in shown
        assert MASK in shown
    assert CANARY not in repr([secret, {"k": secret}])


def test_reveal_and_fingerprint() -> None:
    secret = Secret(CANARY)
    assert secret.reveal() == CANARY
    assert len(secret.fingerprint()) == 64
    assert CANARY not in secret.fingerprint()
    assert Secret(CANARY).fingerprint() == secret.fingerprint()
    assert Secret("other").fingerprint() != secret.fingerprint()


def test_pickle_is_refused() -> None:
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(TypeError, match="pickled"):
            pickle.dumps(Secret(CANARY), protocol=protocol)
    with pytest.raises(TypeError):
        pickle.dumps({"nested": [Secret(CANARY)]})


def test_equality_copy_and_immutability() -> None:
    secret = Secret(CANARY)
    assert secret == Secret(CANARY)
    assert secret != Secret("x")
    assert secret != CANARY  # never equal to the plain string
    assert copy.copy(secret) is secret and copy.deepcopy(secret) is secret
    with pytest.raises(AttributeError):
        secret._value = "changed"  # type: ignore[misc]
    assert Secret(secret).reveal() == CANARY
    with pytest.raises(TypeError):
        Secret(42)  # type: ignore[arg-type]


def test_logging_a_secret_shows_the_mask(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="kaskada"):
        logging.getLogger("kaskada.test").debug("secret is %s / %r", Secret(CANARY), Secret(CANARY))
    assert caplog.records
    assert CANARY not in caplog.text
