"""The Aggregated Discovery Service: every Envoy's configuration over one gRPC stream.

Each proxy opens one ADS stream to the control plane (its bootstrap names no
other source) and asks for clusters (CDS) and listeners (LDS); the listeners
and clusters it gets name route configurations (RDS) and secrets (SDS), which
it then asks for on the same stream. This is how istiod serves Envoy.

**State of the world, not delta.** Each response of a type carries every
resource of that type the proxy subscribed to. A meshsim proxy holds a few
listeners, a few dozen clusters, two route configurations and two secrets: a
full set is a few kilobytes, so delta xDS would save nothing worth its extra
state (per-resource versions, subscription diffs) — and SotW is the protocol
Envoy's docs describe first and Istio serves by default.

The protocol as Envoy's xDS docs describe it (`xds_protocol`, "ACK/NACK and
versioning"):

- every response has a `version_info` (per proxy and type, bumped when that
  type's content changes) and a fresh `nonce`;
- Envoy answers each response with a request carrying that nonce: an **ACK**
  (`version_info` = the new version) or a **NACK** (`version_info` = the last
  good version, `error_detail` = why); a request whose nonce is not the latest
  sent for its type is stale and ignored;
- a request with no nonce opens a type on a new stream (start-up, or a
  reconnect after the control plane or Envoy restarted): it gets the current
  state, so a reconnect resyncs without a change of configuration;
- warming order is the caller's (`meshsim.control.push`): clusters, then
  routes, then listeners, each acknowledged before the next.

`AdsServer.events` receives every step as a dict (`meshsim xds watch`, the
report's NACK events); `sync()` is the per-proxy, per-type state `meshsim
status` shows (SYNCED / STALE / NACK).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from google.protobuf import any_pb2

from meshsim.control.encode import Encoded
from meshsim.control.xds_proto import SHORT, T_ROUTE, T_SECRET, Converter

# Types whose requests name the resources wanted; LDS and CDS are wildcards.
NAMED_TYPES = (T_ROUTE, T_SECRET)

XdsEvent = dict[str, Any]


@dataclass
class TypeSync:
    """One proxy's state for one type: what the control plane has, what it
    sent, what Envoy acknowledged or rejected."""

    version: int = 0  # the control plane's current version (0: nothing yet)
    sent: int = 0
    acked: int = 0
    nacked: int = 0  # the version Envoy rejected last (0: none since the last ACK)
    error: str = ""  # Envoy's error_detail.message for `nacked`
    acked_at: float = 0.0

    @property
    def status(self) -> str:
        if self.nacked and self.nacked == self.version:
            return "NACK"
        if self.version and self.acked == self.version:
            return "SYNCED"
        return "STALE"

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "version": str(self.version),
            "sent": str(self.sent),
            "acked": str(self.acked),
            "error": self.error if self.status == "NACK" else "",
        }


@dataclass
class _Stream:
    """One ADS stream (one connection of one Envoy)."""

    context: grpc.aio.ServicerContext[Any, Any]
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    latest: dict[str, tuple[str, int]] = field(default_factory=dict)  # type → (nonce, version)
    names: dict[str, list[str]] = field(default_factory=dict)  # subscribed names (named types)
    shown: dict[str, dict[str, bytes]] = field(default_factory=dict)  # last sent, for "changed"


@dataclass
class _Proxy:
    name: str
    resources: dict[str, dict[str, any_pb2.Any]] = field(default_factory=dict)
    bodies: dict[str, dict[str, str]] = field(default_factory=dict)  # type → name → JSON
    sync: dict[str, TypeSync] = field(default_factory=dict)
    stream: _Stream | None = None
    connects: int = 0

    def type_sync(self, type_url: str) -> TypeSync:
        return self.sync.setdefault(type_url, TypeSync())


def proxy_of_node(node_id: str) -> str:
    """The proxy name in a bootstrap's node id (`product-v1-0.default`)."""
    return node_id.rsplit(".", 1)[0] if node_id.endswith(".default") else node_id


class XdsRejected(Exception):
    """Envoy NACKed a push: which proxy, which type and resources, and why."""

    def __init__(self, proxy: str, type_url: str, version: int, names: list[str], message: str):
        self.proxy = proxy
        self.type_url = type_url
        self.version = version
        self.names = names
        self.message = message
        shown = ", ".join(names) or "(all)"
        super().__init__(
            f"{proxy} rejected {SHORT.get(type_url, type_url)} version {version} "
            f"({shown}): {message}"
        )


class AdsServer(ads_pb2_grpc.AggregatedDiscoveryServiceServicer):  # type: ignore[misc]
    """Serves ADS to the named proxies, on the running asyncio loop.

    Example::

        ads = AdsServer(["product-v1-0"])
        port = await ads.start("127.0.0.1")
        ads.set_resources("product-v1-0", T_CLUSTER, {"c1": {...}})
        await ads.send("product-v1-0", T_CLUSTER)  # if its Envoy is connected
        await ads.wait_acked([("product-v1-0", T_CLUSTER)], timeout=5)
        await ads.stop()
    """

    def __init__(self, proxies: list[str], secret: bytes | None = None) -> None:
        self.proxies = {p: _Proxy(p) for p in proxies}
        # With a secret, a stream must carry its proxy's token (`token()`) as
        # `authorization: Bearer ...` metadata: the server listens where every
        # container of the run reaches it (Docker), and SDS hands out keys.
        self.secret = secret
        self.convert = Converter()
        self.events: list[Callable[[XdsEvent], None]] = []
        self._nonce = itertools.count(1)
        self._progress = asyncio.Event()
        self._server: grpc.aio.Server | None = None
        self.host = ""
        self.port = 0

    # ----------------------------------------------------------- lifecycle

    async def start(self, host: str, port: int = 0) -> int:
        """Listen on `host` (a free port when `port` is 0); returns the port."""
        server = grpc.aio.server(
            options=[("grpc.so_reuseport", 0), ("grpc.max_send_message_length", 64 << 20)]
        )
        ads_pb2_grpc.add_AggregatedDiscoveryServiceServicer_to_server(self, server)
        bound = server.add_insecure_port(f"{host}:{port}")
        if bound == 0:
            raise OSError(f"cannot listen on {host}:{port}")
        await server.start()
        self._server, self.host, self.port = server, host, bound
        return bound

    async def stop(self, grace: float = 0.2) -> None:
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None
        for p in self.proxies.values():
            p.stream = None
        self._wake()

    async def restart(self) -> None:
        """Close every stream and listen again on the same port, as a control
        plane restart does; each Envoy reconnects and resyncs."""
        host, port = self.host, self.port
        await self.stop(grace=0)
        await self.start(host, port)

    def token(self, proxy: str) -> str:
        """The bearer token that lets a stream be `proxy`'s ("" without a secret)."""
        if self.secret is None:
            return ""
        return hmac.new(self.secret, proxy.encode(), hashlib.sha256).hexdigest()

    def _authorized(self, proxy: str, context: grpc.aio.ServicerContext[Any, Any]) -> bool:
        if self.secret is None:
            return True
        given = dict(context.invocation_metadata() or ()).get("authorization", "")
        return hmac.compare_digest(str(given), f"Bearer {self.token(proxy)}")

    # ------------------------------------------------------------ contents

    def set_resources(
        self,
        proxy: str,
        type_url: str,
        resources: dict[str, dict[str, Any]],
        encoded: Encoded | None = None,
    ) -> bool:
        """Make `resources` (name → Envoy JSON) the proxy's whole set of
        `type_url`; returns whether anything changed (then the version moves).
        `encoded`: the compile's JSON memo, so a resource shared by many
        proxies is encoded and packed once (meshsim.control.encode)."""
        p = self.proxies[proxy]
        # The compiler rebuilds every proxy's whole configuration on each push:
        # each resource's compact JSON tells an unchanged set without
        # converting it to protobuf.
        enc = encoded or Encoded()
        texts = {name: enc(r) for name, r in resources.items()}
        if p.bodies.get(type_url) == texts:
            return False
        p.bodies[type_url] = texts
        packed = {
            name: self.convert.to_any(type_url, r, texts[name]) for name, r in resources.items()
        }
        old = p.resources.get(type_url)
        if old is not None and _same(old, packed):
            return False
        p.resources[type_url] = packed
        p.type_sync(type_url).version += 1
        return True

    def version(self, proxy: str, type_url: str) -> int:
        return self.proxies[proxy].type_sync(type_url).version

    def sync(self) -> dict[str, dict[str, Any]]:
        """Per proxy: `connected`, and per type (CDS, LDS, RDS, SDS) its status,
        versions and Envoy's error."""
        out: dict[str, dict[str, Any]] = {}
        for name, p in self.proxies.items():
            row: dict[str, Any] = {"connected": p.stream is not None}
            row.update({SHORT[t]: s.to_dict() for t, s in sorted(p.sync.items()) if t in SHORT})
            out[name] = row
        return out

    def connected(self, proxy: str) -> bool:
        return self.proxies[proxy].stream is not None

    # ------------------------------------------------------------- sending

    async def send(self, proxy: str, type_url: str) -> bool:
        """Send the proxy's current `type_url` resources on its stream; False
        when it has no stream or has not asked for this type yet."""
        p = self.proxies[proxy]
        s = p.stream
        if s is None or type_url not in s.latest and type_url not in s.names:
            return False
        return await self._respond(p, s, type_url)

    async def _respond(self, p: _Proxy, s: _Stream, type_url: str) -> bool:
        # One response at a time per stream, from choosing its nonce to writing
        # it: two in flight could reach Envoy in the other order, leaving it on
        # the older version while the newer nonce counts as acknowledged.
        async with s.lock:
            return await self._respond_locked(p, s, type_url)

    async def _respond_locked(self, p: _Proxy, s: _Stream, type_url: str) -> bool:
        have = p.resources.get(type_url)
        if have is None:
            return False  # nothing compiled for this type yet: Envoy waits (warming)
        if type_url in NAMED_TYPES:
            wanted = s.names.get(type_url, [])
            have = {n: have[n] for n in wanted if n in have}
            if not have:
                return False
        sync = p.type_sync(type_url)
        nonce = str(next(self._nonce))
        response = discovery_pb2.DiscoveryResponse(
            version_info=str(sync.version),
            resources=list(have.values()),
            type_url=type_url,
            nonce=nonce,
        )
        before = s.shown.get(type_url, {})
        now = {n: a.value for n, a in have.items()}
        s.latest[type_url] = (nonce, sync.version)
        s.shown[type_url] = now
        sync.sent = sync.version
        # recorded before the write: Envoy's ACK may arrive before write() returns
        self._emit(
            p.name,
            "response",
            type_url,
            version=sync.version,
            nonce=nonce,
            resources=sorted(now),
            changed=sorted(n for n in now if before.get(n) != now[n]),
            removed=sorted(set(before) - set(now)),
        )
        try:
            await s.context.write(response)
        except (grpc.aio.AioRpcError, RuntimeError, asyncio.InvalidStateError):
            return False  # the stream ended meanwhile; its reconnect resyncs
        return True

    async def wait_acked(self, pending: list[tuple[str, str]], timeout: float) -> None:
        """Until each (proxy, type) has ACKed its current version. Raises
        XdsRejected on a NACK, TimeoutError after `timeout`; a proxy with no
        stream is not waited for (it gets the current state when it connects)."""
        deadline = time.monotonic() + timeout
        waiting = list(pending)
        while True:
            still = []
            for proxy, type_url in waiting:
                p = self.proxies[proxy]
                sync = p.type_sync(type_url)
                if sync.nacked and sync.nacked == sync.version:
                    names = sorted(p.resources.get(type_url, {}))
                    raise XdsRejected(proxy, type_url, sync.nacked, names, sync.error)
                if p.stream is not None and sync.acked < sync.version and sync.sent:
                    still.append((proxy, type_url))
            waiting = still
            if not waiting:
                return
            left = deadline - time.monotonic()
            if left <= 0:
                shown = ", ".join(f"{p} ({SHORT.get(t, t)})" for p, t in waiting)
                raise TimeoutError(f"no ACK within {timeout:.0f}s from {shown}")
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), left)

    def _wake(self) -> None:
        self._progress.set()

    def _emit(self, proxy: str, kind: str, type_url: str = "", **fields: Any) -> None:
        event: XdsEvent = {"t": round(time.time(), 4), "proxy": proxy, "kind": kind}
        if type_url:
            event["type"] = SHORT.get(type_url, type_url)
        event.update(fields)
        for listener in list(self.events):
            listener(event)

    # ------------------------------------------------------------- the RPC

    async def StreamAggregatedResources(  # noqa: N802 - the generated servicer's name
        self,
        request_iterator: AsyncIterator[discovery_pb2.DiscoveryRequest],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> None:
        stream = _Stream(context)
        proxy: _Proxy | None = None
        try:
            async for request in request_iterator:
                if proxy is None:
                    name = proxy_of_node(request.node.id)
                    proxy = self.proxies.get(name)
                    if proxy is None:
                        await context.abort(
                            grpc.StatusCode.NOT_FOUND, f"no proxy named {name!r} in this mesh"
                        )
                        return
                    if not self._authorized(name, context):
                        self._emit(name, "denied")
                        await context.abort(
                            grpc.StatusCode.PERMISSION_DENIED,
                            f"wrong or missing token for proxy {name!r}",
                        )
                        return
                    proxy.stream = stream
                    proxy.connects += 1
                    self._emit(proxy.name, "connect", n=proxy.connects)
                await self._on_request(proxy, stream, request)
        finally:
            if proxy is not None and proxy.stream is stream:
                proxy.stream = None
                self._emit(proxy.name, "disconnect")
                self._wake()

    async def _on_request(
        self, p: _Proxy, s: _Stream, request: discovery_pb2.DiscoveryRequest
    ) -> None:
        type_url = request.type_url
        if type_url not in SHORT:
            return  # a type meshsim does not serve (no EDS: clusters are STATIC)
        names = list(request.resource_names)
        nonce = request.response_nonce
        if not nonce:  # this type opens on this stream: the current state
            s.names[type_url] = names
            self._emit(p.name, "request", type_url, version=request.version_info, resources=names)
            await self._respond(p, s, type_url)
            return
        latest = s.latest.get(type_url)
        if latest is None or latest[0] != nonce:
            self._emit(p.name, "stale", type_url, nonce=nonce)
            return
        version = latest[1]
        sync = p.type_sync(type_url)
        if request.HasField("error_detail"):
            sync.nacked, sync.error = version, request.error_detail.message
            self._emit(p.name, "nack", type_url, version=version, nonce=nonce, error=sync.error)
        else:
            sync.acked, sync.acked_at = version, time.monotonic()
            if sync.nacked <= version:
                sync.nacked, sync.error = 0, ""
            self._emit(p.name, "ack", type_url, version=version, nonce=nonce)
        self._wake()
        renamed = type_url in NAMED_TYPES and names != s.names.get(type_url)
        if renamed:
            s.names[type_url] = names
            self._emit(p.name, "request", type_url, version=request.version_info, resources=names)
        if renamed or sync.version > version:
            await self._respond(p, s, type_url)


def _same(a: dict[str, any_pb2.Any], b: dict[str, any_pb2.Any]) -> bool:
    return a.keys() == b.keys() and all(a[k].value == b[k].value for k in a)
