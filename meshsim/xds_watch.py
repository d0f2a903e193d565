"""`meshsim xds watch PROXY`: one proxy's ADS stream as a learner can read it.

It reads `xds/stream.jsonl` (meshsim.control.xds_record) of a running mesh
(or of a finished run, with --run-dir) and prints each step on one line:

    12:00:01.204  envoy → cp   request   CDS  (wildcard) version ""
    12:00:01.206  cp → envoy   response  CDS  version 1  nonce 7   14 resources, 14 changed
    12:00:01.231  envoy → cp   ACK       CDS  version 1  nonce 7
    12:00:09.512  envoy → cp   NACK      LDS  version 3  nonce 41  Envoy says: ...

Envoy asks (request), the control plane answers (response, with a version and a
nonce), Envoy acknowledges (ACK, the new version) or rejects (NACK, its last
good version and why); a stale nonce is a request about a response that was
already superseded, and is ignored, as the xDS protocol says.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from meshsim.control.xds_record import STREAM_FILE

_ARROW = {
    "connect": "envoy → cp",
    "request": "envoy → cp",
    "ack": "envoy → cp",
    "nack": "envoy → cp",
    "stale": "envoy → cp",
    "response": "cp → envoy",
    "disconnect": "envoy ✕ cp",
    "denied": "envoy ✕ cp",
}


def _names(names: list[str], limit: int = 4) -> str:
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit]) + f" and {len(names) - limit} more"


def format_event(ev: dict[str, Any]) -> str:
    """One stream event as one readable line."""
    t = float(ev.get("t", 0.0))
    stamp = time.strftime("%H:%M:%S", time.localtime(t)) + f".{int(t * 1000) % 1000:03d}"
    kind = str(ev.get("kind", "?"))
    head = f"{stamp}  {_ARROW.get(kind, '?'):<11} {kind.upper() if kind in ('ack', 'nack') else kind:<9} {ev.get('type', ''):<4}"
    if kind == "connect":
        return f"{head} stream opened (connection {ev.get('n', 1)})"
    if kind == "disconnect":
        return f"{head} stream closed (Envoy keeps its last configuration and reconnects)"
    if kind == "request":
        names = ev.get("resources") or []
        wanted = _names(names) if names else "(wildcard: everything of this type)"
        return f"{head} asks for {wanted}; has version {ev.get('version') or '(none)'}"
    if kind == "response":
        res = ev.get("resources") or []
        changed = ev.get("changed") or []
        removed = ev.get("removed") or []
        what = f"{len(res)} resources"
        if changed:
            what += f", changed: {_names(changed)}"
        if removed:
            what += f", removed: {_names(removed)}"
        if not changed and not removed:
            what += ", none changed (a resync)"
        return f"{head} version {ev.get('version')}  nonce {ev.get('nonce')}  {what}"
    if kind == "ack":
        return f"{head} version {ev.get('version')}  nonce {ev.get('nonce')}  applied"
    if kind == "nack":
        return (
            f"{head} version {ev.get('version')}  nonce {ev.get('nonce')}  rejected; "
            f"Envoy says: {ev.get('error', '')}"
        )
    if kind == "denied":
        return f"{head} stream refused: wrong or missing token for this proxy"
    if kind == "stale":
        return f"{head} nonce {ev.get('nonce')} is not the latest sent: ignored"
    return f"{head} {json.dumps(ev)}"


def watch(
    xds_dir: Path,
    proxy: str,
    follow: bool = True,
    alive: Callable[[], bool] = lambda: True,
    poll_s: float = 0.2,
) -> Iterator[str]:
    """Lines for `proxy`'s events in `xds_dir/stream.jsonl`: those so far,
    then (with `follow`) new ones as they come, while `alive()`."""
    path = xds_dir / STREAM_FILE
    pos = 0
    partial = ""
    while True:
        try:
            with path.open(encoding="utf-8") as fh:
                fh.seek(pos)
                chunk = fh.read()
                pos = fh.tell()
        except OSError:
            chunk = ""
        text = partial + chunk
        lines = text.split("\n")
        partial = lines.pop()  # a line still being written
        for line in lines:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if isinstance(ev, dict) and ev.get("proxy") == proxy:
                yield format_event(ev)
        if not follow or not alive():
            return
        time.sleep(poll_s)
