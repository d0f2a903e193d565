"""The run directory's line files (records, access logs, traces), plain or
gzip-compressed: the one reader every meshsim command uses, and the writers.

A line file may exist in two forms, and a reader takes both:

- plain, `x.jsonl`, as runs before compression wrote them, and as Envoy
  writes its access logs while it runs;
- compressed, `x.jsonl.gz`: a series of gzip members, each a whole number of
  lines, appended one per batch (`append_member`). A run killed mid-write
  leaves at worst a cut last member: `gz_lines` reads up to the last
  complete one, so an interrupted run keeps everything flushed before it.
  `zcat` / `gzip -dc` read these files too (concatenated members are one
  gzip stream to them).

When both exist (an access log compressed up to a point while Envoy went on
writing the plain file), the compressed part comes first: `iter_lines`
reads `x.jsonl.gz`, then `x.jsonl`.

Why gzip and not zstd: it is in the standard library (the Locust plugin,
which imports nothing of meshsim, writes records with it too), every system
reads it with `zcat`, and its multi-member format gives the cut-at-the-last-
member behaviour above without a framing of our own. Python's gzip -6
compresses these lines at ~80 MB/s of CPU time, and a request writes ~5 KB
(its access log lines, a kept share of its spans, its record): at 100
requests a second, under 1 % of a core. zstd's speed buys nothing here, and on meshsim's JSON lines its default level does not even compress
better (a run's traces, 11.0 MB: gzip -6 1.01 MB, zstd -3 1.13 MB; an access
log, 1.98 MB: 151 KB and 168 KB).
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from meshsim.rundir import GZ_SUFFIX, ROTATED_SUFFIX

__all__ = [
    "GZ_SUFFIX",
    "append_member",
    "compress_file",
    "count_lines",
    "exists",
    "file_lines",
    "gz_lines",
    "gz_path",
    "iter_lines",
    "plain_lines",
    "read_members",
    "total_size",
]

LEVEL = 6  # gzip's default: ~10x on meshsim's JSON lines; 9 gains ~3 % for twice the CPU
_CHUNK = 1 << 20


def gz_path(path: Path) -> Path:
    """The compressed form of a plain line file: `x.jsonl` -> `x.jsonl.gz`."""
    return path.with_name(path.name + GZ_SUFFIX)


def rotated_path(path: Path) -> Path:
    """An access log rotated away from Envoy, waiting to be compressed
    (`meshsim.telemetry.logrotate`): `x.jsonl` -> `x.jsonl.rotated`."""
    return path.with_name(path.name + ROTATED_SUFFIX)


def parts(path: Path) -> tuple[Path, Path, Path]:
    """The files that may hold the line file `path`, oldest lines first."""
    return gz_path(path), rotated_path(path), path


def exists(path: Path) -> bool:
    """The line file `path` (named by its plain form) exists in any form."""
    return any(p.is_file() for p in parts(path))


def total_size(path: Path) -> int:
    """Bytes on disk of every form of `path`."""
    size = 0
    for p in parts(path):
        try:
            size += p.stat().st_size
        except OSError:
            pass
    return size


def iter_lines(path: Path) -> Iterator[bytes]:
    """Every complete line (ending in a newline) of the line file `path`,
    named by its plain form: the compressed part, a rotated part waiting to
    be compressed, then the plain one. A cut last line or member (a writer
    killed mid-write) is left out."""
    gz, rotated, plain = parts(path)
    if gz.is_file():
        yield from gz_lines(gz)
    for p in (rotated, plain):
        if p.is_file():
            yield from plain_lines(p)


def file_lines(path: Path) -> Iterator[bytes]:
    """Complete lines of one file, by its actual name: gzip members if it
    ends in `.gz`, plain lines otherwise."""
    return gz_lines(path) if path.name.endswith(GZ_SUFFIX) else plain_lines(path)


def plain_lines(path: Path) -> Iterator[bytes]:
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        return
    with fh:
        for line in fh:
            if not line.endswith(b"\n"):
                return  # a partial last line: the writer is (or was killed) mid-line
            yield line


def gz_lines(path: Path) -> Iterator[bytes]:
    """Complete lines of the complete members of a gzip file."""
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        return
    with fh:
        rest = b""
        for data in _members(fh):
            lines = (rest + data).split(b"\n")
            rest = lines.pop()
            for line in lines:
                yield line + b"\n"


def read_members(path: Path, offset: int = 0) -> tuple[bytes, int]:
    """What the complete members after byte `offset` hold, and the offset
    just past the last of them (where the next read starts): for a reader
    that follows a file as it grows (`meshsim.load.records.RecordTail`)."""
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        return b"", offset
    with fh:
        fh.seek(offset)
        out = []
        end = offset
        for data, consumed in _members_at(fh):
            out.append(data)
            end = offset + consumed
        return b"".join(out), end


def _members(fh: IO[bytes]) -> Iterator[bytes]:
    for data, _ in _members_at(fh):
        yield data


def _members_at(fh: IO[bytes]) -> Iterator[tuple[bytes, int]]:
    """(decompressed member, bytes of the file consumed up to its end) for
    each complete member; stops at a cut or damaged one. Holds one member's
    output at a time (a batch: kilobytes; a compacted chunk: ~1 MB)."""
    read = fh.read
    decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
    pending: list[bytes] = []
    consumed = 0  # bytes of the file fed to finished members
    fed = 0  # bytes fed to the current member
    buf = b""
    while True:
        if not buf:
            buf = read(_CHUNK)
            if not buf:
                return  # the current member (if any) is cut: left out
        try:
            pending.append(decomp.decompress(buf))
        except zlib.error:
            return  # damaged: everything before it was yielded
        if decomp.eof:
            tail = decomp.unused_data
            fed += len(buf) - len(tail)
            consumed += fed
            yield b"".join(pending), consumed
            pending, fed, buf = [], 0, tail
            decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
        else:
            fed += len(buf)
            buf = b""


def count_lines(path: Path) -> dict[str, int]:
    """`{"lines": complete lines, "bytes": size on disk}` of one file (either
    form, by its actual name), read a chunk or member at a time."""
    size = path.stat().st_size
    if path.name.endswith(GZ_SUFFIX):
        lines = sum(1 for _ in gz_lines(path))
    else:
        lines = 0
        with path.open("rb") as fh:
            while data := fh.read(_CHUNK):
                lines += data.count(b"\n")
    return {"lines": lines, "bytes": size}


def member(data: bytes) -> bytes:
    """`data` (whole lines) as one gzip member. mtime 0: the same lines give
    the same bytes."""
    return gzip.compress(data, compresslevel=LEVEL, mtime=0)


def append_member(fd: int, data: bytes) -> int:
    """Append `data` (whole lines) to an open `O_APPEND` file as one gzip
    member, in one write() so a reader never sees half of it unless the
    process dies mid-write; returns the bytes written."""
    view = memoryview(member(data))
    written = len(view)
    while view:  # a regular file takes it all at once; loop only for safety
        view = view[os.write(fd, view) :]
    return written


def compress_file(path: Path, into: Path | None = None, chunk: int = _CHUNK) -> int:
    """Move the complete lines of the plain file `path` into `into` (default:
    its `.gz` sibling; appended, ~1 MB of lines a member) and delete it;
    a cut last line is dropped, as every reader drops it. For a file nobody
    writes any more (an access log once its Envoy has stopped). Returns the
    compressed bytes added."""
    if not path.is_file():
        return 0
    fd = os.open(into or gz_path(path), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    written = 0
    try:
        batch: list[bytes] = []
        size = 0
        for line in plain_lines(path):
            batch.append(line)
            size += len(line)
            if size >= chunk:
                written += append_member(fd, b"".join(batch))
                batch, size = [], 0
        if batch:
            written += append_member(fd, b"".join(batch))
        os.fsync(fd)
    finally:
        os.close(fd)
    path.unlink()
    return written
