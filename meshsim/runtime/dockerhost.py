"""Which Docker engine to talk to, as the `docker` CLI decides it, and whether
it runs in a VM.

Why not docker-py alone: `docker.from_env()` reads DOCKER_HOST and nothing
else, while the `docker` CLI also follows Docker *contexts*. Docker Desktop on
macOS without /var/run/docker.sock, Colima and OrbStack all work through a
context, so without this the CLI reaches the engine and meshsim does not. The
order is the CLI's: DOCKER_HOST, then DOCKER_CONTEXT, then `currentContext` in
~/.docker/config.json ($DOCKER_CONFIG moves it), whose endpoint is in
contexts/meta/<sha256 of the name>/meta.json.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_HOST = "unix:///var/run/docker.sock"
# Engines that run containers in a VM: containers reach this host's loopback as
# host.docker.internal rather than through the run network's gateway.
VM_ENGINES = ("Docker Desktop", "OrbStack", "Colima")


@dataclass(frozen=True)
class DockerHost:
    url: str  # e.g. unix:///Users/me/.colima/default/docker.sock
    source: str  # DOCKER_HOST, DOCKER_CONTEXT=<name>, context <name>, or default
    context: str  # the context's name ("default" when none is set)


def docker_config_dir(env: Mapping[str, str] | None = None) -> Path:
    given = os.environ if env is None else env
    return Path(given.get("DOCKER_CONFIG") or Path.home() / ".docker")


def _context_endpoint(config_dir: Path, name: str) -> str | None:
    """The docker endpoint of context `name`, from its meta.json (the directory
    is the name's sha256; other directories are read too, in case)."""
    meta_root = config_dir / "contexts" / "meta"
    named = meta_root / hashlib.sha256(name.encode("utf-8")).hexdigest() / "meta.json"
    candidates = [named, *sorted(meta_root.glob("*/meta.json"))] if meta_root.is_dir() else []
    for path in candidates:
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(meta, dict) and meta.get("Name") == name:
            host = (meta.get("Endpoints") or {}).get("docker", {}).get("Host")
            return str(host) if host else None
    return None


def docker_host(env: Mapping[str, str] | None = None) -> DockerHost:
    """The engine's address as the `docker` CLI would pick it."""
    given = os.environ if env is None else env
    if given.get("DOCKER_HOST"):
        return DockerHost(given["DOCKER_HOST"], "DOCKER_HOST", "default")
    config_dir = docker_config_dir(given)
    name, source = given.get("DOCKER_CONTEXT", ""), "DOCKER_CONTEXT={}"
    if not name:
        source = "context {}"
        try:
            config = json.loads((config_dir / "config.json").read_text(encoding="utf-8"))
            name = str(config.get("currentContext") or "") if isinstance(config, dict) else ""
        except (OSError, ValueError):
            name = ""
    if name and name != "default":
        url = _context_endpoint(config_dir, name)
        if url:
            return DockerHost(url, source.format(name), name)
    return DockerHost(DEFAULT_HOST, "default", "default")


def client_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for `docker.from_env(environment=...)`: this one, with
    DOCKER_HOST set from the current context when only a context names it."""
    given = dict(os.environ if env is None else env)
    host = docker_host(given)
    if host.source != "default" and "DOCKER_HOST" not in given:
        given["DOCKER_HOST"] = host.url
    return given


def vm_engine(info: Mapping[str, Any], host_url: str = "") -> str | None:
    """Which VM engine answers (Docker Desktop, OrbStack, Colima), from the
    engine's `docker info` and the socket's path, or None for a Linux engine
    on this machine.

    >>> vm_engine({"OperatingSystem": "OrbStack", "Name": "orbstack"})
    'OrbStack'
    >>> vm_engine({"OperatingSystem": "Ubuntu 24.04 LTS", "Name": "colima"})
    'Colima'
    >>> vm_engine({"OperatingSystem": "Debian GNU/Linux 12 (bookworm)", "Name": "laptop"}) is None
    True
    """
    said = " ".join(
        str(info.get(key, "")) for key in ("OperatingSystem", "Name", "KernelVersion")
    ).lower()
    said += " " + host_url.lower()
    for engine in VM_ENGINES:
        if engine.lower() in said or engine.lower().replace(" ", "-") in said:
            return engine
    return None
