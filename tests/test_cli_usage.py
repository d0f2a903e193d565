"""Usage mistakes through the installed entry point: exit 2, click's message, no traceback.

These run `meshsim.cli.main` in a subprocess, as a user's shell does, because
the mapping of exceptions to exit codes lives in `main` and nowhere else.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from meshsim.errors import MeshError, UsageError
from meshsim.runner import prepare_run_dir
from meshsim.runtime.registry import MeshRecord

SCENARIOS = Path(__file__).parents[1] / "scenarios"


def _meshsim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from meshsim.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1"},
    )


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["upp"], "No such command 'upp'"),
        (["up"], "Missing argument"),
        (["validate", "--strict", "x.yaml"], "No such option: --strict"),
        (["up", "scenarios/baseline.yaml", "--ingress-port", "abc"], "--ingress-port"),
        (["up", "scenarios/baseline.yaml", "--ingress-port", "70000"], "--ingress-port"),
    ],
)
def test_usage_mistakes_exit_2_without_a_traceback(args: list[str], says: str) -> None:
    proc = _meshsim(*args)
    assert proc.returncode == 2, proc.stderr
    assert says in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_help_names_arguments_as_the_docs_do() -> None:
    from typer.testing import CliRunner

    from meshsim.cli import app

    def usage(*args: str) -> str:
        first = runner.invoke(app, [*args, "--help"]).output.splitlines()[0]
        return re.sub(r"[{}]", "", first)  # typer 0.29 writes a required argument as {NAME}

    runner = CliRunner()
    assert usage("up").endswith("[OPTIONS] SCENARIO")
    assert usage("explain").endswith("[OPTIONS] SCENARIO")
    assert usage("logs").endswith("[OPTIONS] RUN_DIR")
    assert usage("exec").endswith("[OPTIONS] METHOD URL")
    exec_help = runner.invoke(app, ["exec", "--help"]).output
    assert "-H, --header NAME:VALUE" in exec_help and "list[str]" not in exec_help


def test_validate_checks_every_file_and_fails_if_one_is_bad(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n")
    proc = _meshsim("validate", str(SCENARIOS / "baseline.yaml"), str(bad))
    assert proc.returncode == 2
    assert "baseline.yaml: OK" in proc.stdout + proc.stderr
    assert f"{bad}:1: phases: required key is missing" in proc.stderr
    assert "1 of 2 scenarios are invalid" in proc.stderr


def test_validate_warns_what_explain_flags_and_still_exits_0(tmp_path: Path) -> None:
    drill = tmp_path / "drill.yaml"
    drill.write_text(
        "name: drill\nload: {users: 0}\nphases:\n"
        "  - name: canary\n    duration: 5s\n    expect: ['p99 < 300ms']\n    apply:\n"
        "      - apiVersion: networking.istio.io/v1\n        kind: VirtualService\n"
        "        metadata: {name: product}\n"
        "        spec: {hosts: [product], http: [{route: [{destination: {host: prodct}}]}]}\n"
    )
    proc = _meshsim("validate", str(drill))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout + proc.stderr
    # the file:line and field of the resource, as errors name theirs
    assert (
        f"{drill}:11: phases[0].apply[0].spec.http[0]: phase canary: VirtualService/product "
        "http[0]: destination host " in out
    )
    assert f"{drill}: phases[0].expect (canary): load.users is 0" in out
    assert f"{drill}: OK" in out


def test_a_run_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "run"
    path.write_text("mine")
    # any free ingress port: the plan's port check comes before the run
    # directory's, and 8080 may be taken on this machine
    proc = _meshsim(
        "up", str(SCENARIOS / "baseline.yaml"), "--run-dir", str(path), "--ingress-port", "0"
    )
    assert proc.returncode == 2
    assert "exists and is not a directory" in proc.stderr
    assert path.read_text() == "mine"


def test_a_new_or_empty_run_dir_is_used_as_is(tmp_path: Path) -> None:
    assert prepare_run_dir(tmp_path / "new" / "run") is False
    assert (tmp_path / "new" / "run").is_dir()
    assert prepare_run_dir(tmp_path / "new" / "run") is False


def test_an_earlier_run_is_replaced_not_mixed_in(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "records").mkdir(parents=True)
    (run / "run.json").write_text('{"run_id": "earlier"}')
    (run / "records" / "requests-1.jsonl").write_text('{"old": true}\n')
    assert prepare_run_dir(run) is True
    assert run.is_dir() and [p.name for p in run.iterdir()] == [".meshsim-run"]


def test_a_directory_with_other_files_is_never_emptied(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(UsageError, match="not empty and holds no meshsim run"):
        prepare_run_dir(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_the_run_dir_of_a_kept_mesh_is_not_replaced(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text('{"run_id": "kept"}')
    MeshRecord(
        run_id="kept",
        run_dir=str(run),
        scenario="baseline",
        runtime="local",
        owner_pid=os.getpid(),
        owner_create_time=0.0,
        started_at=time.time(),
        keep=True,
        status="kept",
    ).save()
    with pytest.raises(UsageError, match="a mesh still runs from it"):
        prepare_run_dir(run)
    assert (run / "run.json").is_file()


def test_a_run_dir_that_cannot_be_made_is_exit_3_naming_it(tmp_path: Path) -> None:
    """A file on its path (or /proc, a read-only or full disk) was an internal
    error with a crash log; it is the environment, named in one line."""
    (tmp_path / "afile").write_text("x")
    with pytest.raises(MeshError) as caught:
        prepare_run_dir(tmp_path / "afile" / "run")
    assert caught.value.exit_code == 3
    assert str(caught.value) == (
        f"the run directory: could not write {tmp_path / 'afile' / 'run'}: Not a directory"
    )


def test_a_report_dir_that_cannot_be_made_is_refused_before_the_run(tmp_path: Path) -> None:
    """Said at once (exit 2), not after the whole run when the report is written."""
    (tmp_path / "afile").write_text("x")
    with pytest.raises(UsageError, match=r"--report-dir .*/afile/rep: .*/afile is not a directory"):
        prepare_run_dir(tmp_path / "run", tmp_path / "afile" / "rep")
    assert not (tmp_path / "run").exists()  # nothing made


@pytest.mark.parametrize("kind", ["kubernetes", "compose"])
def test_export_to_an_out_that_cannot_be_made_is_exit_3_naming_it(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Was an internal error (NotADirectoryError) with a crash log."""
    from meshsim.cli import main

    (tmp_path / "afile").write_text("x")
    out = tmp_path / "afile" / "x"
    argv = sys.argv
    canary = str(Path(__file__).parents[1] / "scenarios" / "canary.yaml")
    sys.argv = ["meshsim", "export", kind, canary, "--out", str(out)]
    try:
        with pytest.raises(SystemExit) as stopped:
            main()
    finally:
        sys.argv = argv
    err = capsys.readouterr().err
    assert stopped.value.code == 3, err
    assert err.startswith(f"error: export {kind} --out {out}: could not write {out}"), err
    assert "Not a directory" in err and "internal error" not in err
