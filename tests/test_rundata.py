"""The one reader of the run directory's line files: plain, compressed, cut short."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

from meshsim import rundata
from meshsim.load.records import RecordTail, RequestRecord, count_lines, iter_records, read_records
from meshsim.rundir import RunDir


def _append(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        rundata.append_member(fd, data)
    finally:
        os.close(fd)


def test_plain_file_complete_lines_only(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a":1}\n{"a":2}\n{"a":')
    assert list(rundata.iter_lines(path)) == [b'{"a":1}\n', b'{"a":2}\n']


def test_compressed_members_read_as_one_stream_also_by_gzip(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    _append(rundata.gz_path(path), b"1\n2\n")
    _append(rundata.gz_path(path), b"3\n")
    assert list(rundata.iter_lines(path)) == [b"1\n", b"2\n", b"3\n"]
    assert gzip.decompress(rundata.gz_path(path).read_bytes()) == b"1\n2\n3\n"  # zcat reads it
    assert rundata.exists(path) and not path.exists()


def test_truncated_compressed_file_reads_up_to_its_last_complete_member(tmp_path: Path) -> None:
    gz = tmp_path / "x.jsonl.gz"
    _append(gz, b"1\n2\n")
    _append(gz, b"3\n")
    whole = gz.read_bytes()
    first = len(rundata.member(b"1\n2\n"))
    for cut in range(first, len(whole)):  # every cut inside the second member
        gz.write_bytes(whole[:cut])
        assert list(rundata.file_lines(gz)) == [b"1\n", b"2\n"], cut
    gz.write_bytes(whole[: first - 3])  # inside the first: nothing
    assert list(rundata.file_lines(gz)) == []
    gz.write_bytes(whole[:first] + b"not gzip at all\n")  # damage after a member
    assert list(rundata.file_lines(gz)) == [b"1\n", b"2\n"]


def test_compressed_part_first_then_plain(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(b"1\n2\n")
    rundata.compress_file(path)
    assert not path.exists()
    path.write_bytes(b"3\n")  # Envoy went on writing after the old part was compressed
    assert list(rundata.iter_lines(path)) == [b"1\n", b"2\n", b"3\n"]
    assert rundata.total_size(path) == path.stat().st_size + rundata.gz_path(path).stat().st_size


def test_compress_file_chunks_into_members_and_drops_a_cut_line(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    lines = [f'{{"n":{i}}}\n'.encode() for i in range(2000)]
    path.write_bytes(b"".join(lines) + b'{"n":')
    rundata.compress_file(path, chunk=4096)
    assert list(rundata.iter_lines(path)) == lines
    data, end = rundata.read_members(rundata.gz_path(path))
    assert data == b"".join(lines) and end == rundata.gz_path(path).stat().st_size


def test_read_members_follows_a_growing_file(tmp_path: Path) -> None:
    gz = tmp_path / "x.jsonl.gz"
    _append(gz, b"1\n")
    data, offset = rundata.read_members(gz)
    assert data == b"1\n"
    _append(gz, b"2\n")
    complete = gz.stat().st_size
    with gz.open("ab") as fh:  # a writer caught mid-member
        fh.write(rundata.member(b"3\n")[:10])
    data, offset = rundata.read_members(gz, offset)
    assert data == b"2\n" and offset == complete
    assert rundata.read_members(gz, offset) == (b"", offset)


def _record(t: float) -> RequestRecord:
    return RequestRecord(t, "j", "GET /", 200, True, 1000, "a-v1-0", (), None)


def test_records_in_both_forms(tmp_path: Path) -> None:
    records = tmp_path / "records"
    records.mkdir()
    (records / "requests-1.jsonl").write_text(_record(1.0).to_line(), encoding="utf-8")
    _append(records / "requests-2.jsonl.gz", (_record(3.0).to_line() * 2).encode())
    tail = RecordTail(records)
    assert [r.t for r in tail.poll()] == [1.0, 3.0, 3.0]
    _append(records / "requests-2.jsonl.gz", _record(4.0).to_line().encode())
    assert [r.t for r in tail.poll()] == [4.0]
    assert [r.t for r in read_records(records)] == [1.0, 3.0, 3.0, 4.0]
    assert sorted(r.t for r in iter_records(records)) == [1.0, 3.0, 3.0, 4.0]
    assert count_lines(records / "requests-2.jsonl.gz")["lines"] == 3


def test_access_logs_listed_by_plain_name_in_either_form(tmp_path: Path) -> None:
    rd = RunDir(tmp_path)
    rd.logs.mkdir()
    rd.access_log("a-v1-0", "inbound").write_bytes(b"{}\n")
    _append(rundata.gz_path(rd.access_log("b-v1-0", "outbound")), b"{}\n")
    rd.access_log("b-v1-0", "outbound").write_bytes(b"{}\n")
    assert [(p.name, proxy, d) for p, proxy, d in rd.access_logs()] == [
        ("a-v1-0.inbound.jsonl", "a-v1-0", "inbound"),
        ("b-v1-0.outbound.jsonl", "b-v1-0", "outbound"),
    ]
