"""netcup's two APIs behind one interface: publish a zone's challenge records, remove them, list them.

The record ledger, the clean-up of what dead runs left behind and ``check`` talk
to a ``ZoneBackend`` and never ask which API is behind it.  Both implementations
keep to the same promises, whatever netcup does with a request whose answer was
lost (whether it refuses an exact duplicate is not known):

- ``publish`` raises ``PublishFailure`` naming the records netcup certainly did
  not create; every other record of the batch may exist.
- ``remove`` removes every copy of each (name, value) and nothing else, and says
  which records it found, which were not there, and which it could not remove.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Optional, Protocol

from certbot_dns_netcup._internal.errors import ApiError, NetcupError, TransportError, ZoneNotFoundError
from certbot_dns_netcup._internal.netcup.ccp import CcpClient, CcpRecord, matching_records, unquoted
from certbot_dns_netcup._internal.netcup.rest import ACME_LABEL, RestClient, scope_for
from certbot_dns_netcup._internal.netcup.zones import CCP, REST, ChallengeRecord, ZoneTarget

logger = logging.getLogger(__name__)


class PublishFailure(Exception):
    """netcup did not take the whole batch: ``error`` says why; ``not_created`` certainly do not exist."""

    def __init__(self, error: NetcupError, not_created: Sequence[ChallengeRecord]) -> None:
        super().__init__(str(error))
        self.error = error
        self.not_created = list(not_created)


@dataclass
class Removal:
    """What ``ZoneBackend.remove`` did with each record it was given."""

    removed: list[ChallengeRecord] = field(default_factory=list)  # found in the zone, and deleted
    absent: list[ChallengeRecord] = field(default_factory=list)  # not there: never created, or already gone
    failed: list[tuple[ChallengeRecord, NetcupError]] = field(default_factory=list)  # may still be there


class ZoneBackend(Protocol):
    api: str  # CCP or REST, as in ZoneTarget.api

    def publish(self, target: ZoneTarget, records: Sequence[ChallengeRecord]) -> None: ...

    def remove(self, target: ZoneTarget, records: Sequence[ChallengeRecord]) -> Removal: ...

    def challenge_values(self, target: ZoneTarget) -> Optional[list[tuple[str, str]]]:
        """(name, value) of every TXT record at an ``_acme-challenge`` name of the zone; None: cannot list."""
        ...


class CcpBackend:
    """The CCP JSON API: one ``updateDnsRecords`` per zone and batch; records are found again by
    hostname and value, which is unique per challenge."""

    api = CCP

    def __init__(self, client: CcpClient) -> None:
        self.client = client
        # Ids of our records from the add's answer, should the zone not list at clean-up time.
        self._known: dict[tuple[str, str, str], list[CcpRecord]] = {}

    def publish(self, target: ZoneTarget, records: Sequence[ChallengeRecord]) -> None:
        entries = [(r.relative_name(), r.value) for r in records]
        try:
            added = self.client.add_txt_records(target.zone, entries)
        except ApiError as error:
            # A refusal proves nothing was created only for a first attempt: if the answer to an earlier
            # attempt of this add was lost, the records exist.  So look, and keep what is there.
            missing = self._not_in_zone(target, records)
            if missing is None or missing:
                raise PublishFailure(error, missing or []) from None
            logger.debug("CCP API: the add to %s was refused, but every record is there: a retry", target.zone)
            return
        except TransportError as error:
            # Without a session the login failed, and netcup applies no change without one.
            raise PublishFailure(error, [] if self.client.has_session else records) from None
        for record in records:
            self._known[_key(target, record)] = matching_records(added, [(record.relative_name(), record.value)])

    def _not_in_zone(self, target: ZoneTarget, records: Sequence[ChallengeRecord]) -> Optional[list[ChallengeRecord]]:
        """The records the zone does not hold; None when the zone cannot be read (then any may exist)."""
        try:
            current = self.client.list_records(target.zone)
        except ZoneNotFoundError:
            return list(records)  # no such zone: nothing can have been created in it
        except NetcupError as error:
            logger.debug("CCP API: could not list %s after a refused add (%s)", target.zone, error)
            return None
        missing = []
        for record in records:
            copies = matching_records(current, [(record.relative_name(), record.value)])
            if copies:
                self._known[_key(target, record)] = copies
            else:
                missing.append(record)
        return missing

    def remove(self, target: ZoneTarget, records: Sequence[ChallengeRecord]) -> Removal:
        removal = Removal()
        try:
            current: Optional[list[CcpRecord]] = self.client.list_records(target.zone)
            listing_error: Optional[NetcupError] = None
        except NetcupError as error:
            current, listing_error = None, error
            logger.debug("CCP API: could not list %s (%s); deleting the ids known from the add", target.zone, error)
        doomed: dict[str, CcpRecord] = {}
        found: list[ChallengeRecord] = []
        for record in records:
            if current is not None:
                copies = matching_records(current, [(record.relative_name(), record.value)])
            else:
                copies = self._known.get(_key(target, record), [])
            if copies:
                found.append(record)
                doomed.update((copy.id, copy) for copy in copies)
            elif listing_error is not None:
                removal.failed.append((record, listing_error))
            else:
                removal.absent.append(record)
        try:
            self.client.delete_records(target.zone, list(doomed.values()))
        except NetcupError as error:
            removal.failed += [(record, error) for record in found]
            return removal
        removal.removed = found
        logger.debug("CCP API: removed %d TXT record(s) from %s", len(doomed), target.zone)
        return removal

    def challenge_values(self, target: ZoneTarget) -> Optional[list[tuple[str, str]]]:
        values = []
        for record in self.client.list_records(target.zone):
            hostname = record.hostname.lower()
            if record.type.upper() == "TXT" and (hostname == ACME_LABEL or hostname.startswith(ACME_LABEL + ".")):
                values.append((f"{hostname}.{target.zone}", unquoted(record.destination)))
        return values


class RestBackend:
    """The REST API's ACME challenge endpoint: one call per record, addressed by scope and value.  A
    repeated add answers 200 "already there", so a challenge exists at most once."""

    api = REST

    def __init__(self, client: RestClient) -> None:
        self.client = client

    def publish(self, target: ZoneTarget, records: Sequence[ChallengeRecord]) -> None:
        domain_id = self._domain_id(target)
        for index, record in enumerate(records):
            try:
                self.client.add_challenge(domain_id, scope_for(record.name, target.zone), record.value)
            except ApiError as error:  # netcup said no: this one and the ones not yet sent do not exist
                raise PublishFailure(error, records[index:]) from None
            except TransportError as error:  # this one may exist; the ones not yet sent do not
                raise PublishFailure(error, records[index + 1 :]) from None

    def remove(self, target: ZoneTarget, records: Sequence[ChallengeRecord]) -> Removal:
        removal = Removal()
        try:
            domain_id = self._domain_id(target)
        except NetcupError as error:
            removal.failed = [(record, error) for record in records]
            return removal
        for record in records:
            try:
                was_there = self.client.remove_challenge(domain_id, scope_for(record.name, target.zone), record.value)
            except NetcupError as error:
                removal.failed.append((record, error))
                continue
            (removal.removed if was_there else removal.absent).append(record)
        return removal

    def challenge_values(self, target: ZoneTarget) -> Optional[list[tuple[str, str]]]:
        return None  # the REST API has no way to list a zone's records

    def _domain_id(self, target: ZoneTarget) -> int:
        if target.rest_id is not None:
            return target.rest_id
        domain = self.client.find_domain(target.zone)  # a journal entry written without the id
        if domain is None:
            raise ZoneNotFoundError(f"netcup's REST API does not know the zone {target.zone} with this API key.")
        return domain.id


def backends_for(ccp: Optional[CcpClient], rest: Optional[RestClient]) -> dict[str, ZoneBackend]:
    """One backend per API the credentials reach, keyed like ``ZoneTarget.api``."""
    backends: dict[str, ZoneBackend] = {}
    if ccp is not None:
        backends[CCP] = CcpBackend(ccp)
    if rest is not None:
        backends[REST] = RestBackend(rest)
    return backends


def _key(target: ZoneTarget, record: ChallengeRecord) -> tuple[str, str, str]:
    return (target.zone, record.relative_name(), record.value)
