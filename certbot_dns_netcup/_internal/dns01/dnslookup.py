"""Lookups through the system's recursive resolver.

What the zone resolution and the nameserver discovery need: CNAME chains, a
zone's NS set and the addresses of a host.  Everything here goes through a
``dns.resolver.Resolver`` (the one from /etc/resolv.conf by default, any other
for tests) whose lifetime bounds every call, so nothing hangs.  The propagation
checks themselves never use a recursive resolver: see ``propagation``.

Only dnspython 2.0 APIs are used (distributions ship 2.0 to 2.3).
"""

from __future__ import annotations

import logging
from typing import Optional

import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver

logger = logging.getLogger(__name__)

DEFAULT_LOOKUP_TIMEOUT = 10.0
# Real CNAME chains are one or two links long; anything this long is a mistake.
MAX_CNAME_CHAIN = 16


class DnsLookupError(Exception):
    """A lookup through the recursive resolver failed; the message says which and why."""


class DnsTimeoutError(DnsLookupError):
    """The resolver did not answer in time: further lookups through it will most likely time out too."""


class CnameChainError(DnsLookupError):
    """A CNAME chain loops or is absurdly long: a mistake in the zone, not a passing failure."""


class SystemResolver(dns.resolver.Resolver):
    """The resolver of /etc/resolv.conf standing for the whole system.

    ``host_addresses`` asks the system's name service (/etc/hosts, nsswitch) first for such a
    resolver, as every other program on the host would; a plain ``Resolver`` (one pointed at
    particular servers) is asked alone.
    """


def make_system_resolver(timeout: float = DEFAULT_LOOKUP_TIMEOUT) -> SystemResolver:
    """A resolver configured from /etc/resolv.conf whose every lookup ends within ``timeout`` seconds."""
    try:
        resolver = SystemResolver(configure=True)
    except (dns.exception.DNSException, OSError) as error:
        raise DnsLookupError(f"cannot read the system's DNS resolver configuration: {error}") from error
    resolver.lifetime = timeout
    # Per-server timeout below the lifetime, so that a second configured resolver gets a chance.
    resolver.timeout = min(resolver.timeout, timeout)
    return resolver


def normalize_name(name: str) -> str:
    """Lower case, no trailing dot: the form every name in this package takes."""
    return name.strip().rstrip(".").lower()


def _absolute(name: str) -> dns.name.Name:
    # Absolute names keep the resolver's search list out of the way.
    try:
        return dns.name.from_text(normalize_name(name) + ".")
    except dns.exception.DNSException as error:
        raise DnsLookupError(f"{name!r} is not a valid DNS name: {error}") from error


def _lookup(resolver: dns.resolver.Resolver, name: str, rdtype: str) -> Optional[list[str]]:
    """Texts of the ``rdtype`` records at ``name``; ``None`` if the name does not exist.

    An existing name without such records gives ``[]``.  Anything else that keeps
    the resolver from answering (timeouts, SERVFAIL everywhere) is a ``DnsLookupError``.
    """
    qname = _absolute(name)
    try:
        answer = resolver.resolve(qname, rdtype, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return None
    except dns.exception.Timeout as error:
        raise DnsTimeoutError(f"looking up {rdtype} of {normalize_name(name)} timed out: {error}") from error
    except dns.exception.DNSException as error:
        raise DnsLookupError(f"looking up {rdtype} of {normalize_name(name)} failed: {error}") from error
    if answer.rrset is None:
        return []
    # The answer may start with CNAMEs the resolver followed; keep only the asked-for type.
    wanted = dns.rdatatype.from_text(rdtype)
    return [rdata.to_text() for rdata in answer.rrset if rdata.rdtype == wanted]


def follow_cname_chain(name: str, resolver: dns.resolver.Resolver) -> str:
    """The final target of the CNAME chain starting at ``name``, or ``name`` itself without a CNAME.

    Returned lower case without the trailing dot.  A loop or an absurdly long chain is a ``DnsLookupError``.
    """
    current = normalize_name(name)
    seen = [current]
    while True:
        targets = _lookup(resolver, current, "CNAME")
        if not targets:
            return current
        target = normalize_name(targets[0])
        if target in seen:
            raise CnameChainError(f"CNAME loop at {normalize_name(name)}: {' -> '.join([*seen, target])}")
        seen.append(target)
        if len(seen) > MAX_CNAME_CHAIN:
            raise CnameChainError(f"CNAME chain at {normalize_name(name)} is longer than {MAX_CNAME_CHAIN} links")
        logger.debug("%s is a CNAME for %s", current, target)
        current = target


def zone_nameserver_names(zone: str, resolver: dns.resolver.Resolver) -> list[str]:
    """Host names in the NS set at the apex of ``zone``, sorted, lower case, no trailing dot."""
    hosts = _lookup(resolver, zone, "NS")
    if hosts is None:
        raise DnsLookupError(f"the zone {normalize_name(zone)} does not exist in DNS (NXDOMAIN)")
    if not hosts:
        raise DnsLookupError(f"{normalize_name(zone)} has no NS records: is it the apex of a delegated zone?")
    return sorted({normalize_name(host) for host in hosts})


def host_addresses(host: str, resolver: dns.resolver.Resolver, *, name_service: Optional[bool] = None) -> list[str]:
    """IPv4 then IPv6 addresses of ``host``, each sorted; a ``DnsLookupError`` if it has none.

    ``name_service``: ask the system's name service (getaddrinfo) before ``resolver``; by default
    only when ``resolver`` is a ``SystemResolver``.
    """
    if name_service is None:
        name_service = isinstance(resolver, SystemResolver)
    if name_service:
        # Standing for the whole system, ask the system's name service first: it answers like the
        # resolver does, and also from /etc/hosts (where a split-horizon set-up may name the servers).
        found_by_system = _name_service_addresses(host)
        if found_by_system:
            return found_by_system
    addresses: list[str] = []
    failures: list[str] = []
    for rdtype in ("A", "AAAA"):
        try:
            found = _lookup(resolver, host, rdtype)
        except DnsLookupError as error:
            # One family failing must not hide the other; it is named if nothing is found.
            logger.debug("%s", error)
            failures.append(str(error))
            continue
        # Sorted within a family: the order of records in an answer means nothing, a stable order reads better.
        for address in sorted(found or []):
            if address not in addresses:
                addresses.append(address)
    if not addresses:
        reason = "; ".join(failures) if failures else "no A or AAAA records"
        raise DnsLookupError(f"the host {normalize_name(host)} does not resolve to an address ({reason})")
    if failures:
        logger.warning("only some addresses of %s are known: %s", normalize_name(host), "; ".join(failures))
    return addresses


def _name_service_addresses(host: str) -> list[str]:
    """IPv4 then IPv6 addresses of ``host`` from the system's name service (getaddrinfo), or []."""
    import socket

    try:
        infos = socket.getaddrinfo(normalize_name(host), 53, 0, socket.SOCK_DGRAM)
    except (OSError, UnicodeError):
        return []
    found = {str(info[4][0]).split("%", 1)[0]: info[0] for info in infos}
    ipv4 = sorted(a for a, family in found.items() if family == socket.AF_INET)
    ipv6 = sorted(a for a, family in found.items() if family == socket.AF_INET6)
    if ipv4 or ipv6:
        logger.debug("%s resolved through the system's name service: %s", host, ", ".join(ipv4 + ipv6))
    return ipv4 + ipv6
