"""A manifest container's environment and command line, as Kubernetes builds
them, mapped onto a version of the own-services model (docs/kubernetes.md).

The kubelet builds the environment in order: `envFrom` (every key of a
ConfigMap or Secret), then `env[]`, a later name replacing an earlier one.
An entry's `value` has `$(NAME)` of the names before it expanded and `$$`
read as `$`; `valueFrom` reads a pod field, a ConfigMap key or a Secret key.
What is known from the manifests is resolved here: values, the namespace,
the service account, template labels and annotations, ConfigMaps and
Secrets that are among the manifests. The instance's name and address
(`metadata.name`, `status.podIP`) are known only when it starts, so they
become the version's `env_fields`, set by the runtime. `command` and `args`
become `entrypoint` and `args`, expanded by the runtime from the whole
environment (meshsim.application.expand_references), as the kubelet does.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from meshsim.application import POD_FIELDS, expand_references
from meshsim.scenario.k8s_objects import K8sObject
from meshsim.scenario.yamlpos import YamlPath

Warn = Callable[[K8sObject, YamlPath, str], None]
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SOURCE_KINDS = ("ConfigMap", "Secret")
# The pod's label or annotation a fieldRef reads: metadata.labels['app'].
_META_KEY = re.compile(r"^metadata\.(labels|annotations)\['([^']*)'\]$")


@dataclass
class Sources:
    """The manifests' ConfigMaps and Secrets, by (kind, namespace, name), and
    which of them a container read (the others are warned as not honoured)."""

    objects: dict[tuple[str, str, str], K8sObject] = field(default_factory=dict)
    used: set[tuple[str, str, str]] = field(default_factory=set)

    def add(self, obj: K8sObject) -> None:
        self.objects[(obj.kind, obj.namespace, obj.name)] = obj

    def data(self, kind: str, namespace: str, name: str) -> dict[str, str] | None:
        """The object's keys and values (a Secret's decoded); None when it is
        not among the manifests."""
        obj = self.objects.get((kind, namespace, name))
        if obj is None:
            return None
        self.used.add((kind, namespace, name))
        raw = obj.data.get("data") or {}
        if kind == "ConfigMap":
            return {str(k): str(v) for k, v in raw.items()}
        out: dict[str, str] = {}
        for k, v in raw.items():
            try:
                out[str(k)] = base64.b64decode(str(v), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                continue  # not a text value: left unset, as if absent
        out.update({str(k): str(v) for k, v in (obj.data.get("stringData") or {}).items()})
        return out


@dataclass
class _Env:
    """What a container's environment resolves to so far."""

    values: dict[str, str] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)

    def set(self, name: str, value: str) -> None:
        self.fields.pop(name, None)
        self.values[name] = value

    def from_field(self, name: str, path: str) -> None:
        self.values.pop(name, None)
        self.fields[name] = path


def container_env(
    obj: K8sObject,
    path: YamlPath,
    c: dict[str, Any],
    version: dict[str, Any],
    sources: Sources,
    warn: Warn,
) -> None:
    """Set `version`'s env, env_fields, entrypoint and args from container
    `c` of workload `obj` (at `path`); warn, naming the field, about each
    variable that cannot be set."""
    env = _Env()
    for j, ref in enumerate(c.get("envFrom") or []):
        _env_from(obj, (*path, "envFrom", j), ref, env, sources, warn)
    for j, var in enumerate(c.get("env") or []):
        name = str(var.get("name"))
        where: YamlPath = (*path, "env", j)
        if not ENV_NAME.fullmatch(name):
            warn(obj, (*where, "name"), f"{name!r} is not a variable name meshsim passes on")
        elif "valueFrom" in var:
            _value_from(obj, (*where, "valueFrom"), name, var["valueFrom"] or {}, env, sources, warn)  # fmt: skip
        else:
            value = expand_references(str(var.get("value", "")), env.values)
            later = [f for f in env.fields if f"$({f})" in value]
            if later:
                warn(obj, (*where, "value"), f"$({later[0]}) is left as written: meshsim knows {later[0]} only when the instance starts")  # fmt: skip
            env.set(name, value)
    if env.values:
        version["env"] = env.values
    if env.fields:
        version["env_fields"] = env.fields
    for key, own in (("command", "entrypoint"), ("args", "args")):
        if c.get(key):  # an empty list is Kubernetes' "not given"
            version[own] = [str(word) for word in c[key]]


def _env_from(
    obj: K8sObject,
    path: YamlPath,
    ref: dict[str, Any],
    env: _Env,
    sources: Sources,
    warn: Warn,
) -> None:
    prefix = str(ref.get("prefix") or "")
    for key, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
        source = ref.get(key)
        if not isinstance(source, dict):
            continue
        name = str(source.get("name"))
        data = sources.data(kind, obj.namespace, name)
        if data is None:
            if not source.get("optional"):
                warn(obj, (*path, key), f"{kind} {name} is not among the manifests: its variables are not set (a cluster would not start the pod); add it to mesh.manifests")  # fmt: skip
            continue
        for k, v in data.items():
            if ENV_NAME.fullmatch(prefix + k):
                env.set(prefix + k, v)
            else:  # the kubelet skips such a key too (an event, not an error)
                warn(obj, (*path, key), f"{kind} {name} key {k!r} is not a variable name: not set")  # fmt: skip


def _value_from(
    obj: K8sObject,
    path: YamlPath,
    name: str,
    source: dict[str, Any],
    env: _Env,
    sources: Sources,
    warn: Warn,
) -> None:
    ref = source.get("fieldRef")
    if isinstance(ref, dict):
        _field(obj, (*path, "fieldRef", "fieldPath"), name, str(ref.get("fieldPath")), env, warn)
        return
    for key, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
        ref = source.get(key)
        if not isinstance(ref, dict):
            continue
        data = sources.data(kind, obj.namespace, str(ref.get("name")))
        wanted = str(ref.get("key"))
        if data is not None and wanted in data:
            env.set(name, data[wanted])
        elif not ref.get("optional"):
            missing = (
                f"{kind} {ref.get('name')} is not among the manifests"
                if data is None
                else f"{kind} {ref.get('name')} has no key {wanted!r}"
            )
            warn(obj, (*path, key), f"{name} is not set: {missing} (a cluster would not start the pod); add it to mesh.manifests or give the variable a value")  # fmt: skip
        return
    shown = next(iter(source), "valueFrom")
    warn(obj, (*path, shown), f"{name} is not set: meshsim sets no resource requests or limits; give it a value")  # fmt: skip


def _field(obj: K8sObject, path: YamlPath, name: str, wanted: str, env: _Env, warn: Warn) -> None:
    template = obj.data["spec"]["template"]
    pod = template.get("spec") or {}
    meta = template.get("metadata") or {}
    static = {
        "metadata.namespace": obj.namespace,
        "spec.serviceAccountName": str(
            pod.get("serviceAccountName") or pod.get("serviceAccount") or "default"
        ),
    }
    key = _META_KEY.match(wanted)
    if wanted in POD_FIELDS:
        env.from_field(name, wanted)
    elif wanted in static:
        env.set(name, static[wanted])
    elif key is not None:
        env.set(name, str((meta.get(key.group(1)) or {}).get(key.group(2), "")))
    else:
        warn(obj, path, f"{name} is not set: meshsim gives {', '.join([*POD_FIELDS, *static])} and the pod's labels and annotations, not {wanted}; give it a value")  # fmt: skip
