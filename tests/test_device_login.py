"""Device login end to end: `kaskada login` waits while a real headless Chromium signs in
at the verification page and approves; then `kaskada table list` works with no secret
stored anywhere. Deny and expiry give their one line; the page refuses a post without
its CSRF token; `kaskada logout` revokes the refresh token at the server."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kaskada.server import start_server
from kaskada.server.oauth_store import OAuthStore
from tests.oauth_helpers import (
    PASSWORD,
    LoginProcess,
    base_url,
    decide_over_http,
    device_profile,
    kaskada,
    post,
)

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
BROWSER_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Any]:
    with start_server(db=tmp_path / "server.sqlite3") as running:
        OAuthStore(running.store).add_user("dev", "alice", PASSWORD)
        yield running


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """Debian's headless chromium through chromedriver (installed by .ci/run)."""
    if not (os.path.exists(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        if os.environ.get("KASKADA_REQUIRE_REAL_KEYRING") == "1":  # CI: the browser is there
            pytest.fail("chromium and chromium-driver are not installed (see .ci/run)")
        pytest.skip("chromium and chromium-driver are not installed (apt: chromium "
                    "chromium-driver)")
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in BROWSER_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    driver = webdriver.Chrome(options=options,
                              service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _sign_in_at_the_page(browser: Any, url: str, button: str) -> str:
    """Open ``url``, sign in as alice of dev, press ``button``; the result's text."""
    from selenium.webdriver.common.by import By

    browser.get(url)
    browser.find_element(By.ID, "account").send_keys("dev")
    browser.find_element(By.ID, "username").send_keys("alice")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, button).click()
    # click() does not wait for the page the form posts to: wait for its result.
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        WebDriverWait(browser, 30).until(
            expected_conditions.presence_of_element_located((By.ID, "result")))
    except TimeoutException:
        raise AssertionError(f"no result on the page: {browser.page_source[:2000]}") from None
    return str(browser.find_element(By.ID, "result").text)


def test_device_login_through_a_real_browser_then_table_list_without_a_secret(
    server: Any, browser: Any, real_keyring: str, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    device_profile(server)
    login = LoginProcess()
    try:
        assert login.block[0].startswith("To sign in profile 'me', open  http://")
        assert "enter the code" in login.block[1]
        browser.get(login.complete_url)
        # The complete address filled the code in; the person signs in and approves.
        code = login.block[1].split()[-1]
        assert browser.find_element(By.ID, "user_code").get_attribute("value") == code
        assert "Approved" in _sign_in_at_the_page(browser, login.complete_url, "approve")
        status, _out, err = login.finish()
    finally:
        login.kill()
    assert status == 0, err
    assert "signed in" in err
    listed = kaskada("table", "list")
    assert listed.returncode == 0, listed.stderr
    # No client secret exists: the profile's keyring entry holds the refresh token only.
    import keyring

    from kaskada.credentials import keyring as _keyring

    stored = keyring.get_password(real_keyring, "me")
    assert stored is not None
    assert _keyring.decode_entry(stored).binding is not None
    assert "client_secret" not in (tmp_path / "kaskada-config" / "config.toml").read_text()
    who = kaskada("whoami")
    assert re.search(r"\n  auth +device  \[refresh token in the keyring \(profile 'me'\)\]",
                     who.stdout), who.stdout


def test_denied_in_the_browser_is_one_line(server: Any, browser: Any, real_keyring: str) -> None:
    device_profile(server)
    login = LoginProcess()
    try:
        assert "Denied" in _sign_in_at_the_page(browser, login.complete_url, "deny")
        status, _, err = login.finish()
    finally:
        login.kill()
    assert status == 4
    assert err.strip().splitlines()[-1] == (
        "kaskada: error: the sign-in was denied at the verification page: nothing was stored")


def test_page_headers_and_escaping(server: Any) -> None:
    import urllib.request

    url = base_url(server) + "/device?user_code=%22%3E%3Cscript%3Ealert(1)%3C/script%3E"
    with urllib.request.urlopen(url, timeout=10) as answer:
        page = answer.read().decode()
        headers = answer.headers
    assert headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "SameSite=Strict" in headers["Set-Cookie"]
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_page_refuses_a_post_without_its_csrf_token(server: Any) -> None:
    status, _body = post(base_url(server) + "/device/x", {})  # unknown path: 404
    assert status == 404
    answer = post(base_url(server) + "/oauth/device_authorization", {"client_id": "kaskada-cli"})
    import json

    code = json.loads(answer[1])["user_code"]
    status, page = post(base_url(server) + "/device", {
        "user_code": code, "account": "dev", "username": "alice", "password": PASSWORD,
        "action": "approve"})
    assert status == 403
    assert "CSRF" in page
    assert OAuthStore(server.store).pending_device(code) is not None  # still not approved


def test_wrong_password_is_refused_and_code_stays_pending(server: Any) -> None:
    import json

    answer = json.loads(post(base_url(server) + "/oauth/device_authorization",
                             {"client_id": "kaskada-cli"})[1])
    status, page = decide_over_http(answer["verification_uri_complete"], approve=True,
                                    password="wrong password")
    assert status == 401 and "Wrong account, user name or password" in page
    assert OAuthStore(server.store).pending_device(answer["user_code"]) is not None


def test_expired_code_is_one_line(server: Any, real_keyring: str, tmp_path: Path) -> None:
    device_profile(server)
    login = LoginProcess()
    try:
        with server.store._write() as connection:  # the code's ten minutes pass
            connection.execute("UPDATE device_codes SET expires = 0")
        status, _, err = login.finish()
    finally:
        login.kill()
    assert status == 4
    assert err.strip().splitlines()[-1] == (
        "kaskada: error: the code expired before it was approved: run `kaskada login` again")


def test_logout_revokes_the_refresh_token_at_the_server(server: Any, real_keyring: str) -> None:
    device_profile(server)
    login = LoginProcess()
    try:
        assert decide_over_http(login.complete_url, approve=True)[0] == 200
        assert login.finish()[0] == 0
    finally:
        login.kill()
    import keyring

    from kaskada.credentials import keyring as _keyring

    refresh = _keyring.decode_entry(keyring.get_password(real_keyring, "me") or "").secret
    out = kaskada("logout", "--profile", "me")
    assert out.returncode == 0 and "revoked and deleted" in out.stderr
    assert keyring.get_password(real_keyring, "me") is None
    status, body = post(server.token_url, {"grant_type": "refresh_token",
                                           "client_id": "kaskada-cli",
                                           "refresh_token": refresh.reveal()})
    assert status == 400 and "invalid_grant" in body
    after = kaskada("table", "list")
    assert after.returncode == 4 and "kaskada login --profile me" in after.stderr


def test_ctrl_c_stops_login_cleanly(server: Any, real_keyring: str) -> None:
    import signal

    device_profile(server)
    login = LoginProcess()
    try:
        login.process.send_signal(signal.SIGINT)
        status, _, err = login.finish()
    finally:
        login.kill()
    assert status == 130
    assert "Traceback" not in err


def test_notebook_login_shows_a_link_and_polls_without_freezing_the_kernel(
    server: Any, real_keyring: str, ipython_shell: Any
) -> None:
    device_profile(server)
    ipython_shell.run_line_magic("load_ext", "fenlmagic")
    handle = ipython_shell.run_line_magic("fenl_login", "--profile me")
    link = handle._repr_html_()
    complete = handle.pending.verification_uri_complete
    assert f'<a href="{complete}"' in link and handle.pending.user_code in link
    assert not handle.done()
    assert ipython_shell.run_cell("41 + 1").result == 42  # the kernel answers meanwhile
    assert decide_over_http(complete, approve=True)[0] == 200
    assert handle.wait(60)
    import kaskada as kda
    from kaskada import table

    assert dict(table.list_tables(session=kda.session(profile="me"))) == {}


def test_kda_login_cancel_stops_polling(server: Any, real_keyring: str) -> None:
    import kaskada as kda
    from kaskada.credentials.login import LoginCancelled

    device_profile(server)
    handle = kda.login(profile="me")
    handle.cancel()
    assert handle.done()
    with pytest.raises(LoginCancelled):
        handle.wait(0)
