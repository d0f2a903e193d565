"""user-service: a FastAPI app as a team writes it for Kubernetes. It knows
nothing of meshsim: it listens on the container port its Deployment names
(8000) and says which version answered (VERSION, from the Deployment's env)."""

import os

from fastapi import FastAPI

app = FastAPI(title="user-service")
VERSION = os.environ.get("VERSION", "v1")


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/users/{user_id}")
def get_user(user_id: int) -> dict[str, object]:
    return {"id": user_id, "name": f"user-{user_id}", "version": VERSION}
