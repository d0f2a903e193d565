"""Reading the per-request records the locustfile writes.

Each Locust process appends JSON lines to `requests-<pid>.jsonl.gz` in the
run's records directory (gzip members, one per flush: `meshsim.rundata`;
runs before compression wrote plain `requests-<pid>.jsonl`, read the same),
one line per request:

    {"t": 1718000000.123456, "journey": "place_order", "name": "POST /orders",
     "status": 201, "ok": true, "latency_us": 1234, "instance": "order-v1-0",
     "upstreams": ["user-v1-0", "product-v2-0", "shipping-v1-0"], "error": null,
     "cohort": "beta"}

`t` is epoch seconds when the request started; `status` is 0 when no response
came (connection error); `instance` is the instance that answered (`served_by`:
the app's `x-served-by` header, else the inbound sidecar's) and
`upstreams` the comma-separated `x-upstreams` header; `error` is a short reason
for a failure ("HTTP 503", "ConnectionRefusedError"); `cohort` is the
`load.cohorts` entry whose headers the shopper sent (null for a shopper in no
cohort; absent from files written before cohorts existed, read as null).

Lines are written whole, but a process killed mid-write may leave a partial
last line (or member): readers here skip it (and `RecordTail` picks it up
once complete).
Nothing in this module imports locust.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from meshsim import rundata
from meshsim.errors import UsageError

RECORD_GLOB = "requests-*.jsonl"
RECORD_GZ_GLOB = RECORD_GLOB + rundata.GZ_SUFFIX


def served_by(app_header: str | None, sidecar_header: str | None) -> str | None:
    """The instance that answered: the app's own `x-served-by` (the shop's
    apps set it), else the inbound sidecar's `x-meshsim-served-by:
    <instance>;<Envoy response flags>` when the answer came from its app
    (flags `-`); an answer Envoy made up there (connection refused: `UF`)
    was served by no instance. `meshsim_recorder` holds the same rule (it
    never imports meshsim).

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


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request as the load generator saw it."""

    t: float
    journey: str | None
    name: str
    status: int
    ok: bool
    latency_us: int
    instance: str | None
    upstreams: tuple[str, ...]
    error: str | None
    cohort: str | None = None

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> RequestRecord:
        """ValueError, KeyError or TypeError for what the locustfile never writes
        (JSON reads 1e400 as infinity, which no time or latency can be)."""
        return cls(
            t=_finite(obj, "t"),
            journey=obj.get("journey"),
            name=str(obj["name"]),
            status=int(_finite(obj, "status")),
            ok=bool(obj["ok"]),
            latency_us=int(_finite(obj, "latency_us")),
            instance=obj.get("instance"),
            upstreams=tuple(obj.get("upstreams") or ()),
            error=obj.get("error"),
            cohort=obj.get("cohort"),
        )

    def to_line(self) -> str:
        """The record as the locustfile writes it (handy for fakes in tests)."""
        obj = asdict(self)
        obj["upstreams"] = list(self.upstreams)
        return json.dumps(obj, separators=(",", ":")) + "\n"


def _finite(obj: dict[str, Any], key: str) -> float:
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{key}: expected a number, found {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{key}: {value} is not a finite number")
    return float(value)


class RecordsError(UsageError):
    """A records file holds a line the locustfile cannot have written (exit 2)."""


def _parse_lines(data: bytes, path: Path | None = None, first: int = 1) -> list[RequestRecord]:
    """The records in `data`. A line that is not JSON is what a crash mid-write
    leaves and is skipped; with `path` given (a report, not live progress), a
    JSON line that is no record raises RecordsError naming file and line."""
    records = []
    for number, line in enumerate(data.splitlines(), start=first):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue  # only a crash mid-write produces this; never stop a report over it
        try:
            if not isinstance(obj, dict):
                raise TypeError(f"expected a JSON object, found {type(obj).__name__}")
            records.append(RequestRecord.from_json(obj))
        except (ValueError, KeyError, TypeError, OverflowError) as exc:
            if path is None:
                continue
            what = f"{exc.args[0]} is missing" if isinstance(exc, KeyError) else str(exc)
            raise RecordsError(
                f"{path}:{number}: not a request record ({what}); meshsim did not write "
                "this line: restore the file or remove the line"
            ) from None
    return records


def _complete(data: bytes) -> bytes:
    """The part of `data` up to and including its last newline."""
    end = data.rfind(b"\n")
    return data[: end + 1]


def iter_records(records_dir: Path) -> Iterator[RequestRecord]:
    """Every complete record in the directory, file by file in the order each
    file holds them (not sorted by start time): what a streaming reader wants,
    holding one line at a time. The same lines as `read_records`, with the
    same RecordsError for a line meshsim cannot have written."""
    if not records_dir.is_dir():
        return
    for path in record_files(records_dir):
        for number, line in enumerate(rundata.file_lines(path), start=1):
            try:  # the common case inline: this loop is most of a report's time
                obj = json.loads(line)
                if isinstance(obj, dict):
                    yield RequestRecord.from_json(obj)
                    continue
            except (ValueError, KeyError, TypeError, OverflowError):
                pass
            # anything else, as read_records has it: skipped, or RecordsError
            yield from _parse_lines(line, path, number)


def record_files(records_dir: Path) -> list[Path]:
    """Every records file, compressed (`.jsonl.gz`) or plain, by name."""
    return sorted([*records_dir.glob(RECORD_GLOB), *records_dir.glob(RECORD_GZ_GLOB)])


def read_records(records_dir: Path) -> list[RequestRecord]:
    """Every complete record in the directory, ordered by start time.

    A missing directory has no records. A trailing partial line is ignored.
    """
    if not records_dir.is_dir():
        return []
    records: list[RequestRecord] = []
    for path in record_files(records_dir):
        records.extend(_parse_lines(b"".join(rundata.file_lines(path)), path))
    records.sort(key=lambda r: r.t)
    return records


def record_counts(records_dir: Path) -> dict[str, dict[str, int]]:
    """What each records file holds when the load has stopped: its complete
    lines and its size. The runner logs it in `run_end`, so that a report can
    tell a file cut short (a full disk, a copy interrupted) from a whole one."""
    return {path.name: count_lines(path) for path in record_files(records_dir)}


def count_lines(path: Path) -> dict[str, int]:
    """`{"lines": complete lines, "bytes": size}` of a records file, read a
    chunk at a time (a records file of an hour-long run is tens of MB); for
    a compressed one, the lines of its complete members and its size on disk."""
    return rundata.count_lines(path)


def last_time(path: Path) -> float | None:
    """The start time of the last complete, readable record of one file."""
    latest: float | None = None
    try:
        for line in rundata.file_lines(path):
            for record in _parse_lines(line):
                latest = record.t if latest is None else max(latest, record.t)
    except OSError:
        return None
    return latest


class RecordTail:
    """Reads the records added since the previous `poll()`, for live progress.

    Example::

        tail = RecordTail(RunDir(run_dir).records)
        new = tail.poll()  # everything so far; later calls return only new lines

    New files (another Locust process) are picked up; a partial last line is
    left for the next poll.
    """

    def __init__(self, records_dir: Path) -> None:
        self.records_dir = records_dir
        self._offsets: dict[Path, int] = {}

    def poll(self) -> list[RequestRecord]:
        if not self.records_dir.is_dir():
            return []
        records: list[RequestRecord] = []
        for path in record_files(self.records_dir):
            offset = self._offsets.get(path, 0)
            if path.name.endswith(rundata.GZ_SUFFIX):  # whole members only
                data, self._offsets[path] = rundata.read_members(path, offset)
                records.extend(_parse_lines(_complete(data)))
                continue
            try:
                with path.open("rb") as f:
                    f.seek(offset)
                    data = _complete(f.read())
            except FileNotFoundError:
                continue
            self._offsets[path] = offset + len(data)
            records.extend(_parse_lines(data))
        records.sort(key=lambda r: r.t)
        return records
