"""A run directory holding a user's own files never loses them (issue 16, item 1).

meshsim replaces an earlier run only when its manifest (or, for a run from
before the manifest, a meshsim run.json and nothing but meshsim's entries)
says every entry there is meshsim's; otherwise it refuses with exit 2 and
deletes nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from meshsim.errors import UsageError
from meshsim.rundir import ENTRIES, FORMAT, MANIFEST, RunDir
from meshsim.runner import prepare_run_dir

SCENARIOS = Path(__file__).parents[1] / "scenarios"
RUN_JSON = json.dumps({"run_id": "20260101-000000-baseline-abcd", "scenario": "baseline"})


def _earlier_run(run: Path, *, manifest: bool = True) -> None:
    """What a finished run leaves behind (the entries that matter here)."""
    (run / "records").mkdir(parents=True)
    (run / "records" / "requests-1.jsonl").write_text('{"old": true}\n')
    (run / "logs").mkdir()
    (run / "logs" / "product-v1-0.envoy.log").write_text("old\n")
    (run / "run.json").write_text(RUN_JSON)
    (run / "report.json").write_text("{}")
    if manifest:
        RunDir(run).write_manifest()


def _users_files(run: Path) -> dict[Path, str]:
    files = {run / "notes.txt": "my notes", run / "src" / "main.py": "print('mine')\n"}
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return files


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_a_new_run_dir_gets_a_manifest_of_what_meshsim_writes(tmp_path: Path) -> None:
    run = tmp_path / "new" / "run"
    assert prepare_run_dir(run) is False
    manifest = json.loads((run / MANIFEST).read_text())
    assert manifest["format"] == FORMAT
    assert set(manifest["entries"]) == ENTRIES
    assert [p.name for p in run.iterdir()] == [MANIFEST]


def test_an_earlier_run_with_a_manifest_is_replaced(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _earlier_run(run)
    (run / ".run.json.k3j_x9.tmp").write_text("{")  # a killed run's atomic_write leftover
    assert prepare_run_dir(run) is True
    assert [p.name for p in run.iterdir()] == [MANIFEST]


def test_an_earlier_run_from_before_the_manifest_is_replaced(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _earlier_run(run, manifest=False)
    assert prepare_run_dir(run) is True
    assert [p.name for p in run.iterdir()] == [MANIFEST]


@pytest.mark.parametrize("manifest", [True, False], ids=["manifest", "before-manifest"])
def test_a_users_files_beside_a_run_are_never_deleted(tmp_path: Path, manifest: bool) -> None:
    run = tmp_path / "run"
    _earlier_run(run, manifest=manifest)
    _users_files(run)
    before = _snapshot(run)
    with pytest.raises(UsageError, match=r"did not write \(notes\.txt, src\)") as err:
        prepare_run_dir(run)
    assert str(run) in str(err.value)
    assert _snapshot(run) == before  # not one byte lost, meshsim's old entries included


def test_a_file_merely_named_run_json_is_not_a_meshsim_run(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text('{"mine": 1}')
    (tmp_path / "records").mkdir()
    with pytest.raises(UsageError, match="holds no meshsim run"):
        prepare_run_dir(tmp_path)
    assert (tmp_path / "run.json").read_text() == '{"mine": 1}'
    assert (tmp_path / "records").is_dir()


@pytest.mark.parametrize(
    "entries",
    [["../outside"], ["/etc"], ["a/b"], [".."], "records", None, [1]],
    ids=["dotdot", "absolute", "nested", "parent", "not-a-list", "null", "not-a-name"],
)
def test_a_forged_manifest_deletes_nothing(tmp_path: Path, entries: object) -> None:
    outside = tmp_path / "outside"
    outside.write_text("keep")
    run = tmp_path / "run"
    _earlier_run(run)
    (run / MANIFEST).write_text(json.dumps({"format": FORMAT, "entries": entries}))
    before = _snapshot(tmp_path)
    with pytest.raises(UsageError, match="not a manifest this meshsim writes"):
        prepare_run_dir(run)
    assert _snapshot(tmp_path) == before


def test_a_manifest_of_another_format_is_refused(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _earlier_run(run)
    (run / MANIFEST).write_text(json.dumps({"format": "meshsim-run/99", "entries": ["records"]}))
    with pytest.raises(UsageError, match="meshsim-run/1"):
        prepare_run_dir(run)
    assert (run / "records" / "requests-1.jsonl").is_file()


def test_a_report_dir_inside_the_run_dir_is_claimed_too(tmp_path: Path) -> None:
    run = tmp_path / "run"
    prepare_run_dir(run, report_dir=run / "out" / "ci")
    assert "out" in json.loads((run / MANIFEST).read_text())["entries"]
    (run / "out" / "ci").mkdir(parents=True)
    (run / "out" / "ci" / "junit.xml").write_text("<x/>")
    assert prepare_run_dir(run, report_dir=run / "out" / "ci") is True
    assert not (run / "out").exists()


def test_up_refuses_a_directory_with_a_users_files_exit_2(tmp_path: Path) -> None:
    """The issue's case through the CLI: run.json + notes.txt + src/main.py."""
    (tmp_path / "run.json").write_text(RUN_JSON)
    files = _users_files(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-c", "from meshsim.cli import main; main()", "up"]
        + [str(SCENARIOS / "baseline.yaml"), "--run-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert proc.returncode == 2, proc.stderr
    assert str(tmp_path) in proc.stderr and "notes.txt" in proc.stderr
    assert "Traceback" not in proc.stderr
    for path, text in files.items():
        assert path.read_text() == text
    assert (tmp_path / "run.json").read_text() == RUN_JSON


def test_report_that_cannot_be_written_exits_3_naming_it(tmp_path: Path) -> None:
    """`meshsim report` on a full disk or an unwritable --out: exit 3, no traceback."""
    from tests.report.runs import RunDir as SyntheticRun
    from tests.report.runs import steady

    run = SyntheticRun(tmp_path / "run").write(phases=[("a", 5.0, [])], records=steady(1, 6))
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    proc = subprocess.run(
        [sys.executable, "-c", "from meshsim.cli import main; main()", "report", str(run)]
        + ["--out", str(blocker / "out")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert proc.returncode == 3, proc.stderr
    assert "the report: could not write" in proc.stderr and str(blocker) in proc.stderr
    assert "Traceback" not in proc.stderr
