"""user-service: the usual shape of a Python microservice behind a mesh.

A FastAPI app run by uvicorn. It answers GET /users/{id} by calling a second
service, `accounts`, with httpx at http://accounts/... The app knows nothing
about the mesh: httpx sends that call to HTTP_PROXY (the instance's sidecar),
which routes it by its Host, `accounts`. It forwards the trace headers of the
request it serves, so the sidecars' spans join into one trace.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, HTTPException, Request

ACCOUNTS = os.environ.get("ACCOUNTS_URL", "http://accounts")
# Headers a mesh needs forwarded to join a request's spans into one trace.
TRACE_HEADERS = (
    "x-request-id",
    "traceparent",
    "tracestate",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
    "b3",
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # trust_env (the default) makes httpx honour HTTP_PROXY and NO_PROXY.
    async with httpx.AsyncClient(timeout=10.0) as client:
        app.state.http = client
        yield


app = FastAPI(title="user-service", lifespan=lifespan)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/users/{user_id}")
async def get_user(user_id: int, request: Request) -> dict[str, object]:
    if not 1 <= user_id <= 1000:
        raise HTTPException(status_code=404, detail="no such user")
    forward = {k: v for k, v in request.headers.items() if k.lower() in TRACE_HEADERS}
    client: httpx.AsyncClient = request.app.state.http
    try:
        r = await client.get(f"{ACCOUNTS}/accounts/{user_id}", headers=forward)
    except httpx.HTTPError as exc:
        raise HTTPException(status_code=502, detail=f"accounts: {type(exc).__name__}") from exc
    if r.status_code != 200:
        # A dependency failed (a fault's 503, an overflow, ...): 502, as most
        # services answer. Not 503: the ingress gateway would retry it (Istio's
        # default retry policy) and hide the failure from the caller.
        raise HTTPException(status_code=502, detail=f"accounts: HTTP {r.status_code}")
    return {"id": user_id, "name": f"user-{user_id}", "account": r.json()}
