"""fenlmagic in a real IPython InteractiveShell against the real local server.

The shell is IPython's own (the singleton, as `%load_ext` in a terminal would
use), with its profile folder and history in a temporary place, so nothing
touches the user's ~/.ipython. Credentials come from a real server's
``add_client``; the secret is the canary that must appear in no output.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import SHELL_CANARY as CANARY
from tests.helpers import Account, assert_no_secret, visible_tables
from tests.helpers import run_cell as run


@pytest.fixture
def ip(ipython_shell: Any) -> Any:
    """The shared shell (tests/conftest.py): fenlmagic unloaded, a fresh namespace."""
    return ipython_shell


@pytest.fixture
def alice(local_server: Any) -> Account:
    account = Account(local_server, "alice", mark=False)
    account.make_table("alice_table", entity="entity")
    return account


@pytest.fixture
def bob(local_server: Any) -> Account:
    account = Account(local_server, "bob", mark=False)
    account.make_table("bob_table", entity="entity")
    return account


# -- loading ---------------------------------------------------------------------------


def test_load_without_credentials_says_how_to_authenticate(
    ip: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    result, out = run(ip, "%load_ext fenlmagic", capsys)
    assert result.success
    assert "no Kaskada credentials found" in out
    assert "%fenl_auth --profile NAME" in out and "%fenl_auth <client-id>" in out
    assert {"fenl_auth", "fenl_whoami"} <= set(ip.magics_manager.magics["line"])
    assert "fenl_session" in ip.magics_manager.magics["cell"]


def test_load_with_environment_credentials_initialises_the_client(
    ip: Any, alice: Account, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    alice.set_env(monkeypatch)
    result, out = run(ip, "%load_ext fenlmagic", capsys)
    assert result.success
    assert f"initialised as client id {alice.client_id}" in out
    assert_no_secret(out, alice.secret)
    assert visible_tables(ip) == ["alice_table"]


def test_load_with_a_broken_setting_still_loads_and_names_the_problem(
    ip: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KASKADA_PROFILE", "nonesuch")
    result, out = run(ip, "%load_ext fenlmagic", capsys)
    assert result.success
    assert "ProfileNotFoundError" in out and "nonesuch" in out
    assert "%fenl_auth" in out
    assert "Traceback" not in out


def test_unload_removes_the_magics_and_the_error_handler(
    ip: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    run(ip, "%load_ext fenlmagic", capsys)
    run(ip, "%unload_ext fenlmagic", capsys)
    assert "fenl_auth" not in ip.magics_manager.magics["line"]
    assert "fenl_session" not in ip.magics_manager.magics["cell"]
    assert ip.custom_exceptions == ()


# -- %fenl_auth ------------------------------------------------------------------------


def test_auth_prompt_form_reads_the_secret_with_getpass(
    ip: Any, alice: Account, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts: list[str] = []

    def fake_getpass(prompt: str = "Password: ") -> str:
        prompts.append(prompt)
        return alice.secret

    monkeypatch.setattr("getpass.getpass", fake_getpass)
    run(ip, "%load_ext fenlmagic", capsys)
    result, out = run(ip, f"%fenl_auth {alice.client_id} {alice.options}", capsys)
    assert result.success, out
    assert prompts == ["Client secret: "]  # the id typed may be a misplaced secret: not shown
    assert f"Authenticated as client id {alice.client_id} at {alice.endpoint}" in out
    assert "(1 table visible)" in out
    assert "history" not in out  # no warning: nothing secret was typed on the line
    assert_no_secret(out, alice.secret)
    assert visible_tables(ip) == ["alice_table"]


def test_auth_with_secret_on_the_line_warns_once_about_history(
    ip: Any, alice: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    run(ip, "%load_ext fenlmagic", capsys)
    line = f"%fenl_auth {alice.client_id} {alice.secret} {alice.options}"
    first, out1 = run(ip, line, capsys)
    second, out2 = run(ip, line, capsys)
    assert first.success and second.success
    assert "input history" in out1 and "%fenl_auth <client-id>" in out1
    assert "input history" not in out2
    assert_no_secret(out1 + out2, alice.secret)
    assert visible_tables(ip) == ["alice_table"]


def test_auth_failure_is_one_line_and_keeps_the_previous_session(
    ip: Any,
    alice: Account,
    bob: Account,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from kaskada import AuthenticationError

    alice.set_env(monkeypatch)
    run(ip, "%load_ext fenlmagic", capsys)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": CANARY)
    result, out = run(ip, f"%fenl_auth {bob.client_id} {bob.options}", capsys)
    assert isinstance(result.error_in_exec, AuthenticationError)
    error_lines = [line for line in out.splitlines() if "Error" in line]
    assert len(error_lines) == 1 and error_lines[0].startswith("AuthenticationError: ")
    assert "Traceback" not in out
    assert_no_secret(out, alice.secret, bob.secret)
    assert visible_tables(ip) == ["alice_table"]  # still alice: bob never activated


def test_auth_with_an_empty_prompt_answer_names_the_fix(
    ip: Any, alice: Account, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run(ip, "%load_ext fenlmagic", capsys)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "")
    result, out = run(ip, f"%fenl_auth {alice.client_id} {alice.options}", capsys)
    assert result.error_in_exec is not None
    expected = "no client secret was entered; run %fenl_auth CLIENT_ID again"
    assert f"IncompleteCredentialsError: {expected}" in out
    assert "Traceback" not in out


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("%fenl_auth --bogus", "unrecognized arguments: --bogus"),
        ("%fenl_auth someid --profile p", "not both"),
        ("%fenl_auth --timeout soon", "invalid float value"),
    ],
)
def test_auth_usage_errors_are_one_line(
    ip: Any, line: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run(ip, "%load_ext fenlmagic", capsys)
    result, out = run(ip, line, capsys)
    assert not result.success
    assert "UsageError" in out and expected in out
    assert "Traceback" not in out


@pytest.mark.real_keyring
def test_auth_with_a_profile_uses_the_real_keyring(
    ip: Any, real_keyring: str, alice: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    from kaskada import Secret
    from kaskada.config.lifecycle import add_profile

    add_profile("dev", alice.profile_fields(), Secret(alice.secret))
    run(ip, "%load_ext fenlmagic", capsys)
    result, out = run(ip, "%fenl_auth --profile dev", capsys)
    assert result.success, out
    assert f"Authenticated as profile 'dev', client id {alice.client_id}" in out
    assert_no_secret(out, alice.secret)
    assert visible_tables(ip) == ["alice_table"]


@pytest.mark.real_keyring
def test_load_uses_the_default_profile(
    ip: Any, real_keyring: str, alice: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    from kaskada import Secret
    from kaskada.config.lifecycle import add_profile

    add_profile("dev", alice.profile_fields(), Secret(alice.secret), make_default=True)
    result, out = run(ip, "%load_ext fenlmagic", capsys)
    assert result.success
    assert "initialised as profile 'dev'" in out
    assert visible_tables(ip) == ["alice_table"]


# -- %fenl_whoami ----------------------------------------------------------------------


def test_whoami_shows_settings_with_sources_and_checks_them(
    ip: Any, alice: Account, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    alice.set_env(monkeypatch)
    run(ip, "%load_ext fenlmagic", capsys)
    result, out = run(ip, "%fenl_whoami", capsys)
    assert result.success, out
    assert alice.client_id in out and alice.endpoint in out
    assert "KASKADA_CLIENT_ID" in out  # the source of the client id
    assert "Credentials accepted (1 table visible)." in out
    assert_no_secret(out, alice.secret)


def test_whoami_without_credentials_is_one_line(
    ip: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    run(ip, "%load_ext fenlmagic", capsys)
    result, out = run(ip, "%fenl_whoami", capsys)
    assert result.error_in_exec is not None
    assert "NoCredentialsError: " in out and "Traceback" not in out


def test_whoami_html_lists_each_setting(
    ip: Any, alice: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kaskada as kda
    from fenlmagic.display import SettingsView

    alice.set_env(monkeypatch)
    html = SettingsView(kda.explain())._repr_html_()
    assert "<table>" in html
    assert f"<td>{alice.client_id}</td>" in html
    assert alice.secret not in html


# -- %%fenl_session --------------------------------------------------------------------


@pytest.mark.real_keyring
def test_session_cell_runs_as_the_profile_and_restores(
    ip: Any,
    real_keyring: str,
    alice: Account,
    bob: Account,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from kaskada import Secret
    from kaskada.config.lifecycle import add_profile

    add_profile("bob", bob.profile_fields(), Secret(bob.secret))
    alice.set_env(monkeypatch)
    run(ip, "%load_ext fenlmagic", capsys)
    cell = "%%fenl_session bob\nimport kaskada as kda\ninside = sorted(kda.table.list_tables())"
    result, out = run(ip, cell, capsys)
    assert result.success, out
    assert ip.user_ns["inside"] == ["bob_table"]
    assert visible_tables(ip) == ["alice_table"]

    failing = "%%fenl_session bob\nseen = sorted(kda.table.list_tables())\n1 / 0"
    result, out = run(ip, failing, capsys)
    assert not result.success
    assert ip.user_ns["seen"] == ["bob_table"]
    assert "ZeroDivisionError" in out
    assert "%%fenl_session: the cell above failed while running as profile 'bob'" in out
    assert visible_tables(ip) == ["alice_table"]
    assert_no_secret(out, alice.secret, bob.secret)


def test_session_cell_with_an_unknown_profile_is_one_line(
    ip: Any, alice: Account, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    alice.set_env(monkeypatch)
    run(ip, "%load_ext fenlmagic", capsys)
    result, out = run(ip, "%%fenl_session nonesuch\nran = True", capsys)
    assert result.error_in_exec is not None
    assert "ProfileNotFoundError: " in out and "nonesuch" in out
    assert "Traceback" not in out
    assert "ran" not in ip.user_ns
    assert visible_tables(ip) == ["alice_table"]


# -- display ---------------------------------------------------------------------------


def test_api_errors_in_user_code_are_one_line_and_tb_has_the_detail(
    ip: Any, alice: Account, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from kaskada import NotFoundError

    alice.set_env(monkeypatch)
    run(ip, "%load_ext fenlmagic", capsys)
    result, out = run(ip, "import kaskada as kda\nkda.table.get_table('missing_table')", capsys)
    assert isinstance(result.error_in_exec, NotFoundError)
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("NotFoundError: ")
    assert "missing_table" in lines[0]
    _, full = run(ip, "%tb", capsys)
    assert "Traceback" in full and "get_table" in full


def test_table_listing_displays_as_an_html_table(
    ip: Any, alice: Account, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    alice.set_env(monkeypatch)
    run(ip, "%load_ext fenlmagic", capsys)
    ip.run_cell("import kaskada as kda\nlisting = kda.table.list_tables()")
    data, _ = ip.display_formatter.format(ip.user_ns["listing"])
    assert "<table>" in data["text/html"]
    assert "<td>alice_table</td>" in data["text/html"]
    assert "<td>time</td>" in data["text/html"] and "<td>entity</td>" in data["text/html"]
    text = data["text/plain"].splitlines()
    assert text[0].split() == ["table_name", "time_column_name", "entity_key_column_name",
                               "subsort_column_name", "grouping_id", "version", "create_time"]
    assert text[2].split()[:4] == ["alice_table", "time", "entity", "1"]
    other, _ = ip.display_formatter.format({"a": 1})
    assert other == {"text/plain": "{'a': 1}"}  # other dicts keep their usual display
    run(ip, "%unload_ext fenlmagic", capsys)
    data, _ = ip.display_formatter.format(ip.user_ns["listing"])
    assert "text/html" not in data and "table_id:" in data["text/plain"]


# -- import cost -----------------------------------------------------------------------


def test_importing_kaskada_or_fenlmagic_does_not_import_ipython() -> None:
    code = (
        "import sys, kaskada, fenlmagic\n"
        "heavy = {'IPython', 'grpc', 'keyring'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_bare_auth_rereads_the_environment(
    ip: Any, alice: Account, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run(ip, "%load_ext fenlmagic", capsys)  # nothing set yet
    alice.set_env(monkeypatch)
    result, out = run(ip, "%fenl_auth", capsys)
    assert result.success, out
    assert f"Authenticated as client id {alice.client_id}" in out
    assert_no_secret(out, alice.secret)


def test_one_table_displays_as_html(
    ip: Any, alice: Account, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    alice.set_env(monkeypatch)
    run(ip, "%load_ext fenlmagic", capsys)
    ip.run_cell("import kaskada as kda\none = kda.table.get_table('alice_table')")
    data, _ = ip.display_formatter.format(ip.user_ns["one"])
    assert "<caption>1 table</caption>" in data["text/html"]
    assert "<td>alice_table</td>" in data["text/html"]


def test_another_extensions_exception_hook_is_left_alone(
    ip: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    def theirs(shell: Any, etype: Any, value: Any, tb: Any, tb_offset: Any = None) -> list[str]:
        return ["theirs"]

    ip.set_custom_exc((ValueError,), theirs)
    try:
        _, out = run(ip, "%load_ext fenlmagic", capsys)
        assert "another custom exception handler is installed" in out
        assert ip.custom_exceptions == (ValueError,)
        run(ip, "%unload_ext fenlmagic", capsys)
        assert ip.custom_exceptions == (ValueError,)
    finally:
        ip.set_custom_exc((), None)


# -- second pass: KASKADA_PROFILE, options, usage errors that must not echo a secret ---


@pytest.mark.real_keyring
def test_load_uses_kaskada_profile_before_the_default_profile(
    ip: Any,
    real_keyring: str,
    alice: Account,
    bob: Account,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from kaskada import Secret
    from kaskada.config.lifecycle import add_profile

    add_profile("alice", alice.profile_fields(), Secret(alice.secret), make_default=True)
    add_profile("bob", bob.profile_fields(), Secret(bob.secret))
    monkeypatch.setenv("KASKADA_PROFILE", "bob")
    result, out = run(ip, "%load_ext fenlmagic", capsys)
    assert result.success
    assert f"initialised as profile 'bob', client id {bob.client_id}" in out
    assert_no_secret(out, alice.secret, bob.secret)
    assert visible_tables(ip) == ["bob_table"]


def test_auth_options_reach_the_settings_and_whoami_no_check_skips_the_call(
    ip: Any, alice: Account, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("getpass.getpass", lambda prompt="": alice.secret)
    run(ip, "%load_ext fenlmagic", capsys)
    options = f"--audience https://aud.example --timeout 7 {alice.options}"
    line = f"%fenl_auth {alice.client_id} {options}"
    result, out = run(ip, line, capsys)
    assert result.success, out
    result, out = run(ip, "%fenl_whoami --no-check", capsys)
    assert result.success, out
    rows = {row.split()[0]: row.split()[1:] for row in out.splitlines() if row.strip()}
    assert rows["audience"] == ["https://aud.example", "[argument]"]
    assert rows["timeout"] == ["7.0", "[argument]"]
    assert rows["is_secure"] == ["false", "[argument]"]
    assert rows["exchange_endpoint"] == [alice.token_url, "[argument]"]
    assert "Credentials accepted" not in out  # --no-check: no call made
    assert_no_secret(out, alice.secret)


def test_plaintext_off_loopback_is_refused_and_allow_insecure_is_passed_on(
    ip: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from fenlmagic.magics import FenlMagics, _auth_parser
    from kaskada import InsecureConnectionError

    monkeypatch.setattr("getpass.getpass", lambda prompt="": CANARY)
    run(ip, "%load_ext fenlmagic", capsys)
    remote = (  # a reserved name that never resolves; refused before any connection
        "--endpoint kaskada.invalid:50051 "
        "--exchange-endpoint https://kaskada.invalid/oauth/token --plaintext"
    )
    result, out = run(ip, f"%fenl_auth some-id {remote}", capsys)
    assert isinstance(result.error_in_exec, InsecureConnectionError)
    assert "Traceback" not in out and "--allow-insecure" in out
    assert_no_secret(out)
    args = _auth_parser().parse_line(f"some-id {remote} --allow-insecure")
    options = FenlMagics(ip)._auth_options(args)
    assert options["allow_insecure"] is True and options["is_secure"] is False


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # a secret that begins with "-" looks like an option
        (f"%fenl_auth some-id -{CANARY}", "unrecognized arguments: ********"),
        (f"%fenl_auth some-id {CANARY} unexpected", "unrecognized arguments: ********"),
        (f"%fenl_auth some-id {CANARY} --timeout soon", "invalid float value: '********'"),
        # issue 18, finding 9: the secret typed as an option's value
        (f"%fenl_auth some-id --timeout {CANARY}", "invalid float value: '********'"),
        (f"%fenl_auth --profile dev --timeout {CANARY}", "--timeout: invalid float value"),
        (f"%fenl_auth some-id --timeout={CANARY}", "invalid float value: '********'"),
    ],
    # ids never show the canary
    ids=["secret-with-dash", "extra-word", "bad-timeout", "secret-as-timeout", "profile-timeout",
         "secret-as-timeout-with-equals"],
)
def test_usage_errors_never_repeat_a_secret_typed_on_the_line(
    ip: Any, line: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run(ip, "%load_ext fenlmagic", capsys)
    result, out = run(ip, line, capsys)
    assert not result.success
    assert "UsageError" in out and expected in out and "Traceback" not in out
    assert_no_secret(out)


@pytest.mark.parametrize("typed_at_prompt", ["", "a-wrong-secret"])
def test_a_secret_typed_as_the_client_id_is_never_shown(
    ip: Any,
    local_server: Any,
    typed_at_prompt: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 18, finding 9: ``%fenl_auth SECRET`` (the secret where the client id goes)
    showed it in the prompt and in the error; neither repeats it now, and the real
    server, which refuses it, sees to it that the error is a real one."""
    prompts: list[str] = []

    def getpass(prompt: str = "") -> str:
        prompts.append(prompt)  # getpass writes its prompt to the terminal
        return typed_at_prompt

    monkeypatch.setattr("getpass.getpass", getpass)
    run(ip, "%load_ext fenlmagic", capsys)
    options = (
        f"--endpoint {local_server.endpoint} --exchange-endpoint {local_server.token_url} "
        "--plaintext"
    )
    result, out = run(ip, f"%fenl_auth {CANARY} {options}", capsys)
    assert not result.success and "Traceback" not in out
    assert prompts and all(CANARY not in prompt for prompt in prompts)
    assert_no_secret(out)
    assert_no_secret(str(result.error_in_exec))


@pytest.mark.parametrize("failure", ["stdin-not-implemented", "eof"])
def test_auth_prompt_in_a_frontend_without_input_names_the_other_ways(
    ip: Any, failure: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from IPython.core.error import StdinNotImplementedError

    from kaskada import IncompleteCredentialsError

    def no_input(prompt: str = "") -> str:
        if failure == "eof":
            raise EOFError
        # what ipykernel raises when the frontend cannot answer input requests
        raise StdinNotImplementedError("getpass was called, but this frontend does not support")

    monkeypatch.setattr("getpass.getpass", no_input)
    run(ip, "%load_ext fenlmagic", capsys)
    result, out = run(ip, "%fenl_auth some-id --plaintext", capsys)
    assert isinstance(result.error_in_exec, IncompleteCredentialsError)
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in out
    assert "cannot prompt for the client secret" in lines[0]
    assert "some-id" not in lines[0]  # the "client id" may be the secret in the wrong place
    assert "%fenl_auth --profile NAME" in lines[0] and "KASKADA_CLIENT_SECRET" in lines[0]
