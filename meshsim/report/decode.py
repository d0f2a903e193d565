"""The report's reader of the request records: each line decoded by msgspec.

A long run's report reads hundreds of thousands of records, and decoding
them was most of its time: `json.loads` builds a dict of ten keys per line
and `RequestRecord.from_json` checks and copies it into a dataclass.
msgspec decodes a line straight into a typed struct (`_Record`, the same
attribute names as `RequestRecord`), checking the types as it goes, ~6x
faster than `json.loads` alone (docs/benchmarks.md, "Report build").

What it reads is exactly what `meshsim.load.records.iter_records` reads:
a line the struct does not take (a type the locustfile never writes, a
number out of range, a cut line) goes through `iter_records`' own parser,
which skips it, reads it leniently as before, or raises `RecordsError`
naming file and line, as it always did. Lines come from `meshsim.rundata`,
plain or compressed, as for every reader of the run directory.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import msgspec

from meshsim import rundata
from meshsim.load.records import _parse_lines, record_files
from meshsim.report.stats import Request

# `RequestRecord.from_json` reads numbers through float: past 2**53 it would
# round them, so a struct does not take them (the slow path reads them as it would)
_Exact = Annotated[int, msgspec.Meta(ge=-(2**53), le=2**53)]


class _Record(msgspec.Struct, frozen=True, gc=False):
    """One records line (`meshsim.load.records`), as the statistics read it."""

    t: float  # msgspec takes no NaN or infinity, as `from_json` does not
    name: str
    status: _Exact
    ok: bool
    latency_us: _Exact
    journey: str | None = None
    instance: str | None = None
    upstreams: tuple[str, ...] = ()
    error: str | None = None
    cohort: str | None = None


_DECODER = msgspec.json.Decoder(_Record)


def iter_requests(records_dir: Path) -> Iterator[Request]:
    """Every complete record in the directory, file by file in the order each
    file holds them: the records (and the `RecordsError`) of
    `meshsim.load.records.iter_records`, read one line at a time."""
    if not records_dir.is_dir():
        return
    decode = _DECODER.decode
    for path in record_files(records_dir):
        # complete lines of a plain or compressed file, as iter_records reads them
        for number, line in enumerate(rundata.file_lines(path), start=1):
            try:
                yield decode(line)
            except msgspec.DecodeError:  # ValidationError included
                # skipped, read as before, or RecordsError: iter_records' rules
                yield from _parse_lines(line, path, number)
