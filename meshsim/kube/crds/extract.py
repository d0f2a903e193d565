"""Rewrite the vendored CRD schemas beside this file from CRD manifests.

    python -m meshsim.kube.crds.extract istio-1.30.3.json customresourcedefinitions.gen.yaml
    python -m meshsim.kube.crds.extract gateway-api-v1.6.1.json \
        gateway.networking.k8s.io_gateways.yaml gateway.networking.k8s.io_httproutes.yaml

Keeps, for each kind meshsim exports, the openAPIV3Schema of its storage
version (Istio and Gateway API serve the same schema under each of their
versions), keyed "group/Kind", with the versions served
(README.md says where the inputs come from).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

KINDS = {
    "VirtualService", "DestinationRule", "Gateway", "PeerAuthentication",
    "AuthorizationPolicy", "RequestAuthentication", "HTTPRoute",
}  # fmt: skip


def extract(paths: list[Path]) -> dict[str, object]:
    out: dict[str, object] = {}
    for path in paths:
        for crd in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            spec = crd["spec"]
            if spec["names"]["kind"] not in KINDS:
                continue
            served = [v["name"] for v in spec["versions"] if v.get("served", True)]
            stored = next(v for v in spec["versions"] if v.get("storage"))
            out[f"{spec['group']}/{spec['names']['kind']}"] = {
                "served": served,
                "schema": stored["schema"]["openAPIV3Schema"],
            }
    return out


if __name__ == "__main__":
    target = Path(__file__).with_name(sys.argv[1])
    schemas = extract([Path(p) for p in sys.argv[2:]])
    target.write_text(json.dumps(schemas, separators=(",", ":"), sort_keys=True) + "\n")
    print(f"wrote {target}: {', '.join(sorted(schemas))}")
