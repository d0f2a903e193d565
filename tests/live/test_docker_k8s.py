"""A team's Kubernetes manifests on the Docker runtime, for real: the
k8s-user-service example (FastAPI images built from its Dockerfiles, two
Deployments and a Service per service, the namespace's PeerAuthentication
STRICT and an AuthorizationPolicy on a service account) passes its canary +
STRICT drill, user-service v2 started by its manifest's own `command` and
`args` (not the image's CMD); and an image the manifests name that is not built here is
exit 3 naming the service, never pulled.

Skips like tests/live/test_docker.py without an engine. The images are built
from Debian's python3-fastapi packages on the base image (the first build
needs Debian's mirror, as the base image's debootstrap does).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.live.test_docker import engine, leftovers, up

pytestmark = [pytest.mark.slow, pytest.mark.docker]
__all__ = ["engine"]

REPO = Path(__file__).parents[2]
EXAMPLE = REPO / "examples" / "k8s-user-service"
IMAGES = {"user-service": "k8s-example/user-service:1", "frontend": "k8s-example/frontend:1"}


@pytest.fixture(scope="module")
def images(engine: Any) -> dict[str, str]:
    """The example's images, built from its Dockerfiles every session (Docker's
    cache makes that quick when nothing changed)."""
    import docker.errors

    from meshsim.runtime.images import default_base_image

    for directory, tag in IMAGES.items():
        try:
            engine.images.build(
                path=str(EXAMPLE / directory),
                tag=tag,
                buildargs={"BASE": default_base_image(engine)},
                labels={"meshsim.example": "k8s-user-service"},
                rm=True,
                forcerm=True,
            )
        except docker.errors.DockerException as exc:
            if os.environ.get("CI"):
                raise
            pytest.skip(f"could not build the example's image {tag}: {exc}")
    return IMAGES


def test_manifests_pass_a_canary_and_strict_drill(
    engine: Any, images: dict[str, str], tmp_path: Path
) -> None:
    run_dir = tmp_path / f"k8s-{tmp_path.name[-24:]}"
    result = up(EXAMPLE / "scenario.yaml", run_dir)
    assert result.returncode == 0, result.stdout[-4000:]
    report = json.loads((run_dir / "report.json").read_text())
    assert report["verdict"] == "pass"
    held = {(p["name"], e["expr"]) for p in report["phases"] for e in p["expectations"]}
    assert ("canary-20", "version(user-service:v2).share = 20% ± 8%") in held
    assert ("baseline", "journey(legacy).error_rate > 99%") in held  # STRICT refused it
    # The warning about frontend's resource limits names the manifest's line.
    assert "frontend.yaml:43: spec.template.spec.containers[0].resources" in result.stdout
    # Each app listened on its Deployment's containerPort, and the run
    # directory's scenario reads back without the manifests.
    plan = json.loads((run_dir / "plan.json").read_text())
    assert {i["app_port"] for i in plan["instances"]} == {8000}
    # user-service v2's Deployment gives `command` and `args` (log level
    # $(LOG_LEVEL) = info): they replaced the image's CMD (log level warning),
    # expanded; uvicorn would have refused "$(LOG_LEVEL)" as a level.
    logs = run_dir / "logs"
    assert "Uvicorn running on" in (logs / "user-service-v2-0.app.log").read_text()
    assert "Uvicorn running on" not in (logs / "user-service-v1-0.app.log").read_text()
    assert "manifests:" not in (run_dir / "scenario.yaml").read_text()
    assert not leftovers(engine)


def test_an_image_not_built_here_is_never_pulled(
    engine: Any, images: dict[str, str], tmp_path: Path
) -> None:
    copy = tmp_path / "example"
    shutil.copytree(EXAMPLE, copy)
    manifest = copy / "k8s" / "frontend.yaml"
    manifest.write_text(manifest.read_text().replace(IMAGES["frontend"], "k8s-example/nope:404"))
    result = up(copy / "scenario.yaml", tmp_path / "run")
    assert result.returncode == 3, result.stdout[-3000:]
    assert (
        "image 'k8s-example/nope:404' of frontend v1 is not on this engine"
        in result.stdout + result.stderr
    )
    assert "never pulled" in result.stdout + result.stderr
    assert not leftovers(engine)
