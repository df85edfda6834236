"""A fake recursive resolver: "the world's resolvers" as seen from inside the sandbox.

It knows the delegation of every account zone (its NS set), the addresses of the
nameserver host names, a few records outside the account (``state.foreign_records``),
and forwards everything inside an account zone to ONE authoritative server, chosen
round-robin per query and never cached: like a CA whose vantage points each reach
whichever netcup server they pick.
"""

from __future__ import annotations

import ipaddress
import itertools
import threading
from typing import Optional

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from .dns_listener import ListeningServer, rejected
from .dns_server import AuthoritativeServer
from .state import NetcupState, Zone
from .zone_data import NEGATIVE_TTL, Answer, absolute, cname_target, ns_rrset, soa_rrset

FORWARD_TIMEOUT = 1.0  # seconds before a silent authoritative server turns into SERVFAIL
MAX_CNAME_HOPS = 8
FOREIGN_TTL = 300


class FakeRecursiveResolver(ListeningServer):
    """Recursive-looking DNS server (RA=1) on ``host``:``port`` (0 = any free port).

    ``skip_lame_servers`` (off by default; set it on a started resolver): when the chosen server is
    silent or lame (no answer, an rcode other than NOERROR/NXDOMAIN, no AA flag, or an SOA from
    another zone), ask the zone's other servers in turn, as real recursive resolvers do, and answer
    SERVFAIL only when none of them answers properly.
    """

    skip_lame_servers = False

    def __init__(
        self,
        state: NetcupState,
        servers: list[AuthoritativeServer],
        host: str,
        port: int = 0,
        name: str = "resolver",
    ) -> None:
        self.state = state
        self.servers = servers
        self.name = name
        self._turn = itertools.count()
        self._turn_lock = threading.Lock()
        super().__init__(host, port)

    def __repr__(self) -> str:
        return f"FakeRecursiveResolver({self.name!r}, {self.address}:{self.port})"

    # ----- answering -------------------------------------------------------
    def _handle(self, query: dns.message.Message, transport: str) -> Optional[dns.message.Message]:
        response = dns.message.make_response(query)
        response.flags |= dns.flags.RA
        response.flags &= ~dns.flags.AA  # answers come "from cache", never authoritative
        if rejected(query, response):
            return response
        question = query.question[0]
        result = self.resolve(question.name, question.rdtype)
        response.set_rcode(result.rcode)
        response.answer = result.answer
        response.authority = result.authority
        return response

    def resolve(self, qname: dns.name.Name, qtype: dns.rdatatype.RdataType) -> Answer:
        """Resolve like a recursive resolver: follow CNAMEs wherever they lead."""
        answer: list[dns.rrset.RRset] = []
        current = qname
        for _hop in range(MAX_CNAME_HOPS):
            step = self._resolve_one(current, qtype)
            answer.extend(step.answer)
            target = cname_target(step.answer, current, qtype)
            if target is None or step.rcode != dns.rcode.NOERROR:
                return Answer(step.rcode, answer, step.authority)
            current = target
        return Answer(dns.rcode.SERVFAIL, [], [])  # CNAME loop or too long a chain

    def _resolve_one(self, qname: dns.name.Name, qtype: dns.rdatatype.RdataType) -> Answer:
        text = qname.to_text(omit_final_dot=True).lower()
        if text in self.state.host_addresses:
            return Answer(dns.rcode.NOERROR, self._host_address_rrsets(qname, text, qtype), [])
        foreign = self._foreign_answer(qname, text, qtype)
        if foreign is not None:
            return foreign
        zone = self.state.zone_for(text)
        if zone is not None:
            apex = absolute(zone.name)
            if qname == apex and qtype == dns.rdatatype.NS:
                # The delegation as the parent zone publishes it, also for zones hosted elsewhere.
                return Answer(dns.rcode.NOERROR, [ns_rrset(zone)], [])
            if zone.external_dns:
                return self._external_zone_answer(zone, qname, qtype)
            return self._forward(zone, qname, qtype)
        return Answer(dns.rcode.NXDOMAIN, [], self._foreign_soa(qname))

    def _host_address_rrsets(
        self, qname: dns.name.Name, text: str, qtype: dns.rdatatype.RdataType
    ) -> list[dns.rrset.RRset]:
        wanted = {dns.rdatatype.A: 4, dns.rdatatype.AAAA: 6}.get(qtype)
        addresses = [a for a in self.state.host_addresses[text] if ipaddress.ip_address(a).version == wanted]
        if not addresses:
            return []
        return [dns.rrset.from_text_list(qname, FOREIGN_TTL, "IN", dns.rdatatype.to_text(qtype), addresses)]

    def _foreign_answer(self, qname: dns.name.Name, text: str, qtype: dns.rdatatype.RdataType) -> Optional[Answer]:
        """Answer from ``state.foreign_records``, or None when the name is not one of them."""
        entries = self.state.foreign_records.get(text)
        if entries is None:
            return None
        rrsets: dict[dns.rdatatype.RdataType, dns.rrset.RRset] = {}
        for rtype, value in entries:
            rdata = _foreign_rdata(rtype, value)
            if rdata is not None:
                rrsets.setdefault(rdata.rdtype, dns.rrset.RRset(qname, dns.rdataclass.IN, rdata.rdtype)).add(
                    rdata, FOREIGN_TTL
                )
        if qtype in rrsets:
            return Answer(dns.rcode.NOERROR, [rrsets[qtype]], [])
        if dns.rdatatype.CNAME in rrsets:
            return Answer(dns.rcode.NOERROR, [rrsets[dns.rdatatype.CNAME]], [])
        return Answer(dns.rcode.NOERROR, [], self._foreign_soa(qname))

    def _foreign_soa(self, qname: dns.name.Name) -> list[dns.rrset.RRset]:
        """The SOA of the closest enclosing foreign zone (a foreign record of type SOA), if any."""
        for depth in range(len(qname.labels) - 1):
            name = dns.name.Name(qname.labels[depth:])
            for rtype, value in self.state.foreign_records.get(name.to_text(omit_final_dot=True).lower(), []):
                if rtype.upper() == "SOA":
                    rdata = _foreign_rdata(rtype, value)
                    if rdata is not None:
                        return [dns.rrset.from_rdata(name, NEGATIVE_TTL, rdata)]
        return []

    def _external_zone_answer(self, zone: Zone, qname: dns.name.Name, qtype: dns.rdatatype.RdataType) -> Answer:
        """A zone delegated away from netcup: the world never sees what the account holds for it."""
        soa = soa_rrset(zone, zone.serial)
        if qname == soa.name:
            if qtype == dns.rdatatype.SOA:
                return Answer(dns.rcode.NOERROR, [soa], [])
            return Answer(dns.rcode.NOERROR, [], [soa])
        return Answer(dns.rcode.NXDOMAIN, [], [soa])

    def _forward(self, zone: Zone, qname: dns.name.Name, qtype: dns.rdatatype.RdataType) -> Answer:
        server = self._next_server(zone)
        if server is None:
            return Answer(dns.rcode.SERVFAIL, [], [])
        if self.skip_lame_servers:
            return self._forward_past_lame_servers(zone, server, qname, qtype)
        query = dns.message.make_query(qname, qtype)
        query.flags &= ~dns.flags.RD  # a resolver asks authoritative servers non-recursively
        try:
            reply = dns.query.udp(query, server.address, timeout=FORWARD_TIMEOUT, port=server.port)
            if reply.flags & dns.flags.TC:
                reply = dns.query.tcp(query, server.address, timeout=FORWARD_TIMEOUT, port=server.port)
        except (dns.exception.DNSException, OSError):
            return Answer(dns.rcode.SERVFAIL, [], [])  # timeout or broken answer
        if reply.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            return Answer(dns.rcode.SERVFAIL, [], [])  # SERVFAIL/REFUSED from the server: lame
        return Answer(reply.rcode(), list(reply.answer), list(reply.authority))

    def _forward_past_lame_servers(
        self, zone: Zone, first: AuthoritativeServer, qname: dns.name.Name, qtype: dns.rdatatype.RdataType
    ) -> Answer:
        """Ask ``first``, then the zone's other servers in NS-set order, until one answers authoritatively."""
        names = {ns.rstrip(".").lower() for ns in zone.nameservers}
        candidates = [s for s in self.servers if s.name.lower() in names] or list(self.servers)
        start = candidates.index(first) if first in candidates else 0
        apex = absolute(zone.name)
        query = dns.message.make_query(qname, qtype)
        query.flags &= ~dns.flags.RD
        for server in candidates[start:] + candidates[:start]:
            try:
                reply = dns.query.udp(query, server.address, timeout=FORWARD_TIMEOUT, port=server.port)
                if reply.flags & dns.flags.TC:
                    reply = dns.query.tcp(query, server.address, timeout=FORWARD_TIMEOUT, port=server.port)
            except (dns.exception.DNSException, OSError):
                continue  # silent or broken: the next server
            foreign_soa = any(r.rdtype == dns.rdatatype.SOA and r.name != apex for r in reply.authority)
            if (
                reply.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN)
                and reply.flags & dns.flags.AA
                and not foreign_soa
            ):
                return Answer(reply.rcode(), list(reply.answer), list(reply.authority))
        return Answer(dns.rcode.SERVFAIL, [], [])

    def _next_server(self, zone: Zone) -> Optional[AuthoritativeServer]:
        """Round-robin over the servers named in the zone's NS set (all servers if none is named)."""
        names = {ns.rstrip(".").lower() for ns in zone.nameservers}
        candidates = [s for s in self.servers if s.name.lower() in names] or list(self.servers)
        if not candidates:
            return None
        with self._turn_lock:
            turn = next(self._turn)
        return candidates[turn % len(candidates)]


def _foreign_rdata(rtype: str, value: str) -> Optional[dns.rdata.Rdata]:
    """A foreign record's text as zone-file rdata; TXT text may be given without quotes."""
    rtype = rtype.upper()
    if rtype == "TXT" and not value.startswith('"'):
        value = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    try:
        return dns.rdata.from_text(dns.rdataclass.IN, rtype, value, origin=dns.name.root, relativize=False)
    except (dns.exception.DNSException, ValueError):
        return None
