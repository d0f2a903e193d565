"""`meshsim doctor`: each platform branch forced, and the real command line
reporting the Envoy of MESHSIM_ENVOY and a Docker context pointing elsewhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from meshsim.runtime import doctor
from meshsim.runtime.commands import envoy_binary
from tests.live.helpers import meshsim


@pytest.mark.parametrize(
    ("args", "level", "words"),
    [
        (("linux", "x86_64", ("glibc", "2.36"), ""), "ok", "(tested)"),
        (("linux", "aarch64", ("glibc", "2.31"), ""), "ok", "untested"),
        (("linux", "x86_64", ("glibc", "2.28"), ""), "warn", "glibc >= 2.31"),  # RHEL 8
        (("linux", "x86_64", ("", ""), ""), "warn", "unknown libc"),  # musl (Alpine)
        (("darwin", "arm64", None, "15.5"), "ok", "untested"),
        (("darwin", "arm64", None, "14.6.1"), "warn", "15.5"),
        (("darwin", "x86_64", None, "15.5"), "warn", "--runtime docker"),  # Intel Mac
        (("win32", "AMD64", None, ""), "fail", "WSL2"),
        (("freebsd14", "amd64", None, ""), "warn", "untested"),
    ],
)
def test_platform_branches(
    args: tuple[str, str, tuple[str, str] | None, str], level: str, words: str
) -> None:
    system, machine, libc, mac = args
    check = doctor.check_platform(system, machine, libc, mac)
    assert check.level == level, check
    assert words in check.detail + check.fix
    if level != "ok":
        assert check.fix


def test_verdict_needs_one_runtime() -> None:
    ok = doctor.Check("x", "ok", "")
    checks = [
        doctor.Check("platform", "ok", ""),
        doctor.Check("envoy", "fail", "none", "fix"),
        doctor.Check("docker", "ok", ""),
        ok,
    ]
    found = doctor.verdict(checks)
    assert (found["local_runtime"], found["docker_runtime"]) == (False, True)
    checks[0] = doctor.Check("platform", "fail", "native Windows", "WSL2")
    found = doctor.verdict(checks)
    assert (found["local_runtime"], found["docker_runtime"]) == (False, False)


def test_doctor_reports_meshsim_envoy_and_a_context_elsewhere(tmp_path: Path) -> None:
    wrapper = tmp_path / "other-envoy"
    wrapper.write_text(f'#!/bin/sh\nexec {envoy_binary()} "$@"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    config = tmp_path / "docker"
    meta = config / "contexts" / "meta" / "x"
    meta.mkdir(parents=True)
    sock = f"unix://{tmp_path}/colima.sock"
    (meta / "meta.json").write_text(
        json.dumps({"Name": "colima", "Endpoints": {"docker": {"Host": sock}}}), encoding="utf-8"
    )
    (config / "config.json").write_text('{"currentContext": "colima"}', encoding="utf-8")
    env = {"MESHSIM_ENVOY": str(wrapper), "DOCKER_CONFIG": str(config), "DOCKER_HOST": ""}
    out = meshsim("doctor", "--json", env=env)
    assert out.returncode == 0, out.stderr  # the local runtime works
    found = {c["name"]: c for c in json.loads(out.stdout)["checks"]}
    assert found["envoy"]["level"] == "ok"
    assert f"{wrapper} (MESHSIM_ENVOY), Envoy 1." in found["envoy"]["detail"]
    assert found["docker"]["level"] == "warn"
    assert f"{sock} (context colima)" in found["docker"]["detail"]
    assert "docker context use" in found["docker"]["fix"]
    text = meshsim("doctor", env=env)
    assert "--runtime local: will work" in text.stdout
    assert "--runtime docker: will NOT work" in text.stdout


def test_doctor_exits_3_when_nothing_can_run(tmp_path: Path) -> None:
    env = {"MESHSIM_ENVOY": str(tmp_path / "none"), "DOCKER_HOST": f"unix://{tmp_path}/no.sock"}
    out = meshsim("doctor", env=env)
    assert out.returncode == 3, out.stdout + out.stderr
    assert "fix: envoy: MESHSIM_ENVOY=" in out.stdout
    assert "Traceback" not in out.stderr


def test_doctor_help_has_an_example() -> None:
    assert "Example" in meshsim("doctor", "--help").stdout
