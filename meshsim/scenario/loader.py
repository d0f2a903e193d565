"""Load a scenario file: YAML with lines → the pydantic model → cross-field checks.

Every problem becomes a `ScenarioError` naming the file, the line and the field
path (``phases[1].duration``); several at once become `ScenarioErrors`.

>>> s = load_scenario_text("name: demo\\nphases: [{name: a, duration: 5s}]")
>>> s.phases[0].duration
5.0
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from meshsim.errors import ScenarioError, ScenarioErrors
from meshsim.scenario.application import own_service_problems, resolve_application
from meshsim.scenario.from_manifests import with_manifests
from meshsim.scenario.gateway_routes import raw_conflicts
from meshsim.scenario.istio import check_resource
from meshsim.scenario.jwt import cohort_jwt_problems
from meshsim.scenario.model import (
    JOURNEYS,
    MAX_INSTANCES,
    Scenario,
    instance_names,
    is_own_application,
    resolve_mesh,
    resolve_target,
)
from meshsim.scenario.places import ResourcePlaces
from meshsim.scenario.words import from_pydantic, kind_of
from meshsim.scenario.yamlpos import Located, YamlPath, decode, parse_yaml, render_path, split_path
from meshsim.shop import GATEWAY_NAME, SHOP

__all__ = [
    "DEFAULT_RESOURCES",
    "check_scenario",
    "instance_names",
    "load_scenario",
    "load_scenario_text",
    "resolve_mesh",
]

# Resources every mesh starts with (see DESIGN.md); a phase may replace or remove them.
DEFAULT_RESOURCES = ("Gateway/meshsim-gateway", "VirtualService/shop")
_INGRESS_NAMES = ("ingress", "istio-ingressgateway")
# Kind/name, or Kind/namespace/name for a security resource outside `default`.
_KIND_NAME = re.compile(
    r"^[A-Z][A-Za-z]*/([a-z0-9]([-a-z0-9]*[a-z0-9])?/)?[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
)
_NAMESPACED_KINDS = ("PeerAuthentication", "AuthorizationPolicy")
_RESOURCE_KEYS = "an Istio resource needs apiVersion, kind, metadata.name and spec"
# Caps that keep `validate` of any file well under a second (docs/scenarios.md).
MAX_FILE_BYTES = 512 * 1024


def load_scenario(path: str | Path, *, check_files: bool = True) -> Scenario:
    """Read, parse and validate a scenario file; raise ScenarioError(s) naming file and line.

    `check_files=False` skips checks of the files it names (`load.locustfile`):
    for the copy a run directory keeps, read back for its report."""
    file = Path(path)
    try:
        with file.open("rb") as stream:
            # Read one byte past the cap: a FIFO or /dev/zero has no size to stat.
            data = stream.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ScenarioError("no such file; check the path", file=file) from None
    except IsADirectoryError:
        raise ScenarioError("is a directory; expected a scenario YAML file", file=file) from None
    except OSError as exc:
        raise ScenarioError(f"cannot read the file: {exc.strerror or exc}", file=file) from None
    if len(data) > MAX_FILE_BYTES:
        raise ScenarioError(_too_big(), file=file)
    return load_scenario_text(
        decode(data, str(path)),
        file=str(path),
        base_dir=file.resolve().parent,
        check_files=check_files,
    )


def _too_big() -> str:
    return (
        f"the file is larger than {MAX_FILE_BYTES // 1024} KiB; a scenario is a few KiB "
        "(the largest in scenarios/ is under 6 KiB), so this is not one"
    )


def load_scenario_text(
    text: str, file: str = "<string>", base_dir: Path | None = None, *, check_files: bool = True
) -> Scenario:
    """Parse and validate scenario YAML given as text; `file` is used in messages,
    `base_dir` is where own services' commands and `load.locustfile` are
    relative to (default: the current directory)."""
    if len(text) > MAX_FILE_BYTES:
        raise ScenarioError(_too_big(), file=file)
    doc = parse_yaml(text, file)
    if doc.data is None:
        raise ScenarioError(
            "the file is empty; a scenario needs at least `name` and `phases`", file=file, line=1
        )
    if not isinstance(doc.data, dict):
        raise ScenarioError(
            f"the top level must be a mapping with keys such as name and phases; "
            f"found {kind_of(doc.data)}",
            file=file,
            line=doc.line_of(()),
        )
    try:
        scenario = Scenario.model_validate(doc.data)
    except ValidationError as exc:
        _raise([from_pydantic(err, doc, file) for err in exc.errors(include_url=False)])
    if base_dir is not None:
        scenario.located_at(base_dir)
    if scenario.mesh.manifests or scenario.mesh.expose is not None:
        scenario = with_manifests(scenario, doc, file)
    if scenario.places is None:
        scenario._places = ResourcePlaces(file, doc)
    _raise(check_scenario(scenario, doc=doc, file=file, check_files=check_files))
    return scenario


def check_scenario(
    scenario: Scenario,
    *,
    doc: Located | None = None,
    file: str | None = None,
    check_files: bool = True,
) -> list[ScenarioError]:
    """Checks that span fields: shop services and versions, unique phase names,
    action targets, `remove` entries, `apply` resources and expectation targets.

    `doc` (from the YAML) supplies lines; without it errors have no line.
    """
    return _Checker(scenario, doc, file, check_files).run()


def _raise(errors: list[ScenarioError]) -> None:
    unique = list({(e.line, e.field, e.detail): e for e in errors}.values())
    unique.sort(key=lambda e: e.line or 0)
    if len(unique) == 1:
        raise unique[0]
    if unique:
        raise ScenarioErrors(unique)


class _Checker:
    def __init__(
        self, scenario: Scenario, doc: Located | None, file: str | None, check_files: bool = True
    ) -> None:
        self.scenario = scenario
        self.check_files = check_files
        self.doc = doc
        self.file = file
        self.mesh = resolve_mesh(scenario)
        self.own = is_own_application(scenario)
        self.app = resolve_application(scenario)
        self.errors: list[ScenarioError] = []
        self.applied: dict[str, tuple[YamlPath, dict[str, Any]]] = {}
        self.conflicts: set[str] = set()

    def error(self, path: YamlPath, message: str) -> None:
        line = self.doc.line_of(path) if self.doc is not None else None
        self.errors.append(
            ScenarioError(message, file=self.file, line=line, field=render_path(path) or None)
        )

    def run(self) -> list[ScenarioError]:
        if self.own:
            self.own_services()
        else:
            self.services()
        self.load()
        self.legacy_clients()
        self.default_settle()
        in_force = {DEFAULT_RESOURCES[0], f"VirtualService/{self.app.route_name}"}
        first_use: dict[str, int] = {}
        for i, phase in enumerate(self.scenario.phases):
            if phase.name in first_use:
                first = first_use[phase.name]
                self.error(
                    ("phases", i, "name"),
                    f"duplicate phase name {phase.name!r} (already used by phases[{first}])",
                )
            first_use.setdefault(phase.name, i)
            self.settle(i)
            self.actions(i)
            in_force = self.resources(i, in_force)
            self.route_conflicts(i, in_force)
            self.expectations(i)
        return self.errors

    def services(self) -> None:
        instances = sum(sum(versions.values()) for versions in self.mesh.values())
        if instances > MAX_INSTANCES:
            self.error(
                ("mesh", "services"),
                f"the mesh would run {instances} instances; at most {MAX_INSTANCES} are allowed "
                "(each is an app and an Envoy sidecar on this machine)",
            )
        for name, spec in self.scenario.mesh.services.items():
            path: YamlPath = ("mesh", "services", name)
            if name not in SHOP:
                self.error(
                    path,
                    f"unknown service {name!r}; the shop has {', '.join(SHOP)} (to run a "
                    "service of your own, give it a command or an image)",
                )
                continue
            if not spec.versions:
                self.error((*path, "versions"), "must list at least one version, e.g. {v1: {}}")
            known = SHOP[name].versions
            for version in spec.versions:
                if version not in known:
                    self.error(
                        (*path, "versions", version),
                        f"{name} has no version {version!r}; expected one of {', '.join(known)}",
                    )

    def own_services(self) -> None:
        for path, message in own_service_problems(self.scenario):
            self.error(path, message)

    def load(self) -> None:
        """Cohort tokens meshsim can sign, and a locustfile that exists (whether it
        imports is checked before the run)."""
        for path, message in cohort_jwt_problems(self.scenario):
            self.error(path, message)
        locustfile = self.scenario.load.locustfile
        if locustfile is not None and self.check_files:
            file = self.scenario.base_dir / locustfile
            if not file.is_file():
                self.error(
                    ("load", "locustfile"),
                    f"no such file {str(file)!r}; the path is relative to the scenario file",
                )

    def legacy_clients(self) -> None:
        seen: set[str] = set()
        for j, client in enumerate(self.scenario.mesh.legacy_clients):
            path: YamlPath = ("mesh", "legacy_clients", j)
            if client.name in JOURNEYS:
                self.error(
                    (*path, "name"), f"{client.name!r} is a shopper journey; choose another name"
                )
            elif client.name in seen:
                self.error((*path, "name"), f"{client.name!r} is used by another legacy client")
            seen.add(client.name)
            try:
                resolve_target(self.scenario, client.target)
            except ValueError as exc:
                self.error((*path, "target"), str(exc))

    def settle(self, i: int) -> None:
        """A phase's own settle leaves part of the phase to judge."""
        phase = self.scenario.phases[i]
        if phase.settle is not None and phase.settle >= phase.duration:
            self.error(
                ("phases", i, "settle"),
                f"{phase.settle:g}s is not shorter than the phase, which lasts "
                f"{phase.duration:g}s; the expectations are judged after the settle, so "
                "some of the phase must remain",
            )

    def default_settle(self) -> None:
        """The scenario's settle fits every phase that does not give its own."""
        settle = self.scenario.settle
        if not settle:
            return
        short = [
            f"{p.name} ({p.duration:g}s)"
            for p in self.scenario.phases
            if p.settle is None and settle >= p.duration
        ]
        if short:
            self.error(
                ("settle",),
                f"{settle:g}s is not shorter than phase{'s' if len(short) > 1 else ''} "
                f"{', '.join(short)}; give such a phase a settle of its own (settle: 0 "
                "judges the whole phase) or lengthen it",
            )

    def actions(self, i: int) -> None:
        phase = self.scenario.phases[i]
        for j, action in enumerate(phase.actions):
            try:
                resolve_target(self.scenario, action.target)
            except ValueError as exc:
                self.error(("phases", i, "actions", j, action.verb), str(exc))
            if action.at is not None and action.at >= phase.duration:
                self.error(
                    ("phases", i, "actions", j, "at"),
                    f"{action.at:g}s is not within the phase, which lasts {phase.duration:g}s",
                )

    def resources(self, i: int, in_force: set[str]) -> set[str]:
        """Check `remove` then `apply` of phase i; return what is in force after it."""
        phase = self.scenario.phases[i]
        removed: list[str] = []
        for j, entry in enumerate(phase.remove):
            path: YamlPath = ("phases", i, "remove", j)
            if not _KIND_NAME.match(entry):
                self.error(
                    path, f"{entry!r} is not Kind/name; expected e.g. VirtualService/product"
                )
            elif entry in removed:
                self.error(path, f"{entry} is listed twice")
            elif entry not in in_force:
                listed = ", ".join(sorted(in_force))
                self.error(
                    path, f"{entry} is not in force when this phase starts; in force: {listed}"
                )
            else:
                removed.append(entry)
        applied: list[str] = []
        for j, raw in enumerate(phase.apply):
            key = self.resource(("phases", i, "apply", j), raw)
            if key is None:
                continue
            if key in applied:
                self.error(("phases", i, "apply", j), f"{key} is applied twice in this phase")
            elif key in removed:
                self.error(
                    ("phases", i, "apply", j),
                    f"{key} is both removed and applied in this phase; applying it replaces it",
                )
            applied.append(key)
        return (in_force - set(removed)) | set(applied)

    def resource(self, path: YamlPath, raw: dict[str, Any]) -> str | None:
        """Check one `apply` item; return its "Kind/name" when it has one."""
        complete = True
        for key in ("apiVersion", "kind", "metadata", "spec"):
            if key not in raw:
                self.error((*path, key), f"required key is missing; {_RESOURCE_KEYS}")
                complete = False
        metadata = raw.get("metadata")
        name = metadata.get("name") if isinstance(metadata, dict) else None
        if "metadata" in raw and not (isinstance(name, str) and name):
            self.error((*path, "metadata", "name"), f"must be a non-empty name; {_RESOURCE_KEYS}")
            complete = False
        if not complete:
            return None
        for relative, message in check_resource(raw):
            self.error((*path, *split_path(relative)), message)
        namespace = metadata.get("namespace") if isinstance(metadata, dict) else None
        if raw["kind"] in _NAMESPACED_KINDS and namespace not in (None, "default"):
            return f"{raw['kind']}/{namespace}/{name}"
        return f"{raw['kind']}/{name}"

    def route_conflicts(self, i: int, in_force: set[str]) -> None:
        """An HTTPRoute and a VirtualService routing one host for the same
        proxies are refused, naming both (meshsim.scenario.gateway_api)."""
        for j, raw in enumerate(self.scenario.phases[i].apply):
            meta = raw.get("metadata") if isinstance(raw, dict) else None
            if isinstance(meta, dict):  # kept in the order first applied
                self.applied[f"{raw.get('kind')}/{meta.get('name')}"] = (
                    ("phases", i, "apply", j),
                    raw,
                )
        if not any(k.startswith("HTTPRoute/") for k in in_force):
            return
        default = f"VirtualService/{self.app.route_name}"
        raws: list[tuple[YamlPath, dict[str, Any]]] = []
        if default in in_force and default not in self.applied:
            raws.append((("phases", i), self.app.gateway_virtual_service(GATEWAY_NAME)))
        raws += [v for k, v in self.applied.items() if k in in_force]
        for path, message in raw_conflicts(raws):
            if message not in self.conflicts:
                self.conflicts.add(message)
                self.error(path, message)

    def expectations(self, i: int) -> None:
        for j, exp in enumerate(self.scenario.phases[i].expectations):
            path: YamlPath = ("phases", i, "expect", j)
            target = exp.target or ""
            if exp.scope == "version":
                service, _, version = target.partition(":")
                if service not in self.mesh:
                    known = ", ".join(self.mesh)
                    self.error(path, f"unknown service {service!r}; the mesh has {known}")
                elif version not in self.mesh[service]:
                    runs = ", ".join(self.mesh[service])
                    self.error(
                        path, f"{service} has no version {version!r} in this mesh; it runs {runs}"
                    )
            elif exp.scope == "edge":
                for side in target.split("->"):
                    if side not in self.app.services and side not in _INGRESS_NAMES:
                        known = ", ".join((*self.app.services, "ingress"))
                        self.error(
                            path, f"unknown service {side!r} in edge; expected one of {known}"
                        )
            elif exp.scope == "journey" and self.scenario.load.locustfile is not None:
                continue  # a journey is whatever the user's locustfile names in its context
            elif exp.scope == "journey" and target not in self.journeys():
                self.error(
                    path,
                    f"unknown journey {target!r}; expected one of {', '.join(self.journeys())}",
                )
            elif exp.scope == "cohort":
                cohorts = [c.name for c in self.scenario.load.cohorts]
                if target not in cohorts:
                    known = ", ".join(cohorts) or "none"
                    self.error(path, f"unknown cohort {target!r}; load.cohorts has {known}")

    def journeys(self) -> list[str]:
        """Shopper journeys (or `load.requests` names), then legacy clients (each
        records under its own name)."""
        requests = self.scenario.load.requests
        own = [r.name for r in requests] if requests is not None else list(JOURNEYS)
        return [*own, *(c.name for c in self.scenario.mesh.legacy_clients)]
