"""What a long run costs meshsim itself: the soak scenario, sampled every second.

Runs `meshsim up scenarios/soak.yaml` (chaos every minute for ten minutes,
shortened with --time-scale) in a child process and samples that process with
psutil once a second: its resident memory, open files and threads (meshsim's
own, not the Envoys', apps' or Locust's it starts). Every process it started
(its descendants, seen while sampling) is checked again after it exits: one
still alive is a leak. At the end it measures the run directory's disk use,
broken down by kind (its top-level files and folders: records, logs,
traces.jsonl.gz, metrics.jsonl, ...), the trace-keeping counts of its
run.json, and runs every command that reads a finished run on it (`meshsim
report`, `traces`, `logs`, `graph`), with its exit code and time. Prints a
Markdown table and writes JSON (docs/benchmarks.md, "A long run: the soak").

    python benchmarks/soak.py --time-scale 0.5 --out benchmarks/soak.json
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
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]


def sample(proc: psutil.Process) -> dict[str, float] | None:
    """One sample of meshsim's own process; None once it has gone."""
    try:
        with proc.oneshot():
            return {
                "rss_mb": proc.memory_info().rss / 2**20,
                "open_files": float(proc.num_fds()),
                "threads": float(proc.num_threads()),
            }
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None


def disk_by_kind(run_dir: Path) -> dict[str, int]:
    """Bytes under each top-level entry of the run directory, largest first."""
    sizes: dict[str, int] = {}
    for entry in run_dir.iterdir():
        files = [entry] if entry.is_file() else [p for p in entry.rglob("*") if p.is_file()]
        sizes[entry.name] = sum(p.stat().st_size for p in files)
    return dict(sorted(sizes.items(), key=lambda kv: -kv[1]))


def summary(values: list[float]) -> dict[str, float]:
    """At 10 % and 90 % of the run (after start-up, before the end), median,
    max and the last sample (the report being built)."""
    at = lambda f: values[min(len(values) - 1, int(len(values) * f))]  # noqa: E731
    return {
        "at_10pct": round(at(0.1), 1),
        "median": round(statistics.median(values), 1),
        "at_90pct": round(at(0.9), 1),
        "max": round(max(values), 1),
        "last": round(values[-1], 1),
    }


READERS = (["report"], ["traces", "--limit", "3"], ["logs", "--status", "5xx"], ["graph"])


def readers(run_dir: Path) -> list[dict[str, Any]]:
    """Every command that reads a finished run, on this one: exit code, time."""
    out = []
    for args in READERS:
        t0 = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "meshsim.cli", args[0], str(run_dir), *args[1:]],
            capture_output=True,
            check=False,
        )
        out.append(
            {
                "argv": " ".join([args[0], "RUN_DIR", *args[1:]]),
                "exit_code": done.returncode,
                "wall_s": round(time.monotonic() - t0, 2),
                "stderr_tail": done.stderr.decode("utf-8", "replace")[-300:],
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--time-scale", type=float, default=1.0, help="passed to meshsim up")
    parser.add_argument("--scenario", type=Path, default=ROOT / "scenarios" / "soak.yaml")
    parser.add_argument("--out", type=Path, help="write the figures here as JSON")
    args = parser.parse_args()
    load_before = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="meshsim-soak-bench-"))
    run_dir = tmp / "run"
    argv = [sys.executable, "-m", "meshsim.cli", "up", str(args.scenario)]
    argv += ["--ingress-port", "0", "--time-scale", str(args.time_scale), "--run-dir", str(run_dir)]
    samples: list[dict[str, float]] = []
    started: dict[int, float] = {}  # pid -> create_time of every descendant seen
    loads: list[float] = []
    t0 = time.monotonic()
    try:
        with subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as child:
            proc = psutil.Process(child.pid)
            while child.poll() is None:
                got = sample(proc)
                if got is not None:
                    samples.append({"t": round(time.monotonic() - t0, 1), **got})
                    loads.append(os.getloadavg()[0])
                try:
                    for c in proc.children(recursive=True):
                        started.setdefault(c.pid, c.create_time())
                except psutil.NoSuchProcess:
                    pass
                time.sleep(1.0)
            stderr = child.stderr.read().decode("utf-8", "replace") if child.stderr else ""
        wall = time.monotonic() - t0
        left = [
            pid
            for pid, created in started.items()
            if psutil.pid_exists(pid) and psutil.Process(pid).create_time() == created
        ]
        disk = disk_by_kind(run_dir)
        requests = sum(
            p["requests"]
            for p in json.loads((run_dir / "report.json").read_text(encoding="utf-8"))["phases"]
        )
        keeping = json.loads((run_dir / "run.json").read_text(encoding="utf-8")).get(
            "trace_keeping"
        )
        commands = readers(run_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result: dict[str, Any] = {
        "scenario": str(args.scenario.relative_to(ROOT)),
        "time_scale": args.time_scale,
        "exit_code": child.returncode,
        "wall_s": round(wall, 1),
        "samples": len(samples),
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_1m_during": summary(loads) if loads else None,
        "rss_mb": summary([s["rss_mb"] for s in samples]),
        "open_files": summary([s["open_files"] for s in samples]),
        "threads": summary([s["threads"] for s in samples]),
        "processes_started": len(started),
        "processes_left": len(left),
        "requests": requests,
        "disk_mb": {k: round(v / 2**20, 2) for k, v in disk.items()},
        "disk_mb_total": round(sum(disk.values()) / 2**20, 1),
        "disk_mb_per_1000_requests": round(sum(disk.values()) / 2**20 / max(requests, 1) * 1000, 2),
        "trace_keeping": keeping,
        "commands": commands,
        "rss_timeline": [[s["t"], round(s["rss_mb"], 1)] for s in samples],
    }
    if child.returncode != 0:
        print(stderr[-2000:], file=sys.stderr)
    print(
        f"meshsim up {result['scenario']} --time-scale {args.time_scale}: exit {child.returncode}"
    )
    print(f"{wall:.0f} s, {requests} requests, load average 1 min {result['load_avg_1m_during']}")
    print(
        "\n| meshsim's own | at 10 % | median | at 90 % | max | last |\n|---|---:|---:|---:|---:|---:|"
    )
    for key in ("rss_mb", "open_files", "threads"):
        s = result[key]
        row = (s["at_10pct"], s["median"], s["at_90pct"], s["max"], s["last"])
        print(f"| {key} | " + " | ".join(str(v) for v in row) + " |")
    print(f"\nprocesses started {len(started)}, still alive after: {len(left)}")
    print("\n| run directory | MB |\n|---|---:|")
    for name, mb in result["disk_mb"].items():
        print(f"| {name} | {mb} |")
    print(f"| total | {result['disk_mb_total']} |")
    print(f"\ndisk per 1,000 requests: {result['disk_mb_per_1000_requests']} MB")
    print(f"traces kept: {keeping}")
    for command in commands:
        print(f"meshsim {command['argv']}: exit {command['exit_code']} in {command['wall_s']} s")
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
