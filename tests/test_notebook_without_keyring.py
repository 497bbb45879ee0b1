"""Notebooks where there is no keyring (issue 20): JupyterHub, a container, WSL.

``%fenl_auth --profile`` and ``kda.init(profile=…)`` with ``env`` and ``command``
profiles in a real IPython shell, and the walk-through notebook run end to end
by a real kernel with no D-Bus session at all and its ``staging`` profile
reading its secret from a variable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kaskada import profiles
from tests.helpers import (
    NOTEBOOK,
    Account,
    assert_no_secret,
    outputs_text,
    printing_command,
    visible_tables,
)
from tests.helpers import run_cell as run


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
    account = Account(local_server, f"nb-{kind}", mark=False)
    account.make_table(f"{kind}_table")
    fields = account.profile_fields()
    if kind == "env":
        monkeypatch.setenv("NB_KASKADA_SECRET", account.secret)
        fields["secret_env"] = "NB_KASKADA_SECRET"
    else:
        fields["secret_command"] = printing_command(tmp_path, account.secret)
    profiles.add("nb", fields)
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
    local_server: Any, kernel_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The notebook's keyring-free path: no D-Bus session, `staging` from a variable."""
    import nbformat
    from nbclient import NotebookClient

    tmp_path = kernel_environment
    main = Account(local_server, "nb-main", mark=False)
    staging = Account(local_server, "nb-staging", mark=False)
    profiles.add("staging", {**staging.profile_fields(), "secret_env": "STAGING_KASKADA_SECRET"})
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("STAGING_KASKADA_SECRET", staging.secret)
    main.set_env(monkeypatch)
    notebook = nbformat.read(NOTEBOOK, as_version=4)  # type: ignore[no-untyped-call]
    NotebookClient(
        notebook, kernel_name="python3", timeout=60, startup_timeout=60,
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    text = {cell.source.splitlines()[0]: outputs_text(cell) for cell in code}
    switched = text['with kda.session(profile=other_profile) as other:']
    assert f"inside:  {staging.client_id} []" in switched
    auth = text["%fenl_auth --profile {other_profile}"]
    assert f"Authenticated as profile 'staging', client id {staging.client_id}" in auth
    saved = json.dumps(nbformat.v4.nbjson.JSONWriter().writes(notebook))  # type: ignore[no-untyped-call]
    for secret in (main.secret, staging.secret):
        assert secret not in saved
