"""Notebooks where there is no keyring (issue 20): JupyterHub, a container, WSL.

``%fenl_auth --profile`` and ``kda.init(profile=…)`` with ``env`` and ``command``
profiles in a real IPython shell, and the walk-through notebook run end to end
by a real kernel with no D-Bus session at all and its ``staging`` profile
reading its secret from a variable.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kaskada.config import lifecycle as _profiles
from tests.test_fenlmagic import Account, assert_no_secret, run, visible_tables
from tests.test_fenlmagic_notebook import NOTEBOOK, ROOT, _outputs_text


def _profile_fields(account: Account) -> dict[str, Any]:
    return {
        "client_id": account.client_id,
        "endpoint": account.endpoint,
        "exchange_endpoint": account.token_url,
        "is_secure": False,
    }


@pytest.fixture
def no_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process as on a box without a keyring: reading one is an error."""
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    import keyring
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(previous)


@pytest.mark.parametrize("kind", ["env", "command"])
def test_fenl_auth_and_init_with_a_keyring_free_profile(
    kind: str,
    ipython_shell: Any,
    local_server: Any,
    no_keyring: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    account = Account(local_server, f"nb-{kind}-{uuid.uuid4().hex[:8]}")
    account.make_table(f"{kind}_table")
    fields = _profile_fields(account)
    if kind == "env":
        monkeypatch.setenv("NB_KASKADA_SECRET", account.secret)
        fields["secret_env"] = "NB_KASKADA_SECRET"
    else:
        holder = tmp_path / "holder"
        holder.write_text(account.secret)
        fields["secret_command"] = [sys.executable, "-c", f"print(open({str(holder)!r}).read())"]
    _profiles.add_profile("nb", fields, None)
    run(ipython_shell, "%load_ext fenlmagic", capsys)
    result, out = run(ipython_shell, "%fenl_auth --profile nb", capsys)
    assert result.success, out
    assert f"Authenticated as profile 'nb', client id {account.client_id}" in out
    assert visible_tables(ipython_shell) == [f"{kind}_table"]
    result, out = run(
        ipython_shell, "import kaskada as kda; kda.init(profile='nb'); print(kda.explain())", capsys
    )
    assert result.success, out
    expected = "environment variable NB_KASKADA_SECRET" if kind == "env" else "command"
    assert expected in out
    assert_no_secret(out, account.secret)


@pytest.mark.slow
def test_the_walk_through_runs_with_no_keyring_at_all(
    local_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The notebook's keyring-free path: no D-Bus session, `staging` from a variable."""
    import nbformat
    from nbclient import NotebookClient

    main = Account(local_server, f"nb-main-{uuid.uuid4().hex[:8]}")
    staging = Account(local_server, f"nb-staging-{uuid.uuid4().hex[:8]}")
    _profiles.add_profile(
        "staging", {**_profile_fields(staging), "secret_env": "STAGING_KASKADA_SECRET"}, None
    )
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("STAGING_KASKADA_SECRET", staging.secret)
    monkeypatch.setenv("KASKADA_CLIENT_ID", main.client_id)
    monkeypatch.setenv("KASKADA_CLIENT_SECRET", main.secret)
    monkeypatch.setenv("KASKADA_API_ENDPOINT", local_server.endpoint)
    monkeypatch.setenv("KASKADA_AUTH_ENDPOINT", local_server.token_url)
    monkeypatch.setenv("KASKADA_IS_SECURE", "false")
    for name in ("IPYTHONDIR", "JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR"):
        folder = tmp_path / name.lower()
        folder.mkdir()
        monkeypatch.setenv(name, str(folder))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    notebook = nbformat.read(NOTEBOOK, as_version=4)  # type: ignore[no-untyped-call]
    NotebookClient(
        notebook, kernel_name="python3", timeout=60, startup_timeout=60,
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    text = {cell.source.splitlines()[0]: _outputs_text(cell) for cell in code}
    switched = text['with kda.session(profile=other_profile) as other:']
    assert f"inside:  {staging.client_id} []" in switched
    auth = text["%fenl_auth --profile {other_profile}"]
    assert f"Authenticated as profile 'staging', client id {staging.client_id}" in auth
    saved = json.dumps(nbformat.v4.nbjson.JSONWriter().writes(notebook))  # type: ignore[no-untyped-call]
    for secret in (main.secret, staging.secret):
        assert secret not in saved
