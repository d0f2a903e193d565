"""`meshsim explain`: what the Istio resources of a phase became in Envoy terms.

Pure: the scenario is compiled with the control plane's own `compile_mesh`
for the policies in force at each phase (applied and removed as the runner
does), and each proxy's listeners, routes and clusters are put into words
(`meshsim.control.describe`). No process starts.

>>> ex = explain("scenarios/canary.yaml", phase="canary-10")       # doctest: +SKIP
>>> print(ex.text())                                               # doctest: +SKIP
>>> ex.phases[0].raw["order-v1-0"]["routes"]["outbound"]          # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshsim.control import describe
from meshsim.control.bypass import bypass_note
from meshsim.control.phases import iter_phases
from meshsim.control.plan import MeshPlan, build_plan
from meshsim.control.security import mtls_policies, workloads
from meshsim.control.state import PolicyState
from meshsim.control.translate import compile_mesh
from meshsim.control.xds import ROUTE_INBOUND, ROUTE_INGRESS, ROUTE_OUTBOUND, Paths, ProxyConfig
from meshsim.errors import UsageError, check_phase
from meshsim.scenario import load_scenario, resolve_application, resolve_mesh
from meshsim.scenario.model import Scenario
from meshsim.scenario.places import placed

# Where the compiled config says its files live; a placeholder, nothing is written.
RUN_DIR = "$RUN_DIR"

SECTION_ROUTES = "Routes: where each request goes"
SECTION_CLUSTERS = "Clusters: how each destination is called"
SECTION_INBOUND = "Inbound: what each sidecar lets in"


@dataclass
class Group:
    """Proxies whose part of the configuration reads the same."""

    proxies: list[str]
    title: str
    lines: list[str]


@dataclass
class Section:
    title: str
    groups: list[Group] = field(default_factory=list)


@dataclass
class PhaseExplanation:
    phase: str
    index: int
    duration_s: float
    in_force: list[str]  # "Kind/name" of every resource in force
    changed: list[str]  # this phase's apply ("VirtualService/x") and remove ("-Kind/name")
    sections: list[Section]
    warnings: list[str]
    raw: dict[str, dict[str, Any]]  # proxy → {listeners, clusters, routes}
    unchanged_from: str | None = None  # sections left out because they read as in that phase
    # what holds only on some runtime: the local runtime's app ports bypass the sidecar
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[tuple[int, str]]:
        """(depth, text): 0 the phase, 1 a section, 2 a group of proxies, 3 a sentence."""
        out = [(0, f"Phase {self.index + 1}: {self.phase} ({self.duration_s:g}s)")]
        if self.changed:
            out.append((1, "changes: " + ", ".join(self.changed)))
        out.append((1, "in force: " + ", ".join(self.in_force)))
        out += [(1, f"note: {note}") for note in self.notes]
        for section in self.sections:
            out.append((1, section.title))
            for group in section.groups:
                out.append((2, group.title))
                out += [(3, line) for line in group.lines]
        if self.unchanged_from is not None:
            what = "everything else" if self.sections else "every proxy's configuration"
            out.append((1, f"({what} reads as in phase {self.unchanged_from})"))
        if self.warnings:
            out.append((1, "Warnings"))
            out += [(2, w) for w in self.warnings]
        return out


@dataclass
class Explanation:
    scenario: str
    phases: list[PhaseExplanation]

    def lines(self) -> list[tuple[int, str]]:
        out: list[tuple[int, str]] = []
        for i, phase in enumerate(self.phases):
            if i:
                out.append((0, ""))
            out += phase.lines()
        return out

    def text(self) -> str:
        """Plain text, indented two spaces per level."""
        return "\n".join("  " * depth + text for depth, text in self.lines()) + "\n"

    def raw(self) -> dict[str, dict[str, dict[str, Any]]]:
        """phase → proxy → {listeners, clusters, routes}: the Envoy config itself."""
        return {p.phase: p.raw for p in self.phases}


def explain(
    scenario: str | Path | Scenario, phase: str | None = None, instance: str | None = None
) -> Explanation:
    """Explain every phase of `scenario` (or only `phase`), for every proxy (or
    only those `instance` names: an instance such as order-v1-0, a service
    (each of its instances), service:version, or istio-ingressgateway).

    Without `phase`, the first phase is explained in full and each later one
    only where it reads differently from the phase before. Proxies whose
    configuration reads the same are explained together.
    """
    s = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    names = [p.name for p in s.phases]
    check_phase(phase, names)
    plan = build_plan(resolve_mesh(s), 0, resolve_application(s))
    proxies = plan.proxies if instance is None else _chosen(plan, instance)
    out: list[PhaseExplanation] = []
    previous: Texts | None = None
    for step in iter_phases(s, plan.app):
        index, p, state = step.index, step.phase, step.state
        configs = compile_mesh(plan, state, Paths(f"{RUN_DIR}/xds"))
        texts: Texts = {n: _proxy_sections(plan, state, configs[n]) for n in proxies}
        if phase is None or p.name == phase:
            shown = texts
            unchanged_from = None
            if phase is None and previous is not None:
                shown = _changed(texts, previous)
                unchanged_from = names[index - 1]
            out.append(
                PhaseExplanation(
                    phase=p.name,
                    index=index,
                    duration_s=p.duration,
                    in_force=list(state.resources),
                    changed=step.changed,
                    sections=_group(plan, shown),
                    # each led by the file:line of the resource it names, as validate does
                    warnings=[
                        placed(s, index, w)
                        for w in sorted({w for n in proxies for w in configs[n].warnings})
                    ],
                    raw={n: _raw(configs[n]) for n in proxies},
                    unchanged_from=unchanged_from,
                    notes=[n for n in [bypass_note(state, plan)] if n is not None],
                )
            )
        previous = texts
    return Explanation(s.name, out)


def _chosen(plan: MeshPlan, who: str) -> list[str]:
    """The proxies `--instance` names, as `meshsim exec --as` reads a workload."""
    if who == plan.ingress.name:
        return [who]
    found = [i.name for i in plan.select(who)]
    if not found:
        services = ", ".join(plan.services)
        raise UsageError(
            f"--instance {who}: not in this mesh; expected a service ({services}), "
            f"service:version, an instance ({', '.join(i.name for i in plan.instances)}) "
            f"or {plan.ingress.name}"
        )
    return found


def _raw(cfg: ProxyConfig) -> dict[str, Any]:
    return {"listeners": cfg.listeners, "clusters": cfg.clusters, "routes": cfg.routes}


Block = tuple[str, ...]  # the sentences about one thing: a host's routes, a cluster
Texts = dict[str, dict[str, list[Block]]]  # proxy → section → blocks


def _changed(now: Texts, before: Texts) -> Texts:
    """Only the blocks that read differently from the phase before."""
    out: Texts = {}
    for proxy, sections in now.items():
        for title, blocks in sections.items():
            old = set(before.get(proxy, {}).get(title, []))
            new = [b for b in blocks if b not in old]
            if new:
                out.setdefault(proxy, {})[title] = new
    return out


def _group(plan: MeshPlan, texts: Texts) -> list[Section]:
    """Per section, proxies whose sentences are identical share one group."""
    sections = []
    for title in (SECTION_ROUTES, SECTION_CLUSTERS, SECTION_INBOUND):
        by_text: dict[tuple[Block, ...], list[str]] = {}
        for proxy in plan.proxies:
            blocks = texts.get(proxy, {}).get(title)
            if blocks:
                by_text.setdefault(tuple(blocks), []).append(proxy)
        if not by_text:
            continue
        section = Section(title)
        for shared, proxies in by_text.items():
            lines = [line for block in shared for line in block]
            section.groups.append(Group(proxies, _group_title(plan, title, proxies), lines))
        sections.append(section)
    return sections


def _group_title(plan: MeshPlan, section: str, proxies: list[str]) -> str:
    ingress = plan.ingress.name
    if proxies == [ingress]:
        if section == SECTION_ROUTES:
            return f"{ingress} (the ingress gateway: the shoppers' requests)"
        return f"{ingress} (the ingress gateway)"
    sidecars = [p for p in proxies if p != ingress]
    who = _sidecar_names(plan, sidecars)
    services = {plan.instance(p).service for p in sidecars}
    if section == SECTION_ROUTES and len(services) == 1:
        (service,) = services
        return f"{who}: the calls {service}'s app makes, through its HTTP_PROXY"
    if section == SECTION_ROUTES:
        return f"{who}: the calls each app makes, through its HTTP_PROXY"
    if ingress in proxies:
        return f"every proxy: {ingress} and {who}"
    return who


def _sidecar_names(plan: MeshPlan, names: list[str]) -> str:
    if len(names) == 1:
        inst = plan.instance(names[0])
        return f"{inst.service}'s sidecar ({inst.name})"
    if len(names) == len(plan.instances):
        return f"every sidecar ({', '.join(names)})"
    services = {plan.instance(n).service for n in names}
    if len(services) == 1:
        return f"{services.pop()}'s sidecars ({', '.join(names)})"
    return f"the sidecars {', '.join(names)}"


# ------------------------------------------------------------ one proxy


def _endpoints(plan: MeshPlan) -> describe.Endpoints:
    return {(i.host, i.inbound_port): i.name for i in plan.instances}


def _proxy_sections(plan: MeshPlan, state: PolicyState, cfg: ProxyConfig) -> dict[str, list[Block]]:
    eps = _endpoints(plan)
    members = {
        c["name"]: describe.cluster_members(c, eps)
        for c in cfg.clusters
        if c["name"].startswith("outbound|")
    }
    out: dict[str, list[Block]] = {}
    if cfg.name == plan.ingress.name:
        out[SECTION_ROUTES] = _ingress_routes(cfg, members)
    else:
        out[SECTION_ROUTES] = _outbound_routes(state, cfg, members)
        out[SECTION_INBOUND] = _inbound(plan, state, cfg)
    out[SECTION_CLUSTERS] = _clusters(state, cfg, eps)
    return out


def _route_lines(routes: list[dict[str, Any]], members: dict[str, list[str]]) -> list[str]:
    lines = []
    for r in routes:
        lines.append(f"route {r.get('name')}: {describe.route_match(r.get('match', {}))}")
        lines += [f"  → {part}" for part in describe.route_action(r, members)]
    return lines


def _ingress_routes(cfg: ProxyConfig, members: dict[str, list[str]]) -> list[Block]:
    rc = cfg.routes.get(ROUTE_INGRESS, {})
    blocks: list[Block] = []
    for vhost in rc.get("virtual_hosts", []):
        name = str(vhost.get("name", ""))
        hosts = ", ".join(vhost.get("domains", []))
        lines: list[str] = []
        if name.startswith("gateway:"):
            made = name.split(":", 1)[1]  # an HTTPRoute's vhost is named after it
            made = made if "/" in made else f"VirtualService/{made}"
            lines.append(f"{made} (bound to meshsim-gateway), hosts {hosts}:")
        else:
            lines.append(f"any other host ({hosts}):")
        lines += ["  " + line for line in _route_lines(vhost.get("routes", []), members)]
        lines += ["  " + line for line in describe.rbac(vhost.get("typed_per_filter_config", {}))]
        blocks.append(tuple(lines))
    return blocks


def _outbound_routes(
    state: PolicyState, cfg: ProxyConfig, members: dict[str, list[str]]
) -> list[Block]:
    from meshsim.scenario.gateway_routes import origin

    rc = cfg.routes.get(ROUTE_OUTBOUND, {})
    blocks: list[Block] = []
    for vhost in rc.get("virtual_hosts", []):
        name = str(vhost.get("name", ""))
        if name == "block_all":
            blocks.append(
                ("calls for any other host: answered 502 by the sidecar (unknown service)",)
            )
            continue
        lines: list[str] = []
        service = name.split(".", 1)[0]
        vs = state.mesh_virtual_service(service)
        source = origin(vs) if vs else "no VirtualService"
        routes = vhost.get("routes", [])
        if vs is None and len(routes) == 1:
            parts = describe.route_action(routes[0], members)
            lines.append(f"calls for {service} ({source}: Istio's default route):")
            lines += [f"  → {part}" for part in parts]
        else:
            lines.append(f"calls for {service} ({source}), tried in order:")
            lines += ["  " + line for line in _route_lines(routes, members)]
        blocks.append(tuple(lines))
    return blocks


def _clusters(state: PolicyState, cfg: ProxyConfig, eps: describe.Endpoints) -> list[Block]:
    blocks: list[Block] = []
    for c in cfg.clusters:
        name = str(c.get("name", ""))
        if not name.startswith("outbound|"):
            continue
        _, _, subset, host = name.split("|")
        service = host.split(".", 1)[0]
        dr = state.destination_rule(service)
        who = ", ".join(describe.cluster_members(c, eps)) or "none"
        version_service = subset and not any(
            s.name == subset for s in (dr.spec.subsets if dr else [])
        )
        if version_service:  # a Service of one version (`product-v2`) that an HTTPRoute names
            head = f"{name}: the Service {service}-{subset} ({service}'s version {subset}): {who}"
        elif subset:
            labels = next(
                (s.labels for s in (dr.spec.subsets if dr else []) if s.name == subset), {}
            )
            selector = ", ".join(f"{k}={v}" for k, v in labels.items())
            origin = f"subset {subset} of DestinationRule/{dr.metadata.name if dr else '?'}"
            head = f"{name}: {origin} ({selector}): instances {who}"
        else:
            origin = f"DestinationRule/{dr.metadata.name}" if dr else "no DestinationRule"
            head = f"{name}: every instance of {service} ({origin}): {who}"
        blocks.append((head, *(f"  - {part}" for part in describe.cluster(c, eps))))
    return blocks


def _inbound(plan: MeshPlan, state: PolicyState, cfg: ProxyConfig) -> list[Block]:
    workload = workloads(plan)[cfg.name]
    listener = next((lst for lst in cfg.listeners if lst.get("name") == "virtualInbound"), {})
    found = mtls_policies(state, workload)
    deciding = found.workload or found.namespace or found.mesh
    why = deciding.key if deciding else "no PeerAuthentication: Istio's default"
    lines = [
        f"the inbound listener {describe.inbound_transport(listener)} [{why}]",
    ]
    rc = cfg.routes.get(ROUTE_INBOUND, {})
    for vhost in rc.get("virtual_hosts", []):
        rules = describe.rbac(vhost.get("typed_per_filter_config", {}))
        lines += rules or [
            "no AuthorizationPolicy selects it: every caller that gets in is allowed"
        ]
        for r in vhost.get("routes", []):
            if str(r.get("name", "")).endswith(".fault-at-destination"):
                cfg_fault = r.get("typed_per_filter_config", {}).get(describe.FAULT_FILTER, {})
                lines.append(
                    f"{describe.route_match(r.get('match', {}))} from any caller: "
                    + describe.fault(cfg_fault, "here, at the destination")
                    + " (a real upstream answer: callers' retries and outlier detection see it)"
                )
    lines.append("then hands each request to its own app (cluster inbound|80||<service>)")
    return [tuple(lines)]
