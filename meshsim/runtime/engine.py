"""The Docker engine: connecting to it, and finding or removing a run's
containers, networks and volumes by their labels (`meshsim.run`,
`meshsim.home`). `meshsim down`, `meshsim status` and the next `meshsim up`
use these without starting a runtime.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from meshsim.errors import MeshError
from meshsim.runtime import pods
from meshsim.runtime.dockerhost import client_environment, docker_host
from meshsim.runtime.registry import home


def connect(timeout: float = 60.0) -> Any:
    """A Docker client for the engine in the environment (DOCKER_HOST or the
    default socket), or a MeshError saying what to do."""
    try:
        import docker
        import docker.errors
    except ImportError as exc:
        raise MeshError(
            "the Docker runtime needs the docker package: pip install 'meshsim[docker]'",
            component="docker",
        ) from exc
    problem = _unix_socket_problem()
    if problem:
        raise MeshError(
            f"Docker is not reachable ({problem}); start Docker, or run with --runtime local",
            component="docker",
        )
    client = None
    try:
        # "auto" asks the engine which API version it speaks: a pinned one is
        # refused by engines whose minimum is above it (Docker 29: 1.44). The
        # unix socket was checked above, because docker-py leaks the socket of
        # that first call when the engine is down.
        client = docker.from_env(
            timeout=int(timeout),
            version=os.environ.get("DOCKER_API_VERSION", "auto"),
            environment=client_environment(),  # Docker contexts too, as the docker CLI
        )
        client.ping()
    except docker.errors.DockerException as exc:
        if client is not None:
            close(client)
        raise MeshError(
            f"Docker is not reachable ({exc}); start Docker, or run with --runtime local",
            component="docker",
        ) from exc
    return client


def _unix_socket_problem() -> str | None:
    """Why the engine's unix socket refuses us, checked with a socket we close
    ourselves: docker-py leaks its socket when a connect fails."""
    host = docker_host().url
    if not host.startswith("unix://") or not hasattr(socket, "AF_UNIX"):
        return None  # tcp://, ssh://, or Windows' npipe://: docker-py's own check
    path = host.removeprefix("unix://")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        try:
            sock.connect(path)
        except OSError as exc:
            return f"{path}: {exc.strerror or exc}"
    return None


def try_connect() -> Any | None:
    """A client when the SDK is installed and an engine answers, else None."""
    try:
        return connect(timeout=5)
    except MeshError:
        return None


def close(client: Any) -> None:
    """Close a client and the connections it pooled."""
    client.close()


@contextlib.contextmanager
def _client(client: Any | None) -> Iterator[Any | None]:
    """The given client, or a new one that is closed afterwards (an open
    client holds a socket to the engine)."""
    if client is not None:
        yield client
        return
    own = try_connect()
    try:
        yield own
    finally:
        if own is not None:
            close(own)


def home_label() -> str:
    return str(home().resolve())


def _remove(client: Any, flt: dict[str, Any]) -> list[str]:
    import docker.errors

    def remove(c: Any) -> str | None:
        try:
            c.remove(force=True, v=True)
        except docker.errors.NotFound:
            return None
        return str(c.name)

    containers = client.containers.list(all=True, filters=flt)
    with ThreadPoolExecutor(max_workers=8) as pool:  # the engine removes them in parallel
        removed = [name for name in pool.map(remove, containers) if name]
    for n in client.networks.list(filters=flt):
        with contextlib.suppress(docker.errors.NotFound):
            n.remove()
            removed.append(n.name)
    for v in client.volumes.list(filters=flt):
        with contextlib.suppress(docker.errors.NotFound):
            v.remove(force=True)
            removed.append(v.name)
    return removed


def remove_run(run_id: str, client: Any | None = None) -> list[str]:
    """Remove every container, network and volume of one run (by label);
    returns their names. Quietly does nothing when no engine is reachable."""
    with _client(client) as c:
        return [] if c is None else _remove(c, {"label": [f"{pods.LABEL_RUN}={run_id}"]})


def sweep(keep: set[str] | None = None, client: Any | None = None) -> list[str]:
    """Remove everything meshsim made under this $MESHSIM_HOME, except the runs
    in `keep`: what `meshsim down` does once every mesh is stopped."""
    with _client(client) as c:
        return [] if c is None else _sweep(c, keep)


def _sweep(client: Any, keep: set[str] | None) -> list[str]:
    flt = {"label": [f"{pods.LABEL_HOME}={home_label()}"]}
    runs = set()
    for c in client.containers.list(all=True, filters=flt):
        runs.add(c.labels.get(pods.LABEL_RUN, ""))
    for n in client.networks.list(filters=flt):
        runs.add(n.attrs.get("Labels", {}).get(pods.LABEL_RUN, ""))
    removed = []
    for run in sorted(runs - (keep or set()) - {""}):
        removed += remove_run(run, client)
    return removed


def run_containers(run_id: str, client: Any | None = None) -> list[dict[str, Any]]:
    """The run's containers as `meshsim status` shows them."""
    with _client(client) as c:
        return [] if c is None else _run_containers(c, run_id)


def _run_containers(client: Any, run_id: str) -> list[dict[str, Any]]:
    out = []
    for c in client.containers.list(all=True, filters={"label": [f"{pods.LABEL_RUN}={run_id}"]}):
        out.append(
            {
                "container": c.short_id,
                "name": c.name,
                "role": c.labels.get(pods.LABEL_ROLE, ""),
                "instance": c.labels.get(pods.LABEL_INSTANCE, ""),
                "state": c.status,
            }
        )
    return sorted(out, key=lambda c: (c["instance"], c["role"]))
