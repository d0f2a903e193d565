"""What seeing the mesh costs: the baseline scenario with telemetry on and off.

Runs `meshsim up scenarios/baseline.yaml` alternately with telemetry on (the
default: /stats/prometheus scraped every 2 s, Zipkin tracing of every request
into meshsim's collector, access logs on every proxy) and off
(`--no-telemetry`). Shoppers keep Locust's think time (0.05–0.15 s), so
10 users (the scenario's) offer a fixed ~90 rps and the figure to compare is
CPU per request; `--users 80` offers more than the mesh serves on two shared
cores, so the mesh sets the pace and rps is its throughput. For each run it
reads the steady phase from report.json and the CPU time of the whole
process tree (meshsim, Envoys, apps, Locust) from the kernel's accounting of
reaped children.

    python benchmarks/telemetry_cost.py                 # 4 rounds, 10 users
    python benchmarks/telemetry_cost.py --users 80      # saturated

Prints a Markdown table (docs/benchmarks.md, "Telemetry cost").
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from meshsim import rundata
from meshsim.rundir import RunDir

ROOT = Path(__file__).resolve().parents[1]


# --modes: what each collects (the scenario's `telemetry` key); "off" is --no-telemetry
MODES = {
    "on": "",
    "off": "",
    "metrics": "telemetry: {tracing: false, access_logs: false}\n",
    "tracing": "telemetry: {metrics: false, access_logs: false}\n",
    "access_logs": "telemetry: {metrics: false, tracing: false}\n",
}


def one_run(mode: str, users: int, scale: float, work: Path) -> dict[str, float | None]:
    scenario = work / f"baseline-{mode}.yaml"
    text = (ROOT / "scenarios" / "baseline.yaml").read_text()
    scenario.write_text(text.replace("users: 10", f"users: {users}").replace(
        "phases:", MODES[mode] + "phases:"))  # fmt: skip
    telemetry = mode != "off"
    run_dir = work / f"run-{mode}-{len(list(work.iterdir()))}"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cmd = [sys.executable, "-m", "meshsim.cli", "up", str(scenario), "--ingress-port", "0",
           "--time-scale", str(scale), "--run-dir", str(run_dir)]  # fmt: skip
    if not telemetry:
        cmd.append("--no-telemetry")
    subprocess.run(cmd, check=False, capture_output=True, timeout=600)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    try:
        report = json.loads((run_dir / "report.json").read_text())
    except (OSError, ValueError):
        return {"rps": None}
    steady = next(p for p in report["phases"] if p["name"] == "steady")
    total = report["totals"]["requests"]
    # on disk in whichever form the run wrote (plain, or .gz: meshsim.rundata)
    sizes = {name: rundata.total_size(run_dir / name) for name in ("traces.jsonl", "metrics.jsonl")}
    logs = sum(rundata.total_size(p) for p, _, _ in RunDir(run_dir).access_logs())
    return {
        "rps": steady["rps"],
        "p50": steady["latency_ms"]["p50"],
        "p99": steady["latency_ms"]["p99"],
        "errors": steady["error_rate"] or 0.0,
        "cpu_ms_per_request": 1000 * cpu / max(total, 1),
        "traces_kb_per_request": sizes["traces.jsonl"] / 1024 / max(total, 1),
        "metrics_kb": sizes["metrics.jsonl"] / 1024,
        "logs_kb_per_request": logs / 1024 / max(total, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument(
        "--modes", default="on,off", help=f"comma-separated, of: {', '.join(MODES)}"
    )
    args = parser.parse_args()
    modes = args.modes.split(",")
    results: dict[str, list[dict[str, float | None]]] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory(prefix="meshsim-telemetry-cost-") as tmp:
        for i in range(args.rounds):
            for mode in modes if i % 2 == 0 else modes[::-1]:
                r = one_run(mode, args.users, args.time_scale, Path(tmp))
                ok = all(v is not None for v in r.values())
                if ok:
                    results[mode].append(r)
                print(f"round {i + 1} telemetry {mode}"
                      f"{'' if ok else ' (left out: incomplete)'}: "
                      + ", ".join(f"{k} {v}" for k, v in r.items()), file=sys.stderr)  # fmt: skip
    print("| telemetry | runs | rps (steady) | p50 ms | p99 ms | CPU ms / request "
          "| traces KB / request | access logs KB / request |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for mode in modes:
        rs = results[mode]

        def med(key: str, rs: list[dict[str, float | None]] = rs) -> float:
            return statistics.median(float(r[key] or 0.0) for r in rs)

        print(
            f"| {mode} | {len(rs)} | {med('rps'):.0f} | {med('p50'):.2f} "
            f"| {med('p99'):.1f} | {med('cpu_ms_per_request'):.2f} "
            f"| {med('traces_kb_per_request'):.2f} | {med('logs_kb_per_request'):.2f} |"
        )


if __name__ == "__main__":
    main()
