"""Which nameservers to poll: the user's list, or a zone's NS set from DNS.

Each address of each host is a server of its own (``Nameserver``): a resolver
may reach any of them, so the wait must see every one serve the records.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Callable, Optional

import dns.resolver

from . import dnslookup
from .dnslookup import DnsLookupError, normalize_name

logger = logging.getLogger(__name__)

Notify = Callable[[str], None]


def log_notify(message: str) -> None:
    """The default progress callback: the log only."""
    logger.info("%s", message)


@dataclass(frozen=True)
class Nameserver:
    """One address of an authoritative nameserver; ``host`` is its name, or the address if it has none."""

    host: str
    address: str
    port: int = 53

    @property
    def family(self) -> str:
        return "IPv6" if ipaddress.ip_address(self.address).version == 6 else "IPv4"

    @property
    def endpoint(self) -> str:
        return endpoint(self.address, self.port)

    def __str__(self) -> str:
        if self.host == self.address:
            return self.endpoint
        return f"{self.host} ({self.endpoint})"


def endpoint(address: str, port: int) -> str:
    """``address``, or ``address:port`` / ``[address]:port`` when the port is not 53."""
    if port == 53:
        return address
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


# ----- the nameserver option --------------------------------------------------------------------------------------
_ACCEPTED_FORMS = "accepted forms: host, host:port, IPv4, IPv4:port, IPv6, [IPv6]:port, separated by commas"
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


def _parse_port(text: str, entry: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"invalid port in nameserver {entry!r}: {text!r} is not a number from 1 to 65535")
    return int(text)


def _check_host_name(host: str, entry: str) -> str:
    name = host.rstrip(".").lower()
    if not name or len(name) > 253 or not all(_HOST_LABEL.match(label) for label in name.split(".")):
        raise ValueError(f"invalid nameserver {entry!r}: {host!r} is neither an IP address nor a host name")
    return name


def _parse_entry(entry: str) -> tuple[str, int]:
    if entry.startswith("["):
        address, bracket, rest = entry[1:].partition("]")
        if not bracket:
            raise ValueError(f"invalid nameserver {entry!r}: missing ']' after the IPv6 address")
        try:
            ipaddress.IPv6Address(address)
        except ValueError:
            raise ValueError(f"invalid nameserver {entry!r}: {address!r} is not an IPv6 address") from None
        if not rest:
            return address, 53
        if not rest.startswith(":"):
            raise ValueError(f"invalid nameserver {entry!r}: expected ':port' after ']'")
        return address, _parse_port(rest[1:], entry)
    if entry.count(":") > 1:  # a bare IPv6 address; with a port it must be bracketed
        try:
            return str(ipaddress.IPv6Address(entry)), 53
        except ValueError:
            raise ValueError(
                f"invalid nameserver {entry!r}: not an IPv6 address "
                "(write an IPv6 address with a port as [address]:port)"
            ) from None
    host, colon, port_text = entry.partition(":")
    port = _parse_port(port_text, entry) if colon else 53
    try:
        return str(ipaddress.IPv4Address(host)), port
    except ValueError:
        return _check_host_name(host, entry), port


def parse_nameservers_option(text: str) -> list[tuple[str, int]]:
    """Parse a comma-separated nameserver list into (host name or address, port) pairs, in order, without repeats.

    Raises ``ValueError`` saying what is wrong and which forms are accepted.
    """
    entries = [part.strip() for part in text.split(",")]
    if not any(entries):
        raise ValueError(f"no nameserver given; {_ACCEPTED_FORMS}")
    parsed: list[tuple[str, int]] = []
    for entry in entries:
        if not entry:
            raise ValueError(f"empty entry in the nameserver list {text!r}; {_ACCEPTED_FORMS}")
        try:
            item = _parse_entry(entry)
        except ValueError as error:
            raise ValueError(f"{error}; {_ACCEPTED_FORMS}") from None
        if item not in parsed:
            parsed.append(item)
    return parsed


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def resolve_nameserver_option(
    entries: Sequence[tuple[str, int]], resolver: Optional[dns.resolver.Resolver] = None
) -> list[Nameserver]:
    """Turn parsed option entries into nameserver addresses; host names are resolved (IPv4 and IPv6).

    Raises ``DnsLookupError`` for a host name without addresses: the user asked for it explicitly.
    """
    servers: list[Nameserver] = []
    for host, port in entries:
        if _is_address(host):
            found = [Nameserver(host, host, port)]
        else:
            if resolver is None:
                resolver = dnslookup.make_system_resolver()
            found = [Nameserver(host, address, port) for address in dnslookup.host_addresses(host, resolver)]
        servers.extend(server for server in found if server not in servers)
    return servers


def discover_nameservers(
    zone: str,
    resolver: Optional[dns.resolver.Resolver] = None,
    notify: Notify = log_notify,
    *,
    names: Optional[Sequence[str]] = None,
) -> list[Nameserver]:
    """Every address of every host in the zone's NS set, through the recursive ``resolver``.

    ``names`` is the NS set if the caller has already looked it up.  A host that does not resolve
    is named through ``notify`` and left out; ``DnsLookupError`` if the NS set cannot be read or
    no host resolves.
    """
    if resolver is None:
        resolver = dnslookup.make_system_resolver()
    zone = normalize_name(zone)
    hosts = dnslookup.zone_nameserver_names(zone, resolver) if names is None else [normalize_name(n) for n in names]
    servers: list[Nameserver] = []
    for host in hosts:
        try:
            addresses = dnslookup.host_addresses(host, resolver)
        except DnsLookupError as error:
            notify(f"Warning: nameserver {host} of {zone} is left out: {error}")
            continue
        servers.extend(Nameserver(host, address) for address in addresses)
    if not servers:
        raise DnsLookupError(f"none of the nameservers of {zone} resolves to an address")
    logger.debug("nameservers of %s: %s", zone, ", ".join(map(str, servers)))
    return servers
