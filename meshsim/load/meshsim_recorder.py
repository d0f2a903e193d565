"""meshsim's Locust plugin: records every request, whichever locustfile sends it.

`meshsim.load.runner` loads this file next to the locustfile that drives the
load (`locust -f THEIRS.py,meshsim_recorder.py`): the shop's journeys, the
users generated from `load.requests`, or a team's own locustfile, which is
never edited. It hooks Locust's `request` event, so every request of every
User class (HttpUser or FastHttpUser) is written as one JSON line to
`requests-<pid>.jsonl.gz` in `MESHSIM_RECORDS` (format: `meshsim.load.records`),
compressed as written: each flush (every ~0.5 s) appends one gzip member of
whole lines, so a Locust killed mid-run leaves a file readable up to its
last complete member (`meshsim.rundata`, whose writer this duplicates: this
plugin imports nothing of meshsim). Unset, nothing is recorded. It defines
no User class.

The instance that served a request is the app's `x-served-by` header (the
shop's apps set it) or else the one the inbound sidecar adds to every answer
(`x-meshsim-served-by: <instance>;<Envoy response flags>`, see
`meshsim.control.translate`): an answer its app gave (flags `-`) counts as
served by that instance, one Envoy made up there (the app refused the
connection, timed out) does not, as for the shop.

Like the locustfile it runs in Locust's own process only: it imports locust,
never meshsim.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent  # type: ignore[import-untyped]  # no stubs; used only here
from locust import events

FLUSH_EVERY_S = 0.25  # records reach the disk at most ~0.5 s after the request
SERVED_BY = "x-served-by"
SIDECAR_SERVED_BY = "x-meshsim-served-by"
GZIP_LEVEL = 6  # as meshsim.rundata.LEVEL


class _RecordWriter:
    """Buffers JSON lines and appends them as one gzip member with one
    write() per flush, so a reader sees whole members only (except, after a
    crash, a partial last one, which readers leave out)."""

    def __init__(self, directory: str | None) -> None:
        self._dir = Path(directory) if directory else None
        self._buf: list[str] = []
        self._fd: int | None = None
        self._pid = 0
        self._last_flush = time.monotonic()

    @property
    def directory(self) -> Path | None:
        return self._dir

    def add(self, line: str) -> None:
        if self._dir is None:
            return
        self._buf.append(line)
        if time.monotonic() - self._last_flush >= 2 * FLUSH_EVERY_S:
            self.flush()

    def flush(self) -> None:
        self._last_flush = time.monotonic()
        if not self._buf or self._dir is None:
            return
        if self._fd is None or self._pid != os.getpid():  # opened lazily: --processes forks
            self._pid = os.getpid()
            self._dir.mkdir(parents=True, exist_ok=True)
            path = self._dir / f"requests-{self._pid}.jsonl.gz"
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        data = gzip.compress("".join(self._buf).encode(), compresslevel=GZIP_LEVEL, mtime=0)
        self._buf.clear()
        view = memoryview(data)
        while view:  # a regular file takes it all at once; loop only for safety
            view = view[os.write(self._fd, view) :]


_writer = _RecordWriter(os.environ.get("MESHSIM_RECORDS"))


def _header(response: Any, name: str) -> str | None:
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    value = headers.get(name)
    return str(value) if value is not None else None


def served_by(app_header: str | None, sidecar_header: str | None) -> str | None:
    """The instance that answered: the app's own header, else the inbound
    sidecar's when the answer came from its app (Envoy's response flags `-`).
    The same rule as `meshsim.load.records.served_by`, which this plugin
    cannot import (it never imports meshsim).

    >>> served_by(None, "quotes-v2-0;-"), served_by(None, "quotes-v2-0;UF")
    ('quotes-v2-0', None)
    """
    if app_header:
        return app_header
    if sidecar_header:
        instance, _, flags = sidecar_header.partition(";")
        if instance and flags.strip() in ("-", ""):
            return instance.strip()
    return None


def _record(
    request_type: str,
    name: str,
    response_time: float,
    response: Any = None,
    context: dict[str, Any] | None = None,
    exception: BaseException | None = None,
    start_time: float | None = None,
    **_: Any,
) -> None:
    # Locust's response_time is float milliseconds from time.perf_counter()
    # around send + body read (both clients, locust 2.47), so it already has
    # sub-microsecond resolution; only its aggregated statistics are rounded.
    status = int(getattr(response, "status_code", 0) or 0)
    error: str | None = None
    if exception is not None:
        error = f"HTTP {status}" if status >= 400 else type(exception).__name__
    upstreams = _header(response, "x-upstreams")
    context = context or {}
    sent = start_time if start_time is not None else time.time()
    intended = context.get("intended")
    if isinstance(intended, float):
        # open loop: timed from when the request was due, not from when the
        # generator got to send it (coordinated omission, see the locustfile)
        response_time += max(0.0, sent - intended) * 1000
        sent = intended
    record = {
        "t": round(sent, 6),
        "journey": context.get("journey"),
        "name": f"{request_type} {name}",
        "status": status,
        "ok": exception is None,
        "latency_us": max(1, round(response_time * 1000)),
        "instance": served_by(_header(response, SERVED_BY), _header(response, SIDECAR_SERVED_BY)),
        "upstreams": [u.strip() for u in upstreams.split(",") if u.strip()] if upstreams else [],
        "error": error,
        "cohort": context.get("cohort"),
    }
    _writer.add(json.dumps(record, separators=(",", ":")) + "\n")


def _flush_loop() -> None:
    while True:
        gevent.sleep(FLUSH_EVERY_S)
        _writer.flush()


_PID_AT_IMPORT = os.getpid()


def _watch_parent(parent: int) -> None:
    # meshsim starts locust in a session of its own (so a terminal Ctrl-C goes
    # to meshsim only); if meshsim is killed outright, stop rather than load
    # the mesh forever.
    while os.getpid() == _PID_AT_IMPORT:  # not in `--processes` workers
        gevent.sleep(1.0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)  # locust's own graceful shutdown
            return


def _on_init(environment: Any, **_: Any) -> None:
    gevent.spawn(_flush_loop)
    parent = os.environ.get("MESHSIM_PARENT_PID")
    if parent:
        gevent.spawn(_watch_parent, int(parent))


def _on_test_start(environment: Any, **_: Any) -> None:
    # Tells LocustRunner.start() that the locustfile loaded and users are starting.
    directory = _writer.directory
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"locust-{os.getpid()}.ready").touch()


def _on_flush(*_: Any, **__: Any) -> None:
    _writer.flush()


# Registered by name, not with @events.X.add_listener: locust's EventHook is
# untyped, and a decorator would make each listener untyped for mypy.
_LISTENERS: dict[str, Callable[..., None]] = {
    "request": _record,
    "init": _on_init,
    "test_start": _on_test_start,
    "test_stop": _on_flush,
    "quitting": _on_flush,
    "quit": _on_flush,
}
for _event, _listener in _LISTENERS.items():
    getattr(events, _event).add_listener(_listener)
