"""Which nameserver addresses of a zone really serve it: asked before any record is created.

Every address is asked for the zone's SOA, directly and without recursion, all
at once, and put in one of these classes:

- authoritative: the AA flag and the zone's own SOA;
- loading: SERVFAIL (a server that is loading the zone answers that for a
  while) or an answer too garbled to judge: waited for like an authoritative one;
- lame: REFUSED, NOTAUTH, no AA flag, a referral, another zone's SOA: it does
  not serve the zone, so a resolver that asks it moves on to another server and
  waiting for it would be waiting in vain;
- silent: no answer within the timeout over UDP nor over TCP;
- unreachable: this host has no route to its address family.

A zone without any authoritative (or loading) address cannot be validated at
all: ``AuthorityReport.check`` says so before anything is created.
"""

from __future__ import annotations

import concurrent.futures
import enum
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Optional

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from . import dnsquery
from .dnslookup import normalize_name
from .dnsquery import DEFAULT_QUERY_TIMEOUT, Observation, ObservationKind
from .nameservers import Nameserver

logger = logging.getLogger(__name__)

MAX_WORKERS = 32  # every address at once: the probe must not add more than one round trip to a run

DEFAULT_ADVICE = (
    "Make the zone's NS records, and its delegation at the domain's registry, name only nameservers "
    "that serve the zone."
)


class Standing(enum.Enum):
    """How one nameserver address stands towards one zone."""

    AUTHORITATIVE = "authoritative"
    LOADING = "loading"  # SERVFAIL or an unusable answer: may be loading the zone, waited for
    LAME = "lame"
    SILENT = "silent"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class ServerAuthority:
    """What one address answered when asked for the zone's SOA."""

    zone: str
    server: Nameserver
    standing: Standing
    # In words, for messages: "REFUSED", "a referral (NS records of example.test: ...)"; for an
    # unreachable address the system's error ("Network is unreachable").
    answer: str

    def describe(self) -> str:
        return f"{self.server}: {self.answer}"


class NoAuthoritativeServerError(Exception):
    """No address of a zone serves it; ``str()`` names every server, what it answered and what to fix."""

    def __init__(self, message: str, zones: Sequence[str]) -> None:
        super().__init__(message)
        self.zones = list(zones)


@dataclass
class AuthorityReport:
    """The probe's verdict on every (zone, address); ``entries`` keeps the order the servers were given in."""

    entries: list[ServerAuthority] = field(default_factory=list)
    elapsed: float = 0.0  # seconds the probe took

    def of(self, zone: str, server: Nameserver) -> Optional[ServerAuthority]:
        zone = normalize_name(zone)
        for entry in self.entries:
            if entry.zone == zone and entry.server == server:
                return entry
        return None

    def with_standing(self, *standings: Standing) -> list[ServerAuthority]:
        return [e for e in self.entries if e.standing in standings]

    @property
    def lame(self) -> list[ServerAuthority]:
        return self.with_standing(Standing.LAME)

    @property
    def silent(self) -> list[ServerAuthority]:
        return self.with_standing(Standing.SILENT)

    def zones_without_authority(self) -> list[str]:
        """Zones where some address was reachable but none serves the zone (nor might be loading it).

        A zone whose every address is unreachable from this host is not among them: that says
        nothing about the zone, and the CA's resolvers may well reach those servers.
        """
        zones: dict[str, list[ServerAuthority]] = {}
        for entry in self.entries:
            zones.setdefault(entry.zone, []).append(entry)
        return [
            zone
            for zone, entries in zones.items()
            if not any(e.standing in (Standing.AUTHORITATIVE, Standing.LOADING) for e in entries)
            and any(e.standing is not Standing.UNREACHABLE for e in entries)
        ]

    def check(self, advice: str = DEFAULT_ADVICE) -> None:
        """Raise ``NoAuthoritativeServerError`` if a zone has no address that serves it.

        ``advice`` ends the message: what the user should fix (the caller knows its provider and options).
        """
        zones = self.zones_without_authority()
        if not zones:
            return
        paragraphs = []
        for zone in zones:
            entries = [e for e in self.entries if e.zone == zone]
            lines = [f"  {e.describe()}" for e in entries]
            if all(e.standing in (Standing.SILENT, Standing.UNREACHABLE) for e in entries):
                why = (
                    f"No nameserver of {zone} answered at all (UDP and TCP): is outgoing DNS (UDP and TCP port 53) "
                    "blocked on this host? Otherwise the zone's nameservers are down or the NS records name "
                    "the wrong hosts."
                )
            else:
                why = (
                    f"No nameserver of {zone} serves the zone, so the certificate authority could not find the "
                    "records there either."
                )
            paragraphs.append("\n".join([why, "Asked for the zone's SOA record, they answered:", *lines]))
        text = "\n".join(paragraphs) + f"\nNothing was created. {advice}"
        raise NoAuthoritativeServerError(text, zones)


def _soa_owners(rrsets: Sequence[dns.rrset.RRset]) -> list[dns.name.Name]:
    return [r.name for r in rrsets if r.rdtype == dns.rdatatype.SOA]


def _names(rrsets: Sequence[dns.rrset.RRset], rdtype: dns.rdatatype.RdataType) -> str:
    return ", ".join(rdata.target.to_text(omit_final_dot=True) for r in rrsets if r.rdtype == rdtype for rdata in r)


def classify(zone: str, response: dns.message.Message) -> tuple[Standing, str]:
    """The standing a response to ``zone``'s SOA query gives its server, and the answer in words."""
    apex = dns.name.from_text(normalize_name(zone) + ".")
    rcode = response.rcode()
    authoritative = bool(response.flags & dns.flags.AA)
    if rcode == dns.rcode.SERVFAIL:
        # Some providers' servers answer SERVFAIL while they load a zone: not lame, ask again later.
        return Standing.LOADING, "SERVFAIL (may be loading the zone)"
    if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        return Standing.LAME, dns.rcode.to_text(rcode)
    soa_answer = _soa_owners(response.answer)
    soa_authority = _soa_owners(response.authority)
    ns_authority = [r for r in response.authority if r.rdtype == dns.rdatatype.NS]
    if not response.answer and ns_authority and not soa_authority:
        owner = ns_authority[0].name.to_text(omit_final_dot=True)
        return Standing.LAME, f"a referral (NS records of {owner}: {_names(ns_authority, dns.rdatatype.NS)})"
    if not authoritative:
        return Standing.LAME, f"{dns.rcode.to_text(rcode)} without the AA flag (not authoritative)"
    others = [name for name in soa_answer + soa_authority if name != apex]
    if others:
        owner = others[0].to_text(omit_final_dot=True) or "."
        return Standing.LAME, f"the SOA of another zone ({owner}) with {dns.rcode.to_text(rcode)}"
    if rcode == dns.rcode.NXDOMAIN:
        return Standing.LAME, "NXDOMAIN for the zone's own name"
    if apex in soa_answer:
        return Standing.AUTHORITATIVE, "authoritative"
    return Standing.LAME, "no SOA record for the zone"


def probe_server(zone: str, server: Nameserver, timeout: float = DEFAULT_QUERY_TIMEOUT) -> ServerAuthority:
    """Ask one address for the zone's SOA (UDP, then TCP if truncated or unanswered) and classify it."""
    zone = normalize_name(zone)
    route = dnsquery.route_error(server)
    if route is not None:
        return ServerAuthority(zone, server, Standing.UNREACHABLE, route.strerror or str(route))
    query = dnsquery.make_query(zone, dns.rdatatype.SOA)
    try:
        response = dnsquery.exchange(query, server, timeout, tcp_on_timeout=True)
    except Exception as error:  # a bug must not end the run; the server is then waited for as before
        logger.debug("probing %s for %s failed", server, zone, exc_info=True)
        return ServerAuthority(zone, server, Standing.LOADING, f"unusable answer ({error!r})")
    if isinstance(response, Observation):
        if response.kind is ObservationKind.NO_ROUTE:
            return ServerAuthority(zone, server, Standing.UNREACHABLE, response.detail or "no route")
        if response.kind is ObservationKind.TIMEOUT:
            detail = f"; {response.detail}" if response.detail else ""
            return ServerAuthority(
                zone, server, Standing.SILENT, f"no answer within {timeout:g} s over UDP nor TCP{detail}"
            )
        if response.kind is ObservationKind.NO_RESPONSE:
            return ServerAuthority(zone, server, Standing.SILENT, f"no answer ({response.detail})")
        return ServerAuthority(zone, server, Standing.LOADING, response.describe(frozenset()))
    standing, answer = classify(zone, response)
    return ServerAuthority(zone, server, standing, answer)


def probe_authority(
    servers: Mapping[str, Sequence[Nameserver]], timeout: float = DEFAULT_QUERY_TIMEOUT
) -> AuthorityReport:
    """Ask every address of every zone in ``servers`` for the zone's SOA, all in parallel.

    Takes one round trip when every server answers, at most twice ``timeout`` (UDP, then TCP)
    when some do not.  Raises nothing about the zones: see ``AuthorityReport.check``.
    """
    started = time.monotonic()
    jobs = [(normalize_name(zone), server) for zone, group in servers.items() for server in dict.fromkeys(group)]
    report = AuthorityReport()
    if not jobs:
        return report
    executor = concurrent.futures.ThreadPoolExecutor(
        max_workers=min(MAX_WORKERS, len(jobs)), thread_name_prefix="dns-authority"
    )
    try:
        futures = [executor.submit(probe_server, zone, server, timeout) for zone, server in jobs]
        report.entries = [future.result() for future in futures]
    finally:
        executor.shutdown(wait=False)  # on Ctrl-C, do not wait for queries in flight
    report.elapsed = time.monotonic() - started
    for entry in report.entries:
        logger.debug("%s for %s: %s (%s)", entry.server, entry.zone, entry.standing.value, entry.answer)
    return report


def lame_warning(entry: ServerAuthority) -> str:
    """The warning for a lame server: what it answered, why it is not waited for, what to fix."""
    return (
        f"Warning: {entry.server} does not serve {entry.zone}: asked for the zone's SOA record it answered "
        f"{entry.answer}. The certificate authority's resolvers skip such a lame nameserver, so the wait does not "
        "cover it; fix the delegation (the zone's NS records and those at the registry) so that it names only "
        "servers that serve the zone."
    )
