"""Access logs of the sidecars and the ingress, read back and filtered."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshsim.errors import UsageError
from meshsim.telemetry.accesslog import (
    filter_entries,
    parse_line,
    read_access_logs,
    run_names,
    status_matcher,
)
from tests.telemetry.runs import PEER_INGRESS, access_line, make_run


def test_read_every_log_with_its_phase(tmp_path: Path) -> None:
    entries = read_access_logs(make_run(tmp_path))
    got = [(e.direction, e.source, e.destination, e.status, e.flags, e.phase) for e in entries]
    assert got == [
        ("ingress", "istio-ingressgateway", "product", 200, (), "one"),
        ("outbound", "order", "product", 200, (), "one"),
        ("inbound", "order", "product", 200, (), "one"),
        ("outbound", "order", "product", 503, ("FI",), "two"),  # no cluster: from the Host
    ]
    ingress, outbound, inbound, aborted = entries
    assert outbound.upstream_instance == "product-v1-0"  # from the address and plan.json
    assert inbound.upstream_instance == "product-v1-0" and inbound.proxy == "product-v1-0"
    assert aborted.upstream_instance is None and aborted.duration_ms == 0
    assert outbound.trace_id and outbound.request_id and outbound.attempts == 1


def test_inbound_callers_come_from_certificates() -> None:
    line = access_line(1.0, peer=PEER_INGRESS, tls="TLSv1.3")
    entry = parse_line(line, "order-v1-0", "inbound", {})
    assert entry is not None and (entry.source, entry.destination) == (
        "istio-ingressgateway",
        "order",
    )
    plain = parse_line(access_line(1.0), "order-v1-0", "inbound", {})
    assert plain is not None and plain.source == "plaintext"
    assert parse_line({"t": "x"}, "order-v1-0", "inbound", {}) is None


def test_filters(tmp_path: Path) -> None:
    entries = read_access_logs(make_run(tmp_path))
    assert len(filter_entries(entries, status="5xx")) == 1
    assert len(filter_entries(entries, status="503,200")) == 4
    assert len(filter_entries(entries, status="2xx", direction="inbound")) == 1
    assert len(filter_entries(entries, flags="urx,FI")) == 1
    assert len(filter_entries(entries, phase="one", service="order")) == 2
    assert len(filter_entries(entries, service="product-v1-0")) == 3
    assert filter_entries(entries, service="shipping") == []
    assert status_matcher("5xx, 404") == {"5xx", "404"}
    with pytest.raises(UsageError, match="5xx"):
        status_matcher("500s")
    with pytest.raises(UsageError, match="inbound"):
        filter_entries(entries, direction="sideways")


def test_a_filter_no_entry_could_match_is_refused(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    entries = read_access_logs(run_dir)
    known = run_names(run_dir)
    assert known[:3] == ["user", "product", "order"] and "product-v1-0" in known
    assert known[-2:] == ["istio-ingressgateway", "plaintext"]
    with pytest.raises(UsageError, match=r"--service nosuch: not a service or instance of this "
                       r"run; expected one of user, product, order"):  # fmt: skip
        filter_entries(entries, service="nosuch", known=known)
    assert filter_entries(entries, service="shipping", known=known) == []  # known, idle
    assert filter_entries(entries, service="plaintext", known=known) == []  # no such caller here
    with pytest.raises(UsageError, match="--flags FI,ZZ: ZZ is not an Envoy response flag; "
                       "expected some of UH, UF, UO"):  # fmt: skip
        filter_entries(entries, flags="FI,ZZ")
    assert filter_entries(entries, flags="dr,UDO") == []  # real flags, none in this run
    assert len(filter_entries(entries, flags="uf,fi")) == 1
