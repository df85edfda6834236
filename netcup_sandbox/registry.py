"""The parent zone of the sandbox's domains: a "registry" serving ``test.`` with delegations and DS records.

What a TLD's servers do for a registered domain: a query at or below it gets a
referral (no AA flag, the domain's NS set in the authority section, glue
addresses for nameservers inside ``test.``), a DS query for it an authoritative
answer.  By default every account zone is delegated to its own NS set
(``Zone.nameservers``), and every name of ``state.foreign_records`` with NS
records to those; ``delegate()`` overrides a domain's NS set and gives it DS
records, to model a registry whose data disagrees with the zone.

``publish()`` makes the registry findable the way the real one is: the fake
recursive resolver then answers the NS set of ``test`` with the registry's
host name, and that name's address.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Optional

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from .dns_listener import ListeningServer, rejected
from .state import NetcupState
from .zone_data import NEGATIVE_TTL, absolute

REGISTRY_MODES = ("normal", "refused", "silent")
DELEGATION_TTL = 3600


@dataclass(frozen=True)
class Delegation:
    nameservers: tuple[str, ...]  # host names, no trailing dot; () = not registered (NXDOMAIN)
    ds: tuple[str, ...] = ()  # DS records in presentation format


class RegistryServer(ListeningServer):
    """Authoritative server of the parent zone ``origin`` on ``host``:``port`` (0 = any free port).

    ``mode``: ``normal``; ``refused`` (REFUSED for everything); ``silent`` (never answers).
    """

    def __init__(
        self,
        state: NetcupState,
        host: str,
        port: int = 0,
        origin: str = "test",
        name: str = "a.registry.test",
        mode: str = "normal",
    ) -> None:
        if mode not in REGISTRY_MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {REGISTRY_MODES}")
        self.state = state
        self.origin = origin.lower().rstrip(".")
        self.name = name.lower().rstrip(".")
        self.mode = mode
        self._overrides: dict[str, Delegation] = {}
        self._lock = threading.Lock()
        super().__init__(host, port)

    def __repr__(self) -> str:
        return f"RegistryServer({self.origin!r}, {self.address}:{self.port}, mode={self.mode!r})"

    # ----- the registry's data -----------------------------------------------
    def delegate(self, domain: str, nameservers: Optional[tuple[str, ...]] = None, ds: tuple[str, ...] = ()) -> None:
        """Publish ``domain`` delegated to ``nameservers`` (None: its zone's own NS set) with DS records ``ds``."""
        domain = domain.lower().rstrip(".")
        if nameservers is None:
            nameservers = self._default_nameservers(domain)
        with self._lock:
            self._overrides[domain] = Delegation(tuple(n.lower().rstrip(".") for n in nameservers), tuple(ds))

    def delegation(self, domain: str) -> Optional[Delegation]:
        """What the registry publishes for ``domain``; None when it is not registered."""
        domain = domain.lower().rstrip(".")
        with self._lock:
            override = self._overrides.get(domain)
        if override is not None:
            return override if override.nameservers else None
        nameservers = self._default_nameservers(domain)
        return Delegation(nameservers) if nameservers else None

    def _default_nameservers(self, domain: str) -> tuple[str, ...]:
        zone = self.state.zones.get(domain)
        if zone is not None:
            return tuple(n.lower().rstrip(".") for n in zone.nameservers)
        foreign = self.state.foreign_records.get(domain, [])
        return tuple(value.lower().rstrip(".") for rtype, value in foreign if rtype.upper() == "NS")

    def _registered(self) -> set[str]:
        with self._lock:
            names = set(self._overrides)
        names.update(self.state.zones)
        names.update(
            n for n, entries in self.state.foreign_records.items() if any(t.upper() == "NS" for t, _ in entries)
        )
        return {n for n in names if n != self.origin and n.endswith("." + self.origin)}

    def publish(self) -> None:
        """Make the recursive resolver answer NS of the origin with this server, and its host name's address."""
        self.state.host_addresses[self.name] = [self.address]
        self.state.foreign_records[self.origin] = [
            ("SOA", f"{self.name}. hostmaster.{self.origin}. 2026120101 7200 3600 1209600 {NEGATIVE_TTL}"),
            ("NS", f"{self.name}."),
        ]

    def unpublish(self) -> None:
        self.state.foreign_records.pop(self.origin, None)
        self.state.host_addresses.pop(self.name, None)

    # ----- answering -------------------------------------------------------
    def _handle(self, query: dns.message.Message, transport: str) -> Optional[dns.message.Message]:
        mode = self.mode
        if mode == "silent":
            return None
        response = dns.message.make_response(query)
        response.flags &= ~(dns.flags.RA | dns.flags.AA)
        if mode == "refused":
            response.set_rcode(dns.rcode.REFUSED)
            return response
        if rejected(query, response):
            return response
        question = query.question[0]
        qname, qtype = question.name, question.rdtype
        origin = absolute(self.origin)
        if not qname.is_subdomain(origin):
            response.set_rcode(dns.rcode.REFUSED)
            return response
        registered = self._registered()
        for depth in range(len(qname.labels) - len(origin.labels)):
            cut = dns.name.Name(qname.labels[depth:])
            domain = cut.to_text(omit_final_dot=True).lower()
            if domain not in registered:
                continue
            delegation = self.delegation(domain)
            if delegation is None:
                continue
            if qname == cut and qtype == dns.rdatatype.DS:
                # The DS set belongs to the parent's side of the cut: an authoritative answer.
                response.flags |= dns.flags.AA
                if delegation.ds:
                    response.answer.append(
                        dns.rrset.from_text_list(cut, DELEGATION_TTL, "IN", "DS", list(delegation.ds))
                    )
                else:
                    response.authority.append(self._soa())
                return response
            self._refer(response, cut, delegation)
            return response
        response.flags |= dns.flags.AA
        self._answer_own(response, qname, qtype, registered)
        return response

    def _refer(self, response: dns.message.Message, cut: dns.name.Name, delegation: Delegation) -> None:
        targets = [f"{host}." for host in delegation.nameservers]
        response.authority.append(dns.rrset.from_text_list(cut, DELEGATION_TTL, "IN", "NS", targets))
        origin = absolute(self.origin)
        for host in delegation.nameservers:
            target = absolute(host)
            if not target.is_subdomain(origin):
                continue  # glue only for nameservers inside the registry's zone
            for address in self.state.host_addresses.get(host, []):
                rdtype = "AAAA" if ":" in address else "A"
                response.additional.append(dns.rrset.from_text(target, DELEGATION_TTL, "IN", rdtype, address))

    def _answer_own(
        self, response: dns.message.Message, qname: dns.name.Name, qtype: dns.rdatatype.RdataType, registered: set[str]
    ) -> None:
        origin = absolute(self.origin)
        if qname == origin:
            if qtype == dns.rdatatype.SOA:
                response.answer.append(self._soa())
            elif qtype == dns.rdatatype.NS:
                response.answer.append(dns.rrset.from_text(origin, DELEGATION_TTL, "IN", "NS", f"{self.name}."))
            else:
                response.authority.append(self._soa())
            return
        text = qname.to_text(omit_final_dot=True).lower()
        if text == self.name and qtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            wanted = "AAAA" if qtype == dns.rdatatype.AAAA else "A"
            addresses = [a for a in self.state.host_addresses.get(text, []) if (":" in a) == (wanted == "AAAA")]
            if addresses:
                response.answer.append(dns.rrset.from_text_list(qname, DELEGATION_TTL, "IN", wanted, addresses))
            else:
                response.authority.append(self._soa())
            return
        if text == self.name or any(n.endswith("." + text) for n in [*registered, self.name]):
            response.authority.append(self._soa())  # exists (an empty non-terminal or the server's own name)
            return
        response.set_rcode(dns.rcode.NXDOMAIN)
        response.authority.append(self._soa())

    def _soa(self) -> dns.rrset.RRset:
        text = f"{self.name}. hostmaster.{self.origin}. 2026120101 7200 3600 1209600 {NEGATIVE_TTL}"
        return dns.rrset.from_text(absolute(self.origin), NEGATIVE_TTL, "IN", "SOA", text)
