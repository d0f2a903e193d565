from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from rich.console import Console

from meshsim.console import ConsoleProgress, print_error, print_info, print_report, print_table
from meshsim.events import EventBus, Progress, RunInfo
from meshsim.report import Report, build_report
from tests.report.runs import T0, RunDir, steady


def plain_console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=140, force_terminal=False, color_system=None), buffer


@pytest.fixture
def report(run_dir: RunDir) -> Report:
    phases = [("baseline", 10.0, ["error_rate < 1%", "p99 < 1ms"])]
    return build_report(run_dir.write(phases=phases, records=steady(1, 11, latency_us=2_000)))


def test_print_report(report: Report) -> None:
    console, out = plain_console()
    print_report(report, [Path("report/report.json")], console=console)
    text = out.getvalue()
    assert "Phases" in text and "Expectations" in text
    assert "p99 < 1ms" in text and "✘" in text and "✔" in text
    assert "FAIL" in text and "demo: 1 of 2 expectations held" in text
    assert "wrote report/report.json" in text


def test_messages_are_not_markup() -> None:
    console, out = plain_console()
    print_error("scenarios/x.yaml:3: [bold]phases[/bold] is empty", console=console)
    print_info("see [logs]", console=console)
    assert out.getvalue() == (
        "error: scenarios/x.yaml:3: [bold]phases[/bold] is empty\nsee [logs]\n"
    )


def test_print_table() -> None:
    console, out = plain_console()
    print_table(
        "instances",
        ["instance", "pid"],
        [["product-v1-0", 4242], ["user-v1-0", None]],
        console=console,
    )
    text = out.getvalue()
    assert "instances" in text and "product-v1-0" in text and "4242" in text and "None" not in text


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


RUN = RunInfo("run-1", Path("."), "demo", "local", ["product-v1-0"], "http://127.0.0.1:8080")


def test_plain_progress_for_ci_logs_is_throttled() -> None:
    console, out = plain_console()
    clock = Clock()
    progress = ConsoleProgress(console, total_phases=2, clock=clock)
    assert not progress.live
    bus = EventBus([progress])
    bus.run_started(RUN)
    bus.step("starting product-v1-0")
    bus.mesh_ready(RUN, 2.5)
    bus.phase_started("baseline", 0, 15.0)
    for tenth in range(1, 151):  # 10 snapshots a second for 15 s
        clock.now = 100.0 + tenth / 10
        bus.progress(Progress("baseline", 0, tenth / 10, 15.0, tenth * 2, 0, 20.0, 12.5))
    bus.phase_ended("baseline", 0, "completed")
    bus.run_finished(RUN, "completed", None)
    lines = out.getvalue().splitlines()
    progress_lines = [line for line in lines if "req/s" in line]
    assert len(progress_lines) == 3  # at 5, 10 and 15 s
    assert any("phase 1/2 baseline" in line for line in lines)
    assert any("mesh ready in 2.5s" in line for line in lines)
    assert any("starting product-v1-0" in line for line in lines)
    assert "phase baseline completed: 300 requests, errors 0%, p99 12.5 ms" in lines[-2]
    assert "run run-1 completed" in lines[-1]


def test_a_long_run_shows_its_disk_use(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "order.log").write_bytes(b"x" * 3 * 2**20)
    console, out = plain_console()
    clock = Clock()
    progress = ConsoleProgress(console, total_phases=1, clock=clock)
    progress.run_started(RunInfo("run-1", tmp_path, "soak", "local"))
    progress.phase_started("chaos", 0, 120.0)
    for second in (10, 70):  # a short run says nothing of its disk, a long one does
        clock.now = 100.0 + second
        progress.progress(Progress("chaos", 0, second, 120.0, 10, 0, 1.0, 5.0))
    lines = [line for line in out.getvalue().splitlines() if "req/s" in line]
    assert len(lines) == 2
    assert "run dir" not in lines[0]
    assert lines[1].endswith("· run dir 3 MB")


def test_live_progress_on_a_terminal() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=120, force_terminal=True)
    with ConsoleProgress(console, total_phases=1) as progress:
        assert progress.live
        progress.run_started(RUN)
        progress.step("writing Envoy configuration")
        progress.mesh_ready(RUN, 1.0)
        progress.phase_started("baseline", 0, 10.0)
        progress.progress(Progress("baseline", 0, 1.0, 10.0, 20, 1, 20.0, 5.0))
        time.sleep(0.3)  # let the live display refresh once
        progress.phase_ended("baseline", 0, "interrupted")
        progress.run_finished(RUN, "interrupted", None)
    text = buffer.getvalue()
    assert "left" in text and "req/s" in text  # the live line was drawn
    assert "phase baseline interrupted" in text


def test_phase_count_comes_from_the_run_directory(run_dir: RunDir) -> None:
    path = run_dir.write(phases=[("a", 5.0, []), ("b", 5.0, [])], records=[])
    console, out = plain_console()
    progress = ConsoleProgress(console)
    progress.run_started(RunInfo("run-1", path, "demo", "local"))
    progress.phase_started("b", 1, 5.0)
    assert "phase 2/2 b" in out.getvalue()


def test_a_settle_is_shown_as_it_happens_and_in_the_report(run_dir: RunDir) -> None:
    console, out = plain_console()
    progress = ConsoleProgress(console, total_phases=1, clock=Clock())
    EventBus([progress]).phase_settled("crash", 0, 2.0)
    assert "crash settled after 2s: expectations are judged from here" in out.getvalue()

    events = [
        {"event": "run_start", "t": T0},
        {"event": "phase_start", "phase": "crash", "index": 0, "t": T0 + 1, "settle_s": 2.0},
        {"event": "phase_settled", "phase": "crash", "index": 0, "t": T0 + 3},
        {"event": "phase_end", "phase": "crash", "index": 0, "t": T0 + 11, "status": "completed"},
        {"event": "run_end", "t": T0 + 11.5, "status": "completed"},
    ]
    records = steady(1, 3, ok=False) + steady(3, 11)
    phases = [("crash", 10.0, ["error_rate < 1%"])]
    report = build_report(run_dir.write(phases=phases, records=records, events=events))
    console, out = plain_console()
    print_report(report, console=console)
    text = out.getvalue()
    assert "crash judged after a 2s settle: 80 requests, errors 0%" in text
    assert "(whole phase: errors 20%" in text and "after 2s settle" in text
