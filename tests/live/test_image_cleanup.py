"""A build clears away its own checkout's earlier images, never another
checkout's: a CI clone and developers' worktrees share one engine, and each
removing the other's images made runs fail with their image gone."""

from __future__ import annotations

import io
import uuid
from typing import Any

import docker.errors
import pytest

from meshsim.runtime.images import (
    LABEL_HASH,
    LABEL_IMAGE,
    LABEL_SOURCE,
    _remove_stale,
    default_base_image,
)
from tests.live.helpers import docker_engine

pytestmark = [pytest.mark.slow, pytest.mark.docker]


def _image(client: Any, labels: dict[str, str]) -> str:
    """A real image carrying `labels` (a label on the base: no layer to build)."""
    dockerfile = io.BytesIO(f"FROM {default_base_image(client)}\n".encode())
    image, _log = client.images.build(fileobj=dockerfile, labels=labels, rm=True)
    return str(image.id)


def _exists(client: Any, image_id: str) -> bool:
    try:
        client.images.get(image_id)
    except docker.errors.ImageNotFound:
        return False
    return True


def test_a_build_removes_only_its_own_checkouts_earlier_images() -> None:
    client = docker_engine()
    tag = uuid.uuid4().hex[:8]
    here, there = f"/test/{tag}/here", f"/test/{tag}/there"
    old, new, other = f"old-{tag}", f"new-{tag}", f"other-{tag}"
    made = {
        "old app": _image(client, {LABEL_HASH: old, LABEL_IMAGE: "app", LABEL_SOURCE: here}),
        "old stage": _image(client, {LABEL_HASH: old}),  # stages carry only the hash
        "other app": _image(client, {LABEL_HASH: other, LABEL_IMAGE: "app", LABEL_SOURCE: there}),
        "other stage": _image(client, {LABEL_HASH: other}),
        "new app": _image(client, {LABEL_HASH: new, LABEL_IMAGE: "app", LABEL_SOURCE: here}),
    }
    try:
        _remove_stale(client, new, here)
        left = {name for name, image_id in made.items() if _exists(client, image_id)}
        assert left == {"other app", "other stage", "new app"}
    finally:
        for image_id in made.values():
            try:
                client.images.remove(image_id, force=True)
            except docker.errors.APIError:
                pass  # removed by the test already
