"""Offline validation of Kubernetes objects, as an API server would check them.

- Kubernetes' own kinds (Namespace, Deployment, Service, ConfigMap...):
  `kubernetes-validate`'s strict schemas of Kubernetes `K8S_VERSION`.
- Istio's and Gateway API's kinds: the openAPIV3Schema of their CRDs, vendored
  in `crds/` (versions and licences in crds/README.md), checked with
  `jsonschema` in strict mode: a field the schema does not define is refused,
  as `kubectl apply` (server-side field validation `Strict`) refuses it.
  Their CEL rules (`x-kubernetes-validations`) are not evaluated.

>>> validate_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
[]
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

from meshsim.scenario.k8s_objects import K8S_VERSION, schema_problem

CRD_FILES = ("istio-1.30.3.json", "gateway-api-v1.6.1.json")
ISTIO_VERSION = "1.30.3"
GATEWAY_API_VERSION = "v1.6.1"


@functools.cache
def _crds() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name in CRD_FILES:
        out.update(json.loads((Path(__file__).parent / "crds" / name).read_text()))
    return out


def _strict(schema: Any) -> Any:
    """The schema with unknown fields refused wherever it lists the fields
    (as the API server's strict field validation does), except where it says
    unknown fields are kept."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@functools.cache
def _validator(key: str) -> Any:
    import jsonschema

    schema = copy.deepcopy(_crds()[key]["schema"])
    schema = _strict(schema)
    # metadata is the API server's ObjectMeta: checked by name below, not here.
    props = schema.setdefault("properties", {})
    props["metadata"] = {"type": "object"}
    props["apiVersion"] = props["kind"] = {"type": "string"}
    return jsonschema.Draft7Validator(schema)


def validate_object(obj: dict[str, Any]) -> list[str]:
    """What is wrong with `obj` for a cluster (Kubernetes K8S_VERSION, Istio
    ISTIO_VERSION, Gateway API GATEWAY_API_VERSION), as messages naming the
    field; [] when it validates. A kind known to neither is a problem too."""
    api_version = str(obj.get("apiVersion", ""))
    group, _, version = api_version.rpartition("/")
    key = f"{group}/{obj.get('kind')}"
    where = f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"
    if key in _crds():
        if version not in _crds()[key]["served"]:
            return [f"{where}: apiVersion {api_version} is not served by the CRD"]
        errors = sorted(_validator(key).iter_errors(obj), key=lambda e: list(e.path))
        return [f"{where}: {'.'.join(map(str, e.path)) or '(top)'}: {e.message}" for e in errors]
    problem = schema_problem(obj)
    if problem is not None:
        path, message = problem
        return [f"{where}: {'.'.join(map(str, path)) or '(top)'}: {message}"]
    from meshsim.scenario.k8s_objects import has_schema

    if not has_schema(obj):
        return [
            f"{where}: no schema for {api_version} {obj.get('kind')} in Kubernetes {K8S_VERSION}"
        ]
    return []
