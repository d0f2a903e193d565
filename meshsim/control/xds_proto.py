"""The compiler's plain-dict Envoy resources as protobuf, for the ADS stream.

The compiler (translate, security, observe...) builds each resource as a dict
in Envoy's JSON form; `meshsim.control.ads` sends them to Envoy as
`google.protobuf.Any` inside a `DiscoveryResponse`. The messages come from the
`xds-protos` wheel (Envoy's API generated for Python), parsed by protobuf's own
JSON parser: the same proto3 JSON rules Envoy applies to a file, so what was
valid on disk is valid on the stream.

Every `@type` a resource names must be in protobuf's descriptor pool before it
is parsed; the generated module of a message is found from its package (one
directory of `*_pb2` modules per proto package), imported the first time the
type is seen.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from typing import Any

from google.protobuf import any_pb2, descriptor_pool, json_format

T_LISTENER = "type.googleapis.com/envoy.config.listener.v3.Listener"
T_CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
T_ROUTE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
T_SECRET = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"

# The short names Envoy's docs and `istioctl proxy-status` use.
SHORT = {T_CLUSTER: "CDS", T_LISTENER: "LDS", T_ROUTE: "RDS", T_SECRET: "SDS"}
BY_SHORT = {v: k for k, v in SHORT.items()}

_CACHE_MAX = 20_000


class ResourceError(ValueError):
    """A resource protobuf cannot parse (an unknown field, a bad value)."""


_loaded_packages: set[str] = set()


def _load(type_name: str) -> None:
    """Import the generated modules of `type_name`'s proto package, once."""
    pool = descriptor_pool.Default()
    try:
        pool.FindMessageTypeByName(type_name)
        return
    except KeyError:
        pass
    package = type_name.rsplit(".", 1)[0]
    if package in _loaded_packages:
        return
    _loaded_packages.add(package)
    try:
        module = importlib.import_module(package)
    except ImportError:
        return  # json_format then names the type it cannot find
    for info in pkgutil.iter_modules(getattr(module, "__path__", [])):
        if info.name.endswith("_pb2"):
            importlib.import_module(f"{package}.{info.name}")


def _types_in(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        t = node.get("@type")
        if isinstance(t, str):
            found.add(t.rsplit("/", 1)[-1])
        for value in node.values():
            _types_in(value, found)
    elif isinstance(node, list):
        for value in node:
            _types_in(value, found)


class Converter:
    """Dict → packed `Any`, cached by content: one mesh sends the same outbound
    clusters to every sidecar, so each distinct resource is parsed once."""

    def __init__(self) -> None:
        self._cache: dict[str, any_pb2.Any] = {}

    def to_any(self, type_url: str, resource: dict[str, Any], text: str = "") -> any_pb2.Any:
        """`resource` packed as `type_url`; `text`: its compact JSON if the
        caller has it (meshsim.control.encode), the cache's key."""
        body = {**resource, "@type": type_url}
        key = f"{type_url} {text or json.dumps(resource, separators=(',', ':'))}"
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        types: set[str] = set()
        _types_in(body, types)
        for name in types:
            _load(name)
        msg = any_pb2.Any()
        try:
            json_format.ParseDict(body, msg)
        except json_format.ParseError as exc:
            name = resource.get("name", "?")
            raise ResourceError(f"{SHORT.get(type_url, type_url)} {name}: {exc}") from exc
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[key] = msg
        return msg


def readable(msg: Any) -> dict[str, Any]:
    """A protobuf message as Envoy's JSON (proto field names), for logs and `xds watch`."""
    out: dict[str, Any] = json_format.MessageToDict(msg, preserving_proto_field_name=True)
    return out
