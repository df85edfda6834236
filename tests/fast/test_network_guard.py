"""The guard every test runs under (tests/network_guard.py) refuses the world and lets loopback through."""

from __future__ import annotations

import socket

import pytest

from tests.network_guard import LoopbackOnly


def test_the_guard_refuses_the_world_and_lets_loopback_through(monkeypatch: pytest.MonkeyPatch) -> None:
    guard = LoopbackOnly().install(monkeypatch)  # inside the suite's own guard: it sees the attempts first
    with pytest.raises(OSError, match="would leave the sandbox"):
        socket.getaddrinfo("root-dns.netcup.net", 53)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        with pytest.raises(OSError):
            udp.sendto(b"query", ("192.0.2.1", 53))
        with pytest.raises(OSError):
            udp.connect(("192.0.2.1", 53))
        udp.connect(("127.0.0.1", 9))  # loopback: allowed (a UDP connect sends nothing anyway)
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as udp6:
        with pytest.raises(OSError):
            udp6.connect(("2001:db8::1", 53))
    assert socket.getaddrinfo("localhost", 53)
    assert len(guard.violations) == 4, guard.violations
    guard.violations.clear()
