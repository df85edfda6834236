"""The simulated netcup account: zones, records, credentials and publication history.

One ``NetcupState`` is shared by the CCP double, the REST double and the
authoritative DNS servers.  Every change to a zone is appended to the zone's
history with a monotonic timestamp, so that a DNS server with a lag of L seconds
can serve the zone exactly as it was L seconds ago, the way netcup's
nameservers pick up changes late and unevenly.
"""

from __future__ import annotations

import copy
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Optional

NETCUP_NAMESERVERS = ("root-dns.netcup.net", "second-dns.netcup.net", "third-dns.netcup.net")


@dataclass
class Record:
    """A record as the CCP API shows it: hostname relative to the zone, ``@`` for the apex."""

    id: str
    hostname: str
    type: str
    destination: str
    priority: str = "0"

    def as_ccp(self) -> dict:
        return {
            "id": self.id,
            "hostname": self.hostname,
            "type": self.type,
            "priority": self.priority,
            "destination": self.destination,
            "deleterecord": False,
            "state": "unknown",  # as in every recorded answer (tests/fixtures/ccp-cassettes)
        }

    def owner(self, zone: str) -> str:
        """Absolute owner name, lower case, without the trailing dot."""
        return zone if self.hostname == "@" else f"{self.hostname}.{zone}".lower()


@dataclass
class Zone:
    name: str  # apex, lower case, no trailing dot
    # "ccp": legacy platform (CCP API; REST lists it with isDnsManaged false)
    # "rest": netcup's newer DNS platform (REST API only; CCP answers 5028/4013)
    platform: str = "ccp"
    rest_id: int = 0
    # The zone's NS set as the world sees it (delegation).  netcup's by default;
    # anything else models a domain whose DNS is hosted elsewhere.
    nameservers: tuple[str, ...] = NETCUP_NAMESERVERS
    ttl: int = 86400
    serial: int = 2026112901
    records: list[Record] = field(default_factory=list)
    # DNSKEY records (presentation format) served at the apex: a signed zone, for DNSSEC checks.
    dnskeys: tuple[str, ...] = ()
    # (monotonic time, snapshot of records) oldest first; a server with lag L
    # serves the newest snapshot taken at or before now - L.
    history: list[tuple[float, list[Record]]] = field(default_factory=list)

    @property
    def external_dns(self) -> bool:
        return not any(ns.rstrip(".").lower() in NETCUP_NAMESERVERS for ns in self.nameservers)


@dataclass(frozen=True)
class ZoneView:
    """One zone as a server with some lag serves it now (see ``NetcupState.zone_view_at``)."""

    stamp: float  # monotonic time the served snapshot was taken (-inf for the initial zone)
    serial: int  # SOA serial of the served snapshot
    records: list[Record]
    current: bool  # True when the served snapshot is the zone's newest (the server has caught up)


class NetcupState:
    """Thread-safe account state shared by all simulated servers."""

    def __init__(
        self,
        customer_number: str = "12345",
        api_key: str = "sandboxApiKey0123456789abcdefghijklmnopqrstuvwxyzAB",  # 50 chars like CCP keys
        api_password: str = "sandbox-api-password",
        rest_key: Optional[str] = "sandboxRestKey" + "0" * 50,  # 64 chars like REST keys
    ) -> None:
        self.lock = threading.RLock()
        self.customer_number = customer_number
        self.api_key = api_key
        self.api_password = api_password
        self.rest_key = rest_key
        self.zones: dict[str, Zone] = {}
        self._ids = itertools.count(11758200)
        self._rest_ids = itertools.count(1047093)
        # Addresses of nameserver host names, for the sandbox's recursive resolver:
        # host name (lower, no dot) -> list of "ip" strings.
        self.host_addresses: dict[str, list[str]] = {}
        # Extra records visible to the world outside any zone of the account, e.g. a
        # CNAME at _acme-challenge.other.test pointing into an account zone:
        # owner name -> list of (type, text) pairs.
        self.foreign_records: dict[str, list[tuple[str, str]]] = {}

    # ----- zones and records -------------------------------------------------
    def add_zone(self, name: str, platform: str = "ccp", nameservers: Optional[tuple[str, ...]] = None) -> Zone:
        with self.lock:
            zone = Zone(name=name.lower().rstrip("."), platform=platform, rest_id=next(self._rest_ids))
            if nameservers is not None:
                zone.nameservers = tuple(nameservers)
            zone.records = [
                Record(self.new_id(), "@", "A", "192.0.2.10"),
                Record(self.new_id(), "www", "CNAME", "@"),
            ]
            self.zones[zone.name] = zone
            self._snapshot(zone, at=float("-inf"))  # servers have always served the initial zone
            return zone

    def new_id(self) -> str:
        return str(next(self._ids))

    def add_record(self, zone_name: str, hostname: str, rtype: str, destination: str) -> Record:
        with self.lock:
            zone = self.zones[zone_name]
            record = Record(self.new_id(), hostname, rtype.upper(), destination)
            zone.records.append(record)
            self._snapshot(zone)
            return record

    def remove_record(self, zone_name: str, record_id: str) -> bool:
        with self.lock:
            zone = self.zones[zone_name]
            before = len(zone.records)
            zone.records = [r for r in zone.records if r.id != record_id]
            changed = len(zone.records) != before
            if changed:
                self._snapshot(zone)
            return changed

    def commit(self, zone: Zone) -> None:
        """Call after changing ``zone.records`` directly (under ``lock``)."""
        with self.lock:
            self._snapshot(zone)

    def _snapshot(self, zone: Zone, at: Optional[float] = None) -> None:
        zone.serial += 1
        zone.history.append((time.monotonic() if at is None else at, copy.deepcopy(zone.records)))

    def zone_for(self, name: str) -> Optional[Zone]:
        """The most specific zone of the account that contains ``name``."""
        name = name.lower().rstrip(".")
        with self.lock:
            labels = name.split(".")
            for i in range(len(labels)):
                candidate = ".".join(labels[i:])
                if candidate in self.zones:
                    return self.zones[candidate]
        return None

    def records_at(self, zone_name: str, lag: float) -> list[Record]:
        """The zone's records as a server with ``lag`` seconds of delay serves them now."""
        cutoff = time.monotonic() - lag
        with self.lock:
            zone = self.zones[zone_name]
            current = zone.history[0][1]
            for stamp, snapshot in zone.history:
                if stamp <= cutoff:
                    current = snapshot
                else:
                    break
            return current

    def zone_view_at(self, zone_name: str, lag: float) -> ZoneView:
        """Like ``records_at`` plus the snapshot's time and serial, and whether it is the newest one."""
        cutoff = time.monotonic() - lag
        with self.lock:
            zone = self.zones[zone_name]
            index = 0
            for i, (stamp, _snapshot) in enumerate(zone.history):
                if stamp <= cutoff:
                    index = i
                else:
                    break
            newest = len(zone.history) - 1
            stamp, snapshot = zone.history[index]
            # zone.serial counts every snapshot, so older snapshots have proportionally lower serials.
            return ZoneView(stamp, zone.serial - (newest - index), snapshot, index == newest)

    def first_published(self, owner: str, value: str, rtype: str = "TXT") -> Optional[float]:
        """Monotonic time of the snapshot since which ``owner`` has carried ``value`` without a break.

        ``None`` when no snapshot of the zone ever carried it.  A value that was removed and added
        again counts from its latest addition; one removed since counts from its last run.
        """
        owner = owner.lower().rstrip(".")
        zone = self.zone_for(owner)
        if zone is None:
            return None
        rtype = rtype.upper()
        with self.lock:
            since: Optional[float] = None
            previous = False
            for stamp, snapshot in zone.history:
                present = any(
                    r.type == rtype and r.destination == value and r.owner(zone.name) == owner for r in snapshot
                )
                if present and not previous:
                    since = stamp
                previous = present
            return since

    def txt_values(self, owner: str) -> list[str]:
        """Current TXT values at an absolute owner name (what the API state holds now)."""
        owner = owner.lower().rstrip(".")
        zone = self.zone_for(owner)
        if zone is None:
            return []
        with self.lock:
            return [r.destination for r in zone.records if r.type == "TXT" and r.owner(zone.name) == owner]

    def all_txt_records(self) -> list[tuple[str, str]]:
        """(owner, value) of every TXT record in every zone, for leak checks in tests."""
        with self.lock:
            return [(r.owner(z.name), r.destination) for z in self.zones.values() for r in z.records if r.type == "TXT"]
