"""Creating the challenge records and removing exactly those again, through either API.

``RecordLedger`` groups the records per zone and hands each batch to the zone's
``ZoneBackend`` (netcup/backends.py: one CCP ``updateDnsRecords`` call per zone,
one REST call per record).  Each record is written down as "maybe
created" (in memory and in the on-disk journal) *before* the request that
creates it is sent, confirmed by netcup's answer, and crossed out again when
netcup says it did not create it, or once it is removed.  Cleanup removes every
copy of each (name, value) this run added and nothing else (see the backends).

``remove_left_behind`` removes what runs that are gone (killed before their
cleanup) left in the zones, from their journals.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Callable, Optional

from certbot_dns_netcup._internal.errors import NetcupError
from certbot_dns_netcup._internal.journal import Journal, JournalEntry
from certbot_dns_netcup._internal.netcup.backends import PublishFailure, ZoneBackend, backends_for
from certbot_dns_netcup._internal.netcup.ccp import CcpClient
from certbot_dns_netcup._internal.netcup.rest import RestClient
from certbot_dns_netcup._internal.netcup.zones import CCP, ChallengeRecord, ZoneTarget

__all__ = ["ChallengeRecord", "CleanupError", "RecordLedger", "find_leftovers", "remove_left_behind"]

logger = logging.getLogger(__name__)


class CleanupError(NetcupError):
    """Some records could not be removed; the message names each, so the user can remove it by hand."""


class RecordLedger:
    """The records this run may have created, each written down before the request that creates it."""

    def __init__(self, ccp: Optional[CcpClient], rest: Optional[RestClient], journal: Optional[Journal] = None) -> None:
        self.backends: Mapping[str, ZoneBackend] = backends_for(ccp, rest)
        self.journal = journal
        self._maybe: list[ChallengeRecord] = []  # in the order they were asked for

    @property
    def created(self) -> list[ChallengeRecord]:
        """Every record that may exist: confirmed by netcup, or asked for with the answer lost."""
        return list(self._maybe)

    def publish(self, records: Sequence[ChallengeRecord]) -> None:
        """Create every record, one batch per zone; on failure, what may exist stays here for cleanup."""
        for target, group in _by_zone(records).items():
            for record in group:
                self._maybe.append(record)
                if self.journal is not None:
                    self.journal.note(_journal_entry(record))
            try:
                self.backends[target.api].publish(target, group)
            except PublishFailure as failure:
                for record in failure.not_created:
                    self._forget(record)
                raise failure.error from None
            logger.debug("%s: added %d TXT record(s) to %s", target.api_name, len(group), target.zone)

    def remove_all(self) -> None:
        """Remove every record this run may have created; raise CleanupError naming the ones that are left.

        Records that could not be removed stay in the journal, so that a later run removes them.
        """
        leftovers: list[str] = []
        for target, group in _by_zone(self._maybe).items():
            removal = self.backends[target.api].remove(target, group)
            for record in removal.removed + removal.absent:
                self._forget(record)
            leftovers += [f"{record.describe()}: {error}" for record, error in removal.failed]
        self._maybe = []
        if leftovers:
            raise CleanupError(
                "Could not remove every TXT record this run created; remove these by hand in netcup's Customer "
                "Control Panel (Domains -> DNS):\n * " + "\n * ".join(leftovers)
            )

    def _forget(self, record: ChallengeRecord) -> None:
        """The record does not exist (netcup said no, or it is gone): cross it out."""
        if record in self._maybe:
            self._maybe.remove(record)
        if self.journal is not None:
            self.journal.removed(_journal_entry(record))


def _journal_entry(record: ChallengeRecord) -> JournalEntry:
    target = record.target
    return JournalEntry(target.api, target.zone, record.name, record.value, target.rest_id)


def _by_zone(records: Sequence[ChallengeRecord]) -> OrderedDict[ZoneTarget, list[ChallengeRecord]]:
    grouped: OrderedDict[ZoneTarget, list[ChallengeRecord]] = OrderedDict()
    for record in records:
        grouped.setdefault(record.target, []).append(record)
    return grouped


# ----- what runs that are gone left behind -------------------------------------------------------
def remove_left_behind(
    journal: Journal,
    backends: Mapping[str, ZoneBackend],
    say: Callable[[str], None],
    warn: Callable[[str], None],
) -> None:
    """Remove the records that runs which are gone (no lock on their journal) left in the zones.

    One line per record removed goes to ``say``; records that cannot be removed now stay in their
    journal (``warn`` says why).  Runs in progress are never touched.  Raises nothing but interrupts.
    """
    missing: dict[str, int] = {}
    other_account = 0
    for dead in journal.dead_runs():
        entries: dict[ChallengeRecord, JournalEntry] = {}
        for entry in dead.entries:
            if entry.api not in backends:
                missing[entry.api] = missing.get(entry.api, 0) + 1
            elif entry.api == CCP and entry.account and journal.account and entry.account != journal.account:
                other_account += 1
            else:
                target = ZoneTarget(entry.zone, entry.api, entry.rest_id)
                entries[ChallengeRecord(entry.name, entry.value, target)] = entry
        for target, group in _by_zone(list(entries)).items():
            removal = backends[target.api].remove(target, group)
            for record in removal.removed:
                dead.removed(entries[record])
                described = entries[record].describe()
                say(f"Removed {described}, left behind by an earlier run ({dead.run}) that ended early")
            for record in removal.absent:
                dead.removed(entries[record])
                logger.debug("%s of run %s was not there (never created, or removed)", record.describe(), dead.run)
            for record, error in removal.failed:
                warn(
                    f"Could not remove {entries[record].describe()}, left behind by an earlier run ({dead.run}) "
                    f"that ended before its cleanup: {error} It stays in the journal; the next run tries again."
                )
    directory = journal.directory
    for api, count in missing.items():
        keys = (
            "dns_netcup_customer_id, dns_netcup_api_key and dns_netcup_api_password"
            if api == CCP
            else "dns_netcup_api_v1_key"
        )
        warn(
            f"{count} TXT record(s) left behind by earlier runs are in zones managed through netcup's "
            f"{'CCP API' if api == CCP else 'REST API'}, but this run's credentials file has no {keys}: they stay "
            f"in the journal ({directory}) until a run with those credentials removes them. `certbot-dns-netcup "
            "check` lists them."
        )
    if other_account:
        warn(
            f"{other_account} TXT record(s) left behind by earlier runs belong to another netcup customer number "
            f"than this run's: they stay in the journal ({directory}) until a run with that account's credentials "
            "removes them."
        )


# ----- what `certbot-dns-netcup check` reports about leftovers ------------------------------------
@dataclass
class JournalNote:
    """A record a journal says may still exist."""

    run: str
    run_state: str  # "ended early" (its run is gone) or "in progress"
    api: str  # "CCP API" or "REST API"
    zone: str
    name: str
    value: str


@dataclass
class LeftoverCheck:
    journal_dir: str
    journal_error: str = ""  # why the journals could not be read ("" when they could)
    journaled: list[JournalNote] = field(default_factory=list)
    # 'NAME TXT "VALUE"' at _acme-challenge names of the zone that no journal on this host explains
    unexplained: list[str] = field(default_factory=list)
    not_listed: str = ""  # why the zone's TXT values could not be listed ("" when they were)


def find_leftovers(work_dir: str, target: Optional[ZoneTarget], backends: Mapping[str, ZoneBackend]) -> LeftoverCheck:
    """The records the journals under ``work_dir`` still hold (any zone), and the ``_acme-challenge`` TXT
    values in ``target``'s zone that none of them explains.  Changes nothing."""
    from certbot_dns_netcup._internal.journal import journal_dir, read_journals

    check = LeftoverCheck(journal_dir(work_dir))
    runs, error = read_journals(work_dir)
    check.journal_error = error or ""
    explained = set()
    for run in runs:
        for entry in run.entries:
            state = "in progress" if run.alive else "ended early"
            check.journaled.append(JournalNote(run.run, state, entry.api_name, entry.zone, entry.name, entry.value))
            explained.add((entry.name, entry.value))
    if target is None:
        return check
    backend = backends.get(target.api)
    values = None
    if backend is not None:
        try:
            values = backend.challenge_values(target)
        except NetcupError as listing_error:
            check.not_listed = f"Could not list the records of {target.zone}: {listing_error}"
            return check
    if values is None:
        check.not_listed = (
            f"netcup's REST API has no way to list the records of {target.zone}, so TXT values left there "
            "cannot be found; netcup's Customer Control Panel shows them."
        )
        return check
    check.unexplained = [f'{name} TXT "{value}"' for name, value in values if (name, value) not in explained]
    return check
