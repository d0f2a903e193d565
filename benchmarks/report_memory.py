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
    python benchmarks/report_memory.py --before DIR     # and the code in DIR (a checkout)
    python benchmarks/report_memory.py --no-bytecode    # meshsim compiled on every start

Each run also measures, in the same child-process way, two baselines the
figures are divided by (CPU-time ratios, so a busy machine cancels out):
"json.loads" (a Python reading every line of the files the report reads,
records and traces, and parsing it with `json.loads`, nothing else) and
"start-up" (`meshsim report` on the same run directory without its records
and traces: the CLI, its imports and writing the reports).

Runs: "soak" (the 10-minute chaos soak of issue #21: 58,200 requests at
97 rps, with every request's trace, as meshsim wrote it before bounded disk),
"soak-kept" (the same soak as meshsim writes it now: records and traces
gzip-compressed a member at a time, one kept trace a line, one trace in 8
kept, the default policy's 10 % sample plus its slowest and errors), "hour" (1 hour at 100 rps: 360,000 requests, records
only; its traces would be ~1 GB, which bounded trace storage is for) and
"1e6" (1,000,000 records). Prints a Markdown table (docs/benchmarks.md,
"Report build: memory and time").
"""

from __future__ import annotations

import argparse
import json
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

from meshsim import rundata  # noqa: E402
from tests.report.large_run import write_large_run  # noqa: E402

RUNS = {
    "soak": {"requests": 58_200, "rps": 97.0, "traces": True},
    "soak-kept": {"requests": 58_200, "rps": 97.0, "traces": True},
    "hour": {"requests": 360_000, "rps": 100.0, "traces": False},
    "1e6": {"requests": 1_000_000, "rps": 100.0, "traces": False},
}
KEEP_ONE_IN = 8  # soak-kept: traces kept (the real soak kept 1,183 + 101 + errors of 15,811)
MEMBER_LINES = 100  # soak-kept: lines a gzip member (the writers flush about once a second)


def as_written_now(run: Path) -> None:
    """Rewrite a run of every trace as meshsim writes it now: records and
    traces.jsonl gzip-compressed in members (meshsim.rundata), one kept trace
    (its spans) a line."""
    spans: dict[str, list[bytes]] = {}
    with (run / "traces.jsonl").open("rb") as fh:
        for line in fh:
            for span in json.loads(line):
                if int(span["traceId"], 16) % KEEP_ONE_IN == 0:
                    spans.setdefault(span["traceId"], []).append(
                        json.dumps(span, separators=(",", ":")).encode()
                    )
    (run / "traces.jsonl").unlink()
    lines = [b"[" + b",".join(trace) + b"]\n" for trace in spans.values()]
    _write_members(rundata.gz_path(run / "traces.jsonl"), lines)
    for records in sorted((run / "records").glob("*.jsonl")):
        with records.open("rb") as fh:
            _write_members(rundata.gz_path(records), list(fh))
        records.unlink()


def _write_members(path: Path, lines: list[bytes]) -> None:
    with path.open("wb") as out:
        for i in range(0, len(lines), MEMBER_LINES):
            out.write(rundata.member(b"".join(lines[i : i + MEMBER_LINES])))


# the floor the report is compared with: every line of what it reads, json.loads'd
JSON_PASS = (
    "import json, sys; from pathlib import Path; run = Path(sys.argv[1])\n"
    "from meshsim import rundata\n"
    "files = sorted(run.glob('records/*.jsonl*')) + sorted(run.glob('traces.jsonl*'))\n"
    "for f in files:\n    for line in rundata.iter_lines(f.with_suffix('') if f.suffix == '.gz'"
    " else f): json.loads(line)"
)
EAGER = (
    "import sys; from pathlib import Path; sys.path.insert(0, {root!r}); "
    "from tests.report.eager.build import build_report; "
    "from meshsim.report import write_reports; "
    "write_reports(build_report(Path(sys.argv[1])), Path(sys.argv[2]))"
)


def measure(
    cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> tuple[float, float, float]:
    """(peak RSS MB, CPU s, wall s) of one child process (run in `cwd`: with
    `python -m`, the meshsim of that directory)."""
    # RUSAGE_CHILDREN's ru_maxrss is the largest of all reaped children so
    # far, so each measurement runs under a fresh Python that reports its own.
    probe = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
        "assert r.returncode in (0, 1), r.stderr; "  # 1: an expectation failed, as in start-up
        "w = time.perf_counter() - t; u = resource.getrusage(resource.RUSAGE_CHILDREN); "
        "print(u.ru_maxrss / 1024, u.ru_utime + u.ru_stime, w)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, *cmd],
        check=True,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
    ).stdout.split()
    return float(out[0]), float(out[1]), float(out[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", default=",".join(RUNS), help="which runs, comma-separated")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--eager", action="store_true", help="also the pre-streaming builder")
    parser.add_argument(
        "--before", type=Path, help="also `meshsim report` run from this checkout (e.g. main)"
    )
    parser.add_argument(
        "--no-bytecode",
        action="store_true",
        help="children compile meshsim's sources every time (PYTHONDONTWRITEBYTECODE)",
    )
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="meshsim-report-bench-") as tmp:
        work = Path(tmp)
        env = dict(os.environ)
        if not args.no_bytecode:
            # An installed meshsim has its bytecode compiled (pip does it); with
            # PYTHONDONTWRITEBYTECODE set (as in some sandboxes), an editable
            # checkout would compile every module on every start instead. The
            # children cache it here; a warm-up start of each checkout fills it.
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        print(f"bytecode: {'compiled every start' if args.no_bytecode else 'cached'}")
        for name in args.runs.split(","):
            spec = RUNS[name]
            run = work / name
            t = time.perf_counter()
            write_large_run(run, **spec)  # type: ignore[arg-type]
            if name == "soak-kept":
                as_written_now(run)
            size = sum(p.stat().st_size for p in run.rglob("*") if p.is_file()) / 1e6
            print(f"{name}: wrote {size:.0f} MB in {time.perf_counter() - t:.0f} s", flush=True)
            empty = work / f"{name}-empty"  # the same run without what takes time to read
            shutil.copytree(run, empty, ignore=shutil.ignore_patterns("*.jsonl", "*.jsonl.gz"))
            shutil.copy(run / "phases.jsonl", empty / "phases.jsonl")
            report = ["-m", "meshsim.cli", "report"]
            builders: dict[str, tuple[list[str], Path | None]] = {
                "json.loads": ([sys.executable, "-c", JSON_PASS, str(run)], None),
                "start-up": ([sys.executable, *report, str(empty), "--out"], None),
                "streaming": ([sys.executable, *report, str(run), "--out"], None),
            }
            if args.before:
                before = [sys.executable, *report, str(run), "--out"]
                builders["before"] = (before, args.before.resolve())
                start_before = [sys.executable, *report, str(empty), "--out"]
                builders["start-up before"] = (start_before, args.before.resolve())
            if args.eager:
                eager = [sys.executable, "-c", EAGER.format(root=str(ROOT)), str(run)]
                builders["eager"] = (eager, None)
            cpu_of: dict[str, float] = {}
            outs = {
                b: [] if b == "json.loads" else [str(work / f"out-{name}-{b}")] for b in builders
            }
            # rounds alternate between the builders, so a change in the shared
            # machine's load falls on all of them alike
            measured: dict[str, list[tuple[float, float, float]]] = {b: [] for b in builders}
            if not args.no_bytecode:
                for cwd in {cwd for _, cwd in builders.values()}:
                    warm = [sys.executable, *report, str(empty), "--out", str(work / "warm")]
                    measure(warm, cwd, env)
            for _ in range(args.rounds):
                for builder, (cmd, cwd) in builders.items():
                    measured[builder].append(measure([*cmd, *outs[builder]], cwd, env))
            for builder, figures in measured.items():
                rss = max(f[0] for f in figures)
                cpu = cpu_of[builder] = statistics.median(f[1] for f in figures)
                wall = statistics.median(f[2] for f in figures)
                ratio = cpu / cpu_of["json.loads"]
                rows.append((name, spec["requests"], f"{size:.0f}", builder, rss, cpu, ratio, wall))
                print(
                    f"  {builder}: {rss:.0f} MB, cpu {cpu:.2f} s ({ratio:.2f}x json.loads), "
                    f"wall {wall:.2f} s",
                    flush=True,
                )
            shutil.rmtree(run)
            shutil.rmtree(empty)
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print()
    print(
        "| run | requests | run dir MB | builder | peak RSS MB | CPU s | CPU / json.loads | wall s |"
    )
    print("|---|---:|---:|---|---:|---:|---:|---:|")
    for name, requests, size, builder, rss, cpu, ratio, wall in rows:
        print(
            f"| {name} | {requests:,} | {size} | {builder} | {rss:.0f} | {cpu:.2f} | "
            f"{ratio:.2f} | {wall:.2f} |"
        )


if __name__ == "__main__":
    main()
