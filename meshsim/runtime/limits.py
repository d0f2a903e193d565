"""Operating-system limits a mesh can run into before Envoy says anything useful.

Every Envoy watches its configuration files with inotify: one inotify
*instance* per watched source (listeners, clusters, each route configuration,
each SDS secret), about six per sidecar. Linux caps instances per user
(`fs.inotify.max_user_instances`, often 128) across every process of that
user, so a large mesh, or several meshes at once, exhausts it and Envoy aborts
with an assertion in its log. Checking first turns that into a message that
says what to do.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from meshsim.errors import MeshError

INOTIFY_LIMIT_FILE = Path("/proc/sys/fs/inotify/max_user_instances")
# Room left for everything else the user runs (editors, test runners, file watchers).
INOTIFY_HEADROOM = 4


def inotify_limit() -> int | None:
    """`fs.inotify.max_user_instances`, or None where there is no such limit (not Linux)."""
    try:
        return int(INOTIFY_LIMIT_FILE.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None


def inotify_in_use(uid: int | None = None) -> int:
    """Inotify instances held by processes of `uid` (default: ours), as the kernel counts them."""
    uid = os.getuid() if uid is None else uid
    count = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if proc.stat().st_uid != uid:
                continue
            for fd in (proc / "fd").iterdir():
                try:
                    if os.readlink(fd) == "anon_inode:inotify":
                        count += 1
                except OSError:
                    continue
        except OSError:
            continue
    return count


def watched_sources(*configs: Any) -> set[str]:
    """The files an Envoy configuration watches (`path_config_source.path`): one
    inotify instance each."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            source = node.get("path_config_source")
            if isinstance(source, dict) and "path" in source:
                found.add(str(source["path"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for config in configs:
        walk(config)
    return found


def check_inotify(
    needed: int, what: str, limit: int | None = None, used: int | None = None
) -> None:
    """Raise MeshError when starting something that needs `needed` inotify instances
    would exceed the per-user limit.

    >>> check_inotify(30, "the mesh", limit=128, used=10)
    >>> check_inotify(300, "the mesh", limit=128, used=10)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    meshsim.errors.MeshError: envoy: the mesh needs 300 inotify instances ...
    """
    limit = inotify_limit() if limit is None else limit
    if limit is None:
        return
    used = inotify_in_use() if used is None else used
    free = limit - used - INOTIFY_HEADROOM
    if needed > free:
        raise MeshError(
            f"{what} needs {needed} inotify instances (Envoy watches its configuration "
            f"files), but only {max(free, 0)} of fs.inotify.max_user_instances={limit} are "
            f"free ({used} in use by this user); stop other meshes (`meshsim down`) or raise "
            f"the limit: sudo sysctl -w fs.inotify.max_user_instances={_suggest(limit, needed)}",
            component="envoy",
        )


def _suggest(limit: int, needed: int) -> int:
    want = max(limit, needed) * 2
    return 1 << (want - 1).bit_length()
