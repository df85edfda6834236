"""Turn a zone of the simulated account into DNS data and answer questions from it.

Pure functions over ``state.Zone``/``state.ZoneView``: the authoritative servers
use them to answer, the fake recursive resolver to synthesise SOA/NS sets.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import dns.exception
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.rrset

from .state import Record, Zone, ZoneView

NEGATIVE_TTL = 300  # SOA minimum: how long resolvers may cache NXDOMAIN/NODATA
TXT_CHUNK = 255  # longest DNS character-string

Node = dict[dns.rdatatype.RdataType, dns.rrset.RRset]  # rdtype -> the name's RRset of that type
ZoneNames = dict[dns.name.Name, Node]


class Answer(NamedTuple):
    rcode: dns.rcode.Rcode
    answer: list[dns.rrset.RRset]
    authority: list[dns.rrset.RRset]


def absolute(name: str) -> dns.name.Name:
    return dns.name.from_text(name.rstrip(".") + ".")


def soa_rrset(zone: Zone, serial: int) -> dns.rrset.RRset:
    mname = zone.nameservers[0].rstrip(".") if zone.nameservers else f"ns.{zone.name}"
    text = f"{mname}. hostmaster.{zone.name}. {serial} 28800 7200 1209600 {NEGATIVE_TTL}"
    return dns.rrset.from_text(absolute(zone.name), min(zone.ttl, NEGATIVE_TTL), "IN", "SOA", text)


def ns_rrset(zone: Zone) -> dns.rrset.RRset:
    targets = [ns.rstrip(".") + "." for ns in zone.nameservers]
    return dns.rrset.from_text_list(absolute(zone.name), zone.ttl, "IN", "NS", targets)


def record_rdata(zone: Zone, record: Record) -> Optional[dns.rdata.Rdata]:
    """The record as DNS data; None for types the sandbox does not serve or unparsable destinations."""
    rdclass = dns.rdataclass.IN
    try:
        if record.type == "TXT":
            value = record.destination.encode("utf-8")
            # One character-string holds at most 255 bytes; longer values go out as several.
            chunks = [value[i : i + TXT_CHUNK] for i in range(0, len(value), TXT_CHUNK)] or [b""]
            return dns.rdtypes.ANY.TXT.TXT(rdclass, dns.rdatatype.TXT, chunks)
        if record.type in ("A", "AAAA"):
            return dns.rdata.from_text(rdclass, record.type, record.destination)
        if record.type == "CNAME":
            # "@" is the apex (what netcup shows); anything else is taken as an absolute name.
            target = zone.name if record.destination == "@" else record.destination
            return dns.rdata.from_text(rdclass, "CNAME", target.rstrip(".") + ".")
        if record.type == "MX":
            target = zone.name if record.destination == "@" else record.destination
            return dns.rdata.from_text(rdclass, "MX", f"{record.priority or 0} {target.rstrip('.')}.")
    except (dns.exception.DNSException, ValueError):
        return None
    return None


def zone_names(zone: Zone, view: ZoneView) -> ZoneNames:
    """Every owner name of the zone as served in ``view``, with its RRsets (SOA and NS at the apex)."""
    apex = absolute(zone.name)
    names: ZoneNames = {apex: {dns.rdatatype.SOA: soa_rrset(zone, view.serial), dns.rdatatype.NS: ns_rrset(zone)}}
    if zone.dnskeys:
        names[apex][dns.rdatatype.DNSKEY] = dns.rrset.from_text_list(apex, zone.ttl, "IN", "DNSKEY", list(zone.dnskeys))
    for record in view.records:
        owner = absolute(record.owner(zone.name))
        node = names.setdefault(owner, {})  # the name exists even if its type is not served
        if record.type in ("SOA", "NS") and owner == apex:
            continue  # the apex's SOA and NS come from the zone itself
        rdata = record_rdata(zone, record)
        if rdata is None:
            continue
        rrset = node.get(rdata.rdtype)
        if rrset is None:
            rrset = node[rdata.rdtype] = dns.rrset.RRset(owner, dns.rdataclass.IN, rdata.rdtype)
        rrset.add(rdata, zone.ttl)
    return names


def lookup(names: ZoneNames, apex: dns.name.Name, qname: dns.name.Name, qtype: dns.rdatatype.RdataType) -> Answer:
    """Answer from one zone's data, without following a CNAME out of the owner name."""
    soa = [names[apex][dns.rdatatype.SOA]]
    node = names.get(qname)
    if node is None:
        if any(name.is_subdomain(qname) for name in names):
            return Answer(dns.rcode.NOERROR, [], soa)  # empty non-terminal: exists, no data
        return Answer(dns.rcode.NXDOMAIN, [], soa)
    if qtype == dns.rdatatype.ANY and node:
        return Answer(dns.rcode.NOERROR, list(node.values()), [])
    if qtype in node:
        return Answer(dns.rcode.NOERROR, [node[qtype]], [])
    if dns.rdatatype.CNAME in node:
        return Answer(dns.rcode.NOERROR, [node[dns.rdatatype.CNAME]], [])
    return Answer(dns.rcode.NOERROR, [], soa)


def cname_target(
    answer: list[dns.rrset.RRset], qname: dns.name.Name, qtype: dns.rdatatype.RdataType
) -> Optional[dns.name.Name]:
    """Where a CNAME chain in ``answer`` starting at ``qname`` leads, if it has no ``qtype`` data yet."""
    if qtype in (dns.rdatatype.CNAME, dns.rdatatype.ANY):
        return None
    current = qname
    by_owner = {rrset.name: rrset for rrset in answer}
    seen = set()
    while current in by_owner and current not in seen:
        seen.add(current)
        rrset = by_owner[current]
        if rrset.rdtype != dns.rdatatype.CNAME:
            return None
        current = rrset[0].target
    has_data = any(r.name == current and r.rdtype == qtype for r in answer)
    return None if has_data or current == qname else current
