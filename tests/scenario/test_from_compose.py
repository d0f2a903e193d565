"""`meshsim init --from-compose`: three compose files (the project's own
export, one with build contexts, one with depends_on conditions) each give a
scenario that `meshsim validate` accepts, with what was guessed in comments."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from meshsim.cli import app, main
from meshsim.scenario import load_scenario

REPO = Path(__file__).parents[2]
HERE = Path(__file__).parent / "compose"
PROJECT = REPO / "compose" / "docker-compose.yml"
BUILD = HERE / "build-contexts.yml"
CONDITIONS = HERE / "depends-conditions.yml"


def _cli(*args: str) -> tuple[int, str]:
    """The CLI as `meshsim` runs it (main maps errors to exit codes)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "argv", ["meshsim", *args])
        out, err = io.StringIO(), io.StringIO()
        mp.setattr(sys, "stdout", out)
        mp.setattr(sys, "stderr", err)
        with pytest.raises(SystemExit) as exited:
            main()
    return int(exited.value.code or 0), out.getvalue() + err.getvalue()


def _init(compose: Path, out: Path, *extra: str) -> tuple[int, str]:
    return _cli("init", "--from-compose", str(compose), "--out", str(out), *extra)


def _made(compose: Path, tmp_path: Path) -> tuple[dict, str]:  # type: ignore[type-arg]
    out = tmp_path / "drill.yaml"
    code, output = _init(compose, out)
    assert code == 0, output
    validate = CliRunner().invoke(app, ["validate", str(out)])
    assert validate.exit_code == 0, validate.output
    load_scenario(out)
    text = out.read_text()
    assert text.startswith("# yaml-language-server: $schema=")
    return yaml.safe_load(text), text


def test_the_projects_own_export_gives_back_the_shop(tmp_path: Path) -> None:
    doc, text = _made(PROJECT, tmp_path)
    services = doc["mesh"]["services"]
    assert set(services) == {"user", "product", "shipping", "order"}
    assert services["product"] == {"versions": {"v1": {"replicas": 1}}}
    # sidecars, ingress and the observability profile are meshsim's own
    assert "exported by meshsim" in doc["description"]
    assert "image" not in text.split("mesh:")[1]
    assert "load" in doc and "requests" not in doc["load"]  # the shop's own journeys


def test_build_contexts_become_image_tags_with_a_comment(tmp_path: Path) -> None:
    doc, text = _made(BUILD, tmp_path)
    services = doc["mesh"]["services"]
    assert set(services) == {"web", "api"}  # the database is left out
    web, api = services["web"], services["api"]
    assert web["image"] == "shopfront-web"  # compose's name for what it builds
    assert "built by compose from ./web" in text and "compose names it shopfront-web" in text
    assert api["image"] == "shopfront/api:dev"  # build + image: compose tags it so
    assert "(Dockerfile.prod)" in text
    assert api["health"] == "/healthz" and api["versions"] == {"v1": {"replicas": 2}}
    assert api["env"] == {
        "DATABASE_URL": "postgres://db:5432/app",
        "DEBUG": "false",
        "WORKERS": "4",
    }
    assert web["env"] == {"API_URL": "http://api:8000", "NODE_ENV": "production"}
    assert "SECRET_KEY (compose takes it from your shell" in text
    assert web["calls"] == ["api"] and web["expose"] is True and "expose" not in api
    assert "db: a database" in text and "depends_on left out: db" in text
    assert "it listens on 3000 in compose" in text
    assert doc["load"]["requests"] == [{"name": "home", "method": "GET", "path": "/"}]


def test_depends_on_conditions_become_calls_and_jobs_are_left_out(tmp_path: Path) -> None:
    doc, text = _made(CONDITIONS, tmp_path)
    services = doc["mesh"]["services"]
    assert list(services) == ["gateway", "orders", "catalog"]
    assert services["gateway"]["calls"] == ["orders", "catalog"]
    assert services["gateway"]["expose"] is True
    assert services["orders"]["calls"] == ["catalog"]  # not the job, not the cache
    assert services["orders"]["health"] == "/ready"  # from a CMD-SHELL string
    assert services["catalog"]["health"] == "/health"
    assert services["catalog"]["env"] == {"LOG_LEVEL": "${LOG_LEVEL:-info}"}
    assert "PORT=7000 (the mesh sets PORT)" in text
    assert "compose interpolates this" in text
    assert "compose started it after service_healthy" in text
    for left_out in (
        "migrate: a one-shot job",
        "redis: a cache",
        "jaeger: only in compose profile",
    ):
        assert left_out in text
    assert "compose overrides the image's command" in text


def test_an_existing_file_is_kept_unless_force(tmp_path: Path) -> None:
    out = tmp_path / "drill.yaml"
    out.write_text("mine\n")
    code, output = _init(BUILD, out)
    assert code == 2 and "already exists; --force overwrites it" in output
    assert out.read_text() == "mine\n"
    code, output = _init(BUILD, out, "--force")
    assert code == 0, output
    assert "shopfront" in out.read_text()


def test_default_file_is_named_after_the_project(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["init", "--from-compose", str(BUILD), "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "shopfront.yaml").exists()


@pytest.mark.parametrize(
    "text,message",
    [
        ("services: [a, b]\n", "not a compose file"),
        ("services:\n  web: {image: x\n", ":3: invalid YAML"),
        ("services:\n  db: {image: postgres}\n", "no HTTP service to mesh: db: a database"),
        # found by the hardening fuzz: each was an internal error (exit 3) or silence
        ("services:\n  a:\n    image: \udcff\n", ":3: is not UTF-8 text: byte 0xff"),
        ("services: {a: {image: x, depends_on: 3}}\n", ":1: services.a.depends_on: must be a list"),
        ("services:\n  a:\n    image: x\n    environment: 7\n", ":4: services.a.environment:"),
        ("services: {a: {image: x, healthcheck: {test: 5}}}\n", "healthcheck.test: must be"),
        ("services: {a: {build: {context: [1]}}}\n", "services.a.build.context: must be"),
        ("services: {a: [image, x]}\n", "services.a: a service must be a mapping"),
        ("services: " + "[" * 3000 + "\n", "nested more than 64 levels deep"),
        ("services:\n  a: {image: x}\n  a: {image: y}\n", ":3: services.a: duplicate key 'a'"),
        ("services: {a: {image: x}}\n---\nservices: {}\n", "expected a single document"),
    ],
)
def test_bad_compose_files_are_exit_2_naming_the_file(
    tmp_path: Path, text: str, message: str
) -> None:
    compose = tmp_path / "docker-compose.yml"
    compose.write_bytes(text.encode("utf-8", "surrogateescape"))
    code, output = _init(compose, tmp_path / "out.yaml")
    assert code == 2 and message in output and str(compose) in output, output
    assert "Traceback" not in output and not (tmp_path / "out.yaml").exists()


def test_a_name_and_from_compose_together_are_a_usage_error(tmp_path: Path) -> None:
    code, output = _cli("init", "canary", "--from-compose", str(BUILD))
    assert code == 2 and "not both" in output
