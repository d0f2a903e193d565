"""The pure parts of `meshsim bench`: search, analysis, summaries, tables."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiohttp import web

from meshsim.bench.chain import Search, Trial
from meshsim.bench.config import BenchConfig, many_instances
from meshsim.bench.direct import DirectApp, service_addresses
from meshsim.bench.generator import (
    Record,
    Segment,
    SegmentResult,
    Target,
    new_histogram,
    run_segment,
)
from meshsim.bench.hop import summarize_hop
from meshsim.bench.propagation import Change, analyse
from meshsim.bench.run import BenchResult
from meshsim.bench.tables import all_tables, markdown
from meshsim.bench.targets import check_targets
from sample_services.common import StaticResolver, parse_service_addresses


def trial(rate: float, passed: bool) -> Trial:
    return Trial(rate, passed, rate, 0.0 if passed else 0.01, 5.0, 0.1)


def run_search(s: Search, capacity: float) -> list[float]:
    tried = []
    while (rate := s.next_rate()) is not None:
        tried.append(rate)
        s.record(trial(rate, rate <= capacity))
    return tried


def test_search_climbs_then_bisects() -> None:
    s = Search("mesh", 100, 2.0, 1.1, 5000, confirm=False)
    tried = run_search(s, capacity=700)
    assert tried[:4] == [100, 200, 400, 800]
    assert 640 <= s.lo <= 700 and s.hi / s.lo <= 1.1


def test_search_confirms_a_failure_once() -> None:
    s = Search("mesh", 100, 2.0, 1.5, 5000, confirm=True)
    s.record(trial(100, True))
    assert s.next_rate() == 200
    s.record(trial(200, False))
    assert s.next_rate() == 200  # a second chance
    s.record(trial(200, True))
    assert s.lo == 200 and s.next_rate() == 400


def test_search_steps_down_when_the_first_rate_fails() -> None:
    s = Search("mesh", 100, 2.0, 1.1, 5000, confirm=False)
    tried = run_search(s, capacity=30)
    assert tried[:3] == [100, 50, 25]
    assert 25 <= s.lo <= 30


def test_search_stops_at_the_ceiling() -> None:
    s = Search("mesh", 100, 2.0, 1.1, 300, confirm=False)
    assert run_search(s, capacity=10_000) == [100, 200, 300]


def test_many_instances_totals() -> None:
    for n in (5, 12, 50):
        assert sum(sum(v.values()) for v in many_instances(n).values()) == n


def test_service_addresses_round_trip() -> None:
    apps = [DirectApp("user", "v1", 0, 9001), DirectApp("product", "v1", 0, 9002)]
    assert parse_service_addresses(service_addresses(apps)) == {
        "user": [("127.0.0.1", 9001)],
        "product": [("127.0.0.1", 9002)],
    }


async def test_static_resolver_maps_service_names_to_ports() -> None:
    resolver = StaticResolver({"product": [("127.0.0.1", 9002)]})
    found = await resolver.resolve("product", 80)
    assert [(r["host"], r["port"]) for r in found] == [("127.0.0.1", 9002)]
    await resolver.close()


def test_propagation_analysis() -> None:
    changes = [Change("v2", 10.0, 30.0, t_sent=10.030), Change("v1", 11.0, 30.0)]
    recs = [Record(9.99 + k * 0.0025, 500, 200, None) for k in range(800)]
    for r in recs:
        t = r.t_send
        r.header = "v1" if t < 10.040 or t >= 11.050 else "v2"
    recs[100].status = 503
    res = analyse(changes, recs, 400)
    assert [t.to for t in res.trials] == ["v2", "v1"]
    assert res.trials[0].first_ms == pytest.approx(40, abs=3)
    assert res.trials[1].first_ms == pytest.approx(50, abs=3)
    assert res.failed == 1 and res.unobserved == 0
    # the first trial split: 30 ms until the client's routes were sent, ~10 ms Envoy's
    assert res.trials[0].to_sent_ms == pytest.approx(30, abs=0.1)
    assert res.trials[0].from_sent_ms == pytest.approx(10, abs=3)
    assert res.trials[1].to_sent_ms is None and res.to_sent_ms["max"] == pytest.approx(30, abs=0.1)


def test_propagation_needs_a_live_stream() -> None:
    # v2 answers, but the stream paused 10 s around the change: seen, not timed
    recs = [Record(20.0 + k * 0.0025, 500, 200, "v2") for k in range(10)]
    res = analyse([Change("v2", 10.0, 30.0)], recs, 400)
    assert res.untimed == 1 and res.unobserved == 0 and res.trials[0].first_ms is None
    assert res.first_ms == {}


def test_a_change_never_answered_is_unobserved() -> None:
    # the stream flows through the change, but only v1 ever answers
    recs = [Record(9.99 + k * 0.0025, 500, 200, "v1") for k in range(400)]
    res = analyse([Change("v2", 10.0, 30.0)], recs, 400)
    assert res.unobserved == 1 and res.untimed == 0 and res.trials[0].first_ms is None


def _result(latencies_us: list[int]) -> SegmentResult:
    r = SegmentResult(200, 1, len(latencies_us), len(latencies_us), {}, new_histogram(),
                      new_histogram(), new_histogram(), 0.1)  # fmt: skip
    for v in latencies_us:
        r.latency.record_value(v)
        r.service.record_value(v)
        r.lag.record_value(1)
    return r


def test_hop_summary_compares_with_direct() -> None:
    per_round = {
        "direct": [_result([500] * 100), _result([600] * 100)],
        "plaintext": [_result([900] * 100), _result([1000] * 100)],
        "mtls": [_result([1000] * 100), _result([1100] * 100)],
    }
    hop = summarize_hop(per_round, 200, 1, {"direct": None, "plaintext": 0, "mtls": 2})
    mtls = hop.variant("mtls")
    assert mtls.added_ms["p50"] == pytest.approx(0.5, abs=0.01)
    assert mtls.rounds_added_ms["p50"] == [pytest.approx(0.5, abs=0.01)] * 2
    assert hop.variant("direct").added_ms["p99"] == 0
    result = BenchResult({}, {}, "now", hop=hop)
    result.targets = check_targets(result)
    assert [t.met for t in result.targets] == [True, True]  # +0.5 ms p50, +0.5 ms p99
    text = markdown(all_tables(result))
    assert "| mtls |" in text and "+0.50" in text


async def test_generator_counts_from_the_due_time(unused_tcp_port: int) -> None:
    """A server that stalls for 500 ms once: an open-loop generator must see the
    requests queued behind the stall as slow too (coordinated omission)."""
    stalled = False

    async def handler(request: web.Request) -> web.Response:
        nonlocal stalled
        if not stalled and request.query.get("n") is None:
            stalled = True
            await asyncio.sleep(0.5)
        return web.Response(text="ok")

    server = web.Application()
    server.router.add_get("/", handler)
    runner = web.AppRunner(server)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", unused_tcp_port)
    await site.start()
    try:
        # 50 rps, not more: client and server share this one event loop, and a
        # busy 2-core machine must still keep up (at 200 rps it fell behind,
        # p50 1.5 s). The stall, 25 requests' worth, dwarfs any scheduling noise.
        seg = Segment(
            Target(f"http://127.0.0.1:{unused_tcp_port}/"), 50, 4.0, warmup_s=0.0, connections=1
        )
        res = await run_segment(seg)
    finally:
        await runner.cleanup()
    assert res.scheduled == 200 and res.ok == 200 and res.failed == 0
    # one connection: ~25 requests (12.5 %) were due during the stall and waited
    # for it, 0 to 500 ms; the slowest 5 % of all waited 300 ms or more
    assert res.percentile_ms(50) < 100
    assert res.percentile_ms(95) > 200
    # the uncorrected clock starts when a request got the connection: the
    # requests queued behind the stall are fast by it (only the stalled one is not)
    assert res.percentile_ms(95, "service") < 100


def test_quick_config_is_small() -> None:
    c = BenchConfig.quick_config(Path("x"))
    assert c.quick and c.run_dir == Path("x") and c.hop_rounds <= 2
