"""Telemetry switches, the span collector and the metrics scraper, against
in-process fakes (no Envoy)."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from meshsim import rundata
from meshsim.errors import UsageError
from meshsim.scenario.model import TelemetrySpec
from meshsim.telemetry.collector import SPANS_PATH, SpanCollector
from meshsim.telemetry.metrics import MetricsScraper, read_metrics
from meshsim.telemetry.settings import TelemetrySettings, resolve_telemetry
from meshsim.telemetry.traces import read_spans
from tests.telemetry.runs import order_trace
from tests.telemetry.test_prometheus import ORDER_SIDECAR


def test_resolve_telemetry() -> None:
    spec = TelemetrySpec.model_validate({"tracing": False, "scrape_interval": "5s", "sampling": 10})
    got = resolve_telemetry(spec, environ={})
    assert (got.metrics, got.tracing, got.scrape_interval_s, got.sampling) == (True, False, 5.0, 10)
    assert resolve_telemetry(None, environ={}) == TelemetrySettings()
    off = resolve_telemetry(spec, environ={"MESHSIM_TELEMETRY": "off"})
    assert not off.enabled and off.scrape_interval_s == 5.0
    assert not resolve_telemetry(None, cli=False, environ={}).enabled
    # the flag wins over the environment
    assert resolve_telemetry(None, cli=True, environ={"MESHSIM_TELEMETRY": "OFF"}).tracing
    with pytest.raises(UsageError, match="MESHSIM_TELEMETRY"):
        resolve_telemetry(None, environ={"MESHSIM_TELEMETRY": "maybe"})


async def test_collector_appends_spans(tmp_path: Path) -> None:
    collector = SpanCollector(tmp_path / "traces.jsonl")
    port = await collector.start()
    try:
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{port}{SPANS_PATH}"
            async with session.post(url, json=order_trace()[:3]) as r:
                assert r.status == 202
            async with session.post(url, json=order_trace()[3:]) as r:
                assert r.status == 202
            async with session.post(url, data=b"{not json") as r:
                assert r.status == 400
            async with session.post(url, json={"a": 1}) as r:
                assert r.status == 400
            async with session.post(url, data=b"[]") as r:
                assert r.status == 202
    finally:
        await collector.stop()
    # one trace, kept (the slowest of its endpoint), compressed, a line per trace
    assert not (tmp_path / "traces.jsonl").exists()
    lines = list(rundata.iter_lines(tmp_path / "traces.jsonl"))
    assert [len(json.loads(x)) for x in lines] == [8]
    assert [s.span_id for s in read_spans(tmp_path / "traces.jsonl")] == [
        s["id"] for s in order_trace()
    ]
    assert collector.batches == 2 and collector.rejected == 2
    assert collector.summary()["seen"] == 1 and collector.summary()["kept_slowest"] == 1


async def test_scraper_writes_one_line_per_proxy(tmp_path: Path) -> None:
    asked: list[str] = []

    async def stats(request: web.Request) -> web.Response:
        asked.append(request.query_string)
        return web.Response(text=ORDER_SIDECAR)

    app = web.Application()
    app.router.add_get("/stats/prometheus", stats)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as session:
            scraper = MetricsScraper(
                {"order-v1-0": ("127.0.0.1", port), "gone": ("127.0.0.1", 9)},
                tmp_path / "metrics.jsonl",
                session,
            )
            first = await scraper.scrape("begin")
            await scraper.scrape()
            await scraper.stop()
    finally:
        await runner.cleanup()
    assert list(first) == ["order-v1-0"] and scraper.failures == 2
    assert asked and asked[0].startswith("usedonly&filter=")
    lines = list(read_metrics(tmp_path / "metrics.jsonl"))
    assert [(x.proxy, x.mark) for x in lines] == [("order-v1-0", "begin"), ("order-v1-0", None)]
    assert lines[0].metrics.clusters["outbound_80__product"]["requests"] == 125
    assert lines[0].metrics.latency["outbound_80__product"].count == 125
