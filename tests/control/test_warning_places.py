"""Warnings name the file:line (and field) of the resource they are about,
as the loader's errors do: compile warnings, gateway binding, deprecated or
ineffective fields, in the scenario file or in a manifest it names."""

from __future__ import annotations

import textwrap
from pathlib import Path

from meshsim.control.advice import compile_warnings, scenario_warnings
from meshsim.scenario import load_scenario
from meshsim.scenario.places import place_of

SCENARIO = """\
name: places
phases:
  - name: base
    duration: 5s
  - name: canary
    duration: 5s
    apply:
      - apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: product}
        spec:
          hosts: [product]
          http:
            - route:
                - destination: {host: product, subset: v1}
            - route:
                - destination: {host: product, subset: v9}
      - apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: front}
        spec:
          hosts: ["*"]
          gateways: [nowhere]
          http:
            - fault:
                delay: {fixedDelay: 1s, percent: 30}
              route:
                - destination: {host: product}
"""


def _load(tmp_path: Path, text: str = SCENARIO) -> tuple[str, list[str]]:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    scenario = load_scenario(path)
    return str(path), scenario_warnings(scenario) + compile_warnings(scenario)


def test_compile_warnings_name_the_line_of_the_field(tmp_path: Path) -> None:
    file, warnings = _load(tmp_path)
    subset = [w for w in warnings if "'v9'" in w]
    # http[1] of VirtualService/product starts on line 16
    assert len(subset) == 1 and subset[0].startswith(
        f"{file}:16: phases[1].apply[0].spec.http[1]: phase canary: VirtualService/product http[1]: "
    ), subset


def test_a_gateway_binding_warning_names_the_resources_line(tmp_path: Path) -> None:
    file, warnings = _load(tmp_path)
    (unbound,) = [w for w in warnings if "'nowhere'" in w]
    assert unbound.startswith(
        f"{file}:18: phases[1].apply[1]: phase canary: VirtualService/front: gateway 'nowhere' "
        "does not exist"
    ), unbound


def test_a_deprecated_field_names_its_own_line(tmp_path: Path) -> None:
    file, warnings = _load(tmp_path)
    (deprecated,) = [w for w in warnings if "fault.delay.percent" in w]
    assert deprecated.startswith(
        f"{file}:26: phases[1].apply[1].spec.http[0].fault.delay.percent (VirtualService/front): "
    ), deprecated


def test_a_manifests_resource_is_placed_in_its_manifest(tmp_path: Path) -> None:
    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s" / "app.yaml").write_text(
        textwrap.dedent("""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web-v1}
        spec:
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web, version: v1}}
            spec:
              containers: [{name: web, image: acme/web:1, ports: [{containerPort: 8000}]}]
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: web}
        spec:
          hosts: [web]
          http:
            - route:
                - destination: {host: web, subset: v7}
        """)
    )
    text = (
        "name: m\nmesh: {manifests: [k8s/]}\nload: {users: 1, requests: [{name: h, path: /}]}\n"
        "phases: [{name: a, duration: 5s}, {name: b, duration: 5s}]\n"
    )
    _, warnings = _load(tmp_path, text)
    (subset,) = [w for w in warnings if "'v7'" in w]
    assert subset.startswith(
        f"{tmp_path / 'k8s' / 'app.yaml'}:17: spec.http[0]: phases a, b: VirtualService/web http[0]"
    ), subset


def test_removed_and_unnamed_resources_have_no_place(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        SCENARIO + "  - {name: after, duration: 5s, remove: [VirtualService/product]}\n"
    )
    scenario = load_scenario(path)
    assert place_of(scenario, 1, "VirtualService/product: x").startswith(f"{path}:8: ")  # type: ignore[union-attr]
    assert place_of(scenario, 2, "VirtualService/product: x") is None  # removed by then
    assert place_of(scenario, 1, "a warning about no resource") is None


GATEWAY = """\
name: ports
phases:
  - name: a
    duration: 5s
    apply:
      - apiVersion: networking.istio.io/v1
        kind: Gateway
        metadata: {name: shop-gateway}
        spec:
          selector: {istio: ingressgateway}
          servers:
            - port: {number: 8080, name: http, protocol: HTTP}
              hosts: ["*"]
            - port:
                number: 9080
                name: https
                protocol: HTTPS
              hosts: ["*"]
"""


def test_a_gateway_port_the_ingress_does_not_serve_is_warned_at_its_line(tmp_path: Path) -> None:
    """The ingress has one HTTP listener (the run's ingress port, for the
    ingress Service's 80 → 8080): 8080 is it, 9080 and HTTPS are said."""
    file, warnings = _load(tmp_path, GATEWAY)
    ports = [w for w in warnings if "Gateway/shop-gateway" in w]
    assert ports == [
        f"{file}:15: phases[0].apply[0].spec.servers[1].port.number (Gateway/shop-gateway): "
        "9080: meshsim's ingress has one listener, at the run's ingress port, standing for "
        "the ingress Service's port 80 (target port 8080); this server's hosts are served "
        "there, not on 9080. On a cluster the default istio-ingressgateway Service exposes no "
        "port 9080 (istioctl analyze IST0162): use 80 or 8080",
        f"{file}:17: phases[0].apply[0].spec.servers[1].port.protocol (Gateway/shop-gateway): "
        "HTTPS: meshsim's ingress speaks plain HTTP; this server's hosts are served over HTTP "
        "at the run's ingress port",
    ], warnings
