"""Shared plumbing for the sample shop: app factory, common headers, trace propagation, main().

Every service is a plain aiohttp app configured only by environment variables, the
way a Kubernetes pod is:

- ``PORT``: listen port (default 8080)
- ``HOST``: listen address (default ``127.0.0.1``)
- ``SERVICE_VERSION``: e.g. ``v2`` (default ``v1``)
- ``INSTANCE_NAME``: e.g. ``product-v2-0`` (default ``<service>-<version>-0``)

Every response carries ``x-served-by: <INSTANCE_NAME>`` and ``x-version: <SERVICE_VERSION>``.
Outbound calls go to ``http://<service>/...`` through one ``ClientSession(trust_env=True)``
per app, so the standard ``HTTP_PROXY`` variable (the instance's sidecar) carries them.
Nothing here knows about the mesh.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
from aiohttp import web

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
    """The trace headers of ``request`` to copy onto every outbound call made for it.

    >>> await session.get("http://product/products/3", headers=propagation_headers(request))
    """
    headers: dict[str, str] = {}
    for name in TRACE_HEADERS:
        values = request.headers.getall(name, ())
        if values:
            headers[name] = ",".join(values)
    return headers


def client(request: web.Request) -> aiohttp.ClientSession:
    """The app's outbound session (only for apps created with ``outbound=True``)."""
    return request.app[CLIENT_KEY]


async def _client_session(app: web.Application) -> AsyncIterator[None]:
    # trust_env: HTTP_PROXY (the sidecar) carries every call; one session keeps
    # connections to the sidecar alive between requests.
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=CLIENT_CONNECTION_LIMIT),
        timeout=CLIENT_TIMEOUT,
        trust_env=True,
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
