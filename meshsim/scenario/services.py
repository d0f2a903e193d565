"""The services of a scenario's mesh: the sample shop's, or a team's own.

`mesh.services.<name>` with a `command` or an `image` is a service of the
user's own (docs/own-services.md); without either, one of the sample shop's.
How they resolve into an application lives in `meshsim.scenario.application`.
"""

from __future__ import annotations

import shlex
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema


class Strict(BaseModel):
    """Every model forbids unknown keys, so a typo is an error where it is read."""

    # allow_inf_nan: `.inf` and `.nan` are YAML numbers, and no field means them.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _command(value: object) -> object:
    """A command is a list of arguments; a string is split as a shell would
    (without running one), so `python3 app.py` also works."""
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as exc:
            raise ValueError(f"cannot split {value!r} into arguments: {exc}") from None
    return value


Command = Annotated[
    list[Annotated[str, Field(min_length=1)]],
    BeforeValidator(_command),
    Field(min_length=1),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
                {"type": "string", "minLength": 1},
            ],
            "description": "Arguments, e.g. [python3, app.py]; `{port}` is replaced by the "
            "port to listen on (also in the PORT variable).",
        }
    ),
]
EnvVars = dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")], str]
SERVICE_NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
# Kubernetes' names (RFC 1123): a namespace is a label, a service account a subdomain.
K8S_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
K8S_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


class VersionSpec(Strict):
    replicas: int = Field(1, ge=1, le=50, description="Instances of this version (1-50).")
    env: EnvVars = Field(
        default_factory=dict,
        description="Environment of this version's instances, on top of the service's `env`.",
    )
    command: Command | None = Field(
        None, description="This version's command (local runtime), instead of the service's."
    )
    image: str | None = Field(
        None, min_length=1, description="This version's image (Docker runtime)."
    )
    entrypoint: list[str] | None = Field(
        None,
        min_length=1,
        description="Replaces the image's ENTRYPOINT (Docker runtime), as a Kubernetes "
        "container's `command`; the image's CMD is then not used unless `args` gives one. "
        "$(NAME) is expanded from the instance's environment, $$ is a literal $.",
    )
    args: list[str] | None = Field(
        None,
        min_length=1,
        description="Replaces the image's CMD (Docker runtime), as a Kubernetes container's "
        "`args`; $(NAME) expanded as in `entrypoint`.",
    )
    env_fields: dict[
        Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")],
        Literal["metadata.name", "status.podIP"],
    ] = Field(
        default_factory=dict,
        description="Variables set from the instance as Kubernetes' downward API sets them "
        "from the pod: metadata.name (the instance's name), status.podIP (its address).",
    )


class ServiceSpec(Strict):
    """A service of the mesh. Without `command` or `image` it is one of the
    sample shop's (user, product, shipping, order); with either, a service of
    your own (docs/own-services.md)."""

    versions: dict[str, VersionSpec] = Field(
        default_factory=lambda: {"v1": VersionSpec()},
        description="Versions of the service and their replicas, e.g. {v1: {replicas: 2}}.",
    )
    command: Command | None = Field(
        None,
        description="How the local runtime starts an instance, run from the scenario file's "
        "directory, e.g. [uvicorn, app:app, --port, '{port}'].",
    )
    image: str | None = Field(
        None, min_length=1, description="The container image the Docker runtime runs."
    )
    health: str | None = Field(
        None,
        pattern=r"^/",
        description="Readiness path: the instance is ready when GET on it answers 200 "
        "(default: when its port accepts connections).",
    )
    env: EnvVars = Field(default_factory=dict, description="Environment of every instance.")
    calls: list[str] = Field(
        default_factory=list,
        description="The services this one calls (the declared graph; `meshsim graph`).",
    )
    expose: bool | str = Field(
        False,
        description="Route the ingress gateway's requests to this service by default: true "
        "for every path (/), or a path prefix such as /quotes.",
    )
    port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="The port the app listens on inside its container (Docker runtime; "
        "default 8080, also in PORT), e.g. a Deployment's containerPort.",
    )
    service_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="A port callers may name besides 80 (http://<name>:<service_port>/), "
        "e.g. a Kubernetes Service's `port`.",
    )
    service_account: str | None = Field(
        None,
        max_length=253,
        pattern=K8S_SUBDOMAIN_PATTERN,
        description="The service account of its SPIFFE identity "
        "(spiffe://cluster.local/ns/<namespace>/sa/<service_account>; default: the service's name).",
    )
    namespace: str | None = Field(
        None,
        pattern=K8S_LABEL_PATTERN,
        description="The Kubernetes namespace of its identity and of the policies that select "
        "it (default: default).",
    )

    @property
    def own(self) -> bool:
        """Declared with a command or an image: a service of the user's own."""
        return bool(
            self.command or self.image or any(v.command or v.image for v in self.versions.values())
        )
