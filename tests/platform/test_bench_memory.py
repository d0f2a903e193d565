"""`meshsim bench`'s memory without Linux-only psutil fields (macOS has no pss)."""

from __future__ import annotations

import os
from collections import namedtuple
from typing import Any

import psutil
import pytest

from meshsim.bench.memory import MemorySnapshot, process_memory

MB = 1024 * 1024
MacFull = namedtuple("MacFull", "rss vms pfaults pageins uss")  # psutil's pfullmem on macOS
MacMem = namedtuple("MacMem", "rss vms pfaults pageins")


def test_macos_fields_give_rss_and_uss_without_pss(monkeypatch: pytest.MonkeyPatch) -> None:
    p = psutil.Process(os.getpid())
    monkeypatch.setattr(p, "memory_full_info", lambda: MacFull(300 * MB, 0, 0, 0, 120 * MB))
    mem = process_memory(p, "product-v1-0", "sidecar", detailed=True)
    assert (mem.rss_mb, mem.uss_mb, mem.pss_mb) == (300.0, 120.0, None)
    summary = MemorySnapshot("idle", [mem]).summary()["sidecar"]
    assert summary["uss_mean"] == 120.0 and "pss_mean" not in summary


def test_uss_denied_falls_back_to_rss(monkeypatch: pytest.MonkeyPatch) -> None:
    p = psutil.Process(os.getpid())

    def denied() -> Any:
        raise psutil.AccessDenied(p.pid)

    monkeypatch.setattr(p, "memory_full_info", denied)
    monkeypatch.setattr(p, "memory_info", lambda: MacMem(200 * MB, 0, 0, 0))
    mem = process_memory(p, "ingress", "ingress", detailed=True)
    assert (mem.rss_mb, mem.uss_mb, mem.pss_mb) == (200.0, None, None)


def test_linux_fields_as_before() -> None:
    mem = process_memory(psutil.Process(os.getpid()), "me", "app", detailed=True)
    assert mem.rss_mb > 0 and mem.uss_mb is not None and mem.pss_mb is not None
    assert mem.anon_mb is not None
