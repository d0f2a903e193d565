"""meshsim's users: the shop's shopper journeys (or `load.requests`), run by
the `locust` CLI in its own process.

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
- `MESHSIM_REQUESTS`: JSON `load.requests` of a scenario of one's own services,
  e.g. `[{"name":"quote","method":"GET","path":"/quotes/42","weight":3}]`;
  the users then send these (the name is the journey) instead of the shop's.
- `MESHSIM_COHORTS`: JSON cohorts, e.g.
  `[{"name":"beta","share":0.25,"headers":{"end-user":"beta-tester"}}]`. Each
  shopper joins at most one, dealt in the order they start so that the
  cohorts' sizes follow their shares (`meshsim.load.cohorts`; with locust's
  `--processes`, each process deals its own), and sends its headers on every
  request. Only then is meshsim imported here.
- `MESHSIM_ARRIVAL_RATE`, `MESHSIM_MAX_IN_FLIGHT`: open loop (`load.arrival_rate`):
  requests per second this process sends whatever the answers do, and the
  most it keeps in flight (`OpenLoopShopper`); the closed-loop shoppers are
  then not used.

Requests are recorded by meshsim's plugin, `meshsim_recorder.py`, which the
runner loads beside this file (`-f locustfile.py,meshsim_recorder.py`) and
beside a team's own locustfile alike. This file defines the shop's users only.
"""

from __future__ import annotations

import json
import os
import random
import time
from typing import Any

import gevent  # type: ignore[import-untyped]  # no stubs; used only here
import gevent.pool  # type: ignore[import-untyped]
from locust import FastHttpUser, HttpUser, between, constant, events, task

# Ids that exist in the sample shop: a 404 is never the load generator's fault.
PRODUCT_IDS = range(1, 21)
USER_IDS = range(1, 101)
JOURNEYS = ("browse", "view_product", "view_user", "place_order")
DEFAULT_WEIGHTS = {"browse": 3.0, "view_product": 3.0, "view_user": 1.0, "place_order": 2.0}
REQUESTS_ENV = "MESHSIM_REQUESTS"
ARRIVAL_RATE_ENV = "MESHSIM_ARRIVAL_RATE"  # open loop: requests a second, this process
IN_FLIGHT_ENV = "MESHSIM_MAX_IN_FLIGHT"  # open loop: the most requests in flight at once


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


def _requests() -> list[dict[str, Any]]:
    """`load.requests` (MESHSIM_REQUESTS), for services of a team's own: each
    {name, method, path, weight, headers, body}; [] for the shop's journeys."""
    raw = os.environ.get(REQUESTS_ENV, "").strip()
    if not raw:
        return []
    requests = [r for r in json.loads(raw) if float(r.get("weight", 1)) > 0]
    if not requests:
        raise ValueError(f"{REQUESTS_ENV}: at least one request needs a weight above zero")
    return requests


_REQUESTS = _requests()
_JOURNEY_NAMES, _JOURNEY_WEIGHTS = _weights()
_REQUEST_WEIGHTS = [float(r.get("weight", 1)) for r in _REQUESTS]
_COHORTS = _Cohorts(os.environ.get("MESHSIM_COHORTS"))
_WAIT = _wait_time()
_CLIENT = os.environ.get("MESHSIM_CLIENT", "fast")
if _CLIENT not in ("fast", "requests"):
    raise ValueError(f"MESHSIM_CLIENT={_CLIENT!r}: expected 'fast' or 'requests'")
_ARRIVAL_RATE = float(os.environ[ARRIVAL_RATE_ENV]) if os.environ.get(ARRIVAL_RATE_ENV) else None
_MAX_IN_FLIGHT = int(os.environ.get(IN_FLIGHT_ENV) or 10)


def _own(client: Any, ctx: dict[str, Any], headers: dict[str, str] | None) -> None:
    """One of `load.requests`, picked by weight; its name is the journey and
    its path the endpoint (`GET /quotes/42`)."""
    request = random.choices(_REQUESTS, _REQUEST_WEIGHTS)[0]
    ctx = {**ctx, "journey": request["name"]}
    sent = {**(request.get("headers") or {}), **(headers or {})} or None
    body = request.get("body")
    client.request(
        request.get("method", "GET"),
        request["path"],
        name=request["path"],
        context=ctx,
        headers=sent,
        **({"json": body} if body is not None else {}),
    )


def _shop(
    client: Any,
    cohort: str | None,
    headers: dict[str, str] | None,
    extra: dict[str, Any] | None = None,
) -> None:
    """One journey, picked by weight, with the shopper's cohort headers (if any);
    the request event listener records it (with `extra` in its context)."""
    if _REQUESTS:
        _own(client, {"cohort": cohort, **(extra or {})}, headers)
        return
    journey = random.choices(_JOURNEY_NAMES, _JOURNEY_WEIGHTS)[0]
    ctx = {"journey": journey, "cohort": cohort, **(extra or {})}
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

    abstract = _CLIENT != "fast" or _ARRIVAL_RATE is not None
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

    abstract = _CLIENT != "requests" or _ARRIVAL_RATE is not None
    wait_time = _WAIT
    cohort: str | None = None
    cohort_headers: dict[str, str] | None = None

    def on_start(self) -> None:
        self.client.trust_env = False  # never send the shop's traffic via a user's proxy
        self.cohort, self.cohort_headers = _COHORTS.join()

    @task
    def shop(self) -> None:
        _shop(self.client, self.cohort, self.cohort_headers)


class ConcurrencyCapReached(Exception):  # its name is the record's `error`
    """An arrival found `load.users` requests in flight: it was not sent."""


def _send(client: Any, intended: float) -> None:
    cohort, headers = _COHORTS.join()
    _shop(client, cohort, headers, {"intended": intended})


def _not_sent(intended: float) -> None:
    """Record an arrival that the cap kept from being sent, as failed: what
    would have been sent, picked by the same weights."""
    if _REQUESTS:
        request = random.choices(_REQUESTS, _REQUEST_WEIGHTS)[0]
        method, name, journey = request.get("method", "GET"), request["path"], request["name"]
    else:
        journey = random.choices(_JOURNEY_NAMES, _JOURNEY_WEIGHTS)[0]
        method, name = _SHOP_ENDPOINTS[journey]
    cohort, _ = _COHORTS.join()
    fire: Any = events.request.fire  # locust's EventHook is untyped
    fire(
        request_type=method,
        name=name,
        response_time=0.0,
        response_length=0,
        response=None,
        context={"journey": journey, "cohort": cohort, "intended": intended},
        exception=ConcurrencyCapReached(f"{_MAX_IN_FLIGHT} requests in flight"),
        start_time=intended,
    )


_SHOP_ENDPOINTS = {
    "browse": ("GET", "/products"),
    "view_product": ("GET", "/products/{id}"),
    "view_user": ("GET", "/users/{id}"),
    "place_order": ("POST", "/orders"),
}


class OpenLoopShopper(FastHttpUser):
    """Open loop (`load.arrival_rate`): one generator per Locust process sends
    a request every 1/rate seconds, each in a greenlet of its own, whatever
    the earlier ones are doing, as wrk2 and Nighthawk do. So a hung upstream
    cannot slow the arrivals down: its requests pile up in flight, and once
    `users` (MESHSIM_MAX_IN_FLIGHT) are, each new arrival is recorded as a
    failure (ConcurrencyCapReached) instead of waiting.

    Each request's time is its intended send time and its latency runs from
    then to its answer, so a generator that fell behind (a busy CPU) is
    charged to latency rather than hidden: the coordinated-omission
    correction of wrk2. A generator that fell behind catches up by sending
    the arrivals it owes at once.
    """

    abstract = _ARRIVAL_RATE is None
    wait_time = constant(0)
    concurrency = _MAX_IN_FLIGHT  # the connection pool: one per request in flight
    network_timeout = 20.0  # as Shopper's
    connection_timeout = 5.0

    @task
    def arrive(self) -> None:
        assert _ARRIVAL_RATE is not None
        interval = 1.0 / _ARRIVAL_RATE
        in_flight = gevent.pool.Pool(_MAX_IN_FLIGHT)
        start = time.time()
        sent = 0
        try:
            while True:
                intended = start + sent * interval
                delay = intended - time.time()
                if delay > 0:
                    gevent.sleep(delay)
                sent += 1
                if in_flight.full():
                    _not_sent(intended)
                else:
                    in_flight.spawn(_send, self.client, intended)
        finally:
            # stopping: the requests in flight get Locust's stop timeout, as
            # a closed-loop shopper's one request does
            in_flight.join(timeout=1.0)
            in_flight.kill(block=False)
