"""The inotify limit and use, as the benchmarks report them.

Envoys used to watch their configuration files with inotify, six instances
per sidecar against Linux's per-user `fs.inotify.max_user_instances` (often
128), which capped a mesh at about 20 instances. Over ADS they watch no file
at all; `benchmarks/ads_scale.py` shows it by counting the instances held
while a 100-instance mesh runs at the default limit.
"""

from __future__ import annotations

import os
from pathlib import Path

INOTIFY_LIMIT_FILE = Path("/proc/sys/fs/inotify/max_user_instances")


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
