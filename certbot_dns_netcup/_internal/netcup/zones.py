"""Which zone of the account holds a name, and which of netcup's APIs manages it.

Non-resellers cannot list their zones through the CCP API, so the zone of a
name is found by asking about its suffixes.  netcup keeps one zone per domain of
the account, and domains do not nest, so the zone is the only suffix the API
knows: asking shortest first (example.com before www.example.com) finds it in
one or two calls, and every further name under a zone already found costs
nothing.  A certificate for 100 names in one zone costs one lookup, not 100.
With a REST key the REST API is asked first: it knows every domain of the
account and says whether the zone lives on the newer DNS platform (REST only) or
the legacy one (CCP).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional

from certbot_dns_netcup._internal import messages
from certbot_dns_netcup._internal.errors import ConfigurationError, ZoneNotFoundError
from certbot_dns_netcup._internal.messages import CCP_KEYS_HELP, REST_KEY_HELP
from certbot_dns_netcup._internal.netcup.ccp import CcpClient
from certbot_dns_netcup._internal.netcup.rest import RestClient, RestDomain

logger = logging.getLogger(__name__)

CCP = "ccp"
REST = "rest"


@dataclass(frozen=True)
class ZoneTarget:
    zone: str  # apex, lower case, no trailing dot
    api: str  # CCP or REST
    rest_id: Optional[int] = None

    @property
    def api_name(self) -> str:
        return "CCP API" if self.api == CCP else "REST API"


@dataclass(frozen=True)
class ChallengeRecord:
    """A TXT record to publish: absolute owner name (after following CNAMEs), its value, and its zone."""

    name: str
    value: str
    target: ZoneTarget

    def relative_name(self) -> str:
        zone = self.target.zone
        return "@" if self.name == zone else self.name[: -len(zone) - 1]

    def describe(self) -> str:
        return f'{self.name} TXT "{self.value}" in zone {self.target.zone}'


def ascii_domain_name(name: str) -> str:
    """Lower-case A-label form without the trailing dot; raises ConfigurationError for names DNS cannot carry."""
    name = name.strip().rstrip(".")
    try:
        ascii_name = name.encode("ascii").decode()
    except UnicodeEncodeError:
        try:
            ascii_name = name.encode("idna").decode("ascii")
        except UnicodeError:
            raise ConfigurationError(f"{name!r} is not a valid domain name.") from None
    ascii_name = ascii_name.lower()
    if not ascii_name or any(not label or len(label) > 63 for label in ascii_name.split(".")):
        raise ConfigurationError(f"{name!r} is not a valid domain name.")
    return ascii_name


def candidate_zones(name: str) -> list[str]:
    """Suffixes of ``name`` that could be a zone apex, shortest first (no bare TLD, no _labels).

    Shortest first: netcup keeps one zone per domain and domains do not nest, so the first suffix an
    API knows is the zone, and a certificate for many names in one zone costs one lookup.
    """
    from certbot.plugins.dns_common import base_domain_name_guesses  # longest first, down to the TLD

    guesses = base_domain_name_guesses(ascii_domain_name(name))
    return [zone for zone in reversed(guesses) if "." in zone and not zone.startswith("_")]


class ZoneResolver:
    def __init__(
        self, ccp: Optional[CcpClient], rest: Optional[RestClient], zone_override: Optional[str] = None
    ) -> None:
        self.ccp = ccp
        self.rest = rest
        self.zone_override = ascii_domain_name(zone_override) if zone_override else None
        self._rest_cache: dict[str, Optional[RestDomain]] = {}
        self._ccp_cache: dict[str, bool] = {}
        self._found: dict[str, ZoneTarget] = {}

    def resolve(self, name: str) -> ZoneTarget:
        """The zone that holds the (absolute) record name ``name``."""
        name = ascii_domain_name(name)
        if self.zone_override:
            return self._resolve_override(name, self.zone_override)
        candidates = candidate_zones(name)
        for zone in candidates:
            if zone in self._found:
                return self._found[zone]
        target = self._lookup(candidates)
        if target is None:
            raise ZoneNotFoundError(self._not_found_message(name, candidates))
        self._found[target.zone] = target
        return target

    def _lookup(self, candidates: list[str]) -> Optional[ZoneTarget]:
        if self.rest:
            for zone in candidates:
                domain = self._rest_domain(zone)
                if domain:
                    return self._target_for(domain)
        if self.ccp:
            for zone in candidates:
                if self._ccp_zone(zone):
                    return ZoneTarget(zone, CCP)
        return None

    def _resolve_override(self, name: str, zone: str) -> ZoneTarget:
        if name != zone and not name.endswith("." + zone):
            raise ConfigurationError(messages.zone_override_outside(zone, name))
        if self.rest:
            domain = self._rest_domain(zone)
            if domain:
                return self._target_for(domain)
            if not self.ccp:
                raise ZoneNotFoundError(
                    f"netcup's REST API does not know the zone {zone} given with --dns-netcup-zone-name. Check the "
                    "name, and that the domain belongs to the account of this API key."
                )
        # The CCP API gives no cheaper check than the call that adds the records, which fails clearly.
        return ZoneTarget(zone, CCP)

    def _target_for(self, domain: RestDomain) -> ZoneTarget:
        if domain.dns_managed:
            return ZoneTarget(domain.fqdn, REST, domain.id)
        if not self.ccp:
            raise ConfigurationError(
                f"The zone {domain.fqdn} is on netcup's legacy DNS platform, which only the CCP API can change, "
                f"and the credentials file has no CCP API credentials. {CCP_KEYS_HELP} Add them next to "
                "dns_netcup_api_v1_key."
            )
        return ZoneTarget(domain.fqdn, CCP, domain.id)

    def _rest_domain(self, zone: str) -> Optional[RestDomain]:
        if zone not in self._rest_cache:
            assert self.rest is not None
            self._rest_cache[zone] = self.rest.find_domain(zone)
            logger.debug("REST API: %s is %s", zone, "a domain" if self._rest_cache[zone] else "not a domain")
        return self._rest_cache[zone]

    def _ccp_zone(self, zone: str) -> bool:
        if zone not in self._ccp_cache:
            assert self.ccp is not None
            self._ccp_cache[zone] = self.ccp.zone_exists(zone)
            logger.debug("CCP API: %s is %s", zone, "a zone" if self._ccp_cache[zone] else "not a zone")
        return self._ccp_cache[zone]

    def _not_found_message(self, name: str, candidates: list[str]) -> str:
        apis = " and ".join(n for n, c in (("REST API", self.rest), ("CCP API", self.ccp)) if c)
        message = (
            f"No zone of your netcup account holds {name}: the {apis} know none of {', '.join(candidates)}. "
            "Check that the domain belongs to this customer account and is spelled right, or name the zone with "
            "--dns-netcup-zone-name."
        )
        if not self.rest:
            message += (
                " If the domain is on netcup's newer DNS platform (domains registered since 2026), only the REST "
                f"API reaches it: {REST_KEY_HELP}"
            )
        return message
