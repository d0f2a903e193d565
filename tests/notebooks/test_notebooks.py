"""The workshop notebooks: stored without outputs, and each runs end to end.

The live test executes every notebook in a kernel of the current interpreter
(nbclient), with the run directories and MESHSIM_HOME in a temporary folder,
and fails on the first cell that raises, or when a run it makes does not pass.
The first notebook runs from a `meshsim workshop init` copy outside the
checkout, as attendees run it (tests/test_workshop.py checks the copy's layout).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
EXPECTED = ["01-first-mesh", "02-canary-release", "03-resilience", "04-zero-trust"]
# Run from a `meshsim workshop init` copy outside the checkout, as attendees do
# (one is enough to prove the copy works; the others run from the checkout).
FROM_A_COPY = "01-first-mesh"
# The scenarios each notebook runs (sorted), whose verdicts it promises.
RUNS = {
    "01-first-mesh": ["baseline"],
    "02-canary-release": ["canary", "gateway-api"],
    "03-resilience": ["circuit-breaker", "retries", "timeouts"],
    "04-zero-trust": ["authz-lockdown", "mtls-migration"],
}


def test_the_four_workshop_notebooks_are_there() -> None:
    assert [p.stem for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_stored_without_outputs(path: Path) -> None:
    """Outputs are stripped before committing (`nbstripout notebooks/*.ipynb`):
    diffs stay readable and no run's ports or timings are stored."""
    nb = json.loads(path.read_text())
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{path.name} cell {i} has outputs"
            assert cell.get("execution_count") is None, f"{path.name} cell {i} has a count"
        assert "attachments" not in cell or not cell["attachments"], f"{path.name} cell {i}"


@pytest.mark.slow
@pytest.mark.timeout(420)
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # jupyter_client / zmq internals
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_end_to_end(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    if path.stem == FROM_A_COPY:
        where = _workshop_copy(path, tmp_path, monkeypatch)
        path = where / path.name
    else:
        monkeypatch.setenv("MESHSIM_REPO", str(REPO))  # the kernel runs in tmp_path
        where = tmp_path
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=300,  # per cell
        kernel_name="python3",
        resources={"metadata": {"path": str(where)}},
        kernel_manager_kwargs={"kernel_cmd": _kernel_cmd()},
    )
    started = time.monotonic()
    try:
        client.execute()
    finally:
        # a notebook that failed half-way may have left a kept mesh (04 keeps one)
        subprocess.run([sys.executable, "-m", "meshsim.cli", "down"], capture_output=True)
    took = time.monotonic() - started
    print(f"{path.name}: executed in {took:.1f}s")
    if os.environ.get("MESHSIM_NOTEBOOK_OUT"):  # keep the executed copy to look at
        out = Path(os.environ["MESHSIM_NOTEBOOK_OUT"])
        out.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, out / path.name)
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert not errors, errors
    # A cell that ran is not a drill that passed: each run the notebook makes
    # (a library scenario, at the notebook's own time scale) must pass, as its
    # text says; a failing report would otherwise still let the cell finish.
    # These runs are also the library's proof for the scenarios they run
    # (tests/live/test_scenario_library.py), so a failure lists what failed.
    # (found where the kernel ran: for the copy, its runs went into the copy)
    reports = [json.loads(p.read_text()) for p in where.glob("**/report.json")]
    verdicts = sorted((report["scenario"], report["verdict"]) for report in reports)
    print(f"{path.name}: verdicts {verdicts}")
    assert [name for name, _ in verdicts] == RUNS[path.stem]
    failed = [
        f"{report['scenario']}/{p['name']}: {e['expr']} (observed {e['observed']})"
        for report in reports
        for p in report["phases"]
        for e in p["expectations"]
        if not e["passed"]
    ]
    assert all(verdict == "pass" for _, verdict in verdicts), (verdicts, failed)


def _workshop_copy(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The notebooks folder of a `meshsim workshop init` copy outside the
    checkout, as an attendee runs it: without MESHSIM_REPO, the notebook finds
    the library beside itself. The copy's notebook is stored clean too."""
    from meshsim.workshop import workshop_init

    monkeypatch.delenv("MESHSIM_REPO", raising=False)
    workshop_init(tmp_path / "ws")
    where = tmp_path / "ws" / "notebooks"
    assert REPO not in where.parents
    assert len(list(where.glob("*.ipynb"))) == len(EXPECTED)
    test_stored_without_outputs(where / path.name)
    return where


def _kernel_cmd() -> list[str]:
    """A kernel of this interpreter, whatever kernelspecs the machine has."""
    return [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]


def test_kernel_runs_this_interpreter() -> None:
    assert _kernel_cmd()[0] == sys.executable and os.path.isabs(sys.executable)
