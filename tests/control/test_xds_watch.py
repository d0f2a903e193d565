"""`meshsim xds watch` reads the stream record line by line, one proxy's steps."""

from __future__ import annotations

import json
from pathlib import Path

from meshsim.control.xds_record import read_sync
from meshsim.xds_watch import format_event, watch


def test_each_step_reads_as_a_sentence() -> None:
    nack = format_event(
        {
            "t": 0,
            "proxy": "p",
            "kind": "nack",
            "type": "CDS",
            "version": 2,
            "nonce": "9",
            "error": "bad",
        }
    )
    assert "envoy → cp" in nack and " NACK " in nack and "Envoy says: bad" in nack
    resp = format_event(
        {"t": 0, "proxy": "p", "kind": "response", "type": "RDS", "version": 3, "nonce": "4",
         "resources": ["a", "b"], "changed": ["b"], "removed": []}
    )  # fmt: skip
    assert "cp → envoy" in resp and "version 3  nonce 4" in resp and "changed: b" in resp
    resync = format_event(
        {"t": 0, "proxy": "p", "kind": "response", "type": "LDS", "version": 1, "nonce": "5",
         "resources": ["a"], "changed": [], "removed": []}
    )  # fmt: skip
    assert "none changed (a resync)" in resync


def test_watch_keeps_one_proxy_and_waits_for_a_partial_line(tmp_path: Path) -> None:
    lines = [
        {"t": 1, "proxy": "a", "kind": "ack", "type": "CDS", "version": 1, "nonce": "1"},
        {"t": 2, "proxy": "b", "kind": "ack", "type": "CDS", "version": 1, "nonce": "2"},
    ]
    text = "".join(json.dumps(x) + "\n" for x in lines) + '{"t": 3, "proxy": "a"'
    (tmp_path / "stream.jsonl").write_text(text)
    shown = list(watch(tmp_path, "a", follow=False))
    assert len(shown) == 1 and "nonce 1" in shown[0]
    assert list(watch(tmp_path / "none", "a", follow=False)) == []


def test_read_sync_of_a_run_without_one_is_empty(tmp_path: Path) -> None:
    assert read_sync(tmp_path) == {}
    (tmp_path / "sync.json").write_text("[1]")
    assert read_sync(tmp_path) == {}
