"""Running the Locust CLI as a subprocess that drives load at the ingress.

meshsim never imports locust (it monkey-patches the standard library with
gevent); it starts `python -m locust -f locustfile.py` in its own session, so a
Ctrl-C in the terminal reaches meshsim, which then stops locust with SIGTERM.
Locust flushes its request records on the way out.

Example::

    files = RunDir(run_dir)
    runner = LocustRunner("http://127.0.0.1:8080", scenario.load,
                          records_dir=files.records, log_path=files.locust_log)
    async with runner:                # start() ... stop()
        await runner.wait_first_request(timeout=10)
        ...                           # phases run; records accumulate
    records = read_records(files.records)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from types import TracebackType
from typing import Literal

from meshsim.control.plan import free_ports
from meshsim.errors import MeshError, ScenarioError
from meshsim.load.cohorts import COHORTS_ENV, encode_cohorts
from meshsim.load.records import record_files
from meshsim.scenario.model import LoadSpec

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
# meshsim's Locust plugin: records every request of whichever locustfile runs.
RECORDER = Path(__file__).with_name("meshsim_recorder.py")
REQUESTS_ENV = "MESHSIM_REQUESTS"
# open loop (load.arrival_rate): requests a second, and the most in flight, per process
ARRIVAL_RATE_ENV = "MESHSIM_ARRIVAL_RATE"
IN_FLIGHT_ENV = "MESHSIM_MAX_IN_FLIGHT"

# Seconds a shopper may take to finish its request in flight when stopped;
# a request still running after that is dropped (never half-recorded).
LOCUST_STOP_TIMEOUT_S = 1
_POLL_S = 0.05
# A user's own locust settings must not change a scenario's load, nor a proxy
# variable send the shop's traffic elsewhere.
_PROXY_VARS = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


class LocustRunner:
    """Drives a scenario's load with one Locust process.

    With `load.users == 0` every method is a no-op and no process starts.
    `run_time_s` is passed to locust in whole seconds (at least 1); without it
    locust runs until `stop()`.

    `wait_time` overrides the shoppers' think time (`"0"` for maximum throughput,
    see the locustfile); `client` picks the HTTP client (`"fast"` is
    geventhttpclient, several times cheaper per request than `"requests"`).
    """

    def __init__(
        self,
        host: str,
        load: LoadSpec,
        records_dir: Path,
        log_path: Path,
        run_time_s: float | None = None,
        locust_args: list[str] | None = None,
        *,
        wait_time: str | None = None,
        client: Literal["fast", "requests"] = "fast",
        ready_timeout_s: float = 30.0,
        locustfile: Path | None = None,
    ) -> None:
        """`locustfile` is a team's own Locust file (`load.locustfile`, resolved);
        default: meshsim's users (the shop's journeys, or `load.requests`)."""
        self.host = host
        self.load = load
        self.records_dir = records_dir
        self.log_path = log_path
        self.run_time_s = run_time_s
        self.locust_args = list(locust_args or [])
        self.wait_time = wait_time
        self.client = client
        self.ready_timeout_s = ready_timeout_s
        self.locustfile = locustfile
        self._proc: asyncio.subprocess.Process | None = None
        self._exited: asyncio.Task[int] | None = None
        self._stopping = False
        self._port: int | None = None

    @property
    def enabled(self) -> bool:
        """False when the scenario has no users: nothing is ever started."""
        return self.load.users > 0

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode if self._proc is not None else None

    def command(self) -> list[str]:
        cmd = [
            sys.executable,
            "-m",
            "locust",
            "-f",
            f"{self.locustfile or LOCUSTFILE},{RECORDER}",
            "--headless",
            "--host",
            self.host,
            "--users",
            str(self.locust_users),
            "--spawn-rate",
            str(self.load.spawn_rate if self.load.arrival_rate is None else self.locust_users),
            "--only-summary",
            "--loglevel",
            "WARNING",
            "--stop-timeout",
            str(LOCUST_STOP_TIMEOUT_S),
            # Failed requests are the mesh's business (records, verdicts);
            # a non-zero exit then means locust itself went wrong.
            "--exit-code-on-error",
            "0",
        ]
        if self.run_time_s is not None:
            cmd += ["--run-time", f"{max(1, round(self.run_time_s))}s"]
        if self.load.workers:
            # Locust's master/worker mode, forked from this one process; the
            # master listens on loopback only, on a port of its own (its
            # default, 5557 on every interface, would clash between runs).
            port = str(self._master_port())
            cmd += ["--processes", str(self.load.workers), "--master-bind-host", "127.0.0.1"]
            cmd += ["--master-bind-port", port, "--master-host", "127.0.0.1", "--master-port", port]
        return cmd + self.locust_args

    @property
    def locust_users(self) -> int:
        """Locust users to start: the shoppers (closed loop), or one arrival
        generator per process (open loop: `load.arrival_rate`)."""
        if self.load.arrival_rate is None:
            return self.load.users
        return self.load.workers or 1

    def _master_port(self) -> int:
        if self._port is None:
            # Locust binds it a second or two later, once imported: picked below
            # the ephemeral range as a mesh's ports are (control/plan.py), since
            # a port from bind(0) could meanwhile become the source port of any
            # connection the mesh opens, and Locust would fail to start.
            self._port = free_ports(1)[0]
        return self._port

    def environment(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("LOCUST_") and k.lower() not in _PROXY_VARS
        }
        env.update(
            MESHSIM_RECORDS=str(self.records_dir.resolve()),
            MESHSIM_JOURNEYS=json.dumps(dict(self.load.journeys)),
            MESHSIM_CLIENT=self.client,
            MESHSIM_PARENT_PID=str(os.getpid()),
            PYTHONUNBUFFERED="1",
        )
        if self.load.arrival_rate is not None:
            # each process's generator sends its share, with its share of the cap
            generators = self.load.workers or 1
            env[ARRIVAL_RATE_ENV] = repr(self.load.arrival_rate / generators)
            env[IN_FLIGHT_ENV] = str(max(1, -(-self.load.users // generators)))
        else:
            env.pop(ARRIVAL_RATE_ENV, None)
            env.pop(IN_FLIGHT_ENV, None)
        if self.wait_time is not None:
            env["MESHSIM_WAIT"] = self.wait_time
        else:
            env.pop("MESHSIM_WAIT", None)
        if self.load.requests is not None:
            env[REQUESTS_ENV] = json.dumps(
                [r.model_dump(exclude_none=True) for r in self.load.requests]
            )
        else:
            env.pop(REQUESTS_ENV, None)
        if self.load.cohorts:
            env[COHORTS_ENV] = encode_cohorts(self.load.cohorts)
        else:
            env.pop(COHORTS_ENV, None)
        return env

    async def start(self) -> None:
        """Start locust and return once its shoppers are starting.

        Raises MeshError (component "locust", naming the log) if locust exits
        or does not get going within `ready_timeout_s`.
        """
        if not self.enabled:
            return
        if self._proc is not None:
            raise RuntimeError("LocustRunner.start() called twice")
        self.records_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self._proc = await asyncio.create_subprocess_exec(
                *self.command(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                env=self.environment(),
                # No locust.conf / pyproject.toml of the user's is picked up here.
                cwd=self.records_dir,
                start_new_session=True,
            )
        self._exited = asyncio.ensure_future(self._proc.wait())
        ready = self.records_dir / f"locust-{self._proc.pid}.ready"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.ready_timeout_s
        try:
            while not ready.exists():
                await self._raise_if_exited("locust exited before starting its shoppers")
                if loop.time() > deadline:
                    await self.stop()
                    raise MeshError(
                        f"locust did not start within {self.ready_timeout_s:g}s",
                        component="locust",
                        log=self.log_path,
                    )
        except asyncio.CancelledError:
            self._stopping = True
            self._kill()  # Ctrl-C while starting: never leave locust behind
            raise

    async def wait_first_request(self, timeout: float) -> bool:
        """Wait until at least one request is recorded; False on timeout.

        Records are flushed about every 0.25 s, so allow at least a second.
        Always False at once when there are no users.
        """
        if self._proc is None:
            return False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not any(p.stat().st_size > 0 for p in record_files(self.records_dir)):
            if loop.time() > deadline:
                return False
            await self._raise_if_exited("locust exited before sending a request")
        return True

    def check(self) -> None:
        """Raise MeshError if locust has ended on its own, other than by
        finishing `run_time_s` cleanly. Cheap: call it with each progress tick."""
        code = self.returncode
        if code is None or self._stopping:
            return
        if self.run_time_s is not None and code == 0:
            return
        raise MeshError(
            self._died_message(f"locust exited unexpectedly (code {code})"),
            component="locust",
            log=self.log_path,
        )

    async def wait(self) -> int | None:
        """Wait for locust to end by itself (after `run_time_s`)."""
        if self._exited is None:
            return None
        return await self._exited

    async def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM (locust stops shoppers, flushes records, exits), then
        SIGKILL to its whole session after `timeout` seconds. Returns the exit
        code; None when nothing was started. Safe to call more than once."""
        if self._proc is None or self._exited is None:
            return None
        self._stopping = True
        if self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.shield(self._exited), timeout)
            except TimeoutError:
                self._kill()
                await self._exited
            except asyncio.CancelledError:
                self._kill()  # reaped by the wait task; never leave locust behind
                raise
        return self._proc.returncode

    async def __aenter__(self) -> LocustRunner:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _kill(self) -> None:
        assert self._proc is not None
        # Still running, so its pid is still its own session's id: this reaches
        # locust and any `--processes` workers, nothing else.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self._proc.kill()

    async def _raise_if_exited(self, what: str) -> None:
        assert self._exited is not None
        done, _ = await asyncio.wait({self._exited}, timeout=_POLL_S)
        if done:
            code = self._exited.result()
            raise MeshError(
                self._died_message(f"{what} (exit code {code})"),
                component="locust",
                log=self.log_path,
            )

    def _died_message(self, what: str) -> str:
        """`what`, plus the last line locust logged: usually the actual cause."""
        try:
            with self.log_path.open("rb") as f:
                f.seek(max(0, f.seek(0, os.SEEK_END) - 4096))
                lines = [ln.strip() for ln in f.read().decode(errors="replace").splitlines()]
        except OSError:
            return what
        last = next((ln for ln in reversed(lines) if ln), "")
        return f"{what}: {last}" if last else what


# Run in a python of its own: importing locust here would monkey-patch meshsim.
_CHECK = """
import json, sys, traceback
try:
    from locust.util.load_locustfile import load_locustfile
    users, _ = load_locustfile(sys.argv[1])
except BaseException as exc:
    last = traceback.format_exception_only(type(exc), exc)[-1].strip()
    print(json.dumps({"error": last}))
else:
    print(json.dumps({"users": sorted(n for n, u in users.items() if not u.abstract)}))
"""


async def check_locustfile(path: Path, timeout: float = 60.0) -> list[str]:
    """Import a team's locustfile the way Locust does, in a subprocess; return
    its User classes. ScenarioError (exit 2) naming the file and Locust's
    error when it does not import or has no User class."""
    where = "load.locustfile"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _CHECK,
        str(path),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=path.parent,
        start_new_session=True,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except (TimeoutError, asyncio.CancelledError):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        raise
    lines = [ln for ln in out.decode(errors="replace").splitlines() if ln.startswith("{")]
    result = json.loads(lines[-1]) if lines else {"error": out.decode(errors="replace")[-300:]}
    if "error" in result:
        raise ScenarioError(
            f"the locustfile does not import: {result['error']}", file=path, field=where
        )
    users = list(result.get("users") or [])
    if not users:
        raise ScenarioError(
            "the locustfile defines no User class; meshsim runs its HttpUser or "
            "FastHttpUser subclasses (with @task methods) against the ingress gateway",
            file=path,
            field=where,
        )
    return users
