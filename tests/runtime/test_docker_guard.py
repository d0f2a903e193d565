"""The guard that keeps Docker tests from skipping in CI, run for real: with
no engine at DOCKER_HOST, tests/live/test_docker.py's fixture skips on a
laptop and fails when `CI` is set."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.live.helpers import docker_engine, skip_unless_ci


@pytest.fixture
def no_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-docker.sock'}")


def test_without_an_engine_ci_fails_the_docker_tests(
    no_engine: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no Docker engine reachable.*CI is set"):
        docker_engine()


def test_without_an_engine_a_laptop_skips_them(
    no_engine: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no Docker engine reachable"):
        docker_engine()


def test_any_other_missing_tool_fails_in_ci_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="docker-compose"):
        skip_unless_ci("docker-compose is not installed")
