"""The whole netcup sandbox in one context manager: account, both APIs, nameservers, resolvers.

    with Sandbox(workdir, servers=[ServerSpec("root-dns.netcup.net", lag=0.5), ...]) as sandbox:
        credentials = sandbox.write_credentials(os.path.join(workdir, "netcup.ini"))
        ... run the plugin with REQUESTS_CA_BUNDLE=sandbox.ca_bundle and
            --dns-netcup-nameservers sandbox.nameservers_option ...

Everything binds loopback only.  Each sandbox picks a random 127.A.B.0/24 block for
its DNS servers so that concurrent sandboxes (other tests, other helpers) never collide.
"""

from __future__ import annotations

import errno
import os
import random
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Callable, Optional, TypeVar

from .ccp_api import CcpApi
from .dns_server import AuthoritativeServer
from .faults import CcpFaults, RestFaults
from .https import ApiServer, make_tls_material
from .registry import RegistryServer
from .resolver import FakeRecursiveResolver
from .rest_api import RestApi
from .state import NETCUP_NAMESERVERS, NetcupState

CCP_ENDPOINT_PATH = "/run/webservice/servers/endpoint.php?JSON"
_BIND_ATTEMPTS = 20
T = TypeVar("T")


@dataclass(frozen=True)
class ServerSpec:
    """One authoritative nameserver: its host name, how late it serves changes, its failure mode."""

    name: str
    lag: float = 0.0
    mode: str = "normal"
    ipv6: bool = False  # bind ::1 instead of a 127.A.B.x address


@dataclass(frozen=True)
class ZoneSpec:
    name: str
    platform: str = "ccp"  # "ccp" or "rest" (netcup's newer platform, REST API only)
    # The zone's NS set; None = the sandbox's own servers.  Other names model external DNS.
    nameservers: Optional[tuple[str, ...]] = None
    dnskeys: tuple[str, ...] = ()  # DNSKEY records its servers serve at the apex (a signed zone)


DEFAULT_SERVERS = tuple(ServerSpec(name) for name in NETCUP_NAMESERVERS)
DEFAULT_ZONES = (
    ZoneSpec("example.test"),
    ZoneSpec("cloud.test", platform="rest"),
    ZoneSpec("second.test"),
    ZoneSpec("external.test", nameservers=("ns1.elsewhere.test", "ns2.elsewhere.test")),
)
# A zone outside the account whose challenge name is a CNAME into an account zone
# (the usual "delegate _acme-challenge" set-up).
DEFAULT_FOREIGN_RECORDS: dict[str, list[tuple[str, str]]] = {
    "delegated.test": [
        ("SOA", "ns1.elsewhere.test. hostmaster.delegated.test. 2026112901 7200 3600 1209600 300"),
        ("NS", "ns1.elsewhere.test."),
        ("NS", "ns2.elsewhere.test."),
    ],
    "_acme-challenge.delegated.test": [("CNAME", "_acme-challenge.delegated.example.test.")],
}


def servers_with_lags(lags: Sequence[float]) -> list[ServerSpec]:
    """Server specs with netcup's names (extra servers get made-up names) and the given lags."""
    names = list(NETCUP_NAMESERVERS) + [f"dns{i + 1}.netcup.test" for i in range(len(NETCUP_NAMESERVERS), len(lags))]
    return [ServerSpec(names[i], lag=float(lag)) for i, lag in enumerate(lags)]


def wait_until(predicate: Callable[[], T], timeout: float, interval: float = 0.02, message: str = "condition") -> T:
    """Poll ``predicate`` until it returns something truthy (returned), or raise TimeoutError at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{message} not met within {timeout} s")
        time.sleep(interval)


def host_port(address: str, port: int) -> str:
    """``127.0.0.1:53`` or ``[::1]:53``."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


class Sandbox:
    """Starts (``start()`` or ``with``) and stops the whole simulated netcup.

    ``port53``: bind nameservers and resolvers on port 53 of distinct 127.A.B.x addresses, so that
    a client that found a nameserver's address through the resolver can reach it on the usual port
    (needs root).  Otherwise everything uses ephemeral ports.
    """

    def __init__(
        self,
        workdir: Optional[str] = None,
        servers: Sequence[ServerSpec] = DEFAULT_SERVERS,
        port53: bool = False,
        zones: Sequence[ZoneSpec] = DEFAULT_ZONES,
        foreign_records: Optional[Mapping[str, list[tuple[str, str]]]] = None,
        state: Optional[NetcupState] = None,
        registry: bool = False,
    ) -> None:
        if not servers:
            raise ValueError("a sandbox needs at least one authoritative server")
        self._owns_workdir = workdir is None
        self.workdir = workdir if workdir is not None else tempfile.mkdtemp(prefix="netcup-sandbox-")
        self.server_specs = tuple(servers)
        self.port53 = port53
        self.state = state if state is not None else NetcupState()
        server_names = tuple(spec.name for spec in self.server_specs)
        for zone in zones:
            added = self.state.add_zone(zone.name, platform=zone.platform, nameservers=zone.nameservers or server_names)
            added.dnskeys = tuple(zone.dnskeys)
        records = DEFAULT_FOREIGN_RECORDS if foreign_records is None else foreign_records
        for owner, entries in records.items():
            self.state.foreign_records[owner] = list(entries)
        self.ccp_api = CcpApi(self.state, CcpFaults())
        self.rest_api = RestApi(self.state, RestFaults())
        self.servers: list[AuthoritativeServer] = []
        self._resolvers: list[FakeRecursiveResolver] = []
        self._api_servers: list[ApiServer] = []
        # registry=True: an authoritative server for the parent zone test. (see registry.py), found
        # through the recursive resolvers; None otherwise, and then "test" does not exist for them.
        self._with_registry = registry
        self.registry: Optional[RegistryServer] = None
        self._started = False

    # ----- lifecycle ---------------------------------------------------------
    def start(self) -> Sandbox:
        if self._started:
            return self
        self._started = True
        try:
            tls = make_tls_material(os.path.join(self.workdir, "tls"))
            self._ccp_server = ApiServer(self.ccp_api, "127.0.0.1", 0, tls).start()
            self._api_servers.append(self._ccp_server)
            self._rest_server = ApiServer(self.rest_api, "127.0.0.1", 0, tls).start()
            self._api_servers.append(self._rest_server)
            self._tls = tls
            self._start_dns()
            if self._with_registry:
                self._start_registry()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.registry is not None:
            self.registry.unpublish()
            self.registry.stop()
            self.registry = None
        for resolver in self._resolvers:
            resolver.stop()
        for server in self.servers:
            server.stop()
        for api_server in self._api_servers:
            api_server.stop()
        self._resolvers, self.servers, self._api_servers = [], [], []
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        self._started = False

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _start_dns(self) -> None:
        """Bind all DNS servers in one random 127.A.B.0/24 block, moving to another when one is taken."""
        port = 53 if self.port53 else 0
        for attempt in range(_BIND_ATTEMPTS):
            block = f"127.{random.randint(2, 254)}.{random.randint(0, 255)}."
            try:
                for index, spec in enumerate(self.server_specs):
                    host = "::1" if spec.ipv6 else f"{block}{index + 2}"
                    server = AuthoritativeServer(self.state, spec.name, host, port, lag=spec.lag, mode=spec.mode)
                    self.servers.append(server)
                self.system_resolver = FakeRecursiveResolver(
                    self.state, self.servers, f"{block}53", port, name="system resolver"
                )
                self._resolvers.append(self.system_resolver)
                self.ca_resolver = FakeRecursiveResolver(
                    self.state, self.servers, f"{block}54", port, name="CA resolver"
                )
                self._resolvers.append(self.ca_resolver)
            except OSError as error:
                for server in self.servers:
                    server.stop()
                for resolver in self._resolvers:
                    resolver.stop()
                self.servers, self._resolvers = [], []
                if error.errno != errno.EADDRINUSE or attempt == _BIND_ATTEMPTS - 1:
                    raise
                continue
            break
        for server in self.servers:
            server.start()
            self.state.host_addresses[server.name.lower()] = [server.address]
        for resolver in self._resolvers:
            resolver.start()

    def _start_registry(self) -> None:
        """The parent zone's server, next to the resolvers in their 127.A.B.0/24 block (port 53 with ``port53``)."""
        block = self.system_resolver.address.rsplit(".", 1)[0]
        self.registry = RegistryServer(self.state, f"{block}.60", 53 if self.port53 else 0).start()
        self.registry.publish()

    # ----- what clients need --------------------------------------------------
    @property
    def ccp_url(self) -> str:
        """The CCP JSON endpoint, like https://ccp.netcup.net/run/webservice/servers/endpoint.php?JSON."""
        return self._ccp_server.url + CCP_ENDPOINT_PATH

    @property
    def rest_url(self) -> str:
        """Base of the REST API without /v1 (the client appends /v1/...)."""
        return self._rest_server.url

    @property
    def ca_bundle(self) -> str:
        """PEM file of the CA that signed the API servers' certificate (for REQUESTS_CA_BUNDLE)."""
        return self._tls.ca_path

    @property
    def nameservers_option(self) -> str:
        """Value for --dns-netcup-nameservers: every authoritative server as host:port, comma-separated."""
        return ",".join(host_port(server.address, server.port) for server in self.servers)

    @property
    def system_resolver_option(self) -> str:
        return host_port(self.system_resolver.address, self.system_resolver.port)

    @property
    def ca_resolver_option(self) -> str:
        """Value for Pebble's -dnsserver."""
        return host_port(self.ca_resolver.address, self.ca_resolver.port)

    def server(self, name: str) -> AuthoritativeServer:
        """The authoritative server with host name ``name``."""
        for server in self.servers:
            if server.name == name:
                return server
        raise KeyError(name)

    def all_servers_serve(self, owner: str, value: str) -> bool:
        """Whether every authoritative server (by its lag) serves TXT ``value`` at ``owner`` now."""
        return all(server.serves_txt(owner, value) for server in self.servers)

    wait_until = staticmethod(wait_until)

    def write_credentials(
        self, path: Optional[str] = None, ccp: bool = True, rest: bool = True, **overrides: Optional[str]
    ) -> str:
        """Write a Certbot credentials INI for this sandbox (mode 600) and return its path.

        ``ccp``/``rest`` choose which API's keys go in; ``overrides`` replace values by key
        (e.g. ``dns_netcup_api_password="wrong"``), ``None`` drops a key.
        """
        path = path if path is not None else os.path.join(self.workdir, "netcup.ini")
        values: dict[str, Optional[str]] = {}
        if ccp:
            values.update(
                dns_netcup_customer_id=self.state.customer_number,
                dns_netcup_api_key=self.state.api_key,
                dns_netcup_api_password=self.state.api_password,
                dns_netcup_api_url=self.ccp_url,
            )
        if rest and self.state.rest_key is not None:
            values.update(dns_netcup_api_v1_key=self.state.rest_key, dns_netcup_api_v1_url=self.rest_url)
        values.update(overrides)
        text = "".join(f"{key} = {value}\n" for key, value in values.items() if value is not None)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
        os.chmod(path, 0o600)  # also when the file existed with wider permissions
        return path

    def describe(self) -> dict[str, Any]:
        """Everything a script needs to point Certbot and Pebble at this sandbox (no secrets)."""
        return {
            "workdir": self.workdir,
            "ccp_url": self.ccp_url,
            "rest_url": self.rest_url,
            "ca_bundle": self.ca_bundle,
            "nameservers_option": self.nameservers_option,
            "system_resolver": self.system_resolver_option,
            "ca_resolver": self.ca_resolver_option,
            "servers": [
                {"name": s.name, "address": s.address, "port": s.port, "lag": s.lag, "mode": s.mode}
                for s in self.servers
            ],
            "zones": {name: zone.platform for name, zone in self.state.zones.items()},
        }
