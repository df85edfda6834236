"""One direct, non-recursive TXT query to one authoritative server, and what its answer means.

Never through a recursive resolver: one could cache the negative answer that
the CA would then see.  UDP first, with EDNS(0) offering a 1232-byte payload
(the DNS flag day 2020 size: no IP fragmentation on any common path, yet room
for a few dozen challenge values), TCP when the answer is truncated all the same.
"""

from __future__ import annotations

import enum
import errno
import logging
import socket
from dataclasses import dataclass
from typing import ClassVar, Optional, Union

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype

from .dnslookup import normalize_name
from .nameservers import Nameserver

logger = logging.getLogger(__name__)

DEFAULT_QUERY_TIMEOUT = 2.0
EDNS_PAYLOAD = 1232
MAX_VALUES_SHOWN = 5

# connect()/sendto() errors that mean "no route to this address from here", not "the server is down".
_NO_ROUTE_ERRNOS = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT})


class ObservationKind(enum.Enum):
    """What kind of answer a server gave; the value is how messages name it."""

    ANSWER = "answer"
    NXDOMAIN = "NXDOMAIN"
    NODATA = "NODATA"
    SERVFAIL = "SERVFAIL"
    REFUSED = "REFUSED"
    RCODE = "rcode"  # any other response code, named in detail
    NOT_AUTHORITATIVE = "not authoritative"
    BAD_RESPONSE = "bad response"
    TIMEOUT = "timeout"
    NO_ROUTE = "no route"
    NO_RESPONSE = "no response"


_NO_REPLY = frozenset({ObservationKind.TIMEOUT, ObservationKind.NO_ROUTE, ObservationKind.NO_RESPONSE})


@dataclass(frozen=True)
class Observation:
    """What one server said about one name."""

    kind: ObservationKind
    values: tuple[str, ...] = ()
    detail: str = ""

    # Shorthands, so that callers can write Observation.ANSWER.
    ANSWER: ClassVar[ObservationKind] = ObservationKind.ANSWER
    NXDOMAIN: ClassVar[ObservationKind] = ObservationKind.NXDOMAIN
    NODATA: ClassVar[ObservationKind] = ObservationKind.NODATA
    SERVFAIL: ClassVar[ObservationKind] = ObservationKind.SERVFAIL
    REFUSED: ClassVar[ObservationKind] = ObservationKind.REFUSED
    RCODE: ClassVar[ObservationKind] = ObservationKind.RCODE
    NOT_AUTHORITATIVE: ClassVar[ObservationKind] = ObservationKind.NOT_AUTHORITATIVE
    BAD_RESPONSE: ClassVar[ObservationKind] = ObservationKind.BAD_RESPONSE
    TIMEOUT: ClassVar[ObservationKind] = ObservationKind.TIMEOUT
    NO_ROUTE: ClassVar[ObservationKind] = ObservationKind.NO_ROUTE
    NO_RESPONSE: ClassVar[ObservationKind] = ObservationKind.NO_RESPONSE

    @property
    def answered(self) -> bool:
        """Whether a DNS server replied at all (even with an error)."""
        return self.kind not in _NO_REPLY

    def serves(self, expected: frozenset[str]) -> bool:
        """Whether the answer holds every one of ``expected`` (other values at the name do not matter)."""
        return self.kind is ObservationKind.ANSWER and expected <= set(self.values)

    def describe(self, expected: frozenset[str]) -> str:
        if self.kind is ObservationKind.ANSWER:
            missing = sorted(expected - set(self.values))
            if not missing:
                return "serves all values"
            shown = [repr(v) for v in self.values[:MAX_VALUES_SHOWN]]
            if len(self.values) > MAX_VALUES_SHOWN:
                shown.append(f"{len(self.values) - MAX_VALUES_SHOWN} more")
            has = ", ".join(shown)
            return f"wrong values: has {has}; missing {', '.join(repr(v) for v in missing)}"
        text = self.detail if self.kind is ObservationKind.RCODE else self.kind.value
        if self.detail and self.kind is not ObservationKind.RCODE:
            text += f" ({self.detail})"
        return text


def _interpret(response: dns.message.Message, qname: dns.name.Name) -> Observation:
    rcode = response.rcode()
    authoritative = bool(response.flags & dns.flags.AA)
    if rcode == dns.rcode.NXDOMAIN:
        # A negative answer from a server that is not authoritative proves nothing about the zone.
        return (
            Observation(ObservationKind.NXDOMAIN)
            if authoritative
            else Observation(ObservationKind.NOT_AUTHORITATIVE, detail="NXDOMAIN without the AA flag")
        )
    if rcode == dns.rcode.SERVFAIL:
        return Observation(ObservationKind.SERVFAIL)
    if rcode == dns.rcode.REFUSED:
        return Observation(ObservationKind.REFUSED)
    if rcode != dns.rcode.NOERROR:
        return Observation(ObservationKind.RCODE, detail=dns.rcode.to_text(rcode))
    if not authoritative:
        referral = not response.answer and any(r.rdtype == dns.rdatatype.NS for r in response.authority)
        return Observation(
            ObservationKind.NOT_AUTHORITATIVE, detail="referral" if referral else "answer without AA flag"
        )
    values: list[str] = []
    for rrset in response.answer:
        if rrset.name == qname and rrset.rdtype == dns.rdatatype.TXT:
            # A TXT record may be split into several strings; the value is their concatenation.
            values.extend(b"".join(rdata.strings).decode("utf-8", "replace") for rdata in rrset)
    if values:
        return Observation(ObservationKind.ANSWER, tuple(values))
    cnames = [r for r in response.answer if r.rdtype == dns.rdatatype.CNAME]
    if cnames:
        return Observation(
            ObservationKind.NODATA, detail=f"CNAME to {cnames[0][0].target.to_text(omit_final_dot=True)}"
        )
    return Observation(ObservationKind.NODATA)


def make_query(name: str, rdtype: dns.rdatatype.RdataType) -> dns.message.Message:
    """A query as an authoritative server should get it: no recursion wanted, EDNS(0) with 1232 bytes."""
    qname = dns.name.from_text(normalize_name(name) + ".")
    query = dns.message.make_query(qname, rdtype, use_edns=0, payload=EDNS_PAYLOAD)
    query.flags &= ~dns.flags.RD  # an authoritative server must answer from its own data
    return query


def exchange(
    query: dns.message.Message, server: Nameserver, timeout: float, *, tcp_on_timeout: bool = False
) -> Union[dns.message.Message, Observation]:
    """Send ``query`` to ``server``: the response, or an ``Observation`` saying why there is none.

    UDP first, TCP when the answer is truncated; with ``tcp_on_timeout`` also when UDP gets no
    answer (a server may be reachable over one of them only, as some firewalls make it).
    """
    try:
        try:
            return dns.query.udp(query, server.address, timeout=timeout, port=server.port, raise_on_truncation=True)
        except dns.message.Truncated:
            logger.debug("%s truncated the answer for %s; retrying over TCP", server, query.question[0].name)
            try:
                return dns.query.tcp(query, server.address, timeout=timeout, port=server.port)
            except (dns.exception.Timeout, OSError) as error:
                # The server is there (it answered over UDP), only TCP fails.
                detail = f"truncated over UDP, TCP failed: {error or 'timeout'}"
                return Observation(ObservationKind.BAD_RESPONSE, detail=detail)
        except dns.exception.Timeout:
            if not tcp_on_timeout:
                raise
            logger.debug("%s did not answer over UDP within %.1f s; trying TCP", server, timeout)
            return dns.query.tcp(query, server.address, timeout=timeout, port=server.port)
    except dns.exception.Timeout:
        return Observation(ObservationKind.TIMEOUT)
    except OSError as error:
        if error.errno in _NO_ROUTE_ERRNOS:
            return Observation(ObservationKind.NO_ROUTE, detail=error.strerror or str(error))
        if tcp_on_timeout and isinstance(error, (ConnectionRefusedError, ConnectionResetError)):
            # Only reached after UDP timed out: TCP is closed too, so the server says nothing at all.
            return Observation(ObservationKind.TIMEOUT, detail=f"TCP: {error.strerror or error}")
        return Observation(ObservationKind.NO_RESPONSE, detail=error.strerror or str(error))
    except dns.exception.DNSException as error:
        return Observation(ObservationKind.BAD_RESPONSE, detail=str(error) or type(error).__name__)


def query_txt(name: str, server: Nameserver, timeout: float = DEFAULT_QUERY_TIMEOUT) -> Observation:
    """Ask ``server`` directly and non-recursively for the TXT values at ``name``: UDP, TCP if truncated."""
    query = make_query(name, dns.rdatatype.TXT)
    response = exchange(query, server, timeout)
    if isinstance(response, Observation):
        return response
    return _interpret(response, query.question[0].name)


def route_error(server: Nameserver) -> Optional[OSError]:
    """An error if this host has no route to the server's address; connect() on UDP sends nothing."""
    family = socket.AF_INET6 if server.family == "IPv6" else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((server.address, server.port))
    except OSError as error:
        if error.errno in _NO_ROUTE_ERRNOS:
            return error
    return None
