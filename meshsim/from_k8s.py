"""`meshsim init --from-k8s DIR`: a starting scenario around a team's
Kubernetes manifests. The scenario names the directory in `mesh.manifests`
(the manifests stay the source of truth), exposes the Service the outside
world reaches (a LoadBalancer or NodePort one, else the first), and drives
one request through the ingress: a draft to read, then run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from meshsim.errors import UsageError
from meshsim.scenario.k8s_objects import read_manifests
from meshsim.scenario.manifests import map_manifests
from meshsim.starter import write_generated_scenario

TEMPLATE = """\
# Made by `meshsim init --from-k8s {source}`: a draft to read, then run
# (build the images first: meshsim never pulls them). GUESS marks what was guessed.
name: {name}
description: The services of {source} under the mesh.
mesh:
  manifests: [{manifests}]
  expose: {expose}  # GUESS: the Service the ingress gateway routes every path to
load:
  users: 5
  spawn_rate: 5
  # GUESS: one request through the ingress gateway; list your real ones, or give load.locustfile
  requests:
    - {{name: home, method: GET, path: {path}}}
phases:
  - name: baseline
    duration: 30s
    expect: ["error_rate < 1%", "p99 < 500ms"]  # GUESS: the steady state to keep
"""


def scenario_from_k8s(manifests: Path, dest_dir: Path) -> str:
    """The text of a starting scenario for the manifests at `manifests` (a
    file or directory), written to be read from `dest_dir`."""
    base = manifests.resolve().parent
    try:
        objects = read_manifests([manifests.name + ("/" if manifests.is_dir() else "")], base)
    except ValueError as exc:
        raise UsageError(f"{manifests}: {exc}") from None
    found = map_manifests(objects)
    if not found.services:
        raise UsageError(f"{manifests}: no Deployment, StatefulSet or ReplicaSet to run")
    expose = found.outside or next(iter(found.services))
    health = found.services[expose].get("health")
    relative = os.path.relpath(manifests.resolve(), dest_dir.resolve())
    name = manifests.resolve().name if manifests.is_dir() else manifests.resolve().stem
    return TEMPLATE.format(
        source=manifests.as_posix(),
        name=name,
        manifests=json.dumps(relative + ("/" if manifests.is_dir() else "")),
        expose=expose,
        path=health or "/",
    )


def write_from_k8s(
    manifests: Path, dest: Path | None = None, directory: Path = Path("."), *, force: bool = False
) -> Path:
    """Write the starting scenario for `manifests` to `dest` (default:
    DIRECTORY/<name>.yaml), an existing file kept unless `force`, then
    validate it; UsageError (exit 2) says what to fix."""
    name = manifests.resolve().name if manifests.is_dir() else manifests.resolve().stem
    dest = dest or directory / f"{name}.yaml"
    text = scenario_from_k8s(manifests, dest.parent)
    return write_generated_scenario(text, dest, force=force)
