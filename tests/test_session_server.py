"""Sessions against the real local server: every call made with the right account.

Each account owns one marker table named after it, so ``list_tables()`` tells
which account a call ran as. Profiles keep their secrets in the real Secret
Service (``real_keyring``). Token exchanges are counted where they happen: in
the server's own store (its ``tokens`` table), with nothing in the client
patched. Refresh times are decided by a clock the test moves (``_clock.use``).
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import kaskada as kda
from kaskada import _clock, _reset, table
from kaskada._errors import AuthenticationError, KaskadaError, UnavailableError
from tests.helpers import Account, issued
from tests.token_fakes import ManualClock


def seen(session: kda.Session | None = None) -> set[str]:
    return set(table.list_tables(session=session))


@pytest.fixture
def account(local_server: Any) -> Iterator[Any]:
    yield lambda label: Account(local_server, label)


# --- the precedence matrix --------------------------------------------------------


def test_precedence_matrix_by_account_seen(
    account: Any, real_keyring: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    explicit, scoped, init_profile, env_profile, env_creds, default = (
        account(label) for label in ("explicit", "scoped", "init", "envprof", "envcreds", "dflt")
    )
    default.save_profile("pf", default=True)
    env_profile.save_profile("pd")
    init_profile.save_profile("pc")

    def fresh() -> None:  # a new process, as far as kaskada's caches go
        _reset.reset_all()

    # 5. the default profile alone
    fresh()
    assert default.marker in seen()
    assert kda.explain().source("profile").startswith("default_profile")
    # 4b. environment credentials beat the default profile
    env_creds.set_env(monkeypatch)
    fresh()
    assert seen() == {env_creds.marker}
    # 4a. KASKADA_PROFILE beats environment credentials (with a warning)
    monkeypatch.setenv("KASKADA_PROFILE", "pd")
    fresh()
    with pytest.warns(UserWarning, match="KASKADA_PROFILE"):
        assert seen() == {env_profile.marker}
    # 3. init(profile=...) beats the environment
    kda.init(profile="pc")
    assert seen() == {init_profile.marker}
    # 2. the innermost session beats init
    with scoped.session():
        assert seen() == {scoped.marker}
        # 1. session= beats everything
        assert seen(explicit.session()) == {explicit.marker}
        assert seen() == {scoped.marker}
    assert seen() == {init_profile.marker}


def test_pairs_are_never_mixed(
    account: Any, real_keyring: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    prof, env = account("prof"), account("env")
    prof.save_profile("p")
    # KASKADA_PROFILE with environment endpoints pointing elsewhere: the profile's own are used
    monkeypatch.setenv("KASKADA_PROFILE", "p")
    monkeypatch.setenv("KASKADA_API_ENDPOINT", "127.0.0.1:9")
    monkeypatch.setenv("KASKADA_AUTH_ENDPOINT", "http://127.0.0.1:9/oauth/token")
    assert seen(kda.session()) == {prof.marker}
    # environment credentials without endpoints never borrow the profile's server
    monkeypatch.delenv("KASKADA_PROFILE")
    monkeypatch.delenv("KASKADA_API_ENDPOINT")
    monkeypatch.delenv("KASKADA_AUTH_ENDPOINT")
    monkeypatch.setenv("KASKADA_CLIENT_ID", env.client_id)
    monkeypatch.setenv("KASKADA_CLIENT_SECRET", env.secret)
    prof.save_profile("d", default=True)
    made = kda.session(timeout=2)
    assert made.endpoint == "localhost:50051"
    with pytest.raises(KaskadaError) as caught:
        seen(made)
    assert "localhost:5005" in str(caught.value)
    assert env.secret not in str(caught.value)


# --- concurrency --------------------------------------------------------------------


def test_threads_each_see_their_own_account(account: Any) -> None:
    accounts = [account(f"thread{i}") for i in range(8)]
    wrong: list[str] = []
    done = [0] * len(accounts)

    def work(index: int) -> None:
        mine = accounts[index]
        with mine.session():
            for _ in range(200):
                found = seen()
                if found != {mine.marker}:
                    wrong.append(f"{mine.name} saw {sorted(found)}")
                done[index] += 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(accounts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
    assert done == [200] * len(accounts)


def test_asyncio_tasks_each_see_their_own_account(account: Any) -> None:
    accounts = [account(f"task{i}") for i in range(50)]
    wrong: list[str] = []
    calls = 0

    async def work(mine: Account) -> None:
        nonlocal calls
        with mine.session():
            for _ in range(200):
                found = seen()
                if found != {mine.marker}:
                    wrong.append(f"{mine.name} saw {sorted(found)}")
                calls += 1
                await asyncio.sleep(0)  # let the other tasks interleave

    async def main() -> None:
        await asyncio.gather(*(work(mine) for mine in accounts))

    asyncio.run(main())
    assert wrong == []
    assert calls == 50 * 200


def test_session_argument_carries_into_a_thread_pool(account: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    first, second = account("poolA"), account("poolB")
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(seen, [first.session(), second.session()] * 10))
    assert results == [{first.marker}, {second.marker}] * 10


def test_nesting_and_exceptions_restore_the_outer_settings(account: Any) -> None:
    outer, inner, global_ = account("outer"), account("inner"), account("global")
    kda.init(**global_.kwargs())
    with outer.session():
        with pytest.raises(ZeroDivisionError), inner.session():
            assert seen() == {inner.marker}
            _ = 1 / 0
        assert seen() == {outer.marker}
        with inner.session(), outer.session():
            assert seen() == {outer.marker}
        assert seen() == {outer.marker}
    assert seen() == {global_.marker}


def test_profile_added_while_running_is_usable(account: Any, real_keyring: str) -> None:
    first = account("first")
    first.save_profile("first", default=True)
    kda.init()
    assert seen() == {first.marker}
    late = account("late")
    late.save_profile("late")  # the file changes under the running process
    with kda.session(profile="late"):
        assert seen() == {late.marker}
    assert seen() == {first.marker}


# --- tokens ---------------------------------------------------------------------------


def test_short_lived_tokens_refresh_single_flight(start_server: Any) -> None:
    """16 threads call in rounds; the test moves the clock between rounds.

    Every round past the refresh point costs the server exactly one token: none
    would mean no refresh happened, more that threads refreshed together.
    """
    server = start_server(token_ttl=60)  # due after 30 s; the server honours it 60 real s
    user = Account(server, "ttl")
    before = issued(server, user.client_id)
    _reset.reset_all()
    failures: list[str] = []

    def round_of_calls(session: kda.Session) -> None:
        start = threading.Barrier(16)

        def work() -> None:
            start.wait(30)
            for _ in range(5):
                try:
                    if seen(session) != {user.marker}:
                        failures.append("wrong account")
                except KaskadaError as error:
                    failures.append(str(error))

        threads = [threading.Thread(target=work) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    clock = ManualClock()  # years past the disk entry Account() left: that one is expired
    with _clock.use(clock):
        session = user.session()
        round_of_calls(session)
        assert issued(server, user.client_id) - before == 1
        clock.advance(20)  # not yet due
        round_of_calls(session)
        assert issued(server, user.client_id) - before == 1
        for rounds in range(1, 4):
            clock.advance(35)  # due, still valid: one thread refreshes, the rest go on
            round_of_calls(session)
            assert issued(server, user.client_id) - before == 1 + rounds
        clock.advance(300)  # expired: every thread waits for the one refresh
        round_of_calls(session)
        assert issued(server, user.client_id) - before == 5
    assert failures == []


def test_revoked_client_gets_an_authentication_error(local_server: Any) -> None:
    user = Account(local_server, "revoked")
    session = user.session()
    assert seen(session) == {user.marker}
    local_server.revoke_client(user.client_id)
    with pytest.raises(AuthenticationError) as caught:
        seen(session)
    assert user.secret not in str(caught.value)
    assert user.client_id in str(caught.value) or local_server.token_url in str(caught.value)


def test_stopped_server_is_a_clear_error_within_the_deadline(start_server: Any) -> None:
    server = start_server()
    user = Account(server, "stopped")
    session = user.session(timeout=3)
    assert seen(session) == {user.marker}
    server.stop()
    # No wall-clock assertion (the machine is shared): retries are bounded by the
    # deadline in _transport.call, and a server that never answers ends with
    # DEADLINE_EXCEEDED (test_transport.py).
    with pytest.raises(UnavailableError) as caught:
        seen(session)
    assert server.endpoint in str(caught.value)
    assert "could not be reached" in str(caught.value)
    assert caught.value.code in ("UNAVAILABLE", "DEADLINE_EXCEEDED")


# --- the notebook snippet -------------------------------------------------------------


@pytest.fixture
def shell(ipython_shell: Any) -> Any:
    """The shared IPython shell (conftest), which also puts the real __main__ back."""
    return ipython_shell


def test_notebook_snippet_shows_empty_dict(
    local_server: Any,
    shell: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client_id, secret = local_server.add_client(f"fresh_{uuid.uuid4().hex[:8]}")
    for name in (
        "KASKADA_CLIENT_ID",
        "KASKADA_CLIENT_SECRET",
        "KASKADA_API_ENDPOINT",
        "KASKADA_AUTH_ENDPOINT",
        "KASKADA_IS_SECURE",
    ):
        monkeypatch.setenv(name, "placeholder")  # so monkeypatch restores what the cell sets
    monkeypatch.setattr("getpass.getpass", lambda prompt="": secret)
    cell = f"""
import os
from getpass import getpass
import kaskada as kda
from kaskada import table
os.environ["KASKADA_CLIENT_ID"] = "{client_id}"
os.environ["KASKADA_CLIENT_SECRET"] = getpass("Enter your Kaskada Client Secret here: ")
os.environ["KASKADA_API_ENDPOINT"] = "{local_server.endpoint}"
os.environ["KASKADA_AUTH_ENDPOINT"] = "{local_server.token_url}"
os.environ["KASKADA_IS_SECURE"] = "false"
kda.init()
table.list_tables()
"""
    result = shell.run_cell(cell)
    result.raise_error()
    assert result.result == {}
    output = capsys.readouterr().out
    assert "{}" in output.splitlines()[-1]
    assert secret not in output
    assert os.environ["KASKADA_CLIENT_ID"] == client_id


# --- reuse, logging and error details ---------------------------------------------------


def test_a_session_for_settings_already_seen_reuses_channel_and_token(
    account: Any, real_keyring: str
) -> None:
    from kaskada.transport import sync as _transport

    user, other = account("reuse"), account("other")
    user.save_profile("reuse")
    before = issued(user.server, user.client_id)
    _reset.reset_all()
    first = kda.session(profile="reuse")
    with first:
        assert seen() == {user.marker}
    second = kda.session(profile="reuse")
    assert second is first  # the same resolved settings: the same Session
    with second:
        assert seen() == {user.marker}
    other.save_profile("other")  # the file changes: the profile is resolved again
    third = kda.session(profile="reuse")
    assert third.settings is not first.settings
    with third:
        assert seen() == {user.marker}
    assert third.credentials is first.credentials
    assert issued(user.server, user.client_id) - before == 1  # one exchange for the three
    assert _transport.POOL.keys() == [first.channel_key()]


def test_debug_log_shows_resolution_and_calls_never_a_secret_or_token(
    account: Any, real_keyring: str, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    user = account("logged")
    user.save_profile("logged")
    _reset.reset_all()
    with caplog.at_level(logging.DEBUG, logger="kaskada"):
        made = kda.session(profile="logged")
        assert seen(made) == {user.marker}
        table.create_table("logged_t", "time", "key", session=made)
        with pytest.raises(kda.NotFoundError):
            table.get_table("missing", session=made)
    token = made.access_token().reveal()
    text = caplog.text
    assert "resolved profile 'logged'" in text and user.client_id in text
    assert "token exchange at " + user.server.token_url in text
    assert "ListTables" in text and "CreateTable" in text and "GetTable" in text
    assert user.secret not in text and token not in text
    for record in caplog.records:  # also the arguments a handler with another format would show
        assert user.secret not in repr(record.args) and token not in repr(record.args)


def test_real_server_errors_carry_unpacked_details(account: Any) -> None:
    user = account("details")
    made = user.session()
    with pytest.raises(kda.NotFoundError) as missing:
        table.get_table("nope", session=made)
    assert missing.value.code == "NOT_FOUND"
    assert any(detail.startswith("ResourceInfo") for detail in missing.value.details)
    with pytest.raises(kda.InvalidArgumentError) as invalid:
        table.create_table("bad", "", "key", session=made)
    assert invalid.value.code == "INVALID_ARGUMENT"
    assert "bad request: table.time_column_name" in str(invalid.value)
    assert invalid.value.details and invalid.value.details[0].startswith("bad request:")
