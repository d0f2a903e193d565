"""frontend: a FastAPI app that calls user-service by its Kubernetes Service
name (http://user-service, port 80) with httpx, forwarding the trace headers
Istio asks apps to forward. Plain HTTP: the sidecar adds mTLS."""

import os

import httpx
from fastapi import FastAPI, Request, Response

app = FastAPI(title="frontend")
USERS = os.environ.get("USER_SERVICE_URL", "http://user-service")
TRACE = (
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
client = httpx.AsyncClient(timeout=5.0)  # trust_env: HTTP_PROXY is the sidecar


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/users/{user_id}")
async def user_page(user_id: int, request: Request, response: Response) -> dict[str, object]:
    headers = {h: request.headers[h] for h in TRACE if h in request.headers}
    answer = await client.get(f"{USERS}/users/{user_id}", headers=headers)
    if answer.status_code != 200:
        # 502, not the peer's 503: Istio's default retries would hide it otherwise
        response.status_code = 502
        return {"error": f"user-service answered {answer.status_code}"}
    return {"user": answer.json(), "page": "profile"}
