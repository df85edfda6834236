"""Creating the challenge records and removing exactly those again.

``RecordLedger`` groups the records per zone (one CCP ``updateDnsRecords`` call
per zone, one REST call per record), and remembers what it created, so that
cleanup deletes those records and nothing else: by id on the CCP API, by scope
and value on the REST API.  A call whose outcome is unknown (the connection
broke after sending) is remembered as "maybe created" and looked up again at
cleanup.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Optional

from certbot_dns_netcup._internal.errors import NetcupError, TransportError
from certbot_dns_netcup._internal.netcup.ccp import CcpClient, CcpRecord, matching_records
from certbot_dns_netcup._internal.netcup.rest import RestClient, scope_for
from certbot_dns_netcup._internal.netcup.zones import CCP, ZoneTarget

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChallengeRecord:
    """A TXT record to publish: absolute owner name (after following CNAMEs), its value, and its zone."""

    name: str
    value: str
    target: ZoneTarget

    def relative_name(self) -> str:
        zone = self.target.zone
        return "@" if self.name == zone else self.name[: -len(zone) - 1]


@dataclass
class _Created:
    record: ChallengeRecord
    ccp_record: Optional[CcpRecord] = None  # None on CCP: created, but the id is not known


class CleanupError(NetcupError):
    """Some records could not be removed; the message names each, so the user can remove it by hand."""


class RecordLedger:
    def __init__(self, ccp: Optional[CcpClient], rest: Optional[RestClient]) -> None:
        self.ccp = ccp
        self.rest = rest
        self._created: list[_Created] = []

    @property
    def created(self) -> list[ChallengeRecord]:
        return [c.record for c in self._created]

    def publish(self, records: list[ChallengeRecord]) -> None:
        """Create every record; on failure, what was created so far stays in the ledger for cleanup."""
        for target, group in _by_zone(records).items():
            if target.api == CCP:
                self._publish_ccp(target, group)
            else:
                self._publish_rest(target, group)

    def _publish_ccp(self, target: ZoneTarget, group: list[ChallengeRecord]) -> None:
        assert self.ccp is not None
        entries = [(r.relative_name(), r.value) for r in group]
        try:
            added = self.ccp.add_txt_records(target.zone, entries)
        except TransportError:
            # The request may have reached netcup: look for these records at cleanup.  Not when there is
            # no session: then the login failed, and netcup applies no change without a session.  (Without
            # this check, an unreachable API made cleanup fail too and name records that never existed as
            # leftovers "to remove by hand".)
            if self.ccp.has_session:
                self._created.extend(_Created(r) for r in group)
            raise
        by_key = {(a.hostname.lower(), a.destination.strip('"')): a for a in added}
        for record in group:
            self._created.append(_Created(record, by_key.get((record.relative_name(), record.value))))
        logger.debug("CCP API: added %d TXT record(s) to %s", len(group), target.zone)

    def _publish_rest(self, target: ZoneTarget, group: list[ChallengeRecord]) -> None:
        assert self.rest is not None and target.rest_id is not None
        for record in group:
            scope = scope_for(record.name, target.zone)
            # Remembered before the call: removing a challenge that was never created is harmless.
            self._created.append(_Created(record))
            self.rest.add_challenge(target.rest_id, scope, record.value)
        logger.debug("REST API: added %d ACME challenge(s) to %s", len(group), target.zone)

    def remove_all(self) -> None:
        """Remove every record this run created; raise CleanupError naming the ones that are left."""
        leftovers: list[str] = []
        grouped: OrderedDict[ZoneTarget, list[_Created]] = OrderedDict()
        for created in self._created:
            grouped.setdefault(created.record.target, []).append(created)
        for target, group in grouped.items():
            try:
                if target.api == CCP:
                    self._remove_ccp(target, group)
                else:
                    leftovers += self._remove_rest(target, group)
                    continue
            except NetcupError as error:
                leftovers += [f"{_describe(c.record)}: {error}" for c in group]
                continue
        self._created = []
        if leftovers:
            raise CleanupError(
                "Could not remove every TXT record this run created; remove these by hand in netcup's Customer "
                "Control Panel (Domains -> DNS):\n * " + "\n * ".join(leftovers)
            )

    def _remove_ccp(self, target: ZoneTarget, group: list[_Created]) -> None:
        assert self.ccp is not None
        doomed = [c.ccp_record for c in group if c.ccp_record is not None]
        unknown = [c.record for c in group if c.ccp_record is None]
        if unknown:
            current = self.ccp.list_records(target.zone)
            doomed += matching_records(current, [(r.relative_name(), r.value) for r in unknown])
        self.ccp.delete_records(target.zone, doomed)
        logger.debug("CCP API: removed %d TXT record(s) from %s", len(doomed), target.zone)

    def _remove_rest(self, target: ZoneTarget, group: list[_Created]) -> list[str]:
        assert self.rest is not None and target.rest_id is not None
        leftovers = []
        for created in group:
            record = created.record
            try:
                self.rest.remove_challenge(target.rest_id, scope_for(record.name, target.zone), record.value)
            except NetcupError as error:
                leftovers.append(f"{_describe(record)}: {error}")
        return leftovers


def _by_zone(records: list[ChallengeRecord]) -> OrderedDict[ZoneTarget, list[ChallengeRecord]]:
    grouped: OrderedDict[ZoneTarget, list[ChallengeRecord]] = OrderedDict()
    for record in records:
        grouped.setdefault(record.target, []).append(record)
    return grouped


def _describe(record: ChallengeRecord) -> str:
    return f'{record.name} TXT "{record.value}" in zone {record.target.zone}'
