"""The scenario model: what a scenario file may say, with real types.

Every model forbids unknown keys, so a typo is an error where it is read.
Durations are given as "15s", "1m30s", "500ms" or a number of seconds and are
held as float seconds.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: object) -> float:
    """Turn "1m30s", "500ms", "15s" or a plain number of seconds into seconds.

    >>> parse_duration("1m30s")
    90.0
    """
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 15s, 500ms or 1m30s")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        pos, seconds = 0, 0.0
        for m in _DURATION_PART.finditer(text):
            if m.start() != pos:
                break
            seconds += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
            pos = m.end()
        if pos != len(text) or not text:
            raise ValueError(f"{value!r} is not a duration; expected e.g. 15s, 500ms or 1m30s")
    else:
        raise ValueError("expected a duration such as 15s, 500ms or 1m30s")
    if seconds <= 0:
        raise ValueError("a duration must be greater than zero")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VersionSpec(_Strict):
    replicas: int = Field(1, ge=1, le=50, description="Instances of this version (1-50).")


class ServiceSpec(_Strict):
    versions: dict[str, VersionSpec] = Field(
        default_factory=lambda: {"v1": VersionSpec()},
        description="Versions of the service and their replicas, e.g. {v1: {replicas: 2}}.",
    )


class MeshSpec(_Strict):
    services: dict[str, ServiceSpec] = Field(
        default_factory=dict,
        description="Services of the shop to run; a shop service left out runs one v1 instance.",
    )
    ingress_port: int | None = Field(
        None, ge=1, le=65535, description="Local port of the ingress gateway (default 8080)."
    )


Journey = Literal["browse", "view_product", "view_user", "place_order"]


class LoadSpec(_Strict):
    users: int = Field(10, ge=0, le=1000, description="Concurrent simulated shoppers.")
    spawn_rate: float = Field(10.0, gt=0, description="Shoppers started per second.")
    journeys: dict[Journey, float] = Field(
        default_factory=lambda: {"browse": 3, "view_product": 3, "view_user": 1, "place_order": 2},
        description="Relative weights of the shopper journeys.",
    )

    @model_validator(mode="after")
    def _weights(self) -> LoadSpec:
        if any(w < 0 for w in self.journeys.values()):
            raise ValueError("journey weights must not be negative")
        if self.users and not any(w > 0 for w in self.journeys.values()):
            raise ValueError("at least one journey needs a weight above zero")
        return self


class Action(_Strict):
    """Chaos on instances. Exactly one verb; the target is `service`,
    `service:version` or an instance name such as `product-v2-0`."""

    kill: str | None = None
    pause: str | None = None
    resume: str | None = None
    restart: str | None = None
    at: Duration | None = Field(None, description="Offset into the phase (default: its start).")

    @model_validator(mode="after")
    def _one_verb(self) -> Action:
        verbs = [v for v in ("kill", "pause", "resume", "restart") if getattr(self, v)]
        if len(verbs) != 1:
            raise ValueError("an action needs exactly one of kill, pause, resume, restart")
        return self

    @property
    def verb(self) -> str:
        for v in ("kill", "pause", "resume", "restart"):
            if getattr(self, v):
                return v
        raise AssertionError("validated")

    @property
    def target(self) -> str:
        value = getattr(self, self.verb)
        assert isinstance(value, str)
        return value


class Phase(_Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    duration: Duration
    description: str | None = None
    apply: list[dict[str, Any]] = Field(
        default_factory=list, description="Istio resources, verbatim; in force until removed."
    )
    remove: list[str] = Field(
        default_factory=list, description='"Kind/name" of resources to withdraw.'
    )
    actions: list[Action] = Field(default_factory=list)
    expect: list[str] = Field(
        default_factory=list, description='Assertions such as "p99 < 300ms".'
    )


class Scenario(_Strict):
    name: str = Field(min_length=1)
    description: str | None = None
    mesh: MeshSpec = Field(default_factory=MeshSpec)
    load: LoadSpec = Field(default_factory=LoadSpec)
    phases: list[Phase] = Field(min_length=1)
