"""The checks behind ``certbot-dns-netcup check``: will a renewal work, and how long does netcup take?

Each step runs on the plugin's own run object (run.py: credentials, planner for
CNAME following, zone, API and nameservers, ledger, journal and the propagation
wait), so that the answer is the plugin's own.  Steps record what they found in
a ``Report`` (check_report.py); a step that fails adds the reason to
``Report.problems`` and the steps that depend on it are skipped.  Nothing here prints: ``cli`` renders the
report, and live progress goes to the ``progress`` callback.
"""

from __future__ import annotations

import logging
import math
import secrets
from typing import Any, Callable, Optional

from certbot_dns_netcup._internal import defaults
from certbot_dns_netcup._internal.check_report import (
    ApiCheck,
    DsCheck,
    ProbeReport,
    ProbeServer,
    RegistryCheck,
    Report,
    ServerCheck,
    ZoneApexCheck,
)
from certbot_dns_netcup._internal.credentials import Credentials
from certbot_dns_netcup._internal.dns01 import delegation, dnslookup, nameservers, propagation
from certbot_dns_netcup._internal.dns01.authority import (
    AuthorityReport,
    NoAuthoritativeServerError,
    Standing,
    probe_authority,
)
from certbot_dns_netcup._internal.dns01.nameservers import Nameserver, endpoint
from certbot_dns_netcup._internal.errors import AuthenticationError, NetcupError
from certbot_dns_netcup._internal.netcup.rest import ACME_LABEL
from certbot_dns_netcup._internal.netcup.zones import CCP, ChallengeRecord, candidate_zones
from certbot_dns_netcup._internal.planning import NETCUP_NAMESERVERS_TEXT, authority_advice, is_netcup_host
from certbot_dns_netcup._internal.records import find_leftovers
from certbot_dns_netcup._internal.run import Plan, Run, RunOptions

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]

MIN_RECOMMENDED_BOUND = 120
PROBE_PROGRESS_INTERVAL = 10.0
REACHABILITY_TIMEOUT = 3.0
# Where the advice sends people: at their registrar, and where netcup's customer panel has it.
REGISTRAR_DOMAINS = " (netcup CCP: Domains)"
REGISTRAR_NAMESERVERS = " (netcup CCP: Domains -> Nameservers)"
REGISTRAR_DNSSEC = " (netcup CCP: Domains -> DNSSEC)"


def recommended_bound(slowest: float) -> int:
    """Twice the slowest server's time, rounded up to a whole minute, at least MIN_RECOMMENDED_BOUND."""
    return max(MIN_RECOMMENDED_BOUND, 60 * math.ceil(2 * slowest / 60))


def probe_value() -> str:
    """A random 43-character base64url string: what an ACME dns-01 value looks like (the REST API takes no other)."""
    return secrets.token_urlsafe(32)


# ----- the checks ------------------------------------------------------------------------------------------------
class Checker:
    """Runs the checks for one domain on the plugin's own run object; ``close()`` ends what it opened."""

    def __init__(
        self,
        domain: str,
        credentials: Credentials,
        *,
        zone_name: Optional[str] = None,
        nameservers: Optional[str] = None,
        resolver_factory: Callable[[], Any] = dnslookup.make_system_resolver,
        progress: Progress = logger.info,
        parent_port: int = 53,
        work_dir: Optional[str] = None,
        journal_probe: bool = False,
    ) -> None:
        self.credentials = credentials
        self.nameservers_option = nameservers
        self.progress = progress
        # Certbot's --work-dir, where the plugin keeps its journal (see journal.py); None: not looked at.
        self.work_dir = work_dir
        # With journal_probe the probe record is journaled there too, as the plugin's records are, so that
        # a run after a killed check removes it.
        options = RunOptions(
            zone_name=zone_name,
            nameservers=nameservers,
            work_dir=work_dir if journal_probe else None,
            bound_option="--timeout",
        )
        # Raises ConfigurationError for a malformed zone name: a usage error, before anything is asked.
        # The plugin's own run object: the same clients, planner, journal, ledger and wait as a renewal.
        self.plugin_run = Run(credentials, options, progress, logger.warning, resolver_factory)
        self.ccp, self.rest, self.planner = self.plugin_run.ccp, self.plugin_run.rest, self.plugin_run.planner
        self.report = Report(domain, credentials.path, record_name=f"{ACME_LABEL}.{domain}")
        self._record: Optional[ChallengeRecord] = None
        self._polled: list[Nameserver] = []
        self._authority: Optional[AuthorityReport] = None
        self.parent_port = parent_port  # where the parent zone's servers are asked (tests: the sandbox's registry)

    def close(self) -> None:
        self.plugin_run.close()

    def run(self, probe_bound: Optional[float]) -> Report:
        """Every check; with ``probe_bound`` also the probe (unless an earlier check already failed)."""
        self.check_credentials()
        if self.find_zone():
            self.check_nameservers()
            self.check_registry()
        self.check_leftovers()
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
        # The plugin's own probe: the zone's SOA from each address, with the AA flag (see dns01/authority.py).
        verdict = probe_authority({zone: servers}, REACHABILITY_TIMEOUT)
        self._authority = verdict
        for entry in verdict.entries:
            server = entry.server
            answered = entry.standing not in (Standing.SILENT, Standing.UNREACHABLE)
            authoritative = entry.standing in (Standing.AUTHORITATIVE, Standing.LOADING)
            status = "answers for the zone" if entry.standing is Standing.AUTHORITATIVE else entry.answer
            report.servers.append(
                ServerCheck(server.host, server.address, server.port, server.family, status, answered, authoritative)
            )
            report.families[server.family] = report.families.get(server.family, False) or answered
        for family, reachable in sorted(report.families.items()):
            if not reachable:
                report.warn(f"No nameserver of {zone} answers over {family} from this host.")
        try:  # no address serves the zone (all lame, or all silent): the plugin stops before creating anything
            verdict.check(authority_advice(self.nameservers_option))
        except NoAuthoritativeServerError as error:
            report.problem(str(error))
        for checked in report.servers:
            if checked.reachable and not checked.authoritative:
                # The plugin warns and goes on without it, as the CA's resolvers do: a renewal still works.
                report.warn(
                    f"{checked.host} ({endpoint(checked.address, checked.port)}) answers, but not with the data of "
                    f"{zone} ({checked.status}): a lame nameserver, which resolvers skip and the plugin does not wait "
                    "for. Fix the zone's delegation at netcup and at the registry so that it names only servers that "
                    "serve the zone."
                )

    # ----- the delegation at the registry, and DNSSEC
    def check_registry(self) -> None:
        """The zone's NS set and DS records at the parent zone, against what the zone's own nameservers serve."""
        assert self._record is not None
        report, target = self.report, self._record.target
        zone = target.zone
        registry = report.registry = RegistryCheck()
        apex = delegation.query_apex(zone, self._answering_servers(), timeout=REACHABILITY_TIMEOUT)
        keys = {a.server: list(a.dnskeys) for a in apex if a.dnskeys is not None}
        served = {a.nameservers for a in apex if a.nameservers is not None}
        registry.zone_nameservers = sorted({name for names in served for name in names})
        if len(served) > 1:
            sets = "; ".join(f"{a.server}: {', '.join(a.nameservers)}" for a in apex if a.nameservers is not None)
            report.warn(f"The nameservers of {zone} do not all serve the same NS set for it ({sets}).")
        try:
            parent = delegation.query_parent(
                zone, self.planner.resolver, port=self.parent_port, timeout=REACHABILITY_TIMEOUT
            )
        except (delegation.ParentUnavailable, dnslookup.DnsLookupError) as error:
            registry.not_checked = str(error)
            registry.apex = [_apex_check(a, None) for a in apex]
            report.note(f"The delegation of {zone} at the registry and its DNSSEC were not checked: {error}.")
            return
        registry.checked = True
        registry.parent_zone, registry.server = parent.parent, str(parent.server)
        registry.registered = parent.exists
        registry.nameservers = list(parent.nameservers)
        registry.ds_known = parent.ds_known
        self._compare_nameservers(parent, registry, target.api == CCP)
        if not parent.exists or not parent.nameservers:
            registry.apex = [_apex_check(a, None) for a in apex]
            return
        if not parent.ds_known:
            registry.dnssec = "unknown"
            registry.apex = [_apex_check(a, None) for a in apex]
            report.note(f"The DS records of {zone} at the registry could not be read: {parent.ds_detail}.")
            return
        self._compare_dnssec(zone, parent, keys, apex, registry)

    def _answering_servers(self) -> list[Nameserver]:
        """The polled servers that answered for the zone in check_nameservers (no waiting on silent ones)."""
        answering = {(s.address, s.port) for s in self.report.servers if s.authoritative}
        return [s for s in self._polled if (s.address, s.port) in answering]

    def _compare_nameservers(
        self, parent: delegation.ParentDelegation, registry: RegistryCheck, ccp_zone: bool
    ) -> None:
        report, zone, listed = self.report, parent.zone, ", ".join(parent.nameservers)
        if not parent.exists:
            report.problem(
                f"The registry ({parent.server}, for the parent zone {parent.parent}) says {zone} does not exist: "
                "no resolver, the certificate authority's included, can find any record in it. Check at your "
                f"registrar that the domain is registered and active{REGISTRAR_DOMAINS}."
            )
            return
        if not parent.nameservers:
            report.problem(
                f"The registry ({parent.server}, for the parent zone {parent.parent}) delegates {zone} to no "
                f"nameservers: set them at your registrar{REGISTRAR_NAMESERVERS}."
            )
            return
        if registry.zone_nameservers:
            registry.nameservers_match = set(parent.nameservers) == set(registry.zone_nameservers)
            if not registry.nameservers_match:
                report.problem(
                    f"The registry delegates {zone} to {listed}, but the zone lists "
                    f"{', '.join(registry.zone_nameservers)}: change the nameservers at your registrar"
                    f"{REGISTRAR_NAMESERVERS} so that both name the same servers."
                )
        others = [n for n in parent.nameservers if not is_netcup_host(n)]
        # None of them netcup's, as the resolver sees it too: the plugin's own verdict already says so.
        if ccp_zone and others and report.delegated_to_netcup is not False:
            them = "it" if len(others) == 1 else "them"
            report.problem(
                f"The registry delegates {zone} to {', '.join(others)}, which {'is' if len(others) == 1 else 'are'} "
                f"not netcup's: resolvers that ask {them} never see records created at netcup. Change the "
                f"nameservers at your registrar{REGISTRAR_NAMESERVERS} to netcup's ({NETCUP_NAMESERVERS_TEXT})."
            )

    def _compare_dnssec(
        self,
        zone: str,
        parent: delegation.ParentDelegation,
        keys: dict[Nameserver, list[str]],
        apex: list[delegation.ApexData],
        registry: RegistryCheck,
    ) -> None:
        report = self.report
        comparison = delegation.compare_dnssec(zone, parent.ds, keys)
        registry.dnssec = comparison.state
        registry.ds = [
            DsCheck(v.text, v.key_tag, v.algorithm, v.digest_type, v.checkable, [str(s) for s in v.matched_by])
            for v in comparison.ds
        ]
        matched = {server for v in comparison.ds for server in v.matched_by}
        registry.apex = [_apex_check(a, (a.server in matched) if parent.ds else None) for a in apex]
        records = "; ".join(parent.ds)
        if comparison.state == delegation.BROKEN:
            bad = comparison.unmatched_servers
            with_keys = [s for s in bad if keys.get(s)]
            every = len(bad) == len(keys)
            who = "the zone's nameservers serve" if every else ", ".join(str(s) for s in bad)
            if not every:
                who += " serves" if len(bad) == 1 else " serve"
            served = (
                f"{who} no DNSKEY that {'it' if len(parent.ds) == 1 else 'any of them'} matches"
                if with_keys
                else f"{who} no DNSKEY at all (DNSSEC is off for the zone there)"
            )
            fix = "replace it with the DS of the zone's current key" if with_keys else "sign the zone at netcup again"
            report.problem(
                f"The registry publishes DS {records} for {zone}, but {served}: every validating resolver, the "
                f"certificate authority's included, answers SERVFAIL for names in {zone}"
                f"{'' if every else ' when it asks those servers'}. Remove the DS at your registrar"
                f"{REGISTRAR_DNSSEC}, or {fix}."
            )
        elif comparison.state == delegation.UNSIGNED_DELEGATION:
            report.note(
                f"{zone} is signed (its nameservers serve DNSKEYs) but the registry has no DS for it: DNSSEC is not "
                "in effect for it, which renewals do not need."
            )
        elif comparison.state == delegation.UNKNOWN:
            reason = (
                "no nameserver of the zone answered about its DNSKEYs"
                if not keys
                else "a DS has a digest type this host cannot compute"
            )
            report.note(f"The DS records of {zone} at the registry ({records}) could not be checked: {reason}.")
        if comparison.state == delegation.SECURE and comparison.stale_ds:
            stale = "; ".join(v.text for v in comparison.stale_ds)
            report.note(
                f"The DS {stale} at the registry matches no DNSKEY of {zone}: harmless while another DS matches (as "
                f"during a key rollover), but remove it at your registrar{REGISTRAR_DNSSEC} once the rollover is over."
            )

    # ----- records left behind
    def check_leftovers(self) -> None:
        """What the plugin's journals on this host still hold, and challenge values in the zone none explains."""
        if self.work_dir is None:
            return
        target = self._record.target if self._record is not None else None
        leftovers = find_leftovers(self.work_dir, target, self.plugin_run.ledger.backends)
        self.report.leftovers = leftovers
        if leftovers.journal_error:
            self.report.warn(f"Could not read the dns-netcup journals: {leftovers.journal_error}.")
        if any(note.run_state == "ended early" for note in leftovers.journaled):
            self.report.warn(
                "Runs that ended before their cleanup left TXT records (listed above); the next Certbot run with "
                "the dns-netcup plugin on this host removes them."
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
        plan = Plan([record], {record.target.zone: servers}, self._authority)
        self.progress(f"Creating a throwaway TXT record at {record.name} through netcup's {record.target.api_name}")
        try:
            self.plugin_run.publish(plan)
            probe.created = True
            self._time_servers(probe, plan)
        except KeyboardInterrupt:
            probe.interrupted = True
            self.progress("Interrupted: removing the throwaway record")
            raise
        except NetcupError as error:
            report.problem(str(error))
        finally:
            self._remove(probe)

    def _time_servers(self, probe: ProbeReport, plan: Plan) -> None:
        zone = probe.zone
        servers = plan.servers[zone]
        lagging: set[Nameserver] = set()
        silent: set[Nameserver] = set()
        unreachable: set[Nameserver] = set()
        lame: set[Nameserver] = set()
        try:
            result = self.plugin_run.wait(plan, probe.bound, progress_interval=PROBE_PROGRESS_INTERVAL)
            ready = result.ready_after
            silent = {server for _, server in result.silent}
            unreachable = set(result.unreachable)
            lame = {server for _, server in result.lame}
        except propagation.PropagationTimeout as error:
            ready = error.ready_after
            lagging = {server for _, server in error.lagging}
            self.report.problem(
                f"Not every nameserver served the test record within {probe.bound:.0f} s. netcup's reloads can take "
                f"up to {defaults.NETCUP_SLOWEST_RELOAD // 60} minutes: if --timeout was below that, run the check "
                f"again with the default; otherwise netcup has a problem with this zone.\n{error}"
            )
        for server in servers:
            seconds = ready.get((zone, server))
            if seconds is not None:
                status = f"served after {seconds:.1f} s"
            elif server in unreachable:
                status = "not reachable from this host (not waited for)"
            elif server in lame:
                status = "lame: does not serve the zone (not waited for)"
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

    def _remove(self, probe: ProbeReport) -> None:
        if not self.plugin_run.ledger.created:
            return
        probe.created = True  # also when Ctrl-C came while the API call was under way
        self.progress(f"Removing the throwaway record from {probe.zone}")
        try:
            self.plugin_run.remove()
        except NetcupError as error:
            self.report.problem(str(error))
            return
        probe.removed = True


def _apex_check(data: delegation.ApexData, ds_match: Optional[bool]) -> ZoneApexCheck:
    server = data.server
    keys = None if data.dnskeys is None else [delegation.describe_key(key) for key in data.dnskeys]
    names = None if data.nameservers is None else list(data.nameservers)
    status = data.detail or ("serves DNSKEYs" if keys else "serves no DNSKEY")
    return ZoneApexCheck(server.host, server.address, server.port, names, keys, ds_match, status)
