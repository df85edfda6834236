"""What the end-to-end tests and the demo read back from the sandbox after a Certbot run."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Optional

from netcup_sandbox.dns_listener import QueryLog
from netcup_sandbox.dns_server import AuthoritativeServer
from netcup_sandbox.state import NetcupState


def challenge_owner(domain: str) -> str:
    """The validation name of a domain; a wildcard shares its base name's."""
    base = domain[2:] if domain.startswith("*.") else domain
    return f"_acme-challenge.{base}".lower()


def challenges_for(validated: Sequence[str], owner: str) -> int:
    """How many of the CA's validations (identifiers as Pebble logs them, wildcards without ``*.``) were
    challenges at ``owner``.

    A renewal may find authorizations still valid at the CA (Pebble reuses about one in a hundred even
    with PEBBLE_AUTHZREUSE=0; Let's Encrypt for 30 days): only the challenges the CA asked for get records.
    """
    return sum(1 for identifier in validated if challenge_owner(identifier) == owner)


def values_published_since(state: NetcupState, owner: str, since: float) -> set[str]:
    """TXT values that appeared at ``owner`` in a zone snapshot taken at or after ``since``.

    Values the zone already carried before ``since`` are left out: they are not
    the run's challenge values (an unrelated pre-existing record, say).
    """
    owner = owner.lower().rstrip(".")
    zone = state.zone_for(owner)
    if zone is None:
        return set()
    with state.lock:
        before: set[str] = set()
        published: set[str] = set()
        for stamp, snapshot in zone.history:
            values = {r.destination for r in snapshot if r.type == "TXT" and r.owner(zone.name) == owner}
            if stamp < since:
                before = values
            else:
                published |= values - before
        return published


@dataclass(frozen=True)
class EarlyLookup:
    """A CA lookup that happened before some authoritative server served some value."""

    lookup_time: float
    server: str
    value: str
    serving_time: Optional[float]  # None: the server would never serve it


def ca_lookups(ca_log: QueryLog, owner: str, since: float) -> list[float]:
    """Times of the CA's TXT lookups of ``owner`` since ``since``."""
    return [entry.time for entry in ca_log.matching(owner, "TXT", since=since)]


def early_ca_lookups(
    ca_log: QueryLog, servers: Iterable[AuthoritativeServer], owner: str, values: Iterable[str], since: float
) -> list[EarlyLookup]:
    """Every (CA lookup, server, value) where the lookup came before that server served that value.

    An empty list means the CA only looked once every authoritative server served
    every value: the plugin's wait did its job.
    """
    early: list[EarlyLookup] = []
    servers = list(servers)
    for lookup_time in ca_lookups(ca_log, owner, since):
        for server in servers:
            for value in values:
                serving = server.first_serving_time(owner, value)
                if serving is None or lookup_time < serving:
                    early.append(EarlyLookup(lookup_time, server.name, value, serving))
    return early
