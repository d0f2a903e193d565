"""The report of a long run is built in bounded memory.

A synthetic run of 1,000,000 requests (tests/report/large_run.py, 20
phases) is reported in a child process whose address space is capped with
`resource.setrlimit(RLIMIT_AS)`: the streaming builder must finish under the
cap, and the builder as it was before (every record in memory,
tests/report/eager) must run out of memory under the same cap, so the cap is
known to bite. Time is not asserted: docs/benchmarks.md has the figures.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.report.large_run import write_large_run

ROOT = Path(__file__).resolve().parents[2]
CAP_MB = 256  # a Python with meshsim.report imported maps ~62 MB
REQUESTS = 1_000_000
CHILD = """
import json, resource, sys
from pathlib import Path
sys.path.insert(0, {root!r})
cap = {cap} * 1024 * 1024
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
if sys.argv[2] == "eager":
    from tests.report.eager.build import build_report
else:
    from meshsim.report import build_report
try:
    report = build_report(Path(sys.argv[1]))
except MemoryError:
    print(json.dumps({{"memory_error": True}}))
    raise SystemExit(0)
# VmHWM is this process's own peak: ru_maxrss carries the parent's peak over
# fork and exec (Linux keeps the larger), so under a long pytest run it
# reported pytest's RSS, not the report's.
status = Path("/proc/self/status").read_text(encoding="utf-8")
peak = int(next(l.split()[1] for l in status.splitlines() if l.startswith("VmHWM:"))) / 1024
print(json.dumps({{"requests": report.totals.requests, "phases": len(report.phases),
                  "verdict": report.verdict, "peak_mb": peak}}))
"""


def _report(run: Path, builder: str) -> dict[str, object]:
    code = CHILD.format(root=str(ROOT), cap=CAP_MB)
    done = subprocess.run(
        [sys.executable, "-c", code, str(run), builder],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.slow
def test_a_million_requests_are_reported_under_a_memory_cap(tmp_path: Path) -> None:
    run = write_large_run(tmp_path / "run", requests=REQUESTS, phases=20)
    streamed = _report(run, "streaming")
    assert streamed.get("requests") == REQUESTS, streamed
    assert streamed["phases"] == 20
    assert float(streamed["peak_mb"]) < CAP_MB  # type: ignore[arg-type]
    assert _report(run, "eager") == {"memory_error": True}
