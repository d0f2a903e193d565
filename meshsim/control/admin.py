"""A small client for Envoy's admin API: readiness, stats, config dumps."""

from __future__ import annotations

import json
from typing import Any

import aiohttp


class EnvoyAdmin:
    """Talks to one Envoy's admin port on loopback."""

    def __init__(self, session: aiohttp.ClientSession, port: int, host: str = "127.0.0.1") -> None:
        self.session = session
        self.base = f"http://{host}:{port}"

    async def _get(self, path: str, timeout: float = 2.0) -> str:
        async with self.session.get(
            self.base + path, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as resp:
            return await resp.text()

    async def ready(self) -> bool:
        try:
            return (await self._get("/ready", 1.0)).strip() == "LIVE"
        except (TimeoutError, aiohttp.ClientError, OSError):
            return False

    async def reopen_logs(self) -> bool:
        """POST /reopen_logs: Envoy reopens its access log files (after they
        were renamed, `meshsim.telemetry.logrotate`); False if it did not answer."""
        try:
            async with self.session.post(
                self.base + "/reopen_logs", timeout=aiohttp.ClientTimeout(total=2.0)
            ) as resp:
                return resp.status == 200
        except (TimeoutError, aiohttp.ClientError, OSError):
            return False

    async def stats(self, regex: str) -> dict[str, int]:
        """Counters and gauges whose name matches `regex`, as name → value."""
        text = await self._get(f"/stats?format=json&filter={regex}")
        out: dict[str, int] = {}
        for item in json.loads(text).get("stats", []):
            if "value" in item:
                out[item["name"]] = int(item["value"])
        return out

    async def prometheus(self) -> str:
        return await self._get("/stats/prometheus", 5.0)

    async def config_dump(self, resource: str | None = None) -> dict[str, Any]:
        path = "/config_dump" + (f"?resource={resource}" if resource else "")
        result: dict[str, Any] = json.loads(await self._get(path, 5.0))
        return result
