"""Access logs rotated and compressed while "Envoy" writes them: no line lost,
a rotated file compressed only after its writer let go of it."""

from __future__ import annotations

from pathlib import Path
from typing import IO

from meshsim import rundata
from meshsim.rundir import RunDir
from meshsim.telemetry.accesslog import compress_access_logs
from meshsim.telemetry.logrotate import AccessLogRotator


class FakeEnvoy:
    """Holds its log open as Envoy does: a rename does not move its writes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fh: IO[str] = path.open("a", encoding="utf-8")
        self.n = 0
        self.answers = True

    def write(self, k: int) -> None:
        for _ in range(k):
            self.fh.write(f'{{"n":{self.n}}}\n')
            self.n += 1
        self.fh.flush()

    async def reopen(self, proxy: str) -> bool:
        if not self.answers:
            return False
        self.fh.close()
        self.fh = self.path.open("a", encoding="utf-8")
        return True


def lines(path: Path) -> list[bytes]:
    return list(rundata.iter_lines(path))


async def test_rotation_loses_nothing_and_waits_for_the_reopen(tmp_path: Path) -> None:
    rd = RunDir(tmp_path)
    rd.logs.mkdir()
    log = rd.access_log("order-v1-0", "inbound")
    envoy = FakeEnvoy(log)
    rotator = AccessLogRotator(rd, envoy.reopen)
    envoy.write(5)
    await rotator.round()  # renamed, reopened: the next round compresses it
    assert rundata.rotated_path(log).is_file() and log.is_file()
    envoy.write(3)
    assert len(lines(log)) == 8
    envoy.answers = False  # a proxy that does not answer (killed, restarting)
    await rotator.round()
    assert rundata.gz_path(log).is_file()  # the first 5, compressed
    envoy.write(2)  # still into the rotated file: it must not be compressed yet
    await rotator.round()
    assert rundata.rotated_path(log).is_file()
    envoy.answers = True
    await rotator.round()  # reopened now
    envoy.write(1)
    await rotator.round()
    assert [int(x[5:-2]) for x in lines(log)] == list(range(11))
    envoy.fh.close()
    compress_access_logs(rd)  # the run's end: everything compressed
    assert not log.exists() and not rundata.rotated_path(log).exists()
    assert [int(x[5:-2]) for x in lines(log)] == list(range(11))
    assert [p.name for p, _, _ in rd.access_logs()] == ["order-v1-0.inbound.jsonl"]
