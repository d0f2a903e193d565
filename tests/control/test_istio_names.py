"""Istio resource names are DNS-1123 (as Kubernetes requires) and hosts are host
names (issue 16 item 12): a name or host reaches file paths and Envoy config."""

from __future__ import annotations

from typing import Any

import pytest

from meshsim.scenario.istio import check_resource


def vs(name: Any = "product", hosts: Any = ("product",), dest: Any = "product") -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": name},
        "spec": {"hosts": list(hosts), "http": [{"route": [{"destination": {"host": dest}}]}]},
    }


@pytest.mark.parametrize("name", ["../../tmp/vs", "Product", "a_b", "-a", "a.", "x" * 254, "a b"])
def test_bad_resource_names(name: str) -> None:
    problems = dict(check_resource(vs(name=name)))
    assert "is not a valid resource name" in problems["metadata.name"]


@pytest.mark.parametrize("name", ["product", "product-canary", "v1.2", "a", "x" * 253])
def test_good_resource_names(name: str) -> None:
    assert check_resource(vs(name=name)) == []


@pytest.mark.parametrize("host", ["product\nfoo", "product/../x", "a b", "", "-", "a..b", "*x"])
def test_bad_hosts(host: str) -> None:
    problems = dict(check_resource(vs(hosts=[host])))
    assert "is not a host name" in problems["spec.hosts[0]"]


@pytest.mark.parametrize(
    "host", ["product", "product.default.svc.cluster.local", "*", "*.example.com", "Shop.Example"]
)
def test_good_hosts(host: str) -> None:
    assert check_resource(vs(hosts=[host])) == []


def test_destination_host_and_subset_and_namespace() -> None:
    problems = dict(check_resource(vs(dest="prod uct")))
    assert "is not a host name" in problems["spec.http[0].route[0].destination.host"]
    raw = vs()
    raw["metadata"]["namespace"] = "../x"
    assert "not a valid name here" in dict(check_resource(raw))["metadata.namespace"]
    dr = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": {"name": "product"},
        "spec": {"host": "product", "subsets": [{"name": "V 1", "labels": {"version": "v1"}}]},
    }
    assert "not a valid name here" in dict(check_resource(dr))["spec.subsets[0].name"]


def test_a_kind_that_is_not_text() -> None:
    raw = vs()
    raw["kind"] = []
    assert dict(check_resource(raw))["kind"].startswith("expected a kind")
