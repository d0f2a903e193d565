"""What a chaos action did, seen from outside the instance.

A runtime call that returns is no proof: a `pause` that froze nothing, or a
`restart` that left the old process, would still return. After each action
the runner probes the app's port the way a caller would and records what it
saw: a killed app refuses, a paused one stops answering within the probe's
timeout, a resumed one answers again, a restarted one answers as a new
process (new pid, or a new container start time).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

# A probe's answer "refused" under this header: the app's port did not accept
# the connection. On Docker the probe port is the sidecar's static listener
# (meshsim.runtime.probe), which marks it so; defined here, the lower layer,
# since chaos reads it and the runtime writes it.
REFUSED_HEADER = "x-meshsim-probe"

# What each verb must leave behind, as seen by a caller of the app's port.
EXPECTED = {
    "kill": "refused",
    "pause": "unresponsive",
    "resume": "answering",
    "restart": "answering",
}
# How long one probe waits for an answer: a healthy app answers /healthz in
# milliseconds, so silence this long means the app is not serving.
PROBE_TIMEOUT_S = 0.5
# How long an action may take to show: a killed container dies after the call
# returns, a restarted app needs its start time (Python imports) before it binds.
DEADLINE_S = {"kill": 5.0, "pause": 3.0, "resume": 5.0, "restart": 20.0}


@dataclass
class Observation:
    """One instance after an action: what a caller of its app sees."""

    instance: str
    state: str  # answering | unresponsive | refused
    identity: str | None  # the app's pid, or its container's start time
    identity_before: str | None
    after_s: float  # from the runtime call's return to this observation
    expected: str

    @property
    def effective(self) -> bool:
        if self.state != self.expected:
            return False
        # A restart that left the same process running did not restart it.
        return not (self.identity_before is not None and self.identity == self.identity_before)

    def to_dict(self) -> dict[str, Any]:
        return {
            "instance": self.instance,
            "state": self.state,
            "identity": self.identity,
            "after_s": round(self.after_s, 3),
            "effective": self.effective,
        }


async def probe(session: aiohttp.ClientSession, host: str, port: int, timeout: float) -> str:
    """What a caller of the app sees: `answering` (any HTTP answer),
    `unresponsive` (no answer within `timeout`: a frozen process still has
    its socket, so the kernel accepts the connection), or `refused` (no
    listener, or the connection closed without an answer)."""
    try:
        async with session.get(
            f"http://{host}:{port}/healthz", timeout=aiohttp.ClientTimeout(total=timeout)
        ) as resp:
            await resp.read()
            # On Docker the probe port is the sidecar's (meshsim.runtime.probe),
            # which marks its own answer for an app that refused the connection.
            return "refused" if resp.headers.get(REFUSED_HEADER) == "refused" else "answering"
    except TimeoutError:
        return "unresponsive"
    except aiohttp.ClientError:
        return "refused"


async def observe(
    session: aiohttp.ClientSession,
    verb: str,
    instance: str,
    address: tuple[str, int],
    identity: Any,
    identity_before: str | None,
) -> Observation:
    """Probe until the verb's effect shows or its deadline passes; the last
    probe is what is recorded. `identity` is an async callable giving the
    app's current pid or container start time."""
    expected = EXPECTED[verb]
    start = time.monotonic()
    deadline = start + DEADLINE_S[verb]
    while True:
        state = await probe(session, *address, PROBE_TIMEOUT_S)
        now_id = await identity()
        seen = Observation(
            instance, state, now_id, identity_before, time.monotonic() - start, expected
        )
        if seen.effective or time.monotonic() >= deadline:
            return seen
        await asyncio.sleep(0.05)


def describe(verb: str, seen: Observation) -> str:
    """Why an action counts as not done, for the run's warnings."""
    if seen.state == seen.expected:
        return (
            f"{verb} {seen.instance}: the app still runs as before "
            f"({seen.identity}) {seen.after_s:.1f} s after the call"
        )
    return (
        f"{verb} {seen.instance}: the app is {seen.state} {seen.after_s:.1f} s after "
        f"the call (expected {seen.expected}); the action did not take effect"
    )
