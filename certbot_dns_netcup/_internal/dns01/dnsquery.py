"""One direct, non-recursive TXT query to one authoritative server, and what its answer means.

Never through a recursive resolver: one could cache the negative answer that
the CA would then see.  UDP first, TCP when the answer is truncated.
"""

from __future__ import annotations

import errno
import logging
import socket
from dataclasses import dataclass
from typing import Optional

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype

from certbot_dns_netcup._internal.dns01.dnslookup import normalize_name
from certbot_dns_netcup._internal.dns01.nameservers import Nameserver

logger = logging.getLogger(__name__)

DEFAULT_QUERY_TIMEOUT = 2.0
MAX_VALUES_SHOWN = 5

# connect()/sendto() errors that mean "no route to this address from here", not "the server is down".
_NO_ROUTE_ERRNOS = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT})


# ----- --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Observation:
    """What one server said about one name."""

    kind: str  # one of the constants below
    values: tuple[str, ...] = ()
    detail: str = ""

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

    @property
    def answered(self) -> bool:
        """Whether a DNS server replied at all (even with an error)."""
        return self.kind not in (self.TIMEOUT, self.NO_ROUTE, self.NO_RESPONSE)

    def serves(self, expected: frozenset[str]) -> bool:
        return self.kind == self.ANSWER and expected <= set(self.values)

    def describe(self, expected: frozenset[str]) -> str:
        if self.kind == self.ANSWER:
            missing = sorted(expected - set(self.values))
            if not missing:
                return "serves all values"
            shown = [repr(v) for v in self.values[:MAX_VALUES_SHOWN]]
            if len(self.values) > MAX_VALUES_SHOWN:
                shown.append(f"{len(self.values) - MAX_VALUES_SHOWN} more")
            has = ", ".join(shown)
            return f"wrong values: has {has}; missing {', '.join(repr(v) for v in missing)}"
        text = self.detail if self.kind == self.RCODE else self.kind
        if self.detail and self.kind != self.RCODE:
            text += f" ({self.detail})"
        return text


def _interpret(response: dns.message.Message, qname: dns.name.Name) -> Observation:
    rcode = response.rcode()
    authoritative = bool(response.flags & dns.flags.AA)
    if rcode == dns.rcode.NXDOMAIN:
        # A negative answer from a server that is not authoritative proves nothing about the zone.
        return (
            Observation(Observation.NXDOMAIN)
            if authoritative
            else Observation(Observation.NOT_AUTHORITATIVE, detail="NXDOMAIN without the AA flag")
        )
    if rcode == dns.rcode.SERVFAIL:
        return Observation(Observation.SERVFAIL)
    if rcode == dns.rcode.REFUSED:
        return Observation(Observation.REFUSED)
    if rcode != dns.rcode.NOERROR:
        return Observation(Observation.RCODE, detail=dns.rcode.to_text(rcode))
    if not authoritative:
        referral = not response.answer and any(r.rdtype == dns.rdatatype.NS for r in response.authority)
        return Observation(Observation.NOT_AUTHORITATIVE, detail="referral" if referral else "answer without AA flag")
    values: list[str] = []
    for rrset in response.answer:
        if rrset.name == qname and rrset.rdtype == dns.rdatatype.TXT:
            # A TXT record may be split into several strings; the value is their concatenation.
            values.extend(b"".join(rdata.strings).decode("utf-8", "replace") for rdata in rrset)
    if values:
        return Observation(Observation.ANSWER, tuple(values))
    cnames = [r for r in response.answer if r.rdtype == dns.rdatatype.CNAME]
    if cnames:
        return Observation(Observation.NODATA, detail=f"CNAME to {cnames[0][0].target.to_text(omit_final_dot=True)}")
    return Observation(Observation.NODATA)


def query_txt(name: str, server: Nameserver, timeout: float = DEFAULT_QUERY_TIMEOUT) -> Observation:
    """Ask ``server`` directly and non-recursively for the TXT values at ``name``: UDP, TCP if truncated."""
    qname = dns.name.from_text(normalize_name(name) + ".")
    query = dns.message.make_query(qname, dns.rdatatype.TXT)
    query.flags &= ~dns.flags.RD  # an authoritative server must answer from its own data
    try:
        try:
            response = dns.query.udp(query, server.address, timeout=timeout, port=server.port, raise_on_truncation=True)
        except dns.message.Truncated:
            logger.debug("%s truncated the answer for %s; retrying over TCP", server, name)
            try:
                response = dns.query.tcp(query, server.address, timeout=timeout, port=server.port)
            except (dns.exception.Timeout, OSError) as error:
                # The server is there (it answered over UDP), only TCP fails.
                detail = f"truncated over UDP, TCP failed: {error or 'timeout'}"
                return Observation(Observation.BAD_RESPONSE, detail=detail)
    except dns.exception.Timeout:
        return Observation(Observation.TIMEOUT)
    except OSError as error:
        kind = Observation.NO_ROUTE if error.errno in _NO_ROUTE_ERRNOS else Observation.NO_RESPONSE
        return Observation(kind, detail=error.strerror or str(error))
    except dns.exception.DNSException as error:
        return Observation(Observation.BAD_RESPONSE, detail=str(error) or type(error).__name__)
    return _interpret(response, qname)


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
