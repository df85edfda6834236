"""The checks behind ``certbot-dns-netcup check``: will a renewal work, and how long does netcup take?

Each step reuses what the plugin itself runs (credentials, ``Planner`` for CNAME
following, zone, API and nameservers, ``RecordLedger`` and the propagation wait),
so that the answer is the plugin's own.  Steps record what they found in a
``Report``; a step that fails adds the reason to ``Report.problems`` and the
steps that depend on it are skipped.  Nothing here prints: ``cli`` renders the
report, and live progress goes to the ``progress`` callback.
"""

from __future__ import annotations

import concurrent.futures
import logging
import math
import secrets
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from certbot_dns_netcup._internal.credentials import Credentials
from certbot_dns_netcup._internal.dns01 import dnslookup, dnsquery, nameservers, propagation
from certbot_dns_netcup._internal.dns01.dnsquery import Observation
from certbot_dns_netcup._internal.dns01.nameservers import Nameserver
from certbot_dns_netcup._internal.errors import AuthenticationError, NetcupError
from certbot_dns_netcup._internal.netcup.ccp import CcpClient
from certbot_dns_netcup._internal.netcup.rest import ACME_LABEL, RestClient
from certbot_dns_netcup._internal.netcup.zones import CCP, ZoneResolver, candidate_zones
from certbot_dns_netcup._internal.planning import NETCUP_NAMESERVERS_TEXT, Planner, is_netcup_host
from certbot_dns_netcup._internal.records import ChallengeRecord, RecordLedger

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]

DEFAULT_PROBE_BOUND = 1200
NETCUP_SLOWEST_RELOAD = 1200  # seconds: netcup's nameservers sometimes take this long to pick up a change
MIN_RECOMMENDED_BOUND = 120
PROBE_PROGRESS_INTERVAL = 10.0
REACHABILITY_TIMEOUT = 3.0


# ----- what the checks found -------------------------------------------------------------------------------------
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
    probe: Optional[ProbeReport] = None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

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


def recommended_bound(slowest: float) -> int:
    """Twice the slowest server's time, rounded up to a whole minute, at least MIN_RECOMMENDED_BOUND."""
    return max(MIN_RECOMMENDED_BOUND, 60 * math.ceil(2 * slowest / 60))


def probe_value() -> str:
    """A random 43-character base64url string: what an ACME dns-01 value looks like (the REST API takes no other)."""
    return secrets.token_urlsafe(32)


# ----- the checks ------------------------------------------------------------------------------------------------
class Checker:
    """Runs the checks for one domain; ``close()`` logs out of the CCP API."""

    def __init__(
        self,
        domain: str,
        credentials: Credentials,
        *,
        zone_name: Optional[str] = None,
        nameservers: Optional[str] = None,
        resolver_factory: Callable[[], Any] = dnslookup.make_system_resolver,
        progress: Progress = logger.info,
    ) -> None:
        self.credentials = credentials
        self.nameservers_option = nameservers
        self.progress = progress
        self.ccp = CcpClient(credentials.ccp, credentials.ccp_url) if credentials.ccp else None
        self.rest = RestClient(credentials.rest_key, credentials.rest_url) if credentials.rest_key else None
        # Raises ConfigurationError for a malformed zone name: a usage error, before anything is asked.
        zones = ZoneResolver(self.ccp, self.rest, zone_name)
        self.planner = Planner(zones, logger.debug, resolver_factory)
        self.report = Report(domain, credentials.path, record_name=f"{ACME_LABEL}.{domain}")
        self._record: Optional[ChallengeRecord] = None
        self._polled: list[Nameserver] = []

    def close(self) -> None:
        if self.ccp is not None:
            self.ccp.logout()

    def run(self, probe_bound: Optional[float]) -> Report:
        """Every check; with ``probe_bound`` also the probe (unless an earlier check already failed)."""
        self.check_credentials()
        if self.find_zone():
            self.check_nameservers()
        if probe_bound is not None:
            if self.report.problems:
                self.report.warn("The probe was skipped: fix the problems above first.")
            else:
                self.probe(probe_bound)
        return self.report

    # ----- credentials
    def check_credentials(self) -> None:
        ccp = self.credentials.ccp
        found = f"customer {ccp.customer_number}, API key and API password" if ccp else "not in the file"
        ccp_check = ApiCheck("CCP API", ccp is not None, found)
        rest_check = ApiCheck("REST API", self.rest is not None, "API key" if self.rest else "not in the file")
        self.report.apis = [ccp_check, rest_check]
        if self.ccp is not None:
            self._ask(ccp_check, self.ccp.login)
            if ccp_check.accepted is False:
                # Fatal only if the zone turns out to need the CCP API (see find_zone).
                self.report.warn(ccp_check.error)
        if self.rest is not None:
            rest = self.rest
            apex = candidate_zones(self.report.domain)[0]
            self._ask(rest_check, lambda: rest.find_domain(apex))
            if rest_check.accepted is False:
                # The plugin asks the REST API first about every name: a rejected key fails every renewal.
                self.report.problem(rest_check.error)

    def _ask(self, check: ApiCheck, call: Callable[[], object]) -> None:
        try:
            call()
        except AuthenticationError as error:
            check.accepted, check.error = False, str(error)
        except NetcupError as error:
            check.error = str(error)
            self.report.problem(str(error))
        else:
            check.accepted = True

    # ----- record, CNAME, zone and API
    def find_zone(self) -> bool:
        report = self.report
        try:
            [record] = self.planner.records([(report.record_name, probe_value())])
        except (NetcupError, dnslookup.DnsLookupError) as error:
            report.problem(str(error))
            return False
        self._record = record
        if record.name != report.record_name:
            report.cname_target = record.name
        report.zone, report.api = record.target.zone, record.target.api_name
        ccp_check = report.apis[0] if report.apis else None
        if record.target.api == CCP and ccp_check is not None and ccp_check.accepted is False:
            report.problem(f"The zone {record.target.zone} is managed through the CCP API: {ccp_check.error}")
        return True

    # ----- nameservers
    def check_nameservers(self) -> None:
        assert self._record is not None
        report, target = self.report, self._record.target
        option = self.nameservers_option
        try:
            report.delegation = dnslookup.zone_nameserver_names(target.zone, self.planner.resolver)
        except dnslookup.DnsLookupError as error:
            text = f"Could not find the nameservers of {target.zone} through this host's DNS resolver ({error})."
            # With --nameservers the plugin does not look them up (split-horizon set-ups): not fatal then.
            if option:
                report.warn(text)
            else:
                report.problem(text)
        if report.delegation:
            report.delegated_to_netcup = any(is_netcup_host(n) for n in report.delegation)
            if target.api == CCP:
                try:
                    self.planner.zone_nameserver_names(target)  # its verdict and message: the plugin's own
                except NetcupError as error:
                    report.problem(str(error))
            elif not report.delegated_to_netcup:
                report.warn(
                    f"The nameservers of {target.zone} are not netcup's usual ones ({NETCUP_NAMESERVERS_TEXT}); "
                    "netcup's newer DNS platform may use others."
                )
        if option:
            report.servers_source = "--nameservers"
            try:
                servers = self.planner.option_servers(option)
            except NetcupError as error:
                report.problem(str(error))
                return
        elif not report.delegation or (target.api == CCP and not report.delegated_to_netcup):
            return  # the problem is recorded; netcup's servers would not be the ones the CA asks
        else:
            try:
                servers = nameservers.discover_nameservers(
                    target.zone, self.planner.resolver, report.warn, names=report.delegation
                )
            except dnslookup.DnsLookupError as error:
                report.problem(f"Could not find the addresses of the nameservers of {target.zone}: {error}.")
                return
        self._polled = servers
        self.check_reachability(target.zone, servers)

    def check_reachability(self, zone: str, servers: list[Nameserver]) -> None:
        report = self.report
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(8, len(servers)))) as pool:
            observations = list(pool.map(lambda s: dnsquery.query_txt(zone, s, REACHABILITY_TIMEOUT), servers))
        for server, seen in zip(servers, observations):
            authoritative = seen.kind in (Observation.ANSWER, Observation.NODATA)
            status = "answers for the zone" if authoritative else seen.describe(frozenset())
            report.servers.append(
                ServerCheck(
                    server.host, server.address, server.port, server.family, status, seen.answered, authoritative
                )
            )
            report.families[server.family] = report.families.get(server.family, False) or seen.answered
        for family, reachable in sorted(report.families.items()):
            if not reachable:
                report.warn(f"No nameserver of {zone} answers over {family} from this host.")
        if not any(s.reachable for s in report.servers):
            report.problem(
                f"No nameserver of {zone} answers from this host: is outgoing DNS (UDP and TCP port 53) blocked? "
                "The plugin could not see when the record is served."
            )
        for checked in report.servers:
            if checked.reachable and not checked.authoritative:
                report.problem(
                    f"{checked.host} ({endpoint(checked.address, checked.port)}) answers, but not with the data of "
                    f"{zone} ({checked.status}): the plugin would wait for it in vain. Check the zone's delegation "
                    "at netcup."
                )

    # ----- the probe
    def probe(self, bound: float) -> None:
        """Publish a throwaway TXT record, time every server until it serves it, and remove it whatever happens."""
        assert self._record is not None
        record, report = self._record, self.report
        probe = ProbeReport(record.name, record.target.zone, bound)
        report.probe = probe
        servers = self._polled
        if not servers:
            report.problem("There are no nameservers to probe.")
            return
        ledger = RecordLedger(self.ccp, self.rest)
        self.progress(f"Creating a throwaway TXT record at {record.name} through netcup's {record.target.api_name}")
        try:
            with _interrupts_held():  # a half-sent request could leave a record the ledger does not know of
                ledger.publish([record])
            probe.created = True
            expected = [propagation.ExpectedRecord(record.target.zone, record.name, record.value)]
            self._time_servers(probe, expected, servers)
        except KeyboardInterrupt:
            probe.interrupted = True
            self.progress("Interrupted: removing the throwaway record")
            raise
        except NetcupError as error:
            report.problem(str(error))
        finally:
            self._remove(ledger, probe)

    def _time_servers(
        self, probe: ProbeReport, expected: list[propagation.ExpectedRecord], servers: list[Nameserver]
    ) -> None:
        zone = probe.zone
        lagging: set[Nameserver] = set()
        silent: set[Nameserver] = set()
        unreachable: set[Nameserver] = set()
        try:
            result = propagation.wait_for_propagation(
                expected,
                {zone: servers},
                probe.bound,
                self.progress,
                progress_interval=PROBE_PROGRESS_INTERVAL,
                bound_option="--timeout",
            )
            ready = result.ready_after
            silent = {server for _, server in result.silent}
            unreachable = set(result.unreachable)
        except propagation.PropagationTimeout as error:
            ready = error.ready_after
            lagging = {server for _, server in error.lagging}
            self.report.problem(
                f"Not every nameserver served the test record within {probe.bound:.0f} s. netcup's reloads can "
                f"take up to {NETCUP_SLOWEST_RELOAD // 60} minutes: if --timeout was below that, run the check "
                f"again with the default; otherwise netcup has a problem with this zone.\n{error}"
            )
        for server in servers:
            seconds = ready.get((zone, server))
            if seconds is not None:
                status = f"served after {seconds:.1f} s"
            elif server in unreachable:
                status = "not reachable from this host (not waited for)"
            elif server in silent:
                status = "never answered (not waited for)"
            elif server in lagging:
                status = f"not served within {probe.bound:.0f} s"
            else:
                status = "not checked"
            probe.servers.append(ProbeServer(server.host, server.address, server.port, seconds, status))
        times = [s.served_after for s in probe.servers if s.served_after is not None]
        if times and not lagging:
            probe.slowest = max(times)
            probe.recommended_seconds = recommended_bound(probe.slowest)

    def _remove(self, ledger: RecordLedger, probe: ProbeReport) -> None:
        if not ledger.created:
            return
        probe.created = True  # also when Ctrl-C came while the API call was under way
        self.progress(f"Removing the throwaway record from {probe.zone}")
        try:
            with _interrupts_held():  # a second Ctrl-C must not leave the record behind
                ledger.remove_all()
        except NetcupError as error:
            self.report.problem(str(error))
            return
        probe.removed = True


@contextmanager
def _interrupts_held() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) until the block is done, then raise KeyboardInterrupt if one came.

    Only the main thread can set signal handlers; elsewhere the block runs unprotected.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


def endpoint(address: str, port: int) -> str:
    """``address``, or ``address:port`` / ``[address]:port`` when the port is not 53."""
    if port == 53:
        return address
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
