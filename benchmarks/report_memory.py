"""What building a long run's report costs: peak memory and time of `meshsim report`.

Writes synthetic runs shaped like meshsim's own (tests/report/large_run.py:
20 phases, records from two Locust processes, optionally every request's
four spans as Zipkin batches, ~2.9 KB a request as in a real run), then runs
`meshsim report RUN --out DIR` in a child process, several times, and reads
the child's peak RSS and CPU time from the kernel's accounting of reaped
children. With `--eager` it also runs the builder as it was before it
streamed (tests/report/eager, every record and span in memory) for the
before/after figures.

    python benchmarks/report_memory.py                  # the three runs below
    python benchmarks/report_memory.py --eager          # and the old builder

Runs: "soak" (the 10-minute chaos soak of issue #21: 58,200 requests at
97 rps, with traces), "hour" (1 hour at 100 rps: 360,000 requests, records
only; its traces would be ~1 GB, which bounded trace storage is for) and
"1e6" (1,000,000 records). Prints a Markdown table (docs/benchmarks.md,
"Report build: memory and time").
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.report.large_run import write_large_run  # noqa: E402

RUNS = {
    "soak": {"requests": 58_200, "rps": 97.0, "traces": True},
    "hour": {"requests": 360_000, "rps": 100.0, "traces": False},
    "1e6": {"requests": 1_000_000, "rps": 100.0, "traces": False},
}
EAGER = (
    "import sys; from pathlib import Path; sys.path.insert(0, {root!r}); "
    "from tests.report.eager.build import build_report; "
    "from meshsim.report import write_reports; "
    "write_reports(build_report(Path(sys.argv[1])), Path(sys.argv[2]))"
)


def measure(cmd: list[str]) -> tuple[float, float, float]:
    """(peak RSS MB, CPU s, wall s) of one child process."""
    # RUSAGE_CHILDREN's ru_maxrss is the largest of all reaped children so
    # far, so each measurement runs under a fresh Python that reports its own.
    probe = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "subprocess.run(sys.argv[1:], check=True, capture_output=True); "
        "w = time.perf_counter() - t; u = resource.getrusage(resource.RUSAGE_CHILDREN); "
        "print(u.ru_maxrss / 1024, u.ru_utime + u.ru_stime, w)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, *cmd], check=True, capture_output=True, text=True
    ).stdout.split()
    return float(out[0]), float(out[1]), float(out[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", default=",".join(RUNS), help="which runs, comma-separated")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--eager", action="store_true", help="also the pre-streaming builder")
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="meshsim-report-bench-") as tmp:
        work = Path(tmp)
        for name in args.runs.split(","):
            spec = RUNS[name]
            run = work / name
            t = time.perf_counter()
            write_large_run(run, **spec)  # type: ignore[arg-type]
            size = sum(p.stat().st_size for p in run.rglob("*") if p.is_file()) / 1e6
            print(f"{name}: wrote {size:.0f} MB in {time.perf_counter() - t:.0f} s", flush=True)
            builders = {
                "streaming": [sys.executable, "-m", "meshsim.cli", "report", str(run), "--out"]
            }
            if args.eager:
                builders["eager"] = [sys.executable, "-c", EAGER.format(root=str(ROOT)), str(run)]
            for builder, cmd in builders.items():
                out = str(work / f"out-{name}-{builder}")
                figures = [measure([*cmd, out]) for _ in range(args.rounds)]
                rss = max(f[0] for f in figures)
                cpu = statistics.median(f[1] for f in figures)
                wall = statistics.median(f[2] for f in figures)
                rows.append((name, spec["requests"], f"{size:.0f}", builder, rss, cpu, wall))
                print(f"  {builder}: {rss:.0f} MB, cpu {cpu:.2f} s, wall {wall:.2f} s", flush=True)
            shutil.rmtree(run)
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print()
    print("| run | requests | run dir MB | builder | peak RSS MB | CPU s | wall s |")
    print("|---|---:|---:|---|---:|---:|---:|")
    for name, requests, size, builder, rss, cpu, wall in rows:
        print(
            f"| {name} | {requests:,} | {size} | {builder} | {rss:.0f} | {cpu:.2f} | {wall:.2f} |"
        )


if __name__ == "__main__":
    main()
