"""Stopping what earlier runs left behind: their processes (from the mesh
records) and, for the Docker runtime, their containers and network. Above both
the registry and the engine, which know nothing of each other.
"""

from __future__ import annotations

from meshsim.runtime import engine
from meshsim.runtime.registry import MeshRecord, all_meshes, terminate


def clean_leftovers(include_kept: bool = False) -> list[MeshRecord]:
    """Stop meshes whose owner died (a run killed with SIGKILL) — and, with
    `include_kept`, meshes left running on purpose with --keep."""
    cleaned = []
    for mesh in all_meshes():
        if mesh.owner_alive() and not include_kept:
            continue
        if mesh.keep and not include_kept:
            continue
        terminate(mesh.processes)
        if mesh.runtime == "docker":
            engine.remove_run(mesh.run_id)  # its containers and network, by label
        mesh.delete()
        cleaned.append(mesh)
    return cleaned
