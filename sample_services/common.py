"""Shared plumbing for the sample shop: app factory, common headers, trace propagation, main().

Every service is a plain aiohttp app configured only by environment variables, the
way a Kubernetes pod is:

- ``PORT``: listen port (default 8080)
- ``HOST``: listen address (default ``127.0.0.1``)
- ``SERVICE_VERSION``: e.g. ``v2`` (default ``v1``)
- ``INSTANCE_NAME``: e.g. ``product-v2-0`` (default ``<service>-<version>-0``)

Every response carries ``x-served-by: <INSTANCE_NAME>`` and ``x-version: <SERVICE_VERSION>``.
Outbound calls go to ``http://<service>/...`` through one ``ClientSession`` per app, so the
standard ``HTTP_PROXY`` variable (the instance's sidecar) carries them (see proxy_options).
Nothing here knows about the mesh.

An app calling another on behalf of a request copies some of that request's headers onto
the call (``propagation_headers``): the trace headers, so Envoy's spans join into one trace,
and ``end-user``, as Bookinfo's productpage does. The mesh never does it for them: a sidecar
sees the inbound request and the app's outbound call as unrelated, and Istio routes a call
only on the headers it carries itself. A VirtualService that sends ``end-user: jason`` to
product v2 works on order's call to product only because order forwards ``end-user``.

Without a mesh, ``SERVICE_ADDRESSES`` (optional) is the apps' name service: a static
table like ``/etc/hosts`` but with ports, ``user=127.0.0.1:8081,product=127.0.0.1:8082;
127.0.0.1:8083``, so that ``http://product/...`` connects straight to those addresses.
``meshsim bench`` uses it for the no-sidecar wiring it compares the mesh with.
"""

from __future__ import annotations

import inspect
import logging
import os
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

SERVED_BY_HEADER: Final = "x-served-by"
VERSION_HEADER: Final = "x-version"

# The headers Istio asks applications to forward so that Envoy's spans join into one trace.
TRACE_HEADERS: Final = (
    "x-request-id",
    "traceparent",
    "tracestate",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
    "b3",
    "x-ot-span-context",
)
# Request headers forwarded for routing: who the shopper is (Bookinfo's ``end-user``), so a
# VirtualService ``match`` on it holds on every hop, not only at the ingress.
ROUTING_HEADERS: Final = ("end-user",)

# Generous compared with any mesh timeout a scenario sets, so that the mesh, not the app,
# decides when a slow call gives up.
CLIENT_TIMEOUT: Final = aiohttp.ClientTimeout(total=10, sock_connect=3)
# aiohttp's default of 100 pooled connections would queue requests inside the app under
# heavy load, and that wait would be blamed on the mesh.
CLIENT_CONNECTION_LIMIT: Final = 512
# Grace period for in-flight requests after SIGTERM; small so that a mesh tears down fast.
SHUTDOWN_TIMEOUT_S: Final = 3.0

log = logging.getLogger("sample_services")


@dataclass(frozen=True)
class Instance:
    """Who this process is: the service, its version and the instance name."""

    service: str
    version: str
    name: str

    @classmethod
    def from_env(
        cls,
        service: str,
        *,
        version: str | None = None,
        name: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Instance:
        """Explicit arguments win over ``SERVICE_VERSION`` / ``INSTANCE_NAME``."""
        env = os.environ if environ is None else environ
        version = version or env.get("SERVICE_VERSION") or "v1"
        name = name or env.get("INSTANCE_NAME") or f"{service}-{version}-0"
        return cls(service=service, version=version, name=name)


INSTANCE_KEY: Final = web.AppKey("instance", Instance)
CLIENT_KEY: Final = web.AppKey("client", aiohttp.ClientSession)


def json_error(status: int, error: str, **fields: Any) -> web.Response:
    """A JSON error body: ``{"error": <code>, "status": <status>, ...fields}``."""
    return web.json_response({"error": error, "status": status, **fields}, status=status)


def _error_code(reason: str) -> str:
    return reason.lower().replace(" ", "_")


@web.middleware
async def instance_headers_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Stamp ``x-served-by`` and ``x-version`` on every response, errors included.

    aiohttp's own errors (404 for an unknown path, 405, an unexpected exception) become
    JSON so that a client always gets the same shape.
    """
    instance = request.app[INSTANCE_KEY]
    response: web.StreamResponse
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            exc.headers[SERVED_BY_HEADER] = instance.name
            exc.headers[VERSION_HEADER] = instance.version
            raise
        response = json_error(exc.status, _error_code(exc.reason))
        for name, value in exc.headers.items():
            if name.lower() not in ("content-type", "content-length"):
                response.headers.add(name, value)
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        response = json_error(500, "internal_server_error")
    response.headers[SERVED_BY_HEADER] = instance.name
    response.headers[VERSION_HEADER] = instance.version
    return response


def propagation_headers(request: web.Request) -> dict[str, str]:
    """The trace and routing headers of ``request`` to copy onto every outbound call
    made for it (``TRACE_HEADERS``, ``ROUTING_HEADERS``); other headers stay on this hop.

    >>> await session.get("http://product/products/3", headers=propagation_headers(request))
    """
    headers: dict[str, str] = {}
    for name in (*TRACE_HEADERS, *ROUTING_HEADERS):
        values = request.headers.getall(name, ())
        if values:
            headers[name] = ",".join(values)
    return headers


def client(request: web.Request) -> aiohttp.ClientSession:
    """The app's outbound session (only for apps created with ``outbound=True``)."""
    return request.app[CLIENT_KEY]


SERVICE_ADDRESSES_ENV: Final = "SERVICE_ADDRESSES"


def parse_service_addresses(text: str) -> dict[str, list[tuple[str, int]]]:
    """``SERVICE_ADDRESSES`` as service → addresses.

    >>> parse_service_addresses("user=127.0.0.1:8081,product=127.0.0.1:8082;127.0.0.1:8083")
    {'user': [('127.0.0.1', 8081)], 'product': [('127.0.0.1', 8082), ('127.0.0.1', 8083)]}
    """
    table: dict[str, list[tuple[str, int]]] = {}
    for entry in filter(None, (e.strip() for e in text.split(","))):
        name, _, addresses = entry.partition("=")
        for address in filter(None, (a.strip() for a in addresses.split(";"))):
            host, _, port = address.rpartition(":")
            if not name or not host or not port.isdigit():
                raise SystemExit(f"{SERVICE_ADDRESSES_ENV}: cannot read {entry!r}")
            table.setdefault(name.strip(), []).append((host, int(port)))
    return table


class StaticResolver(AbstractResolver):
    """Resolves service names from a fixed table; any other name as usual."""

    def __init__(self, table: Mapping[str, list[tuple[str, int]]]) -> None:
        self._table = table
        self._fallback = aiohttp.DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = self._table.get(host)
        if found is None:
            return await self._fallback.resolve(host, port, family)
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=address_port,
                family=socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address, address_port in found
        ]

    async def close(self) -> None:
        await self._fallback.close()


def _connector(environ: Mapping[str, str]) -> aiohttp.TCPConnector:
    table = environ.get(SERVICE_ADDRESSES_ENV)
    if table:
        return aiohttp.TCPConnector(
            limit=CLIENT_CONNECTION_LIMIT, resolver=StaticResolver(parse_service_addresses(table))
        )
    return aiohttp.TCPConnector(limit=CLIENT_CONNECTION_LIMIT)


def proxy_options(environ: Mapping[str, str]) -> dict[str, Any]:
    """How the session finds the sidecar: the standard proxy variables, read once.

    aiohttp's ``trust_env=True`` reads the environment (and ``~/.netrc``) again for every
    request, ~0.2 ms of CPU per call, a fifth of what ``order`` spends on an order; curl and
    Go's net/http read them once per process. With ``NO_PROXY`` set, aiohttp's own
    per-request lookup stays: only it applies the exceptions.

    >>> proxy_options({"HTTP_PROXY": "http://127.0.0.1:15001"})
    {'trust_env': False, 'proxy': 'http://127.0.0.1:15001'}
    >>> proxy_options({"HTTP_PROXY": "http://127.0.0.1:15001", "NO_PROXY": "localhost"})
    {'trust_env': True}
    >>> proxy_options({})
    {'trust_env': False}
    """
    lower = {k.lower() for k in environ}
    proxy = environ.get("http_proxy") or environ.get("HTTP_PROXY")
    if "no_proxy" in lower or (proxy and not _SESSION_TAKES_PROXY):
        return {"trust_env": True}
    return {"trust_env": False, "proxy": proxy} if proxy else {"trust_env": False}


# aiohttp >= 3.10: a session-wide proxy
_SESSION_TAKES_PROXY: Final = "proxy" in inspect.signature(aiohttp.ClientSession).parameters


async def _client_session(app: web.Application) -> AsyncIterator[None]:
    # HTTP_PROXY (the sidecar) carries every call; one session keeps connections to
    # the sidecar alive between requests.
    session = aiohttp.ClientSession(
        connector=_connector(os.environ),
        timeout=CLIENT_TIMEOUT,
        **proxy_options(os.environ),
    )
    app[CLIENT_KEY] = session
    yield
    await session.close()


def create_service_app(
    service: str,
    routes: Iterable[web.AbstractRouteDef],
    *,
    describe: Mapping[str, Any] | None = None,
    version: str | None = None,
    instance_name: str | None = None,
    outbound: bool = False,
) -> web.Application:
    """Build a service app with ``/healthz``, ``/`` and the common headers.

    ``version`` and ``instance_name`` default to ``SERVICE_VERSION`` and ``INSTANCE_NAME``;
    ``outbound=True`` gives the app a client session (see :func:`client`).
    """
    instance = Instance.from_env(service, version=version, name=instance_name)
    app = web.Application(middlewares=[instance_headers_middleware])
    app[INSTANCE_KEY] = instance
    if outbound:
        app.cleanup_ctx.append(_client_session)

    description = {
        "service": instance.service,
        "version": instance.version,
        "instance": instance.name,
        **(describe or {}),
    }

    async def index(request: web.Request) -> web.Response:
        return web.json_response(description)

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app.router.add_get("/", index)
    app.router.add_get("/healthz", healthz)
    app.router.add_routes(routes)
    return app


def _listen_address(environ: Mapping[str, str]) -> tuple[str, int]:
    host = environ.get("HOST") or "127.0.0.1"
    raw_port = environ.get("PORT") or "8080"
    try:
        port = int(raw_port)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise SystemExit(f"PORT must be a port number (0-65535), got {raw_port!r}")
    return host, port


def main(create_app: Callable[[], web.Application]) -> None:
    """Run a service from the environment until SIGINT/SIGTERM (used by ``python -m``)."""
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    host, port = _listen_address(os.environ)
    app = create_app()
    instance = app[INSTANCE_KEY]

    def announce(*_: Any) -> None:
        # run_app calls this once the socket is bound: the instance is ready.
        log.info(
            "%s (%s %s) listening on %s:%d",
            instance.name,
            instance.service,
            instance.version,
            host,
            port,
        )

    web.run_app(
        app,
        host=host,
        port=port,
        access_log=None,
        print=announce,
        shutdown_timeout=SHUTDOWN_TIMEOUT_S,
    )
