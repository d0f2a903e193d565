"""An exception nobody foresaw: exit 3, one line, the traceback in a log file
(issue 16); a bad --header or record is bad input: exit 2 naming it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import meshsim.scenario
from meshsim.cli import main
from meshsim.errors import UsageError
from meshsim.load.records import read_records
from meshsim.mesh import new_run_id, slug


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[object, str, str]:
    sys_argv = sys.argv
    sys.argv = ["meshsim", *argv]
    try:
        with pytest.raises(SystemExit) as exc:
            main()
    finally:
        sys.argv = sys_argv
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def test_an_unforeseen_exception_is_exit_3_with_a_log(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def boom(path: object) -> None:
        raise RuntimeError("something nobody foresaw\nsecond line")

    monkeypatch.setattr(meshsim.scenario, "load_scenario", boom)
    monkeypatch.setenv("MESHSIM_HOME", str(tmp_path))
    code, out, err = _run(["validate", "scenarios/baseline.yaml"], capsys)
    assert code == 3
    assert "Traceback" not in out + err
    assert err.count("\n") == 1, err
    assert "internal error (a bug in meshsim): RuntimeError: something nobody foresaw;" in err
    [log] = (tmp_path / "crashes").glob("meshsim-crash-*.log")
    assert str(log) in err
    text = log.read_text()
    assert "Traceback" in text and "in boom" in text and "validate" in text


def test_a_header_with_a_line_break_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["exec", "-H", "X: b\r\nY: 1", "--as", "user", "GET", "http://p/"], capsys)
    assert code == 2
    assert "is not a valid header value" in err and "Traceback" not in err


def test_a_record_holding_1e400_is_bad_input(tmp_path: Path) -> None:
    line = '{"t":1e400,"journey":"browse","name":"/","status":200,"ok":true,"latency_us":5}'
    (tmp_path / "requests-1.jsonl").write_text(line + "\n")
    with pytest.raises(UsageError, match=r"requests-1.jsonl:1: .*t: inf is not a finite number"):
        read_records(tmp_path)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("x/../../../tmp/escaped", "x-tmp-escaped"),
        ("/tmp/abs", "tmp-abs"),
        ("..", "run"),
        ("resilience drill", "resilience-drill"),
        ("baseline", "baseline"),
    ],
)
def test_a_run_directory_stays_one_path_component(name: str, expected: str) -> None:
    assert slug(name) == expected
    run_id = new_run_id(name)
    assert "/" not in run_id and "\\" not in run_id and ".." not in run_id
    assert (Path("meshsim-runs") / run_id).parent == Path("meshsim-runs")
