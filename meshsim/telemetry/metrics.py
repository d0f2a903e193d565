"""Scrapes every proxy's `/stats/prometheus` during a run into `metrics.jsonl`.

Every `interval_s` (2 s by default) each proxy is asked, at once, for the
stats the edges need (`meshsim.telemetry.prometheus.STATS_FILTER`); each
answer becomes one line of `metrics.jsonl`, cumulative since Envoy started::

    {"t": 1795713527.49, "proxy": "order-v1-0",
     "clusters": {"outbound_80__product": {"requests": 122, "attempts": 122, "rq_2xx": 122,
                  "latency": {"buckets": {"2": 31, "3": 60, "5": 31}, "sum_ms": 412.0}}},
     "faults": {"outbound": {"aborted": 25, "delayed": 0}}}

Lines written at a phase boundary (the edge recorder asks for them) also
carry `"mark": "<phase>"` (the phase that just ended; `"begin"` before the
first); those at a phase's settle point `"settled": "<phase>"`. `read_metrics` reads the file back; `meshsim.telemetry.edges` turns
two scrapes' latency into an edge's percentiles.

Cost: one small admin request per proxy per interval, parsed in meshsim's
process; measured in docs/benchmarks.md ("Telemetry cost").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import aiohttp

from meshsim.telemetry.prometheus import STATS_FILTER, ProxyMetrics, parse_proxy_metrics

Scrape = dict[str, ProxyMetrics]  # proxy → metrics


@dataclass(frozen=True)
class MetricsLine:
    t: float
    proxy: str
    metrics: ProxyMetrics
    mark: str | None = None


class MetricsScraper:
    """Periodic scrapes of every proxy's admin port (proxy → port on 127.0.0.1)."""

    def __init__(
        self,
        admin: dict[str, tuple[str, int]],
        path: Path,
        session: aiohttp.ClientSession,
        interval_s: float = 2.0,
    ) -> None:
        self.admin = admin
        self.path = path
        self.session = session
        self.interval_s = interval_s
        self.scrapes = 0
        self.failures = 0
        self._task: asyncio.Task[None] | None = None
        self._fh: IO[str] | None = None

    async def _one(self, proxy: str) -> tuple[str, ProxyMetrics | None]:
        host, port = self.admin[proxy]
        url = f"http://{host}:{port}/stats/prometheus?usedonly&filter={quote(STATS_FILTER)}"
        try:
            async with self.session.get(url, timeout=aiohttp.ClientTimeout(total=2.0)) as resp:
                text = await resp.text()
            return proxy, parse_proxy_metrics(text)
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError):
            self.failures += 1
            return proxy, None

    async def scrape(self, mark: str | None = None, *, settled: str | None = None) -> Scrape:
        """Scrape every proxy once, append the answers to metrics.jsonl, return them.

        `mark`: the phase that just ended; `settled`: the phase that reached its
        settle point (each line then carries that key)."""
        t = time.time()
        results = await asyncio.gather(*(self._one(p) for p in self.admin))
        out = {proxy: m for proxy, m in results if m is not None}
        fh = self._file()
        for proxy, metrics in out.items():
            line: dict[str, Any] = {"t": round(t, 3), "proxy": proxy, **metrics.to_json()}
            if mark is not None:
                line["mark"] = mark
            if settled is not None:
                line["settled"] = settled
            fh.write(json.dumps(line, separators=(",", ":")) + "\n")
        fh.flush()
        self.scrapes += 1
        return out

    def _file(self) -> IO[str]:
        if self._fh is None:
            self._fh = self.path.open("a", encoding="utf-8")
        return self._fh

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="metrics-scraper")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            with contextlib.suppress(Exception):  # telemetry never stops a run
                await self.scrape()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def read_metrics(path: Path) -> Iterator[MetricsLine]:
    """Every readable line of a metrics.jsonl (a damaged one is skipped)."""
    if not path.is_file():
        return
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                raw = json.loads(line)
                t, proxy = float(raw["t"]), str(raw["proxy"])
            except (ValueError, KeyError, TypeError):
                continue
            mark = raw.get("mark")
            yield MetricsLine(
                t, proxy, ProxyMetrics.from_json(raw), mark if isinstance(mark, str) else None
            )
