"""Helpers for the device-login and federation tests: a server with a user, a device
profile pointing at it, the verification page driven over plain HTTP, and `kaskada
login` as a child process whose first lines (the address block) are read as they come."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

PASSWORD = "correct horse battery"
CANARY_MARK = "CANARY"


def write_profile(name: str, fields: dict[str, Any], *, default: bool = True) -> Path:
    """A profiles file with one profile (written 0600 in a 0700 folder)."""
    folder = Path(os.environ["KASKADA_CONFIG_DIR"])
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    lines = [f'default_profile = "{name}"'] if default else []
    lines.append(f"[profiles.{name}]")
    lines += [f"{key} = {json.dumps(value)}" for key, value in fields.items()]
    path = folder / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def device_profile(server: Any, name: str = "me") -> Path:
    return write_profile(name, {
        "auth": "device", "client_id": "kaskada-cli", "endpoint": server.endpoint,
        "exchange_endpoint": server.token_url})


def base_url(server: Any) -> str:
    return str(server.token_url).rsplit("/oauth/", 1)[0]


def post(url: str, form: dict[str, str], opener: Any = None) -> tuple[int, str]:
    opener = opener or urllib.request.build_opener()
    request = urllib.request.Request(url, urllib.parse.urlencode(form).encode(), {
        "Content-Type": "application/x-www-form-urlencoded"})
    try:
        with opener.open(request, timeout=10) as answer:
            return int(answer.status), answer.read().decode()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode()


def decide_over_http(complete_url: str, *, approve: bool, account: str = "dev",
                     user: str = "alice", password: str = PASSWORD) -> tuple[int, str]:
    """Open the page (cookie and CSRF token), then approve or deny."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(complete_url, timeout=10) as answer:
        page = answer.read().decode()
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    code = re.search(r'name="user_code" value="([^"]*)"', page)
    assert found and code
    return post(complete_url.split("?")[0], {
        "csrf_token": found.group(1), "user_code": code.group(1), "account": account,
        "username": user, "password": password,
        "action": "approve" if approve else "deny"}, opener)


def device_tokens(server: Any, user: str = "alice") -> dict[str, Any]:
    """A device login of ``user`` approved at the page: the token endpoint's answer."""
    answer = json.loads(post(base_url(server) + "/oauth/device_authorization",
                             {"client_id": "kaskada-cli"})[1])
    assert decide_over_http(answer["verification_uri_complete"], approve=True,
                            user=user)[0] == 200
    status, body = post(server.token_url, {
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
        "client_id": "kaskada-cli", "device_code": answer["device_code"]})
    assert status == 200, body
    tokens: dict[str, Any] = json.loads(body)
    return tokens


def refresh(server: Any, token: str) -> tuple[int, dict[str, Any]]:
    """The refresh grant of public client kaskada-cli: (status, JSON answer)."""
    status, body = post(server.token_url, {"grant_type": "refresh_token",
                                           "client_id": "kaskada-cli", "refresh_token": token})
    return status, json.loads(body)


class LoginProcess:
    """`kaskada login` in a child; ``block`` holds the three lines it printed first."""

    def __init__(self, profile: str = "me", env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kaskada", "login", "--profile", profile],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=env or dict(os.environ))
        assert self.process.stdout is not None
        self.block = [self.process.stdout.readline() for _ in range(3)]
        match = re.search(r"\(or open (\S+)\)", self.block[2])
        assert match, self.block
        self.complete_url = match.group(1)

    def finish(self, timeout: float = 60) -> tuple[int, str, str]:
        out, err = self.process.communicate(timeout=timeout)
        return self.process.returncode, "".join(self.block) + out, err

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


def approved_login(profile: str = "me") -> str:
    """`kaskada login` for ``profile``, approved at the verification page; its stderr."""
    login = LoginProcess(profile)
    try:
        assert decide_over_http(login.complete_url, approve=True)[0] == 200
        status, _, err = login.finish()
        assert status == 0, err
    finally:
        login.kill()
    return err


def kaskada(*args: str, env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kaskada", *args], capture_output=True,
                          text=True, env=env or dict(os.environ), timeout=timeout)
