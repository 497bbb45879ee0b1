"""The token cache module in-process: lazy secrets, folder and lock safety (unit level;
the real-process, real-keyring, real-server proof is in test_token_cache_cli.py).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from kaskada import _clock
from kaskada._secret import Secret
from kaskada.credentials import token_cache as _token_cache
from kaskada.credentials.access_token import Token
from tests.token_fakes import ManualClock

SECRET = "canary-secret-9f2c1e"


def _token(value: str = "tok-1", lifetime: float = 3600.0) -> Token:
    now = _clock.get().monotonic()
    return Token(Secret(value), "Bearer", lifetime, now + lifetime - 60, now + lifetime)


@pytest.fixture
def counting(memory_keyring: dict[tuple[str, str], str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """A profile 'x' whose secret reads are counted."""
    from kaskada.config import lifecycle as _profiles
    from kaskada.credentials import keyring as _keyring

    _profiles.add_profile(
        "x",
        {"client_id": "cid", "endpoint": "localhost:1", "exchange_endpoint": "http://localhost:2"},
        Secret(SECRET),
    )
    reads: list[str] = []
    real = _keyring.get_entry

    def get_entry(name: str) -> Any:  # the real keyring read (secret and binding)
        reads.append(name)
        return real(name)

    monkeypatch.setattr(_keyring, "get_entry", get_entry)
    return reads


def test_warm_cache_resolves_and_explains_without_reading_the_secret(counting: Any) -> None:
    import kaskada as kda
    from kaskada import _reset

    session = kda.session("x")  # cold: the secret is read at once (a missing one fails here)
    assert counting == ["x"]
    entry = _token_cache.for_settings(session.settings)
    assert entry is not None
    entry.write(_token())
    _reset.reset_all()
    counting.clear()
    warm = kda.session("x")
    explanation = warm.explain()
    assert explanation.source("client_secret") == "keyring (profile 'x')"
    assert SECRET not in str(explanation)
    assert warm.access_token().reveal() == "tok-1"
    assert counting == []
    assert SECRET not in entry.path.read_text()


def test_missing_secret_still_fails_at_resolution_on_a_cold_cache(
    memory_keyring: dict[tuple[str, str], str],
) -> None:
    import kaskada as kda
    from kaskada._errors import IncompleteCredentialsError
    from kaskada.config import lifecycle as _profiles

    _profiles.add_profile("nosecret", {"client_id": "cid"}, None)
    with pytest.raises(IncompleteCredentialsError, match="kaskada configure --profile nosecret"):
        kda.session("nosecret")


def test_folder_is_created_0700_whatever_the_umask(tmp_path: Path) -> None:
    entry = _token_cache.Entry("k" * 64, profile=None, lock_timeout=1)
    old = os.umask(0)
    try:
        entry.write(_token())
    finally:
        os.umask(old)
    assert stat.S_IMODE(entry.folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(entry.path.stat().st_mode) == 0o600
    assert entry.read() is not None


def test_entry_due_for_refresh_is_a_miss() -> None:
    entry = _token_cache.Entry("d" * 64, profile=None, lock_timeout=1)
    entry.write(_token(lifetime=100.0))
    assert entry.read() is not None
    now = _clock.get().monotonic()
    entry.write(Token(Secret("t"), "Bearer", 100.0, now - 1, now + 40))  # 40 s < margin 50 s
    assert entry.read() is None


def test_an_entry_becomes_due_and_expires_on_the_clock() -> None:
    """The disk cache reads the one clock: it keeps its entry until the refresh point,
    in memory times of the process that reads it, and drops it after."""
    clock = ManualClock()
    entry = _token_cache.Entry("c" * 64, profile=None, lock_timeout=1)
    with _clock.use(clock):
        entry.write(_token("kept", lifetime=100.0))  # due after 50 s (the 50 s margin)
        clock.advance(49)
        found = entry.read()
        assert found is not None and found.access_token.reveal() == "kept"
        assert found.expires_at == clock.monotonic() + 51  # converted to this clock's time
        clock.advance(1)
        assert entry.read() is None
        calls: list[int] = []

        def exchange() -> Token:
            calls.append(1)
            return _token("fresh", lifetime=100.0)

        assert entry.fetch(exchange, None).access_token.reveal() == "fresh"
        assert calls == [1]


def test_a_handed_token_expires_on_the_clock() -> None:
    from kaskada._errors import AuthenticationError
    from kaskada.credentials import handed as _handed

    clock = ManualClock()
    with _clock.use(clock):
        token = _handed.ExpiringToken(Secret("handed"), clock.time() + 10, "KASKADA_TOKEN")
        _handed.check(token)
        clock.advance(10)
        with pytest.raises(AuthenticationError, match="expired at"):
            _handed.check(token)


def test_symlinked_lock_is_refused_and_the_fetch_still_works(tmp_path: Path) -> None:
    entry = _token_cache.Entry("s" * 64, profile=None, lock_timeout=1)
    entry.folder.mkdir(mode=0o700)
    target = tmp_path / "elsewhere"
    (entry.folder / ("s" * 64 + ".lock")).symlink_to(target)
    with entry.locked() as held:
        assert held is False
    calls: list[int] = []

    def exchange() -> Token:
        calls.append(1)
        return _token("fresh")

    assert entry.fetch(exchange, None).access_token.reveal() == "fresh"
    assert entry.fetch(exchange, None).access_token.reveal() == "fresh"
    assert calls == [1] and not target.exists()


def test_rejected_token_is_never_returned() -> None:
    entry = _token_cache.Entry("r" * 64, profile=None, lock_timeout=1)
    entry.write(_token("old"))
    fresh = entry.fetch(lambda: _token("new"), Secret("old"))
    assert fresh.access_token.reveal() == "new"
    assert entry.read() is not None and entry.read().access_token.reveal() == "new"  # type: ignore[union-attr]


def test_other_users_file_mode_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    entry = _token_cache.Entry("m" * 64, profile=None, lock_timeout=1)
    entry.write(_token())
    os.chmod(entry.path, 0o644)
    assert entry.read() is None
    assert "open to others" in caplog.text


def test_expires_at_parsing() -> None:
    from kaskada._errors import ConfigError
    from kaskada.credentials import handed as _handed

    assert _handed.parse_time("1970-01-01T00:01:00Z") == 60
    assert _handed.parse_time("1970-01-01T01:01:00+01:00") == 60
    assert _handed.format_time(60) == "1970-01-01T00:01:00Z"
    for bad in ("", "soon", "2026-01-01T00:00:00"):
        with pytest.raises(ConfigError, match="KASKADA_TOKEN_EXPIRES_AT"):
            _handed.parse_time(bad)
