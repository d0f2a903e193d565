"""What every Istio resource model shares: the base model, metadata, API versions.

The bottom of the Istio models: `meshsim.scenario.istio` (networking kinds,
parsing and checks of every kind) and `meshsim.scenario.istio_security` build
on it, so neither imports the other's module to get at a base class.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from meshsim.scenario.istio_names import NamespaceName, ResourceName
from meshsim.scenario.model import parse_duration

NETWORKING = (
    "networking.istio.io/v1",
    "networking.istio.io/v1beta1",
    "networking.istio.io/v1alpha3",
)
SECURITY = ("security.istio.io/v1", "security.istio.io/v1beta1")


def _duration(value: str | None) -> str | None:
    if value is not None:
        parse_duration(value)
    return value


class _Istio(BaseModel):
    # allow_inf_nan: YAML's `.inf` and `.nan` are numbers, and no Istio field means them.
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )


class Metadata(BaseModel):
    # Kubernetes metadata: labels/annotations are accepted and not interpreted.
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: ResourceName
    namespace: NamespaceName = "default"
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class Resource(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    apiVersion: str
    kind: str
    metadata: Metadata
    spec: Any

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.metadata.name}"
