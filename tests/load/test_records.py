"""records.py is pure file reading: no process, no locust."""

from __future__ import annotations

from pathlib import Path

from meshsim.load.records import RecordTail, RequestRecord, read_records

LINE = (
    '{"t": 1718000000.5, "journey": "place_order", "name": "POST /orders", "status": 201,'
    ' "ok": true, "latency_us": 1234, "instance": "order-v1-0",'
    ' "upstreams": ["user-v1-0","product-v2-0","shipping-v1-0"], "error": null}\n'
)


def rec(t: float, **kw: object) -> RequestRecord:
    fields: dict[str, object] = dict(
        t=t,
        journey="browse",
        name="GET /products",
        status=200,
        ok=True,
        latency_us=800,
        instance="product-v1-0",
        upstreams=(),
        error=None,
    )
    fields.update(kw)
    return RequestRecord(**fields)  # type: ignore[arg-type]


def test_parses_the_documented_line(tmp_path: Path) -> None:
    (tmp_path / "requests-1.jsonl").write_text(LINE)
    [r] = read_records(tmp_path)
    assert r == RequestRecord(
        t=1718000000.5,
        journey="place_order",
        name="POST /orders",
        status=201,
        ok=True,
        latency_us=1234,
        instance="order-v1-0",
        upstreams=("user-v1-0", "product-v2-0", "shipping-v1-0"),
        error=None,
    )
    assert r.cohort is None  # a line written before cohorts existed


def test_reads_the_cohort(tmp_path: Path) -> None:
    line = LINE.replace('"error": null}', '"error": null, "cohort": "beta"}')
    (tmp_path / "requests-1.jsonl").write_text(
        line + LINE.replace("null}", 'null, "cohort": null}')
    )
    assert [r.cohort for r in read_records(tmp_path)] == ["beta", None]
    r = rec(2.0, cohort="beta")
    (tmp_path / "requests-2.jsonl").write_text(r.to_line())
    assert read_records(tmp_path)[0] == r  # t=2.0 sorts first


def test_to_line_round_trips(tmp_path: Path) -> None:
    r = rec(
        1.25,
        status=0,
        ok=False,
        instance=None,
        error="ConnectionRefusedError",
        upstreams=("a", "b"),
    )
    (tmp_path / "requests-1.jsonl").write_text(r.to_line())
    assert read_records(tmp_path) == [r]


def test_reads_all_files_in_start_order_and_ignores_others(tmp_path: Path) -> None:
    (tmp_path / "requests-1.jsonl").write_text(rec(3.0).to_line() + rec(1.0).to_line())
    (tmp_path / "requests-2.jsonl").write_text(rec(2.0).to_line())
    (tmp_path / "locust-1.ready").write_text("")
    (tmp_path / "notes.jsonl").write_text(rec(9.0).to_line())
    assert [r.t for r in read_records(tmp_path)] == [1.0, 2.0, 3.0]


def test_trailing_partial_line_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "requests-1.jsonl").write_text(rec(1.0).to_line() + "\n" + LINE[:40])
    assert [r.t for r in read_records(tmp_path)] == [1.0]


def test_partial_line_without_newline_only(tmp_path: Path) -> None:
    (tmp_path / "requests-1.jsonl").write_text(LINE.rstrip("\n"))
    assert read_records(tmp_path) == []


def test_missing_directory_has_no_records(tmp_path: Path) -> None:
    assert read_records(tmp_path / "nope") == []
    assert RecordTail(tmp_path / "nope").poll() == []


def test_tail_returns_only_new_complete_lines(tmp_path: Path) -> None:
    f1 = tmp_path / "requests-1.jsonl"
    tail = RecordTail(tmp_path)
    assert tail.poll() == []

    f1.write_text(rec(1.0).to_line() + rec(2.0).to_line())
    assert [r.t for r in tail.poll()] == [1.0, 2.0]
    assert tail.poll() == []

    line = rec(3.0).to_line()
    with f1.open("a") as f:
        f.write(line[:10])
    assert tail.poll() == []  # half a line waits for its end
    with f1.open("a") as f:
        f.write(line[10:])
    assert [r.t for r in tail.poll()] == [3.0]

    (tmp_path / "requests-2.jsonl").write_text(rec(4.0).to_line())
    with f1.open("a") as f:
        f.write(rec(5.0).to_line())
    assert [r.t for r in tail.poll()] == [4.0, 5.0]
    assert tail.poll() == []


def test_tail_and_read_agree(tmp_path: Path) -> None:
    tail = RecordTail(tmp_path)
    seen: list[RequestRecord] = []
    for i in range(5):
        with (tmp_path / f"requests-{i % 2}.jsonl").open("a") as f:
            f.write(rec(float(i)).to_line())
        seen += tail.poll()
    assert sorted(seen, key=lambda r: r.t) == read_records(tmp_path)


def test_served_by_prefers_the_app_and_trusts_the_sidecar_only_for_app_answers() -> None:
    from meshsim.load.records import served_by

    assert served_by("order-v1-0", "order-v1-0;-") == "order-v1-0"
    assert served_by(None, "quotes-v2-0;-") == "quotes-v2-0"
    assert served_by(None, "quotes-v2-0;UF") is None  # Envoy's 503: the app refused
    assert served_by(None, "quotes-v2-0;UT") is None  # timed out: no answer from the app
    assert served_by(None, None) is None
