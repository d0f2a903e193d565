"""A scenario with `mesh.manifests`: its services and first policies read from
the team's Kubernetes manifests (meshsim.scenario.manifests), merged into
the scenario the rest of meshsim runs, and written back expanded for the
run directory (which keeps the scenario as it ran, without the manifests).
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import ValidationError

from meshsim.errors import ScenarioError
from meshsim.scenario.k8s_objects import K8sObject, read_manifests
from meshsim.scenario.manifests import check_policy, map_manifests
from meshsim.scenario.model import MAX_PER_PHASE, Scenario
from meshsim.scenario.places import ResourcePlaces
from meshsim.scenario.services import ServiceSpec
from meshsim.scenario.yamlpos import Located

# What a scenario may add to a service its manifests declare.
ADDABLE = {"calls", "expose"}


def with_manifests(scenario: Scenario, doc: Located | None, file: str) -> Scenario:
    """`scenario` with its manifests' services in `mesh.services`, `mesh.expose`
    applied, and the manifests' Istio / Gateway API resources appended to the
    first phase's `apply`. ScenarioError names the scenario's or the manifest's
    file:line."""
    mesh = scenario.mesh
    if not mesh.manifests and mesh.expose is None:
        return scenario

    def error(path: tuple[object, ...], message: str) -> ScenarioError:
        line = doc.line_of(path) if doc is not None else None
        shown = ".".join(str(p) for p in path).replace(".manifests.", ".manifests[")
        if "manifests[" in shown:
            shown += "]"
        return ScenarioError(message, file=file, line=line, field=shown)

    objects: list[K8sObject] = []
    for i, listed in enumerate(mesh.manifests):
        try:
            objects += read_manifests([listed], scenario.base_dir)
        except ValueError as exc:
            raise error(("mesh", "manifests", i), str(exc)) from None
    found = map_manifests(objects)
    if mesh.manifests and not found.services:
        raise error(
            ("mesh", "manifests"),
            "the manifests declare no service meshsim can run: a Deployment, StatefulSet or "
            "ReplicaSet (with the Service that selects it)",
        )
    services: dict[str, ServiceSpec] = dict(mesh.services)
    for name, entry in found.services.items():
        origin = found.origins[name]
        given = mesh.services.get(name)
        if given is not None:
            extra = sorted(given.model_fields_set - ADDABLE)
            if extra:
                raise error(
                    ("mesh", "services", name, extra[0]),
                    f"{name} is declared by {origin.where()} ({origin.key}); here only "
                    f"{' and '.join(sorted(ADDABLE))} may be added to it",
                )
            entry = {**entry, **given.model_dump(include=ADDABLE, exclude_unset=True)}
        try:
            services[name] = ServiceSpec.model_validate(entry)
        except ValidationError as exc:
            why = str(exc.errors(include_url=False)[0]["msg"])
            raise origin.error((), f"cannot run as a meshsim service: {why}") from None
    expose = mesh.expose or found.outside
    if expose is not None:
        if expose not in services:
            raise error(
                ("mesh", "expose"),
                f"unknown service {expose!r}; the mesh has {', '.join(services)}",
            )
        if not services[expose].expose:
            services[expose] = services[expose].model_copy(update={"expose": True})
    notes = list(found.warnings)
    first = scenario.phases[0]
    own = {_key(raw) for raw in first.apply}
    added: list[dict[str, Any]] = []
    kept: list[K8sObject] = []  # the objects of `added`, for their places
    for obj in found.policies:
        problem = check_policy(obj)
        if problem is not None and problem.field == "kind":
            notes.append(f"{obj.where()}: {obj.key}: not honoured ({problem.detail})")
            continue
        if problem is not None:
            raise problem
        key = _key(obj.data)
        if key in own or key in {_key(a) for a in added}:
            notes.append(
                f"{obj.where()}: {obj.key}: not applied: the first phase applies its own {key}"
            )
            continue
        added.append(obj.data)
        kept.append(obj)
    if len(first.apply) + len(added) > MAX_PER_PHASE:
        raise error(
            ("phases", 0, "apply"),
            f"the manifests' {len(added)} Istio resources and this phase's "
            f"{len(first.apply)} exceed {MAX_PER_PHASE} in one phase",
        )
    phases = [first.model_copy(update={"apply": [*first.apply, *added]}), *scenario.phases[1:]]
    merged = scenario.model_copy(
        update={"mesh": mesh.model_copy(update={"services": services}), "phases": phases}
    )
    merged._notes = tuple(notes)
    if doc is not None:
        origins = {len(first.apply) + k: obj for k, obj in enumerate(kept)}
        merged._places = ResourcePlaces(file, doc, origins)
    return merged


def _key(raw: dict[str, Any]) -> str:
    meta = raw.get("metadata") or {}
    namespace = meta.get("namespace")
    kind = raw.get("kind")
    if kind in ("PeerAuthentication", "AuthorizationPolicy") and namespace not in (None, "default"):
        return f"{kind}/{namespace}/{meta.get('name')}"
    return f"{kind}/{meta.get('name')}"


def expanded_text(scenario: Scenario) -> str:
    """The scenario as it runs, without `mesh.manifests`: its services and
    policies written out, so a run directory's copy reads back without the
    manifests (for `meshsim report`)."""
    data = scenario.model_dump(mode="json", exclude_unset=True, by_alias=True)
    mesh = data.get("mesh") or {}
    mesh.pop("manifests", None)
    mesh.pop("expose", None)
    header = (
        "# The scenario as it ran: mesh.manifests read into mesh.services and phases[0].apply\n"
    )
    return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
