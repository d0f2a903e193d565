"""A real run's directory is written compressed, its traces kept by the policy,
and every command that reads a finished run works on it (issue 21)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from meshsim import rundata
from meshsim.load.records import record_files
from meshsim.rundir import RunDir
from meshsim.runner import RunResult
from tests.live.helpers import meshsim

pytestmark = pytest.mark.slow


def test_a_run_directory_is_compressed_and_every_reader_reads_it(
    fault_abort_run: RunResult, tmp_path: Path
) -> None:
    """On the fault-abort run test_observability reads too (tests/live/conftest.py);
    the reports are rendered again elsewhere, so the shared run stays as it ran."""
    result = fault_abort_run
    run_dir = result.run_dir
    rd = RunDir(run_dir)
    # records, traces and access logs in their compressed form only
    files = record_files(rd.records)
    assert files and all(p.name.endswith(".jsonl.gz") for p in files)
    assert rundata.gz_path(rd.traces).is_file() and not rd.traces.exists()
    logs = rd.access_logs()
    assert {d for _, _, d in logs} == {"inbound", "outbound", "ingress"}
    assert all(rundata.gz_path(p).is_file() and not p.exists() for p, _, _ in logs)
    # the policy's counts: the injected 503s are kept, most of the rest is not
    kept = json.loads(rd.run_json.read_text(encoding="utf-8"))["trace_keeping"]
    assert kept["seen"] > 200 and kept["kept_error"] > 10
    assert kept["kept"] == kept["kept_error"] + kept["kept_slowest"] + kept["kept_sample"]
    assert kept["kept"] < 0.6 * kept["seen"]
    report = json.loads(rd.report_file("report.json").read_text(encoding="utf-8"))
    assert report["trace_keeping"]["seen"] == kept["seen"]
    # every reader, on the compressed run
    # the same verdict as the run's own
    done = meshsim("report", str(run_dir), "--out", str(tmp_path / "report"))
    assert done.returncode == result.exit_code, done.stderr
    assert f"traces kept: {kept['kept']:,} of {kept['seen']:,}" in done.stdout
    done = meshsim("traces", str(run_dir), "--phase", "abort-20", "--limit", "2")
    assert done.returncode == 0 and "slowest" in done.stdout, done.stderr
    done = meshsim("logs", str(run_dir), "--phase", "abort-20", "--flags", "FI", "--json")
    assert done.returncode == 0, done.stderr
    assert '"FI"' in done.stdout
    done = meshsim("graph", str(run_dir))
    assert done.returncode == 0 and "product" in done.stdout, done.stderr
