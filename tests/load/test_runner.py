"""LocustRunner without starting locust: command line, environment, no-op runner."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from meshsim.load import LOCUSTFILE, LocustRunner
from meshsim.load.runner import RECORDER
from meshsim.scenario.model import LoadSpec


def runner(tmp_path: Path, **kw: object) -> LocustRunner:
    load = kw.pop("load", LoadSpec(users=20, spawn_rate=5))
    return LocustRunner(
        "http://127.0.0.1:8080",
        load,  # type: ignore[arg-type]
        tmp_path / "records",
        tmp_path / "logs" / "locust.log",
        **kw,  # type: ignore[arg-type]
    )


def test_a_teams_locustfile_runs_with_the_recorder_and_requests_go_as_json(
    tmp_path: Path,
) -> None:
    mine = tmp_path / "mine.py"
    cmd = runner(tmp_path, locustfile=mine).command()
    assert cmd[3:5] == ["-f", f"{mine},{RECORDER}"]
    load = LoadSpec.model_validate(
        {"users": 2, "requests": [{"name": "quote", "path": "/quotes/42", "weight": 3}]}
    )
    env = runner(tmp_path, load=load).environment()
    assert json.loads(env["MESHSIM_REQUESTS"]) == [
        {"name": "quote", "method": "GET", "path": "/quotes/42", "weight": 3.0, "headers": {}}
    ]
    assert "MESHSIM_REQUESTS" not in runner(tmp_path).environment()


def test_command(tmp_path: Path) -> None:
    cmd = runner(tmp_path).command()
    # meshsim's users, with its recording plugin beside them
    assert cmd[:5] == [sys.executable, "-m", "locust", "-f", f"{LOCUSTFILE},{RECORDER}"]
    assert LOCUSTFILE.is_file() and RECORDER.is_file()
    joined = " ".join(cmd)
    for flag in (
        "--headless",
        "--host http://127.0.0.1:8080",
        "--users 20",
        "--spawn-rate 5.0",
        "--only-summary",
        "--loglevel WARNING",
        "--stop-timeout 1",
        "--exit-code-on-error 0",
    ):
        assert flag in joined
    assert "--run-time" not in cmd
    assert "--web-port" not in cmd


def test_run_time_is_whole_seconds_and_extra_args_last(tmp_path: Path) -> None:
    cmd = runner(tmp_path, run_time_s=2.6, locust_args=["--csv", "x"]).command()
    assert cmd[cmd.index("--run-time") + 1] == "3s"
    assert cmd[-2:] == ["--csv", "x"]
    cmd = runner(tmp_path, run_time_s=0.2).command()
    assert cmd[cmd.index("--run-time") + 1] == "1s"


def test_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCUST_RUN_TIME", "1s")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy:3128")
    monkeypatch.setenv("https_proxy", "http://proxy:3128")
    monkeypatch.setenv("MESHSIM_WAIT", "0")
    load = LoadSpec(users=3, journeys={"browse": 1, "place_order": 0.5})
    env = runner(tmp_path, load=load).environment()
    assert "LOCUST_RUN_TIME" not in env
    assert "HTTP_PROXY" not in env and "https_proxy" not in env
    assert "MESHSIM_WAIT" not in env  # only an explicit wait_time overrides
    assert json.loads(env["MESHSIM_JOURNEYS"]) == {"browse": 1, "place_order": 0.5}
    assert env["MESHSIM_RECORDS"] == str((tmp_path / "records").resolve())
    assert env["MESHSIM_CLIENT"] == "fast"
    env = runner(tmp_path, wait_time="0", client="requests").environment()
    assert env["MESHSIM_WAIT"] == "0" and env["MESHSIM_CLIENT"] == "requests"


def test_cohorts_reach_locust_only_when_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MESHSIM_COHORTS", '[{"name":"stale","share":1}]')
    assert "MESHSIM_COHORTS" not in runner(tmp_path).environment()
    load = LoadSpec.model_validate(
        {"cohorts": [{"name": "beta", "share": "25%", "headers": {"end-user": "beta-tester"}}]}
    )
    env = runner(tmp_path, load=load).environment()
    assert json.loads(env["MESHSIM_COHORTS"]) == [
        {"name": "beta", "share": 0.25, "headers": {"end-user": "beta-tester"}}
    ]


async def test_zero_users_starts_nothing(tmp_path: Path) -> None:
    r = runner(tmp_path, load=LoadSpec(users=0))
    assert not r.enabled
    async with r:
        assert r.pid is None
        assert await r.wait_first_request(timeout=5) is False
        r.check()
    assert await r.stop() is None
    assert not (tmp_path / "records").exists()


def test_importing_meshsim_load_does_not_import_locust_or_gevent() -> None:
    code = (
        "import sys, meshsim.load; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('locust', 'gevent')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


def test_open_loop_starts_one_generator_per_process_with_its_share(tmp_path: Path) -> None:
    load = LoadSpec(users=25, arrival_rate=50)
    r = runner(tmp_path, load=load)
    cmd = " ".join(r.command())
    assert "--users 1 " in cmd and "--processes" not in cmd
    env = r.environment()
    assert float(env["MESHSIM_ARRIVAL_RATE"]) == 50.0 and env["MESHSIM_MAX_IN_FLIGHT"] == "25"
    r = runner(tmp_path, load=LoadSpec(users=25, arrival_rate=50, workers=2))
    cmd = " ".join(r.command())
    assert "--users 2 " in cmd and "--processes 2" in cmd
    env = r.environment()
    assert float(env["MESHSIM_ARRIVAL_RATE"]) == 25.0 and env["MESHSIM_MAX_IN_FLIGHT"] == "13"
    closed = runner(tmp_path).environment()
    assert "MESHSIM_ARRIVAL_RATE" not in closed and "MESHSIM_MAX_IN_FLIGHT" not in closed


def test_workers_use_locusts_master_on_loopback_on_a_port_of_its_own(tmp_path: Path) -> None:
    cmd = runner(tmp_path, load=LoadSpec(users=20, workers=3)).command()
    joined = " ".join(cmd)
    assert "--users 20" in joined and "--processes 3" in joined
    assert "--master-bind-host 127.0.0.1" in joined and "--master-host 127.0.0.1" in joined
    port = cmd[cmd.index("--master-bind-port") + 1]
    assert cmd[cmd.index("--master-port") + 1] == port and port != "5557"
