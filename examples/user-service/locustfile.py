"""The team's own Locust file: meshsim runs it unedited against the ingress
gateway (its --host) and records every request through its own plugin."""

from __future__ import annotations

import random

from locust import FastHttpUser, between, task


class Visitor(FastHttpUser):
    wait_time = between(0.05, 0.15)

    @task(4)
    def user(self) -> None:
        # One name for every id, so the report has one endpoint: GET /users/{id}
        self.client.get(f"/users/{random.randint(1, 1000)}", name="/users/{id}")

    @task(1)
    def health(self) -> None:
        self.client.get("/healthz")
