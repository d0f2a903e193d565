"""Kubernetes manifests as objects with places: read the files, check each
object against Kubernetes' own OpenAPI schema, say where each field is.

`mesh.manifests` names files and directories; each file is multi-document
YAML (`---` between objects, `kind: List` expanded). An object is kept with
its file and the line of each of its fields, so an error or a warning names
`k8s/app.yaml:14: spec.template.spec.containers[0].image`.

The schema check is `kubernetes-validate`'s strict schemas (Kubernetes'
OpenAPI definitions, bundled per Kubernetes version): a misspelt field or a
port given as text is an error with its line, exactly as `kubectl apply
--dry-run` would refuse it, without hand-written checks of our own.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshsim.errors import ScenarioError
from meshsim.scenario.yamlpos import Located, YamlPath, decode, parse_yaml_all, render_path

# The Kubernetes version whose schemas manifests are checked against (and
# exported objects validated with): one that every maintained cluster serves
# apps/v1 and v1 objects of unchanged.
K8S_VERSION = "1.30"
MAX_FILE_BYTES = 1024 * 1024
MAX_OBJECTS = 500
SUFFIXES = (".yaml", ".yml")
# API groups whose objects are mesh policies, applied as a phase applies them.
POLICY_GROUPS = ("networking.istio.io", "security.istio.io", "gateway.networking.k8s.io")


@dataclass(frozen=True)
class K8sObject:
    """One object of a manifest: its data and where each of its fields is."""

    file: str
    doc: Located
    prefix: YamlPath = ()  # its path in the document (an item of a `kind: List`)

    @property
    def data(self) -> dict[str, Any]:
        node: Any = self.doc.data
        for part in self.prefix:
            node = node[part]
        assert isinstance(node, dict)
        return node

    @property
    def kind(self) -> str:
        return str(self.data.get("kind", ""))

    @property
    def api_version(self) -> str:
        return str(self.data.get("apiVersion", ""))

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def _metadata(self) -> dict[str, Any]:
        # not yet checked where errors are worded: `metadata: [..]` must not crash them
        meta = self.data.get("metadata")
        return meta if isinstance(meta, dict) else {}

    @property
    def name(self) -> str:
        return str(self._metadata.get("name", ""))

    @property
    def namespace(self) -> str:
        return str(self._metadata.get("namespace") or "default")

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.name}" if self.kind and self.name else self.kind or self.name

    @property
    def is_policy(self) -> bool:
        return self.group in POLICY_GROUPS

    def line(self, path: YamlPath = ()) -> int:
        return self.doc.line_of((*self.prefix, *path))

    def where(self, path: YamlPath = ()) -> str:
        """`file:line: field` (`file:line` for the whole object)."""
        field = render_path(path)
        return f"{self.file}:{self.line(path)}" + (f": {field}" if field else "")

    def error(self, path: YamlPath, message: str) -> ScenarioError:
        field = render_path(path) or None
        return ScenarioError(
            f"{self.key}: {message}" if self.kind and self.name else message,
            file=self.file,
            line=self.line(path),
            field=field,
        )


def manifest_files(entry: str, base_dir: Path) -> list[Path]:
    """The files one `mesh.manifests` entry names: the file, or a directory's
    .yaml/.yml files (not its subdirectories), by name. ValueError says why not."""
    path = (base_dir / entry).resolve()
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in SUFFIXES)
        if not files:
            raise ValueError(f"{entry}: the directory has no .yaml or .yml file")
        return files
    if path.is_file():
        return [path]
    raise ValueError(f"{entry}: no such file or directory (relative to the scenario file)")


def read_objects(file: Path, shown: str) -> list[K8sObject]:
    """Every object of one manifest file; ScenarioError (file:line) for what is
    not YAML or not a Kubernetes object."""
    try:
        with file.open("rb") as stream:
            data = stream.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ScenarioError(f"cannot read the file: {exc.strerror or exc}", file=shown) from None
    if len(data) > MAX_FILE_BYTES:
        raise ScenarioError(
            f"larger than {MAX_FILE_BYTES // 1024} KiB; not a manifest meshsim reads", file=shown
        )
    out: list[K8sObject] = []
    for doc in parse_yaml_all(decode(data, shown), shown):
        if not isinstance(doc.data, dict):
            raise ScenarioError(
                "a manifest document must be a Kubernetes object (a mapping with apiVersion, "
                "kind and metadata)",
                file=shown,
                line=doc.line_of(()),
            )
        top = K8sObject(shown, doc)
        if top.kind == "List" and isinstance(doc.data.get("items"), list):
            out += [K8sObject(shown, doc, ("items", i)) for i in range(len(doc.data["items"]))]
        else:
            out.append(top)
    for obj in out:
        _check_shape(obj)
    return out


def _check_shape(obj: K8sObject) -> None:
    data = obj.data if isinstance(obj.doc.data, dict) else {}
    if not isinstance(data, dict):
        raise obj.error((), "expected a Kubernetes object (a mapping)")
    for key in ("apiVersion", "kind"):
        if not isinstance(data.get(key), str) or not data.get(key):
            raise obj.error((key,), f"required: every Kubernetes object has {key}")
    metadata = data.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
        raise obj.error(("metadata", "name"), "required: every object needs metadata.name")


def read_manifests(entries: list[str], base_dir: Path) -> list[K8sObject]:
    """Every object of every file `entries` name, in order. The files are
    shown relative to `base_dir` when they are below it."""
    out: list[K8sObject] = []
    for entry in entries:
        for file in manifest_files(entry, base_dir):
            # As a person finds it from here (the scenario's own path is shown so too).
            relative = os.path.relpath(file)
            shown = relative if not relative.startswith("..") else str(file)
            out += read_objects(file, shown)
            if len(out) > MAX_OBJECTS:
                raise ScenarioError(
                    f"more than {MAX_OBJECTS} objects in mesh.manifests; meshsim runs a few "
                    "services on this machine",
                    file=shown,
                )
    return out


def schema_problem(data: dict[str, Any]) -> tuple[YamlPath, str] | None:
    """What Kubernetes' strict schema says is wrong with an object, as (path,
    message), or None. An object of a kind the bundled schemas do not know (a
    custom resource) is not checked here."""
    import kubernetes_validate

    try:
        kubernetes_validate.validate(data, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path: YamlPath = tuple(exc.path)
        # An unknown field: point at its own line, not its parent's.
        unexpected = re.findall(r"'([^']+)' was unexpected", str(exc.message))
        if len(unexpected) == 1:
            path = (*path, unexpected[0])
        return path, _plain(str(exc.message))
    except kubernetes_validate.SchemaNotFoundError:
        return None
    return None


def has_schema(data: dict[str, Any]) -> bool:
    """Whether the bundled schemas know this object's apiVersion and kind."""
    import kubernetes_validate

    try:
        kubernetes_validate.validate(data, K8S_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return False
    except kubernetes_validate.ValidationError:
        return True
    return True


def _plain(message: str) -> str:
    """jsonschema's words, shortened: the schema of a type is not news to a person."""
    if len(message) > 300:
        message = message[:297] + "..."
    return f"not valid for Kubernetes {K8S_VERSION}: {message}"
