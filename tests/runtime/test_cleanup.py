"""Leftover removal by label, against an in-memory stand-in for the engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from meshsim.runtime import pods
from meshsim.runtime.engine import home_label, remove_run, sweep


@dataclass
class FakeObject:
    name: str
    labels: dict[str, str]
    gone: list[str] = field(default_factory=list)

    @property
    def attrs(self) -> dict[str, Any]:
        return {"Labels": self.labels}

    def remove(self, **_: Any) -> None:
        self.gone.append(self.name)


class FakeCollection:
    def __init__(self, items: list[FakeObject]) -> None:
        self.items = items

    def list(self, all: bool = False, filters: dict[str, Any] | None = None) -> list[FakeObject]:  # noqa: A002
        wanted = [tuple(f.split("=", 1)) for f in (filters or {}).get("label", [])]
        left = [i for i in self.items if i.name not in i.gone]
        return [i for i in left if all_match(i.labels, wanted)]


def all_match(labels: dict[str, str], wanted: list[tuple[str, ...]]) -> bool:
    return all(labels.get(k) == v for k, v in wanted)


class FakeClient:
    def __init__(self, objects: list[tuple[str, str, str, str]]) -> None:
        """objects: (kind, name, run, home)"""
        self.gone: list[str] = []
        by_kind: dict[str, list[FakeObject]] = {"c": [], "n": [], "v": []}
        for kind, name, run, home in objects:
            labels = {pods.LABEL_RUN: run, pods.LABEL_HOME: home}
            by_kind[kind].append(FakeObject(name, labels, self.gone))
        self.containers = FakeCollection(by_kind["c"])
        self.networks = FakeCollection(by_kind["n"])
        self.volumes = FakeCollection(by_kind["v"])


def _client() -> FakeClient:
    mine = home_label()
    return FakeClient(
        [
            ("c", "a-app", "A", mine),
            ("c", "a-pod", "A", mine),
            ("n", "a-net", "A", mine),
            ("v", "a-vol", "A", mine),
            ("c", "b-app", "B", mine),
            ("n", "b-net", "B", mine),
            ("c", "c-app", "C", "/somebody/else"),
            ("n", "c-net", "C", "/somebody/else"),
        ]
    )


def test_remove_run_takes_containers_networks_and_volumes_of_that_run() -> None:
    client = _client()
    removed = remove_run("A", client)
    assert sorted(removed) == ["a-app", "a-net", "a-pod", "a-vol"]
    assert sorted(client.gone) == sorted(removed)


def test_sweep_spares_kept_runs_and_other_homes() -> None:
    client = _client()
    removed = sweep(keep={"A"}, client=client)
    assert sorted(removed) == ["b-app", "b-net"]
    assert not {"a-app", "c-app", "c-net"} & set(client.gone)


def test_nothing_happens_without_an_engine(monkeypatch: Any) -> None:
    monkeypatch.setattr("meshsim.runtime.engine.try_connect", lambda: None)
    assert remove_run("A") == [] and sweep() == []


def test_the_next_up_hands_a_killed_docker_run_to_the_engine_cleanup(monkeypatch: Any) -> None:
    """Which leftovers go to `engine.remove_run` (the engine itself is not
    called here; tests/live/test_docker.py removes a killed run's containers
    for real)."""
    import os

    from meshsim.runtime.cleanup import clean_leftovers
    from meshsim.runtime.registry import MeshRecord, process_create_time

    removed: list[str] = []
    monkeypatch.setattr("meshsim.runtime.engine.remove_run", lambda run_id: removed.append(run_id))
    for run_id, runtime in (("killed-docker", "docker"), ("killed-local", "local")):
        MeshRecord(run_id, "/tmp/x", "s", runtime, 2**22 + 1, 0.0, 0.0).save()
    me = os.getpid()
    MeshRecord("alive", "/tmp/x", "s", "docker", me, process_create_time(me), 0.0).save()
    cleaned = {m.run_id for m in clean_leftovers()}
    assert cleaned == {"killed-docker", "killed-local"}
    assert removed == ["killed-docker"]
