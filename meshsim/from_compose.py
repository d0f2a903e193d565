"""`meshsim init --from-compose`: a starting scenario from a team's compose file.

Each HTTP service of the compose project becomes a service of one's own
(`mesh.services.<name>`) with its image (or, for a `build:`, the tag compose
gives what it builds), environment, replicas, readiness path (from its
healthcheck) and `calls` (from `depends_on`); the one the outside world
reaches (published ports, nobody depends on it) is exposed through the
ingress gateway. Whatever had to be guessed, or cannot be carried over, says
so in a comment beside it: the result is a draft to read, then run.

Left out, each with a comment saying why: databases, caches and brokers
(meshsim meshes HTTP services), observability and edge proxies (meshsim has
its own), helpers sharing another service's network namespace, services only
in a compose profile, one-shot jobs. A compose project meshsim exported
(`meshsim export compose`) gives back the sample shop it was made from.

Comments are written with ruamel.yaml, which keeps them attached to their
keys; PyYAML (used everywhere else) cannot write comments.
"""

from __future__ import annotations

import io
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from meshsim.errors import UsageError
from meshsim.scenario.yamlpos import Located, decode, parse_yaml
from meshsim.starter import write_generated_scenario

SERVICE_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
HEALTH_URL = re.compile(r"https?://[^/\s\"']+(/[^\s\"'|;&>]*)")
# Images that are not HTTP services of the team's (meshsim meshes HTTP), or
# whose job meshsim does itself (telemetry, the edge proxy).
NOT_MESHED = {
    "postgres": "a database",
    "mysql": "a database",
    "mariadb": "a database",
    "mongo": "a database",
    "redis": "a cache",
    "memcached": "a cache",
    "rabbitmq": "a message broker",
    "nats": "a message broker",
    "kafka": "a message broker",
    "cp-kafka": "a message broker",
    "zookeeper": "a coordination service",
    "prometheus": "telemetry (meshsim collects its own)",
    "grafana": "telemetry (meshsim collects its own)",
    "all-in-one": "tracing (meshsim collects its own spans)",
    "zipkin": "tracing (meshsim collects its own spans)",
    "opentelemetry-collector": "telemetry (meshsim collects its own)",
    "envoy": "a proxy (meshsim runs the sidecars and the ingress gateway)",
    "traefik": "an edge proxy (meshsim's ingress gateway takes its place)",
}
SHOP_MODULE = re.compile(r"^sample_services\.([a-z]+)$")


# Variables the mesh sets for every app (docs/own-services.md, "What an app gets").
MESH_ENV = {"PORT", "HOST", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "SERVICE_NAME",
            "SERVICE_VERSION", "INSTANCE_NAME"}  # fmt: skip


@dataclass
class _Service:
    """One compose service on its way into the scenario."""

    name: str  # the mesh's name for it
    spec: CommentedMap = field(default_factory=CommentedMap)
    notes: dict[str, list[str]] = field(default_factory=dict)  # comment lines before a key
    depends: list[tuple[str, str]] = field(default_factory=list)  # (compose name, condition)
    published: bool = False


def _note(service: _Service, key: str, text: str) -> None:
    service.notes.setdefault(key, []).append(text)


def _place_notes(service: _Service) -> None:
    """Each note as comment lines before its key (before `image` when the key
    is not written), wrapped to stay readable."""
    for key, texts in service.notes.items():
        where = key if key in service.spec else "image"
        lines = [line for text in texts for line in textwrap.wrap(text, 92)]
        service.spec.yaml_set_comment_before_after_key(where, before="\n".join(lines), indent=6)


def _fail(path: Path, message: str) -> UsageError:
    return UsageError(f"{path}: {message}")


def _load(path: Path) -> dict[str, Any]:
    """The compose file, read as scenarios are (meshsim.scenario.yamlpos: any
    encoding with a byte-order mark, one document, duplicate keys, alias bombs
    and deep nesting refused naming the line), and the shape of every key
    meshsim reads checked, so a bad file is exit 2 naming file, line and key."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _fail(path, f"cannot read the compose file ({exc.strerror or exc})") from exc
    doc = parse_yaml(decode(data, str(path)), str(path))
    raw = doc.data
    if not isinstance(raw, dict) or not isinstance(raw.get("services"), dict):
        raise _fail(path, "not a compose file: no `services` mapping at the top")
    _check_shape(raw, doc, path)
    return raw


# The compose keys meshsim reads, and the YAML types compose allows for each
# (compose-spec's schema): anything else would crash deep in the draft.
_SHAPES: dict[str, tuple[type, ...]] = {
    "image": (str,),
    "build": (str, dict),
    "ports": (list,),
    "expose": (list,),
    "healthcheck": (dict,),
    "depends_on": (list, dict),
    "environment": (list, dict),
    "env_file": (str, list, dict),
    "deploy": (dict,),
    "profiles": (list,),
    "network_mode": (str,),
    "entrypoint": (str, list),
    "command": (str, list),
}
_TYPE_NAMES: dict[type, str] = {str: "a string", dict: "a mapping", list: "a list"}


def _check_shape(raw: dict[str, Any], doc: Located, path: Path) -> None:
    def bad(where: tuple[Any, ...], what: str) -> UsageError:
        field = ".".join(map(str, where))
        return UsageError(f"{path}:{doc.line_of(where)}: {field}: {what}")

    if raw.get("name") is not None and not isinstance(raw["name"], str):
        raise bad(("name",), "must be a string")
    for name, svc in raw["services"].items():
        if svc is None:
            continue
        if not isinstance(name, str):
            raise bad(("services",), f"service name {name!r} must be a string")
        if not isinstance(svc, dict):
            raise bad(("services", name), "a service must be a mapping")
        for key, types in _SHAPES.items():
            value = svc.get(key)
            if value is not None and not isinstance(value, types):
                wanted = " or ".join(_TYPE_NAMES[t] for t in types)
                raise bad(("services", name, key), f"must be {wanted}, not {value!r}"[:300])
        if isinstance(svc.get("build"), dict):
            for key in ("context", "dockerfile"):
                if not isinstance(svc["build"].get(key, ""), str):
                    raise bad(("services", name, "build", key), "must be a string")
        test = (svc.get("healthcheck") or {}).get("test")
        if test is not None and not isinstance(test, str | list):
            raise bad(("services", name, "healthcheck", "test"), "must be a string or a list")


def mesh_name(compose_name: str) -> str:
    """A compose service's name as a mesh service name (a DNS label).

    >>> mesh_name("Orders_API"), mesh_name("2fa"), mesh_name("web")
    ('orders-api', 'svc-2fa', 'web')
    """
    name = re.sub(r"[^-a-z0-9]", "-", compose_name.lower()).strip("-")
    name = re.sub(r"-{2,}", "-", name)
    return name if name[:1].isalpha() else f"svc-{name}".rstrip("-")


def _project(raw: dict[str, Any], path: Path) -> str:
    """Compose's project name: its `name:`, else the file's directory's name."""
    given = raw.get("name") or path.resolve().parent.name
    return re.sub(r"[^a-z0-9_-]", "", str(given).lower()) or "app"


def _image_key(image: str) -> str:
    """`docker.io/library/postgres:16-alpine` -> `postgres`."""
    return image.split("@")[0].rsplit("/", 1)[-1].split(":")[0]


def _why_left_out(svc: dict[str, Any]) -> str | None:
    network = str(svc.get("network_mode") or "")
    if network.startswith(("service:", "container:")):
        owner = network.split(":", 1)[1]
        return f"shares {owner}'s network namespace (a helper or sidecar of {owner})"
    if svc.get("profiles"):
        return f"only in compose profile(s) {', '.join(map(str, svc['profiles']))}"
    kind = NOT_MESHED.get(_image_key(str(svc.get("image") or "")))
    if kind:
        return f"{kind}; meshsim meshes HTTP services"
    return None


def _ports(svc: dict[str, Any]) -> tuple[list[int], bool]:
    """The container ports a service listens on, and whether compose publishes any."""
    found: list[int] = []
    published = False
    for entry in list(svc.get("ports") or []) + list(svc.get("expose") or []):
        if isinstance(entry, dict):
            target, host = entry.get("target"), entry.get("published")
        else:
            parts = str(entry).split("/")[0].split(":")
            target, host = parts[-1], (parts[-2] if len(parts) > 1 else None)
        try:
            port = int(str(target).split("-")[0])
        except ValueError:
            continue
        found.append(port)
        published = published or (host is not None and entry in (svc.get("ports") or []))
    return found, published


def _health(svc: dict[str, Any]) -> str | None:
    check = svc.get("healthcheck") or {}
    if not isinstance(check, dict) or check.get("disable"):
        return None
    test = check.get("test")
    text = " ".join(map(str, test)) if isinstance(test, list) else str(test or "")
    m = HEALTH_URL.search(text)
    return m.group(1) if m else None


def _depends(svc: dict[str, Any]) -> list[tuple[str, str]]:
    deps = svc.get("depends_on") or []
    if isinstance(deps, dict):
        return [
            (str(k), str((v or {}).get("condition", "service_started")) if isinstance(v, dict)
             else "service_started")
            for k, v in deps.items()
        ]  # fmt: skip
    return [(str(d), "service_started") for d in deps]


def _env(svc: dict[str, Any], service: _Service) -> None:
    spec = service.spec
    raw = svc.get("environment") or {}
    pairs: list[tuple[str, Any]] = []
    if isinstance(raw, dict):
        pairs = list(raw.items())
    else:
        for item in raw:
            key, sep, value = str(item).partition("=")
            pairs.append((key, value if sep else None))
    env = CommentedMap()
    notes = []
    for key, value in pairs:
        if not ENV_NAME.match(str(key)):
            notes.append(f"{key} (not a variable name meshsim passes on)")
        elif key in MESH_ENV:
            notes.append(f"{key}={value} (the mesh sets {key})")
        elif value is None:
            notes.append(f"{key} (compose takes it from your shell: give it a value)")
        else:
            text = str(value).lower() if isinstance(value, bool) else str(value)
            env[str(key)] = text
            if "${" in text or re.search(r"\$[A-Za-z_]", text):
                env.yaml_add_eol_comment("GUESS: compose interpolates this; meshsim does not", key)
    if svc.get("env_file"):
        notes.append(f"the variables of env_file {svc['env_file']} (copy them here)")
    if env:
        spec["env"] = env
    if notes:
        _note(service, "env", "left out of env: " + "; ".join(notes))


def _image(svc: dict[str, Any], name: str, project: str, spec: CommentedMap) -> None:
    """The image, or for a `build:` the tag compose gives what it builds."""
    build = svc.get("build")
    image = svc.get("image")
    if build is None:
        spec["image"] = str(image)
        return
    context = build if isinstance(build, str) else str(build.get("context", "."))
    dockerfile = "" if isinstance(build, str) else str(build.get("dockerfile") or "")
    tag = str(image) if image else f"{project}-{name}"
    spec["image"] = tag
    made = f"built by compose from {context}" + (f" ({dockerfile})" if dockerfile else "")
    how = "compose tags it with `image:`" if image else f"compose names it {tag} (GUESS)"
    spec.yaml_add_eol_comment(f"{made}: `docker compose build {name}`; {how}", "image")


def _service(name: str, svc: dict[str, Any], project: str) -> _Service:
    out = _Service(mesh_name(name))
    spec = out.spec
    _image(svc, name, project, spec)
    ports, out.published = _ports(svc)
    health = _health(svc)
    if health:
        spec["health"] = health
        spec.yaml_add_eol_comment("from its compose healthcheck", "health")
    for key in ("entrypoint", "command"):
        if svc.get(key):
            _note(
                out,
                "image",
                f"compose overrides the image's {key} with {svc[key]!r}; meshsim runs the "
                "image as built: make that its default",
            )
    if ports:
        rather = f", not {ports[0]}" if ports[0] != 8080 else ""
        _note(
            out,
            "image",
            f"GUESS: it listens on {ports[0]} in compose; meshsim gives each app its port in "
            f"PORT (8080 on Docker): it must listen on $PORT{rather}",
        )
    _env(svc, out)
    replicas = (
        (svc.get("deploy") or {}).get("replicas") if isinstance(svc.get("deploy"), dict) else None
    )
    if isinstance(replicas, int) and replicas > 1:
        spec["versions"] = CommentedMap(v1=CommentedMap(replicas=min(replicas, 50)))
    out.depends = _depends(svc)
    return out


def _shop_export(services: dict[str, Any]) -> CommentedMap | None:
    """A project `meshsim export compose` wrote: its apps' shop services and versions."""
    apps = [s for s in services.values() if (s.get("labels") or {}).get("meshsim.role") == "app"]
    if not apps:
        return None
    mesh: dict[str, dict[str, int]] = {}
    for app in apps:
        command = app.get("command") or []
        module = SHOP_MODULE.match(str(command[-1])) if command else None
        instance = str((app.get("labels") or {}).get("meshsim.instance", ""))
        parts = instance.rsplit("-", 2)
        if module is None or len(parts) != 3:
            return None
        versions = mesh.setdefault(module.group(1), {})
        versions[parts[1]] = versions.get(parts[1], 0) + 1
    out = CommentedMap()
    for service, versions in mesh.items():
        out[service] = CommentedMap(
            versions=CommentedMap({v: CommentedMap(replicas=n) for v, n in versions.items()})
        )
    return out


def _flow(items: list[str]) -> CommentedSeq:
    seq = CommentedSeq(items)
    seq.fa.set_flow_style()
    return seq


def _phases() -> CommentedSeq:
    phase = CommentedMap(name="baseline", duration="30s")
    phase["expect"] = _flow(["error_rate < 1%", "p99 < 500ms"])
    phase.yaml_add_eol_comment("GUESS: the steady state your services must keep", "expect")
    return CommentedSeq([phase])


def _own_load(exposed: str | None) -> CommentedMap:
    load = CommentedMap(users=5, spawn_rate=5)
    request = CommentedMap(name="home", method="GET", path="/")
    load["requests"] = CommentedSeq([request])
    load.yaml_set_comment_before_after_key(
        "requests",
        before=f"GUESS: one request through the ingress gateway (to {exposed or 'the exposed service'}); "
        "list your real ones, or give load.locustfile",
        indent=2,
    )
    return load


def _own_services(raw: dict[str, Any], path: Path) -> tuple[CommentedMap, list[str], str | None]:
    """The project's HTTP services as the scenario's, and the notes on what was left out."""
    project = _project(raw, path)
    left_out: dict[str, str] = {}
    kept: dict[str, _Service] = {}
    jobs = {
        dep
        for svc in raw["services"].values()
        for dep, cond in _depends(svc or {})
        if cond == "service_completed_successfully"
    }
    for name, svc in raw["services"].items():
        svc = svc or {}
        why = "a one-shot job others wait for" if name in jobs else _why_left_out(svc)
        if why is None and not (svc.get("image") or svc.get("build")):
            why = "neither image nor build"
        if why:
            left_out[str(name)] = why
            continue
        service = _service(str(name), svc, project)
        if service.name in {s.name for s in kept.values()}:
            raise _fail(path, f"services {name!r} and another both become {service.name!r}")
        kept[str(name)] = service
    if not kept:
        raise _fail(
            path, "no HTTP service to mesh: " + "; ".join(f"{n}: {w}" for n, w in left_out.items())
        )
    called = {dep for s in kept.values() for dep, _ in s.depends if dep in kept}
    candidates = (
        [n for n, s in kept.items() if n not in called and s.published]
        or [n for n in kept if n not in called]
        or list(kept)
    )
    services = CommentedMap()
    for name, service in kept.items():
        spec = service.spec
        if name != mesh_name(name):
            spec.yaml_set_start_comment(f"compose's {name}", indent=4)
        calls = [kept[d].name for d, _ in service.depends if d in kept]
        dropped = [f"{d} ({left_out[d]})" for d, _ in service.depends if d in left_out]
        conditions = sorted({c for d, c in service.depends if d in kept and c != "service_started"})
        if calls:
            spec["calls"] = _flow(calls)
            spec.yaml_add_eol_comment("GUESS: from depends_on; keep only what it calls", "calls")
            if conditions:
                _note(
                    service,
                    "calls",
                    f"compose started it after {', '.join(conditions)}; meshsim starts every "
                    "service at once and waits for each one's health path",
                )
        if dropped:
            _note(service, "calls", "depends_on left out: " + "; ".join(dropped))
        if name == candidates[0]:
            spec["expose"] = True
            spec.yaml_add_eol_comment(
                "GUESS: the ingress gateway routes every path here"
                + (" (compose published its port)" if service.published else ""),
                "expose",
            )
        _place_notes(service)
        services[service.name] = spec
    notes = [f"{n}: {w}" for n, w in left_out.items()]
    return services, notes, kept[candidates[0]].name


def scenario_from_compose(path: Path) -> str:
    """The text of a starting scenario for the compose project at `path`.

    Raises UsageError (exit 2) for a file that is not a compose file or has
    nothing meshsim can run."""
    raw = _load(path)
    project = _project(raw, path)
    doc = CommentedMap()
    doc["name"] = project
    shop = _shop_export(raw["services"])
    if shop is not None:
        doc["description"] = f"The sample shop, as {path.name} (exported by meshsim) runs it."
        doc["mesh"] = CommentedMap(services=shop)
        doc["load"] = CommentedMap(users=10, spawn_rate=10)
        header = [
            f"Made by `meshsim init --from-compose {path}`.",
            "meshsim exported that project from a scenario: the shop's apps are below;",
            "its sidecars, ingress gateway and observability services are meshsim's own.",
        ]
    else:
        services, notes, exposed = _own_services(raw, path)
        doc["description"] = f"The services of compose project {project} under the mesh."
        doc["mesh"] = CommentedMap(services=services)
        doc["load"] = _own_load(exposed)
        header = [
            f"Made by `meshsim init --from-compose {path}`: a draft to read, then run",
            "(`meshsim up FILE --runtime docker`). GUESS marks what was guessed.",
        ]
        if notes:
            header.append("Left out of the compose project:")
            header += [f"  {n}" for n in notes]
    doc["phases"] = _phases()
    doc.yaml_set_start_comment("\n".join(header))
    out = io.StringIO()
    writer = YAML()
    writer.indent(mapping=2, sequence=4, offset=2)
    writer.width = 100
    writer.dump(doc, out)
    return out.getvalue()


def write_from_compose(
    compose: Path, dest: Path | None = None, directory: Path = Path("."), *, force: bool = False
) -> Path:
    """Write the starting scenario for `compose` to `dest` (default:
    DIRECTORY/<project>.yaml), an existing file kept unless `force`, then
    validate it as `meshsim validate` would. A result that does not validate
    is kept for editing, and a UsageError (exit 2) says what to fix."""
    text = scenario_from_compose(compose)
    if dest is None:
        dest = directory / f"{_project(_load(compose), compose)}.yaml"
    return write_generated_scenario(text, dest, force=force)
