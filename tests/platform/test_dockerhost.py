"""Docker contexts followed as the docker CLI does, VM engines recognised, and
no AF_UNIX (Windows' Python) tolerated, all forced on Linux."""

from __future__ import annotations

import hashlib
import json
import socket
from pathlib import Path

import pytest

from meshsim.runtime import dockerhost, engine, pods


def _context(config: Path, name: str, host: str, current: bool = True) -> None:
    meta = config / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(
        json.dumps({"Name": name, "Metadata": {}, "Endpoints": {"docker": {"Host": host}}}),
        encoding="utf-8",
    )
    if current:
        (config / "config.json").write_text(
            json.dumps({"auths": {}, "currentContext": name}), encoding="utf-8"
        )


def test_current_context_from_config_json(tmp_path: Path) -> None:
    sock = "unix:///Users/me/.colima/default/docker.sock"
    _context(tmp_path, "colima", sock)
    host = dockerhost.docker_host({"DOCKER_CONFIG": str(tmp_path)})
    assert host == dockerhost.DockerHost(sock, "context colima", "colima")
    assert dockerhost.client_environment({"DOCKER_CONFIG": str(tmp_path)})["DOCKER_HOST"] == sock


def test_docker_host_then_docker_context_win(tmp_path: Path) -> None:
    _context(tmp_path, "colima", "unix:///colima.sock")
    _context(tmp_path, "orbstack", "unix:///orb.sock", current=False)
    env = {"DOCKER_CONFIG": str(tmp_path), "DOCKER_CONTEXT": "orbstack"}
    assert dockerhost.docker_host(env).url == "unix:///orb.sock"
    env["DOCKER_HOST"] = "tcp://127.0.0.1:2375"
    assert dockerhost.docker_host(env).source == "DOCKER_HOST"
    assert dockerhost.client_environment(env)["DOCKER_HOST"] == "tcp://127.0.0.1:2375"


def test_default_context_missing_or_broken_config_means_the_default_socket(
    tmp_path: Path,
) -> None:
    env = {"DOCKER_CONFIG": str(tmp_path)}
    assert dockerhost.docker_host(env).url == dockerhost.DEFAULT_HOST
    (tmp_path / "config.json").write_text("{not json", encoding="utf-8")
    assert dockerhost.docker_host(env).source == "default"
    (tmp_path / "config.json").write_text('{"currentContext": "gone"}', encoding="utf-8")
    assert dockerhost.docker_host(env).url == dockerhost.DEFAULT_HOST
    assert "DOCKER_HOST" not in dockerhost.client_environment(env)


def test_meta_directory_not_named_by_hash_is_still_read(tmp_path: Path) -> None:
    meta = tmp_path / "contexts" / "meta" / "whatever"
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(
        json.dumps({"Name": "desktop-linux", "Endpoints": {"docker": {"Host": "unix:///d.sock"}}}),
        encoding="utf-8",
    )
    env = {"DOCKER_CONFIG": str(tmp_path), "DOCKER_CONTEXT": "desktop-linux"}
    assert dockerhost.docker_host(env).url == "unix:///d.sock"


def test_engine_probes_the_contexts_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _context(tmp_path, "elsewhere", f"unix://{tmp_path}/no-engine.sock")
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    problem = engine._unix_socket_problem()
    assert problem is not None and "no-engine.sock" in problem


def test_no_af_unix_leaves_the_probe_to_docker_py(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(socket, "AF_UNIX")  # Windows' Python
    monkeypatch.setenv("DOCKER_HOST", "unix:///nowhere.sock")
    assert engine._unix_socket_problem() is None


@pytest.mark.parametrize(
    ("info", "url", "vm"),
    [
        ({"OperatingSystem": "Docker Desktop", "Name": "docker-desktop"}, "", "Docker Desktop"),
        ({"OperatingSystem": "OrbStack", "Name": "orbstack"}, "", "OrbStack"),
        ({"OperatingSystem": "Ubuntu 24.04.1 LTS", "Name": "colima"}, "", "Colima"),
        ({"OperatingSystem": "Ubuntu 24.04.1 LTS"}, "unix:///Users/me/.colima/x.sock", "Colima"),
        ({"OperatingSystem": "Debian GNU/Linux 12 (bookworm)", "Name": "box"}, "", None),
    ],
)
def test_vm_engines_detected(info: dict[str, str], url: str, vm: str | None) -> None:
    assert dockerhost.vm_engine(info, url) == vm
    bind, advertise = pods.control_address(vm or info["OperatingSystem"], "172.18.0.1", {})
    if vm:
        assert (bind, advertise) == ("127.0.0.1", "host.docker.internal")
    else:
        assert (bind, advertise) == ("172.18.0.1", "172.18.0.1")
