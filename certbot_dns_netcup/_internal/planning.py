"""Everything decided before a record is created: where each record goes and which servers to wait for.

For each (validation name, value): follow a CNAME at the name (the record goes
to the chain's target), find the zone and API of the target, and check that the
REST API can express it.  For each zone: the nameservers to poll, either the
user's list or the zone's NS set from DNS, which must be netcup's for a CCP
zone; then every address is asked whether it serves its zone (``authority``),
and a zone that no address serves stops the run.  Any problem here fails the
run while the zone is still untouched.
Shared by the Certbot plugin and the ``check`` command.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Optional

from certbot_dns_netcup._internal.dns01 import authority, dnslookup, nameservers
from certbot_dns_netcup._internal.dns01.authority import AuthorityReport
from certbot_dns_netcup._internal.dns01.nameservers import Nameserver
from certbot_dns_netcup._internal.errors import ConfigurationError, ZoneNotFoundError
from certbot_dns_netcup._internal.netcup.rest import scope_for
from certbot_dns_netcup._internal.netcup.zones import (
    CCP,
    REST,
    ChallengeRecord,
    ZoneResolver,
    ZoneTarget,
    ascii_domain_name,
)

logger = logging.getLogger(__name__)

# Host names of netcup's nameservers end in one of these.
NETCUP_NAMESERVER_DOMAINS = ("netcup.net", "netcup.de", "netcup.com", "netcup.eu")
NETCUP_NAMESERVERS_TEXT = "root-dns.netcup.net, second-dns.netcup.net, third-dns.netcup.net"


def is_netcup_host(host: str) -> bool:
    host = host.lower().rstrip(".")
    return any(host == d or host.endswith("." + d) for d in NETCUP_NAMESERVER_DOMAINS)


class Planner:
    def __init__(
        self,
        zones: ZoneResolver,
        notify: Callable[[str], None],
        resolver_factory: Callable[[], Any] = dnslookup.make_system_resolver,
    ) -> None:
        self.zones = zones
        self.notify = notify
        self._resolver_factory = resolver_factory
        self._resolver: Any = None
        self._resolver_silent = False  # it timed out once: do not make every further name wait too

    @property
    def resolver(self) -> Any:
        """The system's recursive resolver, made once per run."""
        if self._resolver is None:
            self._resolver = self._resolver_factory()
        return self._resolver

    def follow_cname(self, name: str) -> str:
        """Where a TXT record for ``name`` must be created: the end of a CNAME chain at it, or itself."""
        if self._resolver_silent:
            return name
        try:
            target = dnslookup.follow_cname_chain(name, self.resolver)
        except dnslookup.CnameChainError:
            raise
        except dnslookup.DnsTimeoutError as error:
            self._resolver_silent = True
            logger.warning(
                "Could not check whether %s is a CNAME (%s); creating the records at the names themselves, "
                "without asking the resolver about the other names.",
                name,
                error,
            )
            return name
        except dnslookup.DnsLookupError as error:
            # Without an answer we cannot know of a CNAME; the plain name is right for nearly everyone.
            logger.warning("Could not check whether %s is a CNAME (%s); creating the record there.", name, error)
            return name
        if target != name:
            self.notify(f"{name} is a CNAME: creating its TXT record at {target}")
        return target

    def records(self, wanted: Sequence[tuple[str, str]]) -> list[ChallengeRecord]:
        """The records for (validation name, value) pairs, each with its zone and API."""
        records = []
        for raw_name, value in wanted:
            name = ascii_domain_name(raw_name)
            target_name = self.follow_cname(name)
            try:
                target = self.zones.resolve(target_name)
            except ZoneNotFoundError as error:
                if target_name == name:
                    raise
                raise ZoneNotFoundError(
                    f"{name} is a CNAME for {target_name}, which is outside your netcup zones: {error}"
                ) from None
            if target.api == REST:
                try:
                    scope_for(target_name, target.zone)
                except ValueError as error:
                    raise ConfigurationError(f"Cannot create the record for {name}: {error}.") from None
            records.append(ChallengeRecord(target_name, value, target))
        return records

    def nameservers(self, targets: Sequence[ZoneTarget], option: Optional[str]) -> dict[str, list[Nameserver]]:
        """The servers to poll per zone: the ``--dns-netcup-nameservers`` list, or each zone's NS set."""
        zones = {t.zone: t for t in targets}
        if option:
            servers = self.option_servers(option)
            return {zone: servers for zone in zones}
        return {zone: self.zone_servers(target) for zone, target in zones.items()}

    def option_servers(self, option: str) -> list[Nameserver]:
        try:
            entries = nameservers.parse_nameservers_option(option)
        except ValueError as error:
            raise ConfigurationError(f"--dns-netcup-nameservers: {error}") from None
        try:
            return nameservers.resolve_nameserver_option(entries, self.resolver)
        except dnslookup.DnsLookupError as error:
            raise ConfigurationError(f"--dns-netcup-nameservers: {error}") from None

    def zone_nameserver_names(self, target: ZoneTarget) -> list[str]:
        """The zone's NS set as the world sees it; for a CCP zone it must hold a netcup nameserver."""
        try:
            names = dnslookup.zone_nameserver_names(target.zone, self.resolver)
        except dnslookup.DnsLookupError as error:
            raise ConfigurationError(
                f"Could not find the nameservers of {target.zone} ({error}). Check this host's DNS resolver "
                "(/etc/resolv.conf), or name the servers to poll with --dns-netcup-nameservers."
            ) from None
        # A zone on netcup's newer platform is served by whatever netcup runs for it: the REST API's
        # isDnsManaged already said netcup serves it.  A CCP zone must be delegated to netcup's servers.
        if target.api == CCP and not any(is_netcup_host(n) for n in names):
            raise ConfigurationError(
                f"The DNS of {target.zone} is not served by netcup: its nameservers are {', '.join(names)}. Records "
                "created at netcup would never be seen by the certificate authority. Point the domain at netcup's "
                f"nameservers ({NETCUP_NAMESERVERS_TEXT}), or use the Certbot plugin of the DNS provider that "
                "serves it."
            )
        return names

    def zone_servers(self, target: ZoneTarget) -> list[Nameserver]:
        names = self.zone_nameserver_names(target)
        try:
            return nameservers.discover_nameservers(target.zone, self.resolver, self.notify, names=names)
        except dnslookup.DnsLookupError as error:
            raise ConfigurationError(
                f"Could not find the addresses of the nameservers of {target.zone} ({error}). Check this host's "
                "DNS resolver, or name the servers to poll with --dns-netcup-nameservers."
            ) from None

    def check_authority(self, servers: Mapping[str, Sequence[Nameserver]], option: Optional[str]) -> AuthorityReport:
        """Ask every address for its zone's SOA, all at once; which serve their zone, which are lame or silent.

        Raises ``authority.NoAuthoritativeServerError`` (naming every server and what it answered) when
        no address of a zone serves it: the CA could not find the records either.
        """
        report = authority.probe_authority(servers)
        report.check(authority_advice(option))
        return report


def authority_advice(option: Optional[str]) -> str:
    """What to fix when no address of a zone serves it, by where the addresses came from."""
    if option:
        return (
            "The servers were named with --dns-netcup-nameservers: name the zone's authoritative servers "
            "there, or leave the option out to use the zone's NS records."
        )
    return (
        "Check the zone's NS records at netcup and the delegation at the domain's registry: both should "
        f"name only the nameservers netcup serves the zone on (for most zones {NETCUP_NAMESERVERS_TEXT})."
    )
