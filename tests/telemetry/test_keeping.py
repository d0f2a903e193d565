"""The trace-keeping policy on hand-built spans: errors always, the slowest N
per phase and endpoint, a seeded uniform sample of the rest, late spans."""

from __future__ import annotations

from typing import Any

from meshsim.telemetry.keeping import KeepPolicy, TraceKeeper, endpoint
from tests.telemetry.runs import T0, zipkin_span


def trace(n: int, ms: float, *, url: str = "http://x/orders", status: int = 200) -> list[Any]:
    """A root and one child; the trace id says which it is."""
    tid = f"{n:016x}"
    return [
        zipkin_span("r", None, "istio-ingressgateway", "ingress", n, ms, url=url, trace_id=tid),
        zipkin_span("c", "r", "order", "inbound", n, ms / 2, url=url, status=status, trace_id=tid),
    ]


def kept_ids(out: list[list[dict[str, Any]]]) -> set[int]:
    return {int(spans[0]["traceId"], 16) for spans in out}


def run(keeper: TraceKeeper, traces: list[list[Any]]) -> set[int]:
    out = []
    for spans in traces:
        out += keeper.add(spans, now=0.0)
    out += keeper.sweep(now=10.0)
    out += keeper.close()
    return kept_ids(out)


def test_an_error_is_always_kept_and_the_slowest_n() -> None:
    keeper = TraceKeeper(KeepPolicy(keep_slowest=2, keep_sample=0))
    traces = [trace(i, 10 + i) for i in range(50)]
    traces.append(trace(50, 1, status=503))  # the fastest of all, but failed
    assert run(keeper, traces) == {50, 49, 48}
    c = keeper.counts.to_dict()
    assert (c["seen"], c["kept_error"], c["kept_slowest"], c["kept_sample"]) == (51, 1, 2, 0)
    assert c["dropped"] == 48


def test_slowest_n_per_endpoint_with_ids_folded() -> None:
    keeper = TraceKeeper(KeepPolicy(keep_slowest=3, keep_sample=0))
    traces = [trace(i, 100 - i, url=f"http://x/products/{i}/stock") for i in range(20)]
    traces += [trace(100 + i, 1 + i, url="http://x/orders") for i in range(20)]
    assert run(keeper, traces) == {0, 1, 2, 117, 118, 119}
    assert endpoint("GET", "/products/12/stock?x=1") == "GET /products/*/stock"


def test_sample_rate_is_honoured_within_bounds_and_seeded() -> None:
    def kept(seed: int) -> set[int]:
        keeper = TraceKeeper(KeepPolicy(keep_slowest=0, keep_sample=10, seed=seed))
        return run(keeper, [trace(i, 5) for i in range(4000)])

    first = kept(7)
    assert 0.085 * 4000 <= len(first) <= 0.115 * 4000  # binomial: ~5 sigma either side
    assert kept(7) == first  # the same seed, the same sample
    assert kept(8) != first


def test_a_trace_pushed_out_of_the_heap_falls_to_the_sample() -> None:
    keeper = TraceKeeper(KeepPolicy(keep_slowest=1, keep_sample=100))
    assert run(keeper, [trace(i, 1 + i) for i in range(5)]) == {0, 1, 2, 3, 4}
    c = keeper.counts.to_dict()
    assert (c["kept_slowest"], c["kept_sample"], c["dropped"]) == (1, 4, 0)


def test_late_child_spans_wait_for_the_grace_period() -> None:
    keeper = TraceKeeper(KeepPolicy(keep_slowest=0, keep_sample=100, grace_s=3))
    root, child = trace(1, 10)
    assert keeper.add([root], now=0.0) == []
    assert keeper.sweep(now=2.0) == []  # the root is in, the child may still come
    keeper.add([child], now=2.5)
    out = keeper.sweep(now=3.0)
    assert [len(spans) for spans in out] == [2]
    # a span after the decision follows it: kept here
    assert keeper.add(
        [zipkin_span("z", "r", "user", "inbound", 1, 1, trace_id=root["traceId"])], now=9.0
    )
    assert keeper.counts.late_spans_kept == 1


def test_a_trace_without_root_is_decided_after_orphan_s() -> None:
    keeper = TraceKeeper(KeepPolicy(keep_slowest=0, keep_sample=100, orphan_s=30))
    _, child = trace(1, 10)
    keeper.add([child], now=0.0)
    assert keeper.sweep(now=29.0) == []
    assert kept_ids(keeper.sweep(now=30.0)) == {1}


def test_heaps_per_phase_written_when_the_phase_is_over() -> None:
    keeper = TraceKeeper(KeepPolicy(keep_slowest=1, keep_sample=0, grace_s=1))
    keeper.phase_started(T0, now=0.0)  # phase 1 from T0 (the spans start at T0 + 1 s)
    keeper.add(trace(1, 50) + trace(2, 60), now=0.0)
    assert keeper.sweep(now=1.0) == []  # decided, but its heap waits for the phase's end
    keeper.phase_started(T0 + 5, now=1.0)
    keeper.add(trace(9000, 5), now=1.0)  # starts at T0 + 10 s: phase 2
    assert kept_ids(keeper.sweep(now=3.0)) == {2}  # phase 1 over for 2 * grace
    assert kept_ids(keeper.close()) == {9000}
