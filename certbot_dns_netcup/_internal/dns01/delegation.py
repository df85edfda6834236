"""A zone's delegation as its parent zone publishes it, and whether DNSSEC holds across it.

The parent's view is not the recursive resolver's: a resolver may have cached
the zone's own NS set, and it never shows the DS records that decide whether
validating resolvers (a certificate authority's among them) trust the zone.
So the parent zone is found by walking up from the zone through the resolver
(the closest ancestor that has an NS set), and then the parent's own servers
are asked directly and non-recursively for the zone's NS set (the referral's
authority section) and its DS records.  The zone's servers are asked the same
way for the NS set and the DNSKEYs at the apex, and the DS records are checked
against the keys with ``dns.dnssec.make_ds``.

Nothing here knows about any DNS provider: the caller words the advice.  Only
dnspython 2.0 APIs are used (distributions ship 2.0 to 2.3).
"""

from __future__ import annotations

import concurrent.futures
import inspect
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional, Union

import dns.dnssec
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.resolver

from . import dnslookup, dnsquery
from .dnslookup import DnsLookupError, normalize_name
from .nameservers import Nameserver

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 3.0  # seconds for one query to one server
MAX_PARENT_ADDRESSES = 6  # parent server addresses tried before giving up (a resolver gives up sooner)

# DS digest types that dns.dnssec.make_ds computes (dnspython 2.0 and later), by number.
DIGEST_NAMES = {1: "SHA1", 2: "SHA256", 4: "SHA384"}
_ZONE_KEY_FLAG = 0x0100  # DNSKEY flag: a zone key (the only kind that can sign the zone's data)
_SEP_FLAG = 0x0001  # DNSKEY flag: secure entry point, by convention the key a DS points to (a KSK)

# dnspython 2.3 added a policy to make_ds that refuses to *create* SHA-1 digests; checking one is still allowed.
_MAKE_DS_VALIDATING = "validating" in inspect.signature(dns.dnssec.make_ds).parameters


class ParentUnavailable(Exception):
    """The parent zone could not be asked: none found (a private top-level domain), or no server answered."""


class _Unanswered(Exception):
    """One server gave no usable answer; the message says why."""


# ----- what was found --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ParentDelegation:
    """The zone's delegation as one server of the parent zone publishes it."""

    zone: str
    parent: str  # the parent zone, lower case, no trailing dot
    server: Nameserver  # the parent server that answered
    exists: bool  # False: the parent says the zone does not exist (NXDOMAIN)
    nameservers: tuple[str, ...]  # the zone's NS set at the parent, sorted; () when not delegated
    ds: tuple[str, ...]  # DS records at the parent, presentation format, sorted
    ds_known: bool  # the DS question got an authoritative answer (``ds`` means something)
    ds_detail: str = ""  # why not, when not


@dataclass(frozen=True)
class ApexData:
    """What one of the zone's own servers serves at the apex, asked directly and non-recursively."""

    server: Nameserver
    nameservers: Optional[tuple[str, ...]]  # the NS set, sorted; None: no authoritative answer
    dnskeys: Optional[tuple[str, ...]]  # DNSKEY records, presentation format; None: no authoritative answer
    detail: str = ""  # why a field is None


@dataclass(frozen=True)
class DsVerdict:
    """One DS record at the parent and the servers whose DNSKEYs it matches."""

    text: str
    key_tag: int
    algorithm: int
    digest_type: int
    checkable: bool  # False: a digest type make_ds cannot compute, so it matches nothing known
    matched_by: tuple[Nameserver, ...]  # servers serving a DNSKEY this DS matches


# DnssecComparison.state values
UNSIGNED = "unsigned"  # no DS at the parent, no DNSKEY at the zone's servers
UNSIGNED_DELEGATION = "unsigned delegation"  # the zone serves DNSKEYs, the parent has no DS: not validated, works
SECURE = "secure"  # every server serves a DNSKEY that a DS matches
BROKEN = "broken"  # some server serves no DNSKEY that any DS matches: validating resolvers fail there
UNKNOWN = "unknown"  # could not be decided (no keys seen, or only DS with digest types not computable here)


@dataclass(frozen=True)
class DnssecComparison:
    state: str  # one of the constants above
    ds: tuple[DsVerdict, ...]
    unmatched_servers: tuple[Nameserver, ...]  # servers none of whose DNSKEYs a DS matches (BROKEN)
    stale_ds: tuple[DsVerdict, ...]  # checkable DS that match no key on any server (harmless if others match)


# ----- queries ---------------------------------------------------------------------------------------------------
def _absolute(name: str) -> dns.name.Name:
    return dns.name.from_text(normalize_name(name) + ".")


def _text(name: dns.name.Name) -> str:
    return normalize_name(name.to_text(omit_final_dot=True))


def _exchange(qname: dns.name.Name, rdtype: Any, server: Nameserver, timeout: float) -> dns.message.Message:
    """Ask ``server`` directly (RD=0) for ``rdtype`` at ``qname`` (dnsquery's query and transport);
    ``_Unanswered`` saying why when there is no usable response."""
    response = dnsquery.exchange(dnsquery.make_query(_text(qname), rdtype), server, timeout)
    if isinstance(response, dnsquery.Observation):
        raise _Unanswered(response.describe(frozenset()))
    return response


def _rcode_text(response: dns.message.Message) -> str:
    return dns.rcode.to_text(response.rcode())


def _rrset(section: Sequence[Any], name: dns.name.Name, rdtype: Any) -> Optional[Any]:
    for rrset in section:
        if rrset.name == name and rrset.rdtype == rdtype:
            return rrset
    return None


def find_parent_zone(zone: str, resolver: dns.resolver.Resolver) -> tuple[str, list[str]]:
    """The parent zone of ``zone`` and the host names of its servers, through the recursive ``resolver``.

    The parent is the closest ancestor with an NS set, up to the top-level domain.  ``ParentUnavailable``
    if there is none (a private or reserved top-level domain) or the resolver cannot tell.
    """
    zone = normalize_name(zone)
    labels = zone.split(".")
    if len(labels) < 2:
        raise ParentUnavailable(f"{zone} is a top-level domain; its parent is the root zone")
    for depth in range(1, len(labels)):
        ancestor = ".".join(labels[depth:])
        try:
            answer = resolver.resolve(_absolute(ancestor), dns.rdatatype.NS, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            continue
        except dns.exception.DNSException as error:
            raise ParentUnavailable(f"looking up the NS set of {ancestor} failed: {error}") from error
        hosts = [] if answer.rrset is None else [r for r in answer.rrset if r.rdtype == dns.rdatatype.NS]
        if hosts:
            return ancestor, sorted({_text(r.target) for r in hosts})
    top = labels[-1]
    raise ParentUnavailable(f"the top-level domain {top} is not delegated in this host's DNS (a private name?)")


def _ask_parent(zone: dns.name.Name, parent: str, server: Nameserver, timeout: float) -> ParentDelegation:
    response = _exchange(zone, dns.rdatatype.NS, server, timeout)
    authoritative = bool(response.flags & dns.flags.AA)
    rcode = response.rcode()
    name = _text(zone)
    if rcode == dns.rcode.NXDOMAIN and authoritative:
        return ParentDelegation(name, parent, server, False, (), (), True)
    if rcode != dns.rcode.NOERROR:
        raise _Unanswered(_rcode_text(response) + ("" if authoritative else " without the AA flag"))
    # A referral: the NS set in the authority section.  A server that also serves the zone itself may
    # answer authoritatively instead; its answer is then the zone's NS set as that server holds it.
    found = _rrset(response.authority, zone, dns.rdatatype.NS)
    if found is None and authoritative:
        found = _rrset(response.answer, zone, dns.rdatatype.NS)
    if found is not None:
        nameservers = tuple(sorted({_text(r.target) for r in found}))
    elif authoritative and not response.answer:
        nameservers = ()  # the parent holds the name, but delegates nothing there
    else:
        other = [r.name for r in response.authority if r.rdtype == dns.rdatatype.NS]
        raise _Unanswered(f"a referral to {_text(other[0])}" if other else "an answer without the AA flag")
    ds, ds_known, ds_detail = _ask_ds(zone, server, timeout)
    return ParentDelegation(name, parent, server, True, nameservers, ds, ds_known, ds_detail)


def _ask_ds(zone: dns.name.Name, server: Nameserver, timeout: float) -> tuple[tuple[str, ...], bool, str]:
    """The DS records a parent server holds for ``zone``: (texts, known, why not known)."""
    try:
        response = _exchange(zone, dns.rdatatype.DS, server, timeout)
    except _Unanswered as error:
        return (), False, str(error)
    if not response.flags & dns.flags.AA:
        return (), False, "the DS answer had no AA flag"
    if response.rcode() == dns.rcode.NXDOMAIN:
        return (), True, ""
    if response.rcode() != dns.rcode.NOERROR:
        return (), False, f"DS answered with {_rcode_text(response)}"
    found = _rrset(response.answer, zone, dns.rdatatype.DS)
    return (tuple(sorted(r.to_text() for r in found)) if found is not None else ()), True, ""


def query_parent(
    zone: str,
    resolver: dns.resolver.Resolver,
    *,
    port: int = 53,
    timeout: float = DEFAULT_TIMEOUT,
    max_addresses: int = MAX_PARENT_ADDRESSES,
) -> ParentDelegation:
    """The NS set and DS records of ``zone`` as the parent zone's own servers publish them.

    The parent and its servers' addresses come from ``resolver``; the servers are then asked
    directly on ``port``, one address after the other until one answers (at most
    ``max_addresses``).  ``ParentUnavailable`` says why the parent could not be asked.
    """
    parent, hosts = find_parent_zone(zone, resolver)
    qname = _absolute(zone)
    failures: list[str] = []
    tried = 0
    for host in hosts:
        try:
            addresses = dnslookup.host_addresses(host, resolver)
        except DnsLookupError as error:
            failures.append(str(error))
            continue
        for address in addresses:
            if tried >= max_addresses:
                break
            tried += 1
            server = Nameserver(host, address, port)
            try:
                found = _ask_parent(qname, parent, server, timeout)
            except _Unanswered as error:
                logger.debug("parent server %s of %s: %s", server, zone, error)
                failures.append(f"{server}: {error}")
                continue
            logger.debug("delegation of %s at %s: %s", zone, server, found)
            return found
    reasons = "; ".join(failures) if failures else "no addresses"
    raise ParentUnavailable(f"no server of the parent zone {parent} answered about {normalize_name(zone)} ({reasons})")


def _ask_apex(apex: dns.name.Name, server: Nameserver, timeout: float) -> ApexData:
    results: dict[Any, Union[tuple[str, ...], str]] = {}
    for rdtype in (dns.rdatatype.NS, dns.rdatatype.DNSKEY):
        try:
            response = _exchange(apex, rdtype, server, timeout)
        except _Unanswered as error:
            results[rdtype] = str(error)
            continue
        if response.rcode() != dns.rcode.NOERROR:
            results[rdtype] = _rcode_text(response)
        elif not response.flags & dns.flags.AA:
            results[rdtype] = "not authoritative"
        else:
            found = _rrset(response.answer, apex, rdtype)
            if found is None:
                results[rdtype] = ()
            elif rdtype == dns.rdatatype.NS:
                results[rdtype] = tuple(sorted({_text(r.target) for r in found}))
            else:
                results[rdtype] = tuple(sorted(r.to_text() for r in found))
    ns, keys = results[dns.rdatatype.NS], results[dns.rdatatype.DNSKEY]
    details = [f"{kind}: {value}" for kind, value in (("NS", ns), ("DNSKEY", keys)) if isinstance(value, str)]
    return ApexData(
        server,
        ns if isinstance(ns, tuple) else None,
        keys if isinstance(keys, tuple) else None,
        "; ".join(details),
    )


def query_apex(zone: str, servers: Sequence[Nameserver], *, timeout: float = DEFAULT_TIMEOUT) -> list[ApexData]:
    """The NS set and the DNSKEYs each of ``servers`` serves at the apex of ``zone``, in the servers' order."""
    apex = _absolute(zone)
    if not servers:
        return []
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(16, len(servers))) as pool:
        return list(pool.map(lambda server: _ask_apex(apex, server, timeout), servers))


# ----- comparing -------------------------------------------------------------------------------------------------
def _rdata(rdtype: Any, text: str) -> Any:
    """Parsed rdata; ``Any`` because its fields (key_tag, digest, flags...) depend on the type."""
    return dns.rdata.from_text(dns.rdataclass.IN, rdtype, text)


def key_tag(dnskey: str) -> int:
    """The key tag of a DNSKEY given in presentation format (what a DS names it by)."""
    return int(dns.dnssec.key_id(_rdata(dns.rdatatype.DNSKEY, dnskey)))


def describe_key(dnskey: str) -> str:
    """``key tag 12345 (algorithm 13, KSK)``: how people tell keys apart."""
    key = _rdata(dns.rdatatype.DNSKEY, dnskey)
    role = "KSK" if key.flags & _SEP_FLAG else "ZSK"
    return f"key tag {dns.dnssec.key_id(key)} (algorithm {key.algorithm}, {role})"


def _make_ds(zone: dns.name.Name, key: Any, digest: str) -> Any:
    if _MAKE_DS_VALIDATING:
        return dns.dnssec.make_ds(zone, key, digest, validating=True)
    return dns.dnssec.make_ds(zone, key, digest)


def ds_matches_key(zone: str, ds: str, dnskey: str) -> Optional[bool]:
    """Whether the DS record ``ds`` points to the DNSKEY ``dnskey`` of ``zone`` (both in presentation format).

    ``None`` when the DS's digest type cannot be computed here.
    """
    ds_rdata = _rdata(dns.rdatatype.DS, ds)
    key = _rdata(dns.rdatatype.DNSKEY, dnskey)
    digest = DIGEST_NAMES.get(ds_rdata.digest_type)
    if digest is None:
        return None
    if not key.flags & _ZONE_KEY_FLAG or ds_rdata.algorithm != key.algorithm:
        return False
    if ds_rdata.key_tag != dns.dnssec.key_id(key):
        return False
    try:
        computed = _make_ds(_absolute(zone), key, digest)
    except (dns.exception.DNSException, ValueError) as error:
        logger.debug("cannot compute a %s DS for %s: %s", digest, zone, error)
        return None
    return bool(computed.digest == ds_rdata.digest)


def compare_dnssec(zone: str, ds: Sequence[str], keys: Mapping[Nameserver, Sequence[str]]) -> DnssecComparison:
    """Check the parent's DS records against the DNSKEYs each server serves (``keys``; servers that gave no
    authoritative answer left out).

    A server is fine when some DS matches one of its keys: a validating resolver needs one chain of
    trust, not all.  A server none of whose keys any DS matches (no keys at all included) makes every
    validating resolver that asks it fail.
    """
    verdicts: list[DsVerdict] = []
    for text in ds:
        record = _rdata(dns.rdatatype.DS, text)
        checkable = record.digest_type in DIGEST_NAMES
        matched: list[Nameserver] = []
        for server, server_keys in keys.items():
            results = [ds_matches_key(zone, text, key) for key in server_keys]
            if any(results):
                matched.append(server)
            elif None in results:
                checkable = False
        verdicts.append(
            DsVerdict(
                text, int(record.key_tag), int(record.algorithm), int(record.digest_type), checkable, tuple(matched)
            )
        )
    any_keys = any(keys.values())
    if not verdicts:
        return DnssecComparison(UNSIGNED_DELEGATION if any_keys else UNSIGNED, (), (), ())
    unmatched = tuple(s for s in keys if not any(s in v.matched_by for v in verdicts))
    uncheckable = any(not v.checkable for v in verdicts)
    stale = tuple(v for v in verdicts if v.checkable and not v.matched_by)
    if not keys:
        state = UNKNOWN
    elif unmatched and not uncheckable:
        state = BROKEN
    elif unmatched:
        state = UNKNOWN  # a DS this host cannot compute might be the one that matches
    else:
        state = SECURE
    return DnssecComparison(state, tuple(verdicts), unmatched if state == BROKEN else (), stale)
