"""The example notebook, executed end to end by a real Jupyter kernel.

nbclient starts ipykernel's own ``python3`` kernel (this interpreter) with the
test's environment: the isolated config folder and keyring service, the real
Secret Service, and credentials of a fresh account on the local server. A
second account is stored as the profile ``staging`` in the real keyring. The
client secrets are the canaries: in no output, and not in the saved notebook.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers import NOTEBOOK, Account, outputs_text


def test_committed_notebook_has_no_outputs() -> None:
    import nbformat

    notebook = nbformat.read(NOTEBOOK, as_version=4)  # type: ignore[no-untyped-call]
    nbformat.validate(notebook)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code_cells
    for cell in code_cells:
        assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.slow
@pytest.mark.real_keyring
def test_notebook_runs_end_to_end_against_the_local_server(
    real_keyring: str,
    local_server: Any,
    kernel_environment: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import nbformat
    from nbclient import NotebookClient

    tmp_path = kernel_environment
    main = Account(local_server, "nb-main", mark=False)
    staging = Account(local_server, "nb-staging", mark=False)
    staging.save_profile("staging")
    # The kernel inherits this environment: the documented variables, and the
    # Jupyter/IPython folders moved out of the user's home (kernel_environment).
    main.set_env(monkeypatch)
    main_id, main_secret = main.client_id, main.secret
    staging_id, staging_secret = staging.client_id, staging.secret

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
        return outputs_text(found[nth])

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
    printed = "".join(outputs_text(cell) for cell in code)
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
    assert "['purchases']" in outputs_text(recreate)
