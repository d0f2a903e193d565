"""Offline validation of Kubernetes objects, as an API server would check them.

- Kubernetes' own kinds (Namespace, Deployment, Service, ConfigMap...):
  `kubernetes-validate`'s strict schemas of Kubernetes `K8S_VERSION`.
- Istio's and Gateway API's kinds: meshsim's own models of them
  (meshsim.scenario.istio: unknown fields refused, enums and required fields
  checked), the same check `meshsim validate` runs. No maintained package
  ships their CRD schemas, and copying them out of Istio's repository is not
  ours to do; the models cover every field meshsim compiles, which is every
  field an export can contain. Their CEL rules are not evaluated either way.

>>> validate_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
[]
"""

from __future__ import annotations

from typing import Any

from meshsim.scenario.istio import check_resource
from meshsim.scenario.k8s_objects import K8S_VERSION, has_schema, schema_problem

MESH_GROUPS = ("networking.istio.io", "security.istio.io", "gateway.networking.k8s.io")


def validate_object(obj: dict[str, Any]) -> list[str]:
    """What is wrong with `obj` for a cluster (Kubernetes K8S_VERSION; Istio's
    and Gateway API's kinds as meshsim models them), as messages naming the
    field; [] when it validates. A kind known to neither is a problem too."""
    api_version = str(obj.get("apiVersion", ""))
    group = api_version.rpartition("/")[0]
    where = f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"
    if group in MESH_GROUPS:
        return [f"{where}: {path or '(top)'}: {message}" for path, message in check_resource(obj)]
    problem = schema_problem(obj)
    if problem is not None:
        path, message = problem
        return [f"{where}: {'.'.join(map(str, path)) or '(top)'}: {message}"]
    if not has_schema(obj):
        return [
            f"{where}: no schema for {api_version} {obj.get('kind')} in Kubernetes {K8S_VERSION}"
        ]
    return []
