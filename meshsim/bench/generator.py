"""An open-loop, constant-rate HTTP load generator (asyncio + aiohttp).

Request *i* of a segment is due at `start + i / rate`, whatever happened to the
requests before it: a slow response never delays the next send, so a stall in
the system under test cannot hide itself by slowing the client down (what Gil
Tene calls coordinated omission). Latency is counted from the *due* time, as
wrk2 and Nighthawk do; a request sent a little early (the loop wakes slightly
before its due time, see EARLY_S) counts from its actual send instead, so no
latency is ever under-counted. Both clocks go into HdrHistograms in
microseconds: `latency` (from due time, the figure to report) and `service`
(from the request's headers on the wire, after any wait for a pooled
connection: the figure a closed-loop tool would show).

The event loop runs on `select()` rather than epoll: epoll's timeout has
millisecond granularity, which would add ~0.5 ms of timer slack to every
request, as large as the sidecar overhead being measured.

Run as `python -m meshsim.bench.generator`, it is a worker that reads one
segment per line (JSON) on stdin and answers one result per line on stdout:
see meshsim.bench.worker for why the generator lives in its own process.
"""

from __future__ import annotations

import asyncio
import json
import selectors
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp
from hdrh.histogram import HdrHistogram

MAX_US = 60_000_000  # one minute, in microseconds
DIGITS = 3
# How long before its due time the loop wakes for a send: a timed sleep
# overshoots by ~0.1 ms here, so waking early makes most sends land on time.
EARLY_S = 0.00015


def new_histogram() -> HdrHistogram:
    return HdrHistogram(1, MAX_US, DIGITS)


def encode_histogram(hist: HdrHistogram) -> str:
    data: bytes = hist.encode()
    return data.decode("ascii")


def decode_histogram(text: str) -> HdrHistogram:
    hist: HdrHistogram = HdrHistogram.decode(text.encode("ascii"))
    return hist


@dataclass(frozen=True)
class Target:
    """What each request of a segment is."""

    url: str
    method: str = "GET"
    body: str | None = None  # JSON text, sent with content-type application/json
    headers: dict[str, str] = field(default_factory=dict)
    # Send through this HTTP proxy in absolute form, as an app with HTTP_PROXY
    # does (e.g. a sidecar's outbound listener).
    proxy: str | None = None
    # Keep this response header in each record (e.g. x-version); needs keep_records.
    capture_header: str | None = None


@dataclass(frozen=True)
class Segment:
    """`rate` requests per second for `warmup_s` (not recorded) then `duration_s`."""

    target: Target
    rate: float
    duration_s: float
    warmup_s: float = 0.5
    timeout_s: float = 5.0
    connections: int = 64  # the client's connection pool
    keep_records: bool = False  # one record per measured request (for propagation)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Segment:
        return cls(**{**data, "target": Target(**data["target"])})


@dataclass
class Record:
    """One measured request: sent at `t_send` (time.monotonic, comparable across
    processes on one machine), answered after `latency_us`."""

    t_send: float
    latency_us: int
    status: int  # 0: no response (timeout, connection error)
    header: str | None = None


@dataclass
class SegmentResult:
    rate: float
    duration_s: float
    scheduled: int  # requests due in the measured window
    ok: int
    errors: dict[str, int]  # "http_503", "timeout", "ClientConnectorError", ...
    latency: HdrHistogram  # from due time, µs (coordinated-omission corrected)
    service: HdrHistogram  # from the headers on the wire, µs
    lag: HdrHistogram  # how late each send left after its due time, µs (+1)
    cpu_s: float  # the generator's own CPU time over the segment
    records: list[Record] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    @property
    def error_rate(self) -> float:
        return self.failed / self.scheduled if self.scheduled else 0.0

    @property
    def achieved_rps(self) -> float:
        return self.ok / self.duration_s if self.duration_s else 0.0

    def percentile_ms(self, p: float, which: str = "latency") -> float:
        hist: HdrHistogram = getattr(self, which)
        return float(hist.get_value_at_percentile(p)) / 1000.0

    def to_json(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "duration_s": self.duration_s,
            "scheduled": self.scheduled,
            "ok": self.ok,
            "errors": self.errors,
            "latency": encode_histogram(self.latency),
            "service": encode_histogram(self.service),
            "lag": encode_histogram(self.lag),
            "cpu_s": self.cpu_s,
            "records": [[r.t_send, r.latency_us, r.status, r.header] for r in self.records],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SegmentResult:
        return cls(
            rate=data["rate"],
            duration_s=data["duration_s"],
            scheduled=data["scheduled"],
            ok=data["ok"],
            errors=dict(data["errors"]),
            latency=decode_histogram(data["latency"]),
            service=decode_histogram(data["service"]),
            lag=decode_histogram(data["lag"]),
            cpu_s=data["cpu_s"],
            records=[Record(*r) for r in data["records"]],
        )


class _Wire:
    """When one request's headers left for the server (set by `_on_wire`)."""

    at: float | None = None


async def _on_wire(session: Any, ctx: Any, params: aiohttp.TraceRequestHeadersSentParams) -> None:
    ctx.trace_request_ctx.at = asyncio.get_running_loop().time()


def _trace() -> aiohttp.TraceConfig:
    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(_on_wire)
    return trace


class _Run:
    """The bookkeeping of one segment while it runs."""

    def __init__(self, seg: Segment) -> None:
        self.seg = seg
        self.result = SegmentResult(
            seg.rate, seg.duration_s, 0, 0, {}, new_histogram(), new_histogram(),
            new_histogram(), 0.0,
        )  # fmt: skip
        body = seg.target.body
        self.data = body.encode() if body is not None else None
        self.headers = dict(seg.target.headers)
        if body is not None:
            self.headers.setdefault("content-type", "application/json")
        self.timeout = aiohttp.ClientTimeout(total=seg.timeout_s)

    def error(self, kind: str) -> None:
        self.result.errors[kind] = self.result.errors.get(kind, 0) + 1

    async def one(self, session: aiohttp.ClientSession, due: float, measured: bool) -> None:
        loop = asyncio.get_running_loop()
        t = self.seg.target
        sent = loop.time()
        wire = _Wire()
        status = 0
        header: str | None = None
        try:
            async with session.request(
                t.method,
                t.url,
                data=self.data,
                headers=self.headers,
                proxy=t.proxy,
                timeout=self.timeout,
                trace_request_ctx=wire,
            ) as resp:
                await resp.read()
                status = resp.status
                if t.capture_header:
                    header = resp.headers.get(t.capture_header)
        except TimeoutError:
            kind = "timeout"
        except aiohttp.ClientError as exc:
            kind = type(exc).__name__
        except OSError as exc:
            kind = type(exc).__name__
        else:
            kind = "" if status < 400 else f"http_{status}"
        done = loop.time()
        if not measured:
            return
        r = self.result
        latency_us = max(1, round((done - min(due, sent)) * 1e6))
        r.latency.record_value(min(latency_us, MAX_US))
        # from the headers on the wire: a request that waited for a pooled
        # connection was not sent yet (a closed-loop tool would not count it)
        on_wire = wire.at if wire.at is not None else sent
        r.service.record_value(min(MAX_US, max(1, round((done - on_wire) * 1e6))))
        r.lag.record_value(min(MAX_US, 1 + max(0, round((sent - due) * 1e6))))
        if kind:
            self.error(kind)
        else:
            r.ok += 1
        if self.seg.keep_records:
            r.records.append(Record(sent, latency_us, status, header))


async def run_segment(
    seg: Segment, on_start: Callable[[float], None] | None = None
) -> SegmentResult:
    """Send `seg.rate` requests per second on a fixed timetable and measure them.

    `on_start` is called with the due time (time.monotonic) of the first request."""
    if seg.rate <= 0 or seg.duration_s <= 0:
        raise ValueError("a segment needs a positive rate and duration")
    loop = asyncio.get_running_loop()
    run = _Run(seg)
    connector = aiohttp.TCPConnector(limit=seg.connections, limit_per_host=0, force_close=False)
    cpu0 = time.process_time()
    async with aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        trace_configs=[_trace()],
    ) as session:
        interval = 1.0 / seg.rate
        warm = round(seg.warmup_s * seg.rate)
        total = warm + round(seg.duration_s * seg.rate)
        run.result.scheduled = total - warm
        tasks: set[asyncio.Task[None]] = set()
        start = loop.time() + 0.005
        if on_start is not None:
            on_start(start)
        for i in range(total):
            due = start + i * interval
            wait = due - loop.time() - EARLY_S
            if wait > 0:
                await asyncio.sleep(wait)
            task = loop.create_task(run.one(session, due, i >= warm))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
    run.result.cpu_s = time.process_time() - cpu0
    return run.result


def new_loop() -> asyncio.AbstractEventLoop:
    """An event loop whose timers keep microsecond precision (see the module docstring)."""
    return asyncio.SelectorEventLoop(selectors.SelectSelector())


def run_blocking(seg: Segment) -> SegmentResult:
    """Run one segment on a fresh precise loop (for scripts and tests)."""
    loop = new_loop()
    try:
        return loop.run_until_complete(run_segment(seg))
    finally:
        loop.close()


def _announce(start: float) -> None:
    sys.stdout.write(json.dumps({"started": start}) + "\n")
    sys.stdout.flush()


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            return  # the parent went away
        try:
            seg = Segment.from_json(json.loads(line))
            result = await run_segment(seg, on_start=_announce)
            reply: dict[str, Any] = {"result": result.to_json()}
        except Exception as exc:  # reported to the parent, which raises it there
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


def main() -> None:
    loop = new_loop()
    try:
        loop.run_until_complete(_serve())
    except KeyboardInterrupt:
        pass
    finally:
        loop.close()


if __name__ == "__main__":
    main()
