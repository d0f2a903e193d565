"""The port probe sees a wildcard listener even where the bind would succeed
(macOS with SO_REUSEADDR): forced on Linux by letting the bind pass."""

from __future__ import annotations

import socket

import pytest

from meshsim.control import plan


def test_wildcard_listener_is_seen_even_when_the_bind_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as server:
        server.bind(("0.0.0.0", 0))
        server.listen()
        port = server.getsockname()[1]
        assert not plan.port_is_free(port)  # Linux: the bind itself fails
        # macOS: binding 127.0.0.1 over *:port succeeds with SO_REUSEADDR
        monkeypatch.setattr(socket.socket, "bind", lambda self, addr: None)
        assert not plan.port_is_free(port)
        assert not plan.port_is_free(port, "0.0.0.0")


def test_a_port_nobody_listens_on_is_free() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: nobody answers
    assert plan.port_is_free(port)
