"""The project's GitHub workflow is valid (GitHub's workflow schema, as
check-jsonschema ships it: offline) and runs what the issue asks for: Linux
and macOS, the fast tests and one live baseline. And .gitattributes keeps the
scripts LF."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"


def test_workflow_is_valid_against_githubs_schema() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.github-workflows",
            str(WORKFLOW),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_schema_check_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("name: x\non: push\njobs:\n  a:\n    steps: 3\n", encoding="utf-8")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.github-workflows",
            str(bad),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1, out.stdout + out.stderr


def test_linux_and_macos_run_fast_tests_and_a_live_baseline() -> None:
    flow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    job = flow["jobs"]["test"]
    systems = job["strategy"]["matrix"]["os"]
    assert any(s.startswith("ubuntu") for s in systems)
    assert any(s.startswith("macos") for s in systems)
    runs = "\n".join(step.get("run", "") for step in job["steps"])
    assert 'pytest -m "not slow"' in runs
    assert "test_baseline_passes_with_zero_failures" in runs
    assert "test_meshsim_envoy_is_the_envoy_that_runs" in runs
    assert (ROOT / "tests/live/test_cli.py").exists()


def test_gitattributes_keeps_scripts_lf() -> None:
    for path in (".ci/run", "meshsim/cli.py", "meshsim/runtime/Dockerfile"):
        out = subprocess.run(
            ["git", "check-attr", "eol", path], cwd=ROOT, capture_output=True, text=True
        )
        assert out.stdout.strip().endswith("eol: lf"), out.stdout + out.stderr
