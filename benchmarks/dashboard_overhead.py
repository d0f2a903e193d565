"""What watching costs: the baseline scenario without a dashboard, with one
served and nobody looking, and with a headless Chromium attached to it.

Runs `meshsim up scenarios/baseline.yaml` in three modes, alternating their
order each round so that all see the same machine:

- `off`: no `--dashboard` (the baseline every ratio is taken against, in the
  same round);
- `served`: `--dashboard`, no page open (the server refreshing nothing but
  its own state);
- `browser`: `--dashboard` and Debian's `chromium` (headless, Playwright)
  on the page for the whole run, receiving the event stream.

For the steady phase only (so start-up and the report build are left out) it
reads the rps and p99 from report.json, and samples every 0.2 s the CPU time of
meshsim's own processes (the runner, and the dashboard's server, which `up
--dashboard` starts as a process of its own), of the whole mesh (meshsim,
Envoys, apps, Locust, the dashboard) and of the browser's processes. Shoppers keep Locust's
think time, so the scenario's 10 users offer a fixed ~90 rps and the figure to
compare is CPU per request; `--users 80` offers more than two shared cores
serve, and rps becomes the mesh's throughput.

    python benchmarks/dashboard_overhead.py                  # 3 rounds, 10 users
    python benchmarks/dashboard_overhead.py --users 80 --rounds 2

Prints a Markdown table (docs/benchmarks.md, "Dashboard overhead").
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
MODES = ("off", "served", "browser")
DASHBOARD_LINE = re.compile(r"^dashboard: (http://127\.0\.0\.1:\d+/)\s*$", re.MULTILINE)
SAMPLE_S = 0.2


def cpu_of(procs: list[psutil.Process]) -> dict[int, float]:
    out = {}
    for p in procs:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            out[p.pid] = t.user + t.system
    return out


class Sampler(threading.Thread):
    """CPU seconds per process, every SAMPLE_S: meshsim itself, its whole
    tree, and the browser's processes (the children of Playwright's driver)."""

    def __init__(self, meshsim: psutil.Process) -> None:
        super().__init__(daemon=True)
        self.meshsim = meshsim
        self.me = psutil.Process()
        self.samples: list[tuple[float, dict[str, dict[int, float]]]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(SAMPLE_S):
            try:
                tree = [self.meshsim, *self.meshsim.children(recursive=True)]
            except psutil.Error:
                return
            tree_pids = {p.pid for p in tree}
            # `meshsim up --dashboard` serves from a process of its own (python -m meshsim.dashboard)
            dashboard = [p for p in tree if "meshsim.dashboard" in " ".join(_cmdline(p))]
            browser = [
                p
                for p in self.me.children(recursive=True)
                if p.pid not in tree_pids and "chrom" in (_name(p) or "")
            ]
            self.samples.append(
                (
                    time.time(),
                    {
                        "meshsim": cpu_of([self.meshsim, *dashboard]),
                        "dashboard": cpu_of(dashboard),
                        "mesh": cpu_of(tree),
                        "browser": cpu_of(browser),
                    },
                )
            )

    def between(self, start: float, end: float) -> dict[str, float]:
        """CPU seconds each group spent from `start` to `end` (wall clock),
        from the first sample at or after `start` to the last before `end`."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < 2:
            raise RuntimeError("fewer than two CPU samples inside the steady phase")
        (t0, first), (t1, last) = inside[0], inside[-1]
        out = {"seconds": t1 - t0}
        for group in first:
            out[group] = sum(v - first[group].get(pid, 0.0) for pid, v in last[group].items())
        return out


def _cmdline(p: psutil.Process) -> list[str]:
    try:
        return p.cmdline()
    except psutil.Error:
        return []


def _name(p: psutil.Process) -> str | None:
    try:
        return p.name()
    except psutil.Error:
        return None


def steady_window(run_dir: Path) -> tuple[float, float]:
    start = end = None
    for line in (run_dir / "phases.jsonl").read_text().splitlines():
        e = json.loads(line)
        if e.get("phase") == "steady" and e["event"] == "phase_start":
            start = e["t"]
        if e.get("phase") == "steady" and e["event"] == "phase_end":
            end = e["t"]
    if start is None or end is None:
        raise RuntimeError(f"{run_dir}: no steady phase in phases.jsonl")
    return start, end


@contextlib.contextmanager
def browser_on(url: str) -> Iterator[None]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=shutil.which("chromium") or "/usr/bin/chromium",
            headless=True,
            args=["--no-sandbox"],
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(url)
            page.wait_for_function("document.body.dataset.connected === 'true'", timeout=60_000)
            yield
        finally:
            browser.close()


def one_run(mode: str, users: int, scale: float, work: Path) -> dict[str, float] | None:
    scenario = work / "baseline.yaml"
    text = (ROOT / "scenarios" / "baseline.yaml").read_text()
    scenario.write_text(text.replace("users: 10", f"users: {users}"))
    run_dir = work / f"run-{mode}-{len(list(work.iterdir()))}"
    log = work / f"{run_dir.name}.log"
    cmd = [sys.executable, "-m", "meshsim.cli", "up", str(scenario), "--ingress-port", "0",
           "--time-scale", str(scale), "--run-dir", str(run_dir)]  # fmt: skip
    if mode != "off":
        cmd.append("--dashboard")
    with log.open("wb") as out, subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT) as proc:
        sampler = Sampler(psutil.Process(proc.pid))
        sampler.start()
        try:
            if mode == "browser":
                url = wait_url(proc, log)
                with browser_on(url):
                    proc.wait(timeout=600)
            else:
                proc.wait(timeout=600)
        finally:
            sampler.stop.set()
            sampler.join()
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=60)
    try:
        report = json.loads((run_dir / "report.json").read_text())
        start, end = steady_window(run_dir)
        cpu = sampler.between(start, end)
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"  {mode}: left out ({exc}); see {log}", file=sys.stderr)
        return None
    steady = next(p for p in report["phases"] if p["name"] == "steady")
    served = steady["rps"] * cpu["seconds"]  # requests inside the sampled window
    return {
        "rps": steady["rps"],
        "p99": steady["latency_ms"]["p99"],
        "meshsim_ms_per_request": 1000 * cpu["meshsim"] / max(served, 1),
        "dashboard_ms_per_request": 1000 * cpu["dashboard"] / max(served, 1),
        "mesh_ms_per_request": 1000 * cpu["mesh"] / max(served, 1),
        "browser_cpu_percent": 100 * cpu["browser"] / cpu["seconds"],
    }


def wait_url(proc: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = DASHBOARD_LINE.search(log.read_text(errors="replace"))
        if found:
            return found.group(1)
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(f"no dashboard line in {log}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--time-scale", type=float, default=1.0)
    args = parser.parse_args()
    os.environ.setdefault("MESHSIM_HOME", tempfile.mkdtemp(prefix="meshsim-home-"))
    rounds: list[dict[str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory(prefix="meshsim-dashboard-overhead-") as tmp:
        for i in range(args.rounds):
            this: dict[str, dict[str, float]] = {}
            for mode in MODES if i % 2 == 0 else MODES[::-1]:
                r = one_run(mode, args.users, args.time_scale, Path(tmp))
                if r is not None:
                    this[mode] = r
                print(f"round {i + 1} {mode}: {r}", file=sys.stderr)
            if "off" in this:
                rounds.append(this)
    print_table(rounds)


def print_table(rounds: list[dict[str, dict[str, float]]]) -> None:
    print("| dashboard | runs | rps (steady) | rps / off | p99 ms | meshsim CPU ms / request "
          "| / off | of which dashboard | mesh CPU ms / request | / off | browser CPU % of a core |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for mode in MODES:
        rs = [r for r in rounds if mode in r]
        if not rs:
            continue

        def med(key: str, rs: list[dict[str, dict[str, float]]] = rs, m: str = mode) -> float:
            return statistics.median(r[m][key] for r in rs)

        def ratio(key: str, rs: list[dict[str, dict[str, float]]] = rs, m: str = mode) -> float:
            # against the baseline of the same round, then the median of those
            return statistics.median(r[m][key] / max(r["off"][key], 1e-9) for r in rs)

        print(
            f"| {mode} | {len(rs)} | {med('rps'):.0f} | {ratio('rps'):.2f} | {med('p99'):.1f} "
            f"| {med('meshsim_ms_per_request'):.3f} | {ratio('meshsim_ms_per_request'):.2f} "
            f"| {med('dashboard_ms_per_request'):.3f} "
            f"| {med('mesh_ms_per_request'):.2f} | {ratio('mesh_ms_per_request'):.2f} "
            f"| {med('browser_cpu_percent'):.1f} |"
        )


if __name__ == "__main__":
    main()
