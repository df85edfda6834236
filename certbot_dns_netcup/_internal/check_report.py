"""What ``certbot-dns-netcup check`` found: plain dataclasses, rendered by ``cli`` as text or JSON.

A step of the check that fails adds the reason to ``Report.problems`` (a renewal would fail), a
``warning`` (it would work, but something needs attention) or a ``note`` (worth knowing; changes
nothing about the verdict).  Nothing here holds a secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from certbot_dns_netcup._internal.records import LeftoverCheck


@dataclass
class ApiCheck:
    """One API's credentials: present in the file, and whether netcup accepts them (never the secrets)."""

    api: str  # "CCP API" or "REST API"
    present: bool
    found: str  # what the file holds, e.g. "customer 12345, API key and API password"
    accepted: Optional[bool] = None  # None: not in the file, or netcup could not be asked
    error: str = ""


@dataclass
class ServerCheck:
    """One address of a nameserver, asked directly and non-recursively about the zone's apex."""

    host: str
    address: str
    port: int
    family: str
    status: str  # what the server did, for people
    reachable: bool  # a DNS server answered at all
    authoritative: bool  # it answered with the zone's data (AA flag): the plugin can poll it


@dataclass
class ZoneApexCheck:
    """What one answering nameserver of the zone serves at its apex: the zone's own NS set and its DNSKEYs."""

    host: str
    address: str
    port: int
    nameservers: Optional[list[str]]  # None: no authoritative answer (see status)
    dnskeys: Optional[list[str]]  # e.g. "key tag 12345 (algorithm 13, KSK)"; None: no authoritative answer
    ds_match: Optional[bool]  # a DS at the registry matches one of its keys; None: no DS there, or not checked
    status: str


@dataclass
class DsCheck:
    """One DS record at the registry (the parent zone) and the nameservers whose DNSKEY it matches."""

    record: str  # presentation format: key tag, algorithm, digest type, digest
    key_tag: int
    algorithm: int
    digest_type: int
    checkable: bool  # False: a digest type this host cannot compute
    matches: list[str]  # "host (address)" of each nameserver serving the DNSKEY it points to


@dataclass
class RegistryCheck:
    """The zone's delegation as the parent zone's own servers publish it (not a resolver's cache), and DNSSEC."""

    parent_zone: Optional[str] = None  # e.g. "com"; None: not found
    server: Optional[str] = None  # the parent's server that answered, "host (address)"
    checked: bool = False  # the parent answered; otherwise not_checked says why
    not_checked: str = ""
    registered: Optional[bool] = None  # False: the parent says the domain does not exist (NXDOMAIN)
    nameservers: list[str] = field(default_factory=list)  # the NS set at the parent
    zone_nameservers: list[str] = field(default_factory=list)  # the NS set the zone's own nameservers serve
    nameservers_match: Optional[bool] = None  # None: one of the two sets is not known
    ds_known: Optional[bool] = None  # the DS question got an authoritative answer
    ds: list[DsCheck] = field(default_factory=list)
    apex: list[ZoneApexCheck] = field(default_factory=list)
    # "unsigned", "unsigned delegation" (DNSKEYs, no DS), "secure", "broken", "unknown" or "not checked"
    dnssec: str = "not checked"


@dataclass
class ProbeServer:
    host: str
    address: str
    port: int
    served_after: Optional[float]  # seconds after the record was created; None: not served
    status: str


@dataclass
class ProbeReport:
    record: str
    zone: str
    bound: float
    servers: list[ProbeServer] = field(default_factory=list)
    created: bool = False
    removed: bool = False
    slowest: Optional[float] = None
    recommended_seconds: Optional[int] = None
    interrupted: bool = False


@dataclass
class Report:
    domain: str
    credentials_file: str
    apis: list[ApiCheck] = field(default_factory=list)
    record_name: str = ""  # _acme-challenge.DOMAIN
    cname_target: Optional[str] = None  # where a CNAME at record_name leads (the record is created there)
    zone: Optional[str] = None
    api: Optional[str] = None
    delegation: list[str] = field(default_factory=list)  # the zone's NS set as the world sees it
    delegated_to_netcup: Optional[bool] = None
    servers_source: str = "delegation"  # or "--nameservers"
    servers: list[ServerCheck] = field(default_factory=list)
    families: dict[str, bool] = field(default_factory=dict)  # "IPv4" -> some server of that family answers
    registry: Optional[RegistryCheck] = None
    probe: Optional[ProbeReport] = None
    leftovers: Optional[LeftoverCheck] = None  # records journals still hold, and unexplained challenge values
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # facts worth knowing that change nothing about the verdict

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, text: str) -> None:
        # The same failure can surface in two steps (a rejected key in the credential check and the zone lookup).
        if text not in self.problems:
            self.problems.append(text)

    def warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)
