"""session.delegate(): a current token handed to other processes, never the secret.

Workers in a ProcessPoolExecutor (spawn and fork) and on a real Dask
LocalCluster of two worker processes list the delegating account's tables; the
pickled bytes hold neither the secret nor the keyring service; an expired
delegation fails with an error that says when and what to do.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import pickle
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest

import kaskada as kda
from kaskada import _clock, _reset, table
from kaskada._errors import AuthenticationError, DelegationExpiredError
from kaskada.aio import table as atable
from kaskada.credentials import access_token as _access_token
from kaskada.credentials import delegate as _delegate
from kaskada.credentials import tokens as _token
from tests.helpers import Account
from tests.token_fakes import ManualClock


def list_as(delegated: Any) -> list[str]:
    """Run in a worker: the tables the delegated session sees, by session= and by with."""
    by_argument = sorted(table.list_tables(session=delegated))
    with delegated:
        assert sorted(table.list_tables()) == by_argument
    return by_argument


def failure_in_worker(delegated: Any) -> tuple[str, str]:
    try:
        table.list_tables(session=delegated)
    except Exception as error:
        return type(error).__name__, str(error)
    return "none", ""


def delegated_session(token: Any, expires_at: float, **fields: Any) -> kda.DelegatedSession:
    """A delegated session made by hand (e.g. one that has already expired)."""
    return kda.DelegatedSession(_delegate.settings_for(token, **fields), expires_at)


def delegated_from_profile(local_server: Any, label: str) -> tuple[Account, kda.Session]:
    who = Account(local_server, label)
    table.create_table(f"{label}_extra", "time", "key", session=who.session())
    who.save_profile(label)
    _reset.reset_all()
    return who, kda.session(profile=label)


def test_pickled_delegation_holds_no_secret_and_no_keyring_entry(
    local_server: Any, real_keyring: str
) -> None:
    who, parent = delegated_from_profile(local_server, "pick")
    delegated = parent.delegate()
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        data = pickle.dumps(delegated, protocol=protocol)
        assert who.secret.encode() not in data
        assert real_keyring.encode() not in data  # the keyring service of the profile
        assert b"client_secret" not in data
        copy = pickle.loads(data)
        assert sorted(table.list_tables(session=copy)) == sorted(
            [who.marker, "pick_extra"]
        )
    assert "Secret" not in repr(delegated) and who.secret not in repr(delegated)
    token = delegated.settings.token.value
    assert token is not None and token.reveal() not in repr(delegated)
    assert delegated.client_id == who.client_id and delegated.profile == "pick"


def test_a_full_session_still_refuses_pickling_and_points_to_delegate(
    local_server: Any,
) -> None:
    who = Account(local_server, "full")
    with pytest.raises(TypeError, match=r"delegate\(\)") as caught:
        pickle.dumps(who.session())
    assert who.secret not in str(caught.value)


@pytest.mark.parametrize(
    "method",
    [
        "spawn",
        # forkserver, not fork: a pool forked from this threaded process (grpc's
        # threads) may deadlock, as Python 3.12+ warns; tests/test_transport.py
        # forks such a process on purpose, where that is what it checks.
        pytest.param(
            "forkserver",
            marks=pytest.mark.skipif(
                "forkserver" not in multiprocessing.get_all_start_methods(),
                reason="no forkserver",
            ),
        ),
    ],
)
def test_process_pool_workers_call_as_the_delegating_account(
    local_server: Any, real_keyring: str, method: str
) -> None:
    who, parent = delegated_from_profile(local_server, f"pool_{method}")
    table.list_tables(session=parent)  # a live channel and token in the parent at fork time
    delegated = parent.delegate(min_lifetime=60)
    context = multiprocessing.get_context(method)
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        answers = list(pool.map(list_as, [delegated] * 4))
    assert answers == [sorted([who.marker, f"pool_{method}_extra"])] * 4


def test_dask_local_cluster_workers_call_as_the_delegating_account(
    local_server: Any, real_keyring: str
) -> None:
    distributed = pytest.importorskip("distributed")
    who, parent = delegated_from_profile(local_server, "dask")
    delegated = parent.delegate(min_lifetime=60)
    with distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        futures = client.map(list_as, [delegated] * 6, pure=False)
        answers = client.gather(futures)
        pids = client.run(os.getpid)
        expired = delegated_session(
            delegated.settings.token.value,  # type: ignore[arg-type]
            time.time() - 5,
            endpoint=local_server.endpoint,
            is_secure=False,
            ca_bundle=None,
            timeout=10.0,
            allow_insecure=False,
            client_id=who.client_id,
            profile="dask",
        )
        failed = client.submit(failure_in_worker, expired, pure=False).result()
    assert answers == [sorted([who.marker, "dask_extra"])] * 6
    assert len(set(pids.values()) | {os.getpid()}) == 3  # two worker processes
    assert failed[0] == "DelegationExpiredError"
    assert who.client_id in failed[1] and "'dask'" in failed[1] and "UTC" in failed[1]


def test_an_expired_delegation_says_when_from_whom_and_what_to_do(
    local_server: Any,
) -> None:
    who = Account(local_server, "expired")
    live = who.session().delegate()
    token = live.settings.token.value
    assert token is not None
    expired = delegated_session(
        token, time.time() - 3, endpoint=local_server.endpoint, is_secure=False,
        ca_bundle=None, timeout=10.0, allow_insecure=False,
        client_id=who.client_id, profile="prod",
    )  # fmt: skip
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        name, message = pool.submit(failure_in_worker, expired).result()
    assert name == "DelegationExpiredError"
    assert "expired at" in message and "UTC" in message
    assert who.client_id in message and "profile 'prod'" in message
    assert "delegate() again" in message
    assert token.reveal() not in message
    with pytest.raises(DelegationExpiredError), expired:
        table.list_tables()
    with pytest.raises(DelegationExpiredError):
        asyncio.run(atable.list_tables(session=expired))
    assert isinstance(DelegationExpiredError("x"), AuthenticationError)


def test_min_lifetime_refreshes_a_short_lived_cached_token(
    local_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    who = Account(local_server, "minlife")
    parent = who.session()
    table.list_tables(session=parent)
    source = parent.credentials
    assert isinstance(source, _token.ClientSecretCredentials)
    cached = source._token
    assert cached is not None
    # Age the cached token: it now has 5 s left, still valid and not yet due for refresh.
    now = _clock.get().monotonic()
    source._token = _access_token.Token(
        cached.access_token, "Bearer", cached.lifetime, refresh_at=now + 4, expires_at=now + 5
    )
    assert parent.delegate().settings.token.value is cached.access_token
    delegated = parent.delegate(min_lifetime=600)
    assert delegated.settings.token.value != cached.access_token
    assert delegated.expires_at is not None and delegated.expires_at - time.time() > 600


def test_a_delegation_expires_on_the_clock_without_asking_the_server(local_server: Any) -> None:
    """Expiry is decided by the clock: one tick before it calls work, at it they fail."""
    who = Account(local_server, "ticking")
    clock = ManualClock()
    with _clock.use(clock):
        delegated = who.session().delegate()
        assert delegated.expires_at is not None
        left = delegated.expires_at - clock.time()
        assert left > 600  # the server's tokens live an hour
        clock.advance(left - 1)
        assert sorted(table.list_tables(session=delegated)) == [who.marker]
        assert delegated.delegate(min_lifetime=0.5) is delegated
        with pytest.raises(DelegationExpiredError, match="sooner than min_lifetime"):
            delegated.delegate(min_lifetime=2)
        clock.advance(1)
        with pytest.raises(DelegationExpiredError, match="expired at"):
            table.list_tables(session=delegated)
        with pytest.raises(DelegationExpiredError, match="expired at"):
            asyncio.run(atable.list_tables(session=delegated))
    assert sorted(table.list_tables(session=delegated)) == [who.marker]


def test_min_lifetime_longer_than_the_servers_tokens_is_a_clear_error(
    start_server: Any,
) -> None:
    server = start_server(token_ttl=30)
    who = Account(server, "shortttl")
    with pytest.raises(AuthenticationError, match=r"live 30 s, less than min_lifetime=600"):
        who.session().delegate(min_lifetime=600)
    assert who.session().delegate(min_lifetime=20).expires_at is not None
    with pytest.raises(ValueError, match="min_lifetime"):
        who.session().delegate(min_lifetime=-1)


def test_a_delegated_session_works_in_async_with_and_delegates_itself(
    local_server: Any,
) -> None:
    who = Account(local_server, "adeleg")
    delegated = who.session().delegate()

    async def main() -> list[str]:
        async with delegated:
            return sorted(await atable.list_tables())

    assert asyncio.run(main()) == [who.marker]
    assert delegated.delegate(min_lifetime=60) is delegated
    with pytest.raises(DelegationExpiredError, match="sooner than min_lifetime"):
        delegated.delegate(min_lifetime=10**7)


def test_a_token_the_server_no_longer_accepts_says_it_cannot_refresh(
    local_server: Any,
) -> None:
    who = Account(local_server, "revoked")
    delegated = who.session().delegate()
    local_server.revoke_client(who.client_id)
    with pytest.raises(AuthenticationError, match=r"delegate\(\) again") as caught:
        table.list_tables(session=delegated)
    assert who.client_id in str(caught.value)


