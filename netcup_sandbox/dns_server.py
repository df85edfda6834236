"""A lagging authoritative DNS server for every zone of the simulated netcup account.

Each server serves the account's zones as they were ``lag`` seconds ago, the way
netcup's nameservers pick up changes late and not all at the same time, and can
be switched into a failure ``mode`` at run time.
"""

from __future__ import annotations

import time
from typing import Optional

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from .dns_listener import ListeningServer, rejected
from .state import NetcupState, Zone
from .zone_data import NEGATIVE_TTL, Answer, absolute, cname_target, lookup, ns_rrset, zone_names

MODES = (
    "normal",
    "servfail",
    "refused",
    "silent",
    "truncate",
    "noaa",
    "referral",
    "othersoa",
    "notauth",
    "flap",
    "notcp",
)
DEFAULT_FLAP_AFTER = 0.3
DEFAULT_FLAP_FOR = 3.0
MAX_CNAME_HOPS = 8


class AuthoritativeServer(ListeningServer):
    """Serves all zones of ``state`` over UDP and TCP on ``host``:``port`` (0 = any free port).

    ``lag`` and ``mode`` may be changed while the server runs.  Modes:

    - ``normal``: answer from the zone as it was ``lag`` seconds ago;
    - ``servfail``: SERVFAIL for a zone while this server's view of it is older than the newest
      records, normal once it has caught up (a server that is reloading);
    - ``refused``: REFUSED for everything (a lame server);
    - ``silent``: read queries and never answer, over UDP or TCP;
    - ``truncate``: over UDP always TC=1 without records, full answers over TCP;
    - ``noaa``: normal answers without the AA flag (a server answering from a cache or a stale copy);
    - ``referral``: NOERROR without AA, no answer, the zone's NS set in the authority section
      (a parent zone's server that was named in the NS set by mistake);
    - ``othersoa``: AA and NXDOMAIN with the SOA of the zone's parent (a server that serves the
      parent zone but not this one);
    - ``notauth``: NOTAUTH for everything;
    - ``flap``: normal, except that ``flap_after`` seconds after it started serving a zone's newest
      change it serves the change before for ``flap_for`` seconds (a server that reloaded an older
      copy), then the newest again; ``flap_window`` says when;
    - ``notcp``: normal over UDP (truncating what exceeds the client's EDNS payload, 512 bytes
      without EDNS), every TCP connection reset unread.
    """

    def __init__(
        self, state: NetcupState, name: str, host: str, port: int = 0, lag: float = 0.0, mode: str = "normal"
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {MODES}")
        self.state = state
        self.name = name
        self.lag = lag
        self.mode = mode
        self.flap_after = DEFAULT_FLAP_AFTER
        self.flap_for = DEFAULT_FLAP_FOR
        super().__init__(host, port)

    def _accepts_tcp(self) -> bool:
        return self.mode != "notcp"

    def flap_window(self, zone_name: str) -> Optional[tuple[float, float]]:
        """Monotonic (start, end) of the time in ``flap`` mode when the zone's newest change is not served.

        None when the zone never changed after it was created.
        """
        with self.state.lock:
            zone = self.state.zones[zone_name.lower().rstrip(".")]
            if len(zone.history) < 2:
                return None
            newest = zone.history[-1][0]
        start = newest + self.lag + self.flap_after
        return start, start + self.flap_for

    def _flap_lag(self, zone: Zone, lag: float) -> float:
        """The lag to answer with in ``flap`` mode now: one that hides the newest change inside the window."""
        window = self.flap_window(zone.name)
        now = time.monotonic()
        if window is None or not window[0] <= now < window[1]:
            return lag
        with self.state.lock:
            newest = zone.history[-1][0]
        return max(lag, now - newest + 1e-3)  # the cutoff falls just before the newest change

    def first_serving_time(self, owner: str, value: str) -> Optional[float]:
        """Monotonic time at which this server started (or will start) serving TXT ``value`` at ``owner``.

        Follows the current ``lag``; ignores ``mode``.  None when the account never held the value.
        """
        published = self.state.first_published(owner, value)
        return None if published is None else published + self.lag

    def serves_txt(self, owner: str, value: str) -> bool:
        """Whether a TXT query for ``owner`` answered now would carry ``value`` (mode aside)."""
        owner = owner.lower().rstrip(".")
        zone = self.state.zone_for(owner)
        if zone is None:
            return False
        view = self.state.zone_view_at(zone.name, self.lag)
        return any(r.type == "TXT" and r.destination == value and r.owner(zone.name) == owner for r in view.records)

    def __repr__(self) -> str:
        return f"AuthoritativeServer({self.name!r}, {self.address}:{self.port}, lag={self.lag}, mode={self.mode!r})"

    # ----- answering -------------------------------------------------------
    def _handle(self, query: dns.message.Message, transport: str) -> Optional[dns.message.Message]:
        mode = self.mode  # read once: tests may flip it while a query is being answered
        if mode == "silent":
            return None
        response = dns.message.make_response(query)
        response.flags &= ~dns.flags.RA  # authoritative only: RD is ignored, never recursion
        if mode in ("refused", "notauth"):
            response.set_rcode(dns.rcode.REFUSED if mode == "refused" else dns.rcode.NOTAUTH)
            return response
        if rejected(query, response):
            return response
        question = query.question[0]
        zone = self.state.zone_for(question.name.to_text())
        if zone is None:
            response.set_rcode(dns.rcode.REFUSED)  # not authoritative for it, and no recursion
            return response
        if mode == "referral":
            response.authority = [ns_rrset(zone)]  # "ask them", from a server above the zone
            return response
        if mode == "othersoa":
            response.flags |= dns.flags.AA
            response.set_rcode(dns.rcode.NXDOMAIN)
            response.authority = [_parent_soa(zone)]
            return response
        lag = self.lag
        if mode == "flap":
            lag = self._flap_lag(zone, lag)
        if mode == "servfail" and not self.state.zone_view_at(zone.name, lag).current:
            response.set_rcode(dns.rcode.SERVFAIL)
            return response
        if mode != "noaa":
            response.flags |= dns.flags.AA
        if mode == "truncate" and transport == "udp":
            response.flags |= dns.flags.TC
            return response
        result = self.answer(question.name, question.rdtype, lag)
        response.set_rcode(result.rcode)
        response.answer = result.answer
        response.authority = result.authority
        return response

    def answer(self, qname: dns.name.Name, qtype: dns.rdatatype.RdataType, lag: Optional[float] = None) -> Answer:
        """What this server answers for ``qname``/``qtype``, following CNAMEs through the account's zones."""
        lag = self.lag if lag is None else lag
        answer: list = []
        current = qname
        for _hop in range(MAX_CNAME_HOPS):
            zone = self.state.zone_for(current.to_text())
            if zone is None:
                break  # the chain leaves the zones this server serves: the client follows it
            view = self.state.zone_view_at(zone.name, lag)
            step = lookup(zone_names(zone, view), absolute(zone.name), current, qtype)
            answer.extend(step.answer)
            target = cname_target(step.answer, current, qtype)
            if target is None:
                return Answer(step.rcode, answer, step.authority)
            current = target
        return Answer(dns.rcode.NOERROR, answer, [])


def _parent_soa(zone: Zone) -> dns.rrset.RRset:
    """The SOA of the zone's parent (the root for a top-level zone), as a server of the parent has it."""
    parent = zone.name.partition(".")[2]
    owner = absolute(parent) if parent else dns.name.root
    mname = f"ns.{parent}." if parent else "a.root-servers.test."
    text = f"{mname} hostmaster.{parent + '.' if parent else ''} 2026010101 7200 3600 1209600 {NEGATIVE_TTL}"
    return dns.rrset.from_text(owner, NEGATIVE_TTL, "IN", "SOA", text)
