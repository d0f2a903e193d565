"""App containers on Docker: how each service's app runs in its pod (the
shop's module, a team's `command` in meshsim's app image, or a team's
`image`), with the environment the local runtime gives it; and, against the
engine, the checks before any pod starts and the copy of an image's output
into the app's log.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from meshsim.control.plan import Instance, MeshPlan
from meshsim.errors import MeshError, ScenarioError
from meshsim.events import RunEventHandler
from meshsim.runtime import pods
from meshsim.runtime.commands import mesh_env


def app_env(ctx: pods.RunContext, inst: Instance) -> dict[str, str]:
    """The service's own `env` (its version's on top), then what the mesh
    decides, as for the local runtime: the port, the names, the sidecar as
    the HTTP proxy."""
    service = ctx.app.services.get(inst.service)
    env = service.instance_env(inst.version, inst.name, inst.host) if service is not None else {}
    # Listen on every address of the pod (or on 127.0.0.1): the sidecar
    # reaches the app on loopback, and the pod's rules refuse its port to
    # anyone outside the pod.
    env.update(mesh_env(inst, listen="0.0.0.0"))
    return env


def own_image(ctx: pods.RunContext, inst: Instance) -> str | None:
    """The team's image this instance runs (its version's, else its service's),
    or None when it runs in meshsim's app image."""
    service = ctx.app.services.get(inst.service)
    return service.image_of(inst.version) if service is not None else None


def app_spec(ctx: pods.RunContext, inst: Instance) -> dict[str, Any]:
    """The app container, in the pod's namespace. Three kinds:

    - the shop: `python -m sample_services.<service>` in meshsim's app image;
    - a `command` without an `image`: the command in meshsim's app image (the
      base image plus a Python with aiohttp), in the scenario's directory,
      mounted at the same path, as your uid;
    - an `image`: that image as it is built (its user, its working directory,
      its entrypoint and command), except that the version's `entrypoint` and
      `args` replace its ENTRYPOINT and CMD as a Kubernetes container's
      `command` and `args` do (Docker, like the kubelet, then drops the
      image's CMD unless `args` gives one). A `command` beside an `image` is
      the local runtime's (as in docs/scenarios.md: `command` for local,
      `image` for Docker, either or both), so it is not used here. Its output
      is read from Docker by the runtime (the image need not have a shell).

    The first two append their output to logs/<instance>.app.log themselves,
    as with the local runtime."""
    service = ctx.app.services[inst.service]
    spec: dict[str, Any] = {
        "name": pods.container_name(ctx, inst.name, "app"),
        "detach": True,
        "network_mode": f"container:{pods.container_name(ctx, inst.name, 'pod')}",
        "environment": app_env(ctx, inst),
        "labels": pods.labels(ctx, "app", inst.name),
    }
    image = own_image(ctx, inst)
    if image is not None:
        spec["image"] = image
        entrypoint, args = service.image_argv(inst.version, spec["environment"])
        if entrypoint is not None:
            spec["entrypoint"] = entrypoint
        if args is not None:
            spec["command"] = args
        return spec
    argv = service.argv(inst.version, inst.app_port)
    log = ctx.files.app_log(inst.name)
    spec["image"] = ctx.app_image
    spec["command"] = ["sh", "-c", 'exec "$@" >>"$MESHSIM_LOG" 2>&1', "sh", *argv]
    spec["environment"]["MESHSIM_LOG"] = str(log)
    spec["volumes"] = pods.logs_volume(ctx)
    if service.module is None:
        workdir = str(Path(ctx.app.workdir or os.getcwd()).resolve())
        spec["volumes"][workdir] = {"bind": workdir, "mode": "rw"}
        spec["working_dir"] = workdir
    if ctx.user:
        spec["user"] = pods.user_spec(ctx)
    return spec


def shown_command(command: str, image: str | None) -> str:
    """An app's command line for messages, or the team's image it runs."""
    return command if image is None else f"image {image}"


def check_runnable(plan: MeshPlan) -> None:
    """Every instance has an image or a command (or is the shop's)."""
    for inst in plan.instances:
        service = plan.app.services.get(inst.service)
        if service is None or service.image_of(inst.version) or service.argv(inst.version, 0):
            continue
        raise ScenarioError(
            f"{inst.service} {inst.version} has neither an image nor a command; the Docker "
            "runtime runs an `image`, or a `command` in meshsim's app image",
            field=f"mesh.services.{inst.service}.image",
        )


def ensure_own_images(client: Any, plan: MeshPlan, events: RunEventHandler) -> None:
    """The teams' images are here, or pulled now: a missing one is an error
    naming the service before any pod starts."""
    import docker.errors

    wanted: dict[str, str] = {}
    for inst in plan.instances:
        service = plan.app.services.get(inst.service)
        image = service.image_of(inst.version) if service is not None else None
        if image:
            wanted.setdefault(image, f"{inst.service} {inst.version}")
    for image, who in wanted.items():
        try:
            client.images.get(image)
            continue
        except docker.errors.ImageNotFound:
            if not plan.app.pull_images:
                # Kubernetes manifests name images a team builds; meshsim never pulls them.
                raise MeshError(
                    f"image {image!r} of {who} is not on this engine; build it first "
                    f"(docker build -t {image} ...): images named by Kubernetes manifests "
                    "are never pulled",
                    component=who.split()[0],
                ) from None
        events.step(f"pulling {image} for {who}")
        try:
            repo, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
            client.images.pull(repo or image, tag=tag or "latest")
        except docker.errors.APIError as exc:
            raise MeshError(
                f"image {image!r} of {who} is not on this engine and could not be pulled "
                f"({exc.explanation or exc}); build or pull it first",
                component=f"{who.split()[0]}",
            ) from exc


def follow_logs(container: Any, log: Path, name: str, since: int | None = None) -> threading.Thread:
    """Append a container's output to `log` as it comes, until the container
    stops (a daemon thread): for a team's image, which need not have a shell
    to redirect its own output."""

    def copy() -> None:
        try:
            with log.open("ab") as fh:
                for chunk in container.logs(stream=True, follow=True, since=since):
                    fh.write(chunk)
                    fh.flush()
        except Exception:  # the container was removed under the stream
            return

    thread = threading.Thread(target=copy, name=f"logs-{name}", daemon=True)
    thread.start()
    return thread
