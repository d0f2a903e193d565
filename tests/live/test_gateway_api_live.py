"""Gateway API HTTPRoutes on a live mesh: real Envoy sidecars and ingress do
what the HTTPRoute says, as Istio's docs describe it.

At the ingress (parentRef Gateway meshsim-gateway): a redirect, a URL rewrite,
a response header, path-element prefixes, a rule with no weight answering 500.
Between sidecars (parentRef Service product, GAMMA): a header match to
product-v2, the rest to product-v1, a request header added on the way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from meshsim.control.plan import build_plan
from meshsim.mesh import Mesh
from meshsim.scenario.istio import parse_resource

pytestmark = pytest.mark.slow

SHOP = {"user": {"v1": 1}, "product": {"v1": 1, "v2": 1}, "order": {"v1": 1}, "shipping": {"v1": 1}}


def httproute(name: str, parent: dict[str, Any], rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name},
        "spec": {"parentRefs": [parent], "rules": rules},
    }


def prefix(value: str) -> list[dict[str, Any]]:
    return [{"path": {"type": "PathPrefix", "value": value}}]


INGRESS = httproute(
    "shop",
    {"name": "meshsim-gateway"},
    [
        {
            "matches": prefix("/old"),
            "filters": [
                {
                    "type": "RequestRedirect",
                    "requestRedirect": {
                        "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/products"},
                        "statusCode": 301,
                    },
                }
            ],
        },
        {
            "matches": prefix("/shop/products"),
            "filters": [
                {
                    "type": "URLRewrite",
                    "urlRewrite": {
                        "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/products"}
                    },
                }
            ],
            "backendRefs": [{"name": "product-v1", "port": 80}],
        },
        {
            "matches": prefix("/products"),
            "filters": [
                {
                    "type": "ResponseHeaderModifier",
                    "responseHeaderModifier": {"set": [{"name": "x-routed-by", "value": "gw-api"}]},
                }
            ],
            "backendRefs": [{"name": "product-v2", "port": 80}],
        },
        {"matches": prefix("/gone"), "backendRefs": [{"name": "product", "port": 80, "weight": 0}]},
    ],
)

MESH_ROUTE = httproute(
    "product",
    {"group": "", "kind": "Service", "name": "product", "port": 80},
    [
        {
            "matches": [{"headers": [{"name": "end-user", "value": "jason"}]}],
            "backendRefs": [{"name": "product-v2", "port": 80}],
        },
        {"backendRefs": [{"name": "product-v1", "port": 80}]},
    ],
)


@pytest.fixture
async def mesh(tmp_path: Path) -> AsyncIterator[Mesh]:
    m = Mesh(build_plan(SHOP, ingress_port=0), tmp_path / "run")
    try:
        await m.start()
        m.control.state.apply([parse_resource(INGRESS), parse_resource(MESH_ROUTE)])
        m.control.state.remove(["VirtualService/shop"])
        result = await m.control.push()
        assert result.took_s < 1.0
        yield m
    finally:
        await m.stop()


async def get(url: str, **kw: Any) -> tuple[int, dict[str, str]]:
    async with (
        aiohttp.ClientSession(trust_env=False) as s,
        s.get(url, allow_redirects=False, timeout=aiohttp.ClientTimeout(total=10), **kw) as r,
    ):
        await r.read()
        return r.status, dict(r.headers)


async def test_ingress_httproute_filters_on_real_envoy(mesh: Mesh) -> None:
    base = mesh.ingress_url
    status, headers = await get(base + "/old/3")
    assert status == 301 and headers["Location"].endswith("/products/3"), (status, headers)
    status, headers = await get(base + "/shop/products/3")
    assert (status, headers.get("x-version")) == (200, "v1")
    status, headers = await get(base + "/products/3")
    assert (status, headers.get("x-version"), headers.get("x-routed-by")) == (200, "v2", "gw-api")
    # PathPrefix matches whole path elements: /productsx is no /products
    status, _ = await get(base + "/productsx")
    assert status == 404
    # a rule whose backends all weigh 0 answers 500, as the Gateway API says
    status, _ = await get(base + "/gone")
    assert status == 500


async def test_gamma_route_between_sidecars_on_real_envoy(mesh: Mesh) -> None:
    order = mesh.plan.select("order")[0]
    proxy = f"http://{order.host}:{order.outbound_port}"
    versions = set()
    for _ in range(20):
        status, headers = await get("http://product/products/3", proxy=proxy)
        assert status == 200
        versions.add(headers.get("x-version"))
    assert versions == {"v1"}
    for _ in range(20):
        status, headers = await get(
            "http://product/products/3", proxy=proxy, headers={"end-user": "jason"}
        )
        assert (status, headers.get("x-version")) == (200, "v2")
