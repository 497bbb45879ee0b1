"""The example notebook, executed end to end by a real Jupyter kernel.

nbclient starts ipykernel's own ``python3`` kernel (this interpreter) with the
test's environment: the isolated config folder and keyring service, the real
Secret Service, and credentials of a fresh account on the local server. A
second account is stored as the profile ``staging`` in the real keyring. The
client secrets are the canaries: in no output, and not in the saved notebook.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "notebook-quickstart.ipynb"


def test_committed_notebook_has_no_outputs() -> None:
    import nbformat

    notebook = nbformat.read(NOTEBOOK, as_version=4)  # type: ignore[no-untyped-call]
    nbformat.validate(notebook)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code_cells
    for cell in code_cells:
        assert cell.outputs == [] and cell.execution_count is None


def _outputs_text(cell: Any) -> str:
    """A cell's printed text joined (a kernel may split one line across stream chunks,
    e.g. around a warning), then its other outputs as JSON."""
    outputs = cell.get("outputs", [])
    printed = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    return printed + "\n" + json.dumps([o for o in outputs if o.get("output_type") != "stream"])


@pytest.mark.slow
@pytest.mark.real_keyring
def test_notebook_runs_end_to_end_against_the_local_server(
    real_keyring: str,
    local_server: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import nbformat
    from nbclient import NotebookClient

    from kaskada import Secret
    from kaskada.config.lifecycle import add_profile

    main_id, main_secret = local_server.add_client(f"nb-main-{uuid.uuid4().hex[:8]}")
    staging_id, staging_secret = local_server.add_client(f"nb-staging-{uuid.uuid4().hex[:8]}")
    add_profile(
        "staging",
        {
            "client_id": staging_id,
            "endpoint": local_server.endpoint,
            "exchange_endpoint": local_server.token_url,
            "is_secure": False,
        },
        Secret(staging_secret),
    )
    # The kernel inherits this environment: the documented variables, and the
    # Jupyter/IPython folders moved out of the user's home.
    monkeypatch.setenv("KASKADA_CLIENT_ID", main_id)
    monkeypatch.setenv("KASKADA_CLIENT_SECRET", main_secret)
    monkeypatch.setenv("KASKADA_API_ENDPOINT", local_server.endpoint)
    monkeypatch.setenv("KASKADA_AUTH_ENDPOINT", local_server.token_url)
    monkeypatch.setenv("KASKADA_IS_SECURE", "false")
    for name in ("IPYTHONDIR", "JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR"):
        folder = tmp_path / name.lower()
        folder.mkdir()
        monkeypatch.setenv(name, str(folder))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))

    def run_all(saved_as: str) -> Any:
        notebook = nbformat.read(NOTEBOOK, as_version=4)  # type: ignore[no-untyped-call]
        NotebookClient(
            notebook,
            kernel_name="python3",
            timeout=60,
            startup_timeout=60,
            resources={"metadata": {"path": str(tmp_path)}},
        ).execute()  # CellExecutionError if any cell not tagged raises-exception fails
        executed = tmp_path / saved_as
        nbformat.write(notebook, executed)  # type: ignore[no-untyped-call]
        saved = executed.read_text()
        for secret in (main_secret, staging_secret):
            assert secret not in saved
        return notebook

    notebook = run_all("executed.ipynb")
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]

    def outputs(first_line: str, nth: int = 0) -> str:
        found = [cell for cell in code if cell.source.splitlines()[0] == first_line]
        return _outputs_text(found[nth])

    signed_in = outputs("if client_id:")
    assert f"signed in as client id {main_id}" in signed_in
    assert "KASKADA_CLIENT_ID" in outputs("print(kda.explain())")
    assert '"text/plain": "{}"' in outputs("table.list_tables()")  # a new account: no tables
    create = "if table_name not in table.list_tables():  # safe to run the notebook again"
    assert "['purchases']" in outputs(create)

    assert f"initialised as client id {main_id}" in outputs("%load_ext fenlmagic")
    first_whoami = outputs("%fenl_whoami")
    assert "<table>" in first_whoami and main_id in first_whoami
    assert "Credentials accepted (1 table visible)" in first_whoami
    listing = outputs("table.list_tables()", 1)
    assert "text/html" in listing and "<td>purchases</td>" in listing

    # The deliberate error is shown, not raised (papermill stops at any raised error).
    shown = outputs("try:")
    assert "NotFoundError: " in shown and "no-such-table" in shown
    assert not [o for cell in code for o in cell.outputs if o.output_type == "error"]
    # No warning of its own: section 3 unsets section 1's variables before choosing a profile.
    printed = "".join(_outputs_text(cell) for cell in code)
    assert "Warning" not in printed and "set too and ignored" not in printed

    assert "staging" in outputs("!{sys.executable} -m kaskada profile list")
    switched = outputs("with kda.session(profile=other_profile) as other:")
    assert f"inside:  {staging_id} []" in switched
    assert "outside: KASKADA_CLIENT_ID ['purchases']" in switched
    assert "[]" in outputs("%%fenl_session {other_profile}")
    auth = outputs("%fenl_auth --profile {other_profile}")
    assert f"Authenticated as profile 'staging', client id {staging_id}" in auth
    assert staging_id in outputs("%fenl_whoami", 1)
    # "Run all" again on the same account: the notebook is safe to re-run
    again = run_all("executed-again.ipynb")
    recreate = next(cell for cell in again.cells if cell.source.startswith(create))
    assert "['purchases']" in _outputs_text(recreate)
