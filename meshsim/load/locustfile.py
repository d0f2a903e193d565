"""The shop's shopper journeys, run by the `locust` CLI in its own process.

Never import this module into meshsim's process: locust monkey-patches the
standard library with gevent on import. `meshsim.load.runner` starts it as
`python -m locust -f <this file>` and talks to it only through environment
variables and the record files it writes.

Environment (all optional):

- `MESHSIM_JOURNEYS`: JSON weights, e.g.
  `{"browse":3,"view_product":3,"view_user":1,"place_order":2}`; 0 disables one.
- `MESHSIM_WAIT`: think time between requests of one shopper, in seconds:
  `"0"` (no pause: maximum throughput), `"0.2"` (constant) or `"0.05,0.15"`
  (uniform between). Default `0.05,0.15`: a shopper makes at most ~10 requests
  a second, so 20 shoppers produce at most ~200 rps.
- `MESHSIM_CLIENT`: `fast` (geventhttpclient, default) or `requests`; see
  docs/benchmarks.md for why `fast` is the default.
- `MESHSIM_COHORTS`: JSON cohorts, e.g.
  `[{"name":"beta","share":0.25,"headers":{"end-user":"beta-tester"}}]`. Each
  shopper joins at most one, dealt in the order they start so that the
  cohorts' sizes follow their shares (`meshsim.load.cohorts`; with locust's
  `--processes`, each process deals its own), and sends its headers on every
  request. Only then is meshsim imported here.
- `MESHSIM_RECORDS`: a directory; every request is appended as one JSON line to
  `requests-<pid>.jsonl` in it (format: `meshsim.load.records`). Unset: nothing
  is recorded (plain `locust -f` use by hand).
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent  # type: ignore[import-untyped]  # no stubs; used only here
from locust import FastHttpUser, HttpUser, between, constant, events, task

# Ids that exist in the sample shop: a 404 is never the load generator's fault.
PRODUCT_IDS = range(1, 21)
USER_IDS = range(1, 101)
JOURNEYS = ("browse", "view_product", "view_user", "place_order")
DEFAULT_WEIGHTS = {"browse": 3.0, "view_product": 3.0, "view_user": 1.0, "place_order": 2.0}
FLUSH_EVERY_S = 0.25  # records reach the disk at most ~0.5 s after the request


def _weights() -> tuple[list[str], list[float]]:
    raw = os.environ.get("MESHSIM_JOURNEYS")
    weights = DEFAULT_WEIGHTS if not raw else {str(k): float(v) for k, v in json.loads(raw).items()}
    unknown = set(weights) - set(JOURNEYS)
    if unknown:
        raise ValueError(f"MESHSIM_JOURNEYS: unknown journeys {sorted(unknown)}; known: {JOURNEYS}")
    names = [j for j in JOURNEYS if weights.get(j, 0.0) > 0]
    if not names:
        raise ValueError("MESHSIM_JOURNEYS: at least one journey needs a weight above zero")
    return names, [weights[j] for j in names]


def _wait_time() -> Any:
    raw = os.environ.get("MESHSIM_WAIT", "").strip()
    if not raw:
        return between(0.05, 0.15)
    try:
        parts = [float(p) for p in raw.split(",")]
    except ValueError:
        parts = []
    if len(parts) == 1 and parts[0] >= 0:
        return constant(parts[0])
    if len(parts) == 2 and 0 <= parts[0] <= parts[1]:
        return between(parts[0], parts[1])
    raise ValueError(f"MESHSIM_WAIT={raw!r}: expected seconds such as '0', '0.2' or '0.05,0.15'")


class _Cohorts:
    """Hands each starting shopper its cohort: (name, headers), or (None, None)."""

    def __init__(self, raw: str | None) -> None:
        self._cohorts: list[Any] = []
        self._dealer: Any = None
        if raw and raw.strip():
            # Imported only with cohorts: it loads meshsim (and pydantic) into locust.
            from meshsim.load.cohorts import CohortDealer, decode_cohorts

            self._cohorts = decode_cohorts(raw)
            self._dealer = CohortDealer([c.share for c in self._cohorts])

    def join(self) -> tuple[str | None, dict[str, str] | None]:
        index = self._dealer.next() if self._dealer is not None else None
        if index is None:
            return None, None
        cohort = self._cohorts[index]
        return cohort.name, dict(cohort.headers) or None


_JOURNEY_NAMES, _JOURNEY_WEIGHTS = _weights()
_COHORTS = _Cohorts(os.environ.get("MESHSIM_COHORTS"))
_WAIT = _wait_time()
_CLIENT = os.environ.get("MESHSIM_CLIENT", "fast")
if _CLIENT not in ("fast", "requests"):
    raise ValueError(f"MESHSIM_CLIENT={_CLIENT!r}: expected 'fast' or 'requests'")


def _shop(client: Any, cohort: str | None, headers: dict[str, str] | None) -> None:
    """One journey, picked by weight, with the shopper's cohort headers (if any);
    the request event listener records it."""
    journey = random.choices(_JOURNEY_NAMES, _JOURNEY_WEIGHTS)[0]
    ctx = {"journey": journey, "cohort": cohort}
    if journey == "browse":
        client.get("/products", name="/products", context=ctx, headers=headers)
    elif journey == "view_product":
        pid = random.choice(PRODUCT_IDS)
        client.get(f"/products/{pid}", name="/products/{id}", context=ctx, headers=headers)
    elif journey == "view_user":
        uid = random.choice(USER_IDS)
        client.get(f"/users/{uid}", name="/users/{id}", context=ctx, headers=headers)
    else:
        order = {
            "user_id": random.choice(USER_IDS),
            "items": [{"product_id": random.choice(PRODUCT_IDS), "quantity": 1}],
        }
        client.post("/orders", json=order, name="/orders", context=ctx, headers=headers)


class Shopper(FastHttpUser):
    """The default shopper: geventhttpclient, several times cheaper per request."""

    abstract = _CLIENT != "fast"
    wait_time = _WAIT
    # Longer than Envoy's default route timeout (15 s), so a hung upstream is
    # recorded as the mesh's 504 rather than as the load generator giving up.
    network_timeout = 20.0
    connection_timeout = 5.0
    cohort: str | None = None
    cohort_headers: dict[str, str] | None = None

    def on_start(self) -> None:
        self.cohort, self.cohort_headers = _COHORTS.join()

    @task
    def shop(self) -> None:
        _shop(self.client, self.cohort, self.cohort_headers)


class RequestsShopper(HttpUser):
    """The same journeys over python-requests (MESHSIM_CLIENT=requests)."""

    abstract = _CLIENT != "requests"
    wait_time = _WAIT
    cohort: str | None = None
    cohort_headers: dict[str, str] | None = None

    def on_start(self) -> None:
        self.client.trust_env = False  # never send the shop's traffic via a user's proxy
        self.cohort, self.cohort_headers = _COHORTS.join()

    @task
    def shop(self) -> None:
        _shop(self.client, self.cohort, self.cohort_headers)


class _RecordWriter:
    """Buffers JSON lines and appends them with one write() per flush, so a
    reader sees whole lines only (except, after a crash, a partial last one)."""

    def __init__(self, directory: str | None) -> None:
        self._dir = Path(directory) if directory else None
        self._buf: list[str] = []
        self._fd: int | None = None
        self._pid = 0
        self._last_flush = time.monotonic()

    def add(self, line: str) -> None:
        if self._dir is None:
            return
        self._buf.append(line)
        if time.monotonic() - self._last_flush >= 2 * FLUSH_EVERY_S:
            self.flush()

    def flush(self) -> None:
        self._last_flush = time.monotonic()
        if not self._buf or self._dir is None:
            return
        if self._fd is None or self._pid != os.getpid():  # opened lazily: --processes forks
            self._pid = os.getpid()
            self._dir.mkdir(parents=True, exist_ok=True)
            path = self._dir / f"requests-{self._pid}.jsonl"
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        data = "".join(self._buf).encode()
        self._buf.clear()
        view = memoryview(data)
        while view:  # a regular file takes it all at once; loop only for safety
            view = view[os.write(self._fd, view) :]


_writer = _RecordWriter(os.environ.get("MESHSIM_RECORDS"))


def _header(response: Any, name: str) -> str | None:
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    value = headers.get(name)
    return str(value) if value is not None else None


def _record(
    request_type: str,
    name: str,
    response_time: float,
    response: Any = None,
    context: dict[str, Any] | None = None,
    exception: BaseException | None = None,
    start_time: float | None = None,
    **_: Any,
) -> None:
    # Locust's response_time is float milliseconds from time.perf_counter()
    # around send + body read (both clients, locust 2.47), so it already has
    # sub-microsecond resolution; only its aggregated statistics are rounded.
    status = int(getattr(response, "status_code", 0) or 0)
    error: str | None = None
    if exception is not None:
        error = f"HTTP {status}" if status >= 400 else type(exception).__name__
    upstreams = _header(response, "x-upstreams")
    record = {
        "t": round(start_time if start_time is not None else time.time(), 6),
        "journey": (context or {}).get("journey"),
        "name": f"{request_type} {name}",
        "status": status,
        "ok": exception is None,
        "latency_us": max(1, round(response_time * 1000)),
        "instance": _header(response, "x-served-by"),
        "upstreams": [u.strip() for u in upstreams.split(",") if u.strip()] if upstreams else [],
        "error": error,
        "cohort": (context or {}).get("cohort"),
    }
    _writer.add(json.dumps(record, separators=(",", ":")) + "\n")


def _flush_loop() -> None:
    while True:
        gevent.sleep(FLUSH_EVERY_S)
        _writer.flush()


_PID_AT_IMPORT = os.getpid()


def _watch_parent(parent: int) -> None:
    # meshsim starts locust in a session of its own (so a terminal Ctrl-C goes
    # to meshsim only); if meshsim is killed outright, stop rather than load
    # the mesh forever.
    while os.getpid() == _PID_AT_IMPORT:  # not in `--processes` workers
        gevent.sleep(1.0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)  # locust's own graceful shutdown
            return


def _on_init(environment: Any, **_: Any) -> None:
    gevent.spawn(_flush_loop)
    parent = os.environ.get("MESHSIM_PARENT_PID")
    if parent:
        gevent.spawn(_watch_parent, int(parent))


def _on_test_start(environment: Any, **_: Any) -> None:
    # Tells LocustRunner.start() that the locustfile loaded and shoppers are starting.
    if _writer._dir is not None:
        _writer._dir.mkdir(parents=True, exist_ok=True)
        (_writer._dir / f"locust-{os.getpid()}.ready").touch()


def _on_test_stop(environment: Any, **_: Any) -> None:
    _writer.flush()


def _on_quitting(environment: Any, **_: Any) -> None:
    _writer.flush()


def _on_quit(exit_code: int, **_: Any) -> None:
    _writer.flush()


# Registered by name, not with @events.X.add_listener: locust's EventHook is
# untyped, and a decorator would make each listener untyped for mypy.
_LISTENERS: dict[str, Callable[..., None]] = {
    "request": _record,
    "init": _on_init,
    "test_start": _on_test_start,
    "test_stop": _on_test_stop,
    "quitting": _on_quitting,
    "quit": _on_quit,
}
for _event, _listener in _LISTENERS.items():
    getattr(events, _event).add_listener(_listener)
