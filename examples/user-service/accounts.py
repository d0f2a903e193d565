"""accounts: the service user-service calls. Two versions differ only by their
environment (ACCOUNTS_VERSION, PLAN), as a canary usually does."""

from __future__ import annotations

import os

from fastapi import FastAPI

VERSION = os.environ.get("ACCOUNTS_VERSION", "v1")
PLAN = os.environ.get("PLAN", "basic")

app = FastAPI(title="accounts")


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/accounts/{account_id}")
async def get_account(account_id: int) -> dict[str, object]:
    return {"id": account_id, "plan": PLAN, "version": VERSION}
