"""A test must reach nothing outside the sandbox: loopback only.

``LoopbackOnly.install(monkeypatch)`` makes every socket ``connect``/``sendto`` to an address
that is not loopback, and every ``socket.getaddrinfo`` of a name that is not an address or
``localhost``, fail with ``OSError`` and be noted; ``check()`` then fails the test naming each,
even when the code under test swallowed the error (as a lookup fallback would).
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest


def _is_loopback_host(host: Any) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if host is None:
        return True  # getaddrinfo(None, port): the local wildcard or loopback
    text = str(host).split("%", 1)[0]
    if text in ("", "localhost", "localhost.") or text.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


class LoopbackOnly:
    def __init__(self) -> None:
        self.violations: list[str] = []

    def _refuse(self, what: str) -> OSError:
        self.violations.append(what)
        return OSError(f"network guard: {what} would leave the sandbox (tests reach loopback only)")

    def install(self, monkeypatch: pytest.MonkeyPatch) -> LoopbackOnly:
        guard = self
        real_connect = socket.socket.connect
        real_connect_ex = socket.socket.connect_ex
        real_sendto = socket.socket.sendto
        real_getaddrinfo = socket.getaddrinfo

        def inet_host(sock: socket.socket, address: Any) -> Any:
            if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple) and address:
                return address[0]
            return None

        def connect(sock: socket.socket, address: Any) -> None:
            if not _is_loopback_host(inet_host(sock, address)):
                raise guard._refuse(f"connect to {address!r}")
            return real_connect(sock, address)

        def connect_ex(sock: socket.socket, address: Any) -> int:
            if not _is_loopback_host(inet_host(sock, address)):
                raise guard._refuse(f"connect to {address!r}")
            return real_connect_ex(sock, address)

        def sendto(sock: socket.socket, data: Any, *args: Any) -> int:
            address = args[-1] if args else None
            if not _is_loopback_host(inet_host(sock, address)):
                raise guard._refuse(f"sendto {address!r}")
            return real_sendto(sock, data, *args)

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            if not _is_loopback_host(host):
                raise guard._refuse(f"getaddrinfo({host!r})")
            return real_getaddrinfo(host, *args, **kwargs)

        monkeypatch.setattr(socket.socket, "connect", connect)
        monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
        monkeypatch.setattr(socket.socket, "sendto", sendto)
        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        return self

    def check(self) -> None:
        assert self.violations == [], f"the test tried to reach outside the sandbox: {self.violations}"
