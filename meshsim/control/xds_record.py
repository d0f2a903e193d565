"""What the ADS streams did, on disk, for the commands that run beside a mesh.

`meshsim status` and `meshsim xds watch` are other processes than the one
serving the streams; they read two files in the run's `xds/` directory:

- `xds/stream.jsonl`: every step of every stream, one JSON object a line
  (`connect`, `request`, `response`, `ack`, `nack`, `stale`, `disconnect`;
  with the type, version, nonce, resource names, what changed, Envoy's error);
- `xds/sync.json`: per proxy, whether its stream is connected and, per type
  (CDS, LDS, RDS, SDS), its status (SYNCED / STALE / NACK), versions and
  Envoy's error detail: what `istioctl proxy-status` shows for istiod.

Both are written from the control plane's event loop; `sync.json` at most
every SYNC_EVERY_S (a push to 100 proxies is hundreds of events).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from meshsim.control.writer import atomic_write

if TYPE_CHECKING:  # `meshsim status` reads the files without loading gRPC
    from meshsim.control.ads import AdsServer, XdsEvent

STREAM_FILE = "stream.jsonl"
SYNC_FILE = "sync.json"
SYNC_EVERY_S = 0.05


class StreamRecorder:
    """Follows an AdsServer's events into `root/stream.jsonl` and `root/sync.json`."""

    def __init__(self, ads: AdsServer, root: Path) -> None:
        self.ads = ads
        self.root = root
        self._fh: IO[str] | None = None
        self._pending: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._fh = (self.root / STREAM_FILE).open("a", encoding="utf-8")
        self.ads.events.append(self._on_event)
        self.write_sync()

    def _on_event(self, event: XdsEvent) -> None:
        if self._fh is not None:
            self._fh.write(json.dumps(event) + "\n")
        if self._pending is None:
            loop = asyncio.get_running_loop()
            self._pending = loop.call_later(SYNC_EVERY_S, self.write_sync)

    def write_sync(self) -> None:
        self._pending = None
        if self._fh is not None:
            self._fh.flush()
        atomic_write(self.root / SYNC_FILE, json.dumps(self.ads.sync(), indent=1))

    def stop(self) -> None:
        if self._fh is None:
            return  # never started
        if self._on_event in self.ads.events:
            self.ads.events.remove(self._on_event)
        if self._pending is not None:
            self._pending.cancel()
        self.write_sync()
        self._fh.close()
        self._fh = None


def read_sync(root: Path) -> dict[str, Any]:
    """`sync.json` of a run's xds directory; {} when there is none (yet)."""
    try:
        data = json.loads((root / SYNC_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
