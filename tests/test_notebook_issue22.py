"""Issue 22, items 8 and 9: notebooks as Jupyter, nbclient and papermill run them.

Each test starts a real ``python3`` kernel (ipykernel, this interpreter) with the
test's environment: the isolated config folder and keyring service, and the
Jupyter/IPython folders moved under the test's tmp_path.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import NOTEBOOK


def _run_cells(sources: list[str], folder: Path) -> list[Any]:
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]  # type: ignore[no-untyped-call]
    NotebookClient(notebook, kernel_name="python3", timeout=60, startup_timeout=60,
                   allow_errors=True, resources={"metadata": {"path": str(folder)}}).execute()
    return list(notebook.cells)


def _text(cell: Any) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


@pytest.mark.slow
def test_a_mistyped_profile_fails_at_the_with_line_in_a_kernel(kernel_environment: Path) -> None:
    """Item 8: a notebook cell runs on the kernel's event loop, where a session used to
    be resolved only at first use; now the `with` line raises, as in a script."""
    loop, cell = _run_cells([
        "import asyncio\nasyncio.get_running_loop() is not None",  # the case being tested
        "import kaskada as kda\n"
        "body_ran = False\n"
        "try:\n"
        "    with kda.session(profile='nosuch'):\n"
        "        body_ran = True\n"
        "except kda.ProfileNotFoundError as error:\n"
        "    print('raised at the with line:', error)\n"
        "print('body ran:', body_ran)",
    ], kernel_environment)
    assert loop.outputs[0]["data"]["text/plain"] == "True"
    printed = _text(cell)
    assert "raised at the with line: no profile 'nosuch'" in printed, cell.outputs
    assert "body ran: False" in printed


def test_the_walkthrough_has_a_parameters_cell_before_any_use() -> None:
    import nbformat

    notebook = nbformat.read(NOTEBOOK, as_version=4)  # type: ignore[no-untyped-call]
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    tagged = [cell for cell in code if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1 and code[0] is tagged[0]
    assert not any("raises-exception" in cell.metadata.get("tags", []) for cell in code)
    for name in ("client_id", "other_profile", "table_name"):
        assert f"{name} = " in tagged[0].source
    assert "secret" not in tagged[0].source.lower()  # papermill writes parameters to the output


@pytest.mark.slow
@pytest.mark.real_keyring
def test_the_walkthrough_runs_under_papermill_with_exit_0(
    real_keyring: str, local_server: Any, kernel_environment: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Item 9: papermill (its command line, as CI would run it) exits 0, with parameters,
    the deliberate error shown in its cell, and no warning of the notebook's own."""
    pytest.importorskip("papermill")
    import nbformat

    from kaskada import Secret
    from kaskada.config.lifecycle import add_profile

    main_id, main_secret = local_server.add_client(f"pm-main-{uuid.uuid4().hex[:8]}")
    other_id, other_secret = local_server.add_client(f"pm-other-{uuid.uuid4().hex[:8]}")
    add_profile("ci-other", {"client_id": other_id, "endpoint": local_server.endpoint,
                             "exchange_endpoint": local_server.token_url, "is_secure": False},
                Secret(other_secret))
    for name, value in (("KASKADA_CLIENT_SECRET", main_secret),
                        ("KASKADA_API_ENDPOINT", local_server.endpoint),
                        ("KASKADA_AUTH_ENDPOINT", local_server.token_url),
                        ("KASKADA_IS_SECURE", "false")):
        monkeypatch.setenv(name, value)
    output = kernel_environment / "out.ipynb"
    result = subprocess.run(
        [sys.executable, "-m", "papermill", str(NOTEBOOK), str(output), "--kernel", "python3",
         "--cwd", str(kernel_environment), "-p", "client_id", main_id,
         "-p", "other_profile", "ci-other", "-p", "table_name", "orders"],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    saved = output.read_text()
    assert main_secret not in saved and other_secret not in saved
    notebook = nbformat.read(output, as_version=4)  # type: ignore[no-untyped-call]
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    printed = "".join(_text(cell) for cell in code)
    assert f"signed in as client id {main_id}" in printed
    assert "NotFoundError: " in printed and "no-such-table" in printed
    assert f"inside:  {other_id} []" in printed and "'orders'" in printed
    assert "Warning" not in printed and "set too and ignored" not in printed
    assert not [o for cell in code for o in cell.outputs if o.output_type == "error"]


@pytest.mark.slow
def test_the_walkthrough_unattended_without_credentials_says_what_to_set(
    kernel_environment: Path,
) -> None:
    """Item 9: no prompt waits for an answer nobody can give; the first cell that needs
    one fails at once and names the variables to set."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOK, as_version=4)  # type: ignore[no-untyped-call]
    NotebookClient(notebook, kernel_name="python3", timeout=60, startup_timeout=60,
                   allow_errors=True,
                   resources={"metadata": {"path": str(kernel_environment)}}).execute()
    errors = [(cell.source, output) for cell in notebook.cells if cell.cell_type == "code"
              for output in cell.outputs if output.output_type == "error"]
    source, first = errors[0]
    assert source.startswith("if client_id:")
    assert first.ename == "RuntimeError" and "KASKADA_CLIENT_SECRET" in first.evalue
    assert "StdinNotImplementedError" not in first.evalue
