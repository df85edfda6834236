"""The ledger (records.py): publish, then remove exactly what was published, against a fake CCP client.

The fake keeps one zone's records the way the CCP API lists them (string ids), and can show TXT
destinations in double quotes (``quoted``): the ledger must recognise its records either way.
"""

from __future__ import annotations

from typing import Optional

import pytest

from certbot_dns_netcup._internal.errors import ApiError, TransportError
from certbot_dns_netcup._internal.netcup.ccp import CcpRecord
from certbot_dns_netcup._internal.netcup.zones import CCP, ZoneTarget
from certbot_dns_netcup._internal.records import ChallengeRecord, CleanupError, RecordLedger

ZONE = "example.test"
OTHER_ZONE = "second.test"
SOMEONE_ELSES = CcpRecord("100", "_acme-challenge", "TXT", "someone-elses-value")
APEX_A = CcpRecord("101", "@", "A", "192.0.2.1")


class FakeCcp:
    """Stands in for ``CcpClient``: add, list and delete, with switches for what can go wrong."""

    def __init__(self, quoted: bool = False) -> None:
        self.quoted = quoted
        self.zones: dict[str, list[CcpRecord]] = {ZONE: [APEX_A, SOMEONE_ELSES], OTHER_ZONE: []}
        self.calls: list[tuple[str, str]] = []
        self.has_session = True
        self._next_id = 1000
        self.add_error: Optional[Exception] = None
        self.add_applied_before_error = False  # the add is carried out, then its answer is lost
        self.adds_twice = False  # a retried add that netcup carried out twice
        self.list_error: Optional[Exception] = None
        self.delete_error: Optional[Exception] = None

    def _shown(self, record: CcpRecord) -> CcpRecord:
        if self.quoted and record.type == "TXT":
            return CcpRecord(record.id, record.hostname, record.type, f'"{record.destination}"', record.priority)
        return record

    def add_txt_records(self, zone: str, entries: list[tuple[str, str]]) -> list[CcpRecord]:
        self.calls.append(("add", zone))
        if self.add_error is not None and not self.add_applied_before_error:
            raise self.add_error
        added = []
        for host, value in entries:
            for _ in range(2 if self.adds_twice else 1):
                self._next_id += 1
                record = CcpRecord(str(self._next_id), host, "TXT", value)
                self.zones[zone].append(record)
                added.append(self._shown(record))
        if self.add_error is not None:
            raise self.add_error
        return added

    def list_records(self, zone: str) -> list[CcpRecord]:
        self.calls.append(("list", zone))
        if self.list_error is not None:
            raise self.list_error
        return [self._shown(r) for r in self.zones[zone]]

    def delete_records(self, zone: str, records: list[CcpRecord]) -> None:
        self.calls.append(("delete", zone))
        if self.delete_error is not None:
            raise self.delete_error
        doomed = {r.id for r in records}
        self.zones[zone] = [r for r in self.zones[zone] if r.id not in doomed]

    def txt(self, zone: str = ZONE) -> set[tuple[str, str]]:
        return {(r.hostname, r.destination) for r in self.zones[zone] if r.type == "TXT"}


def record(value: str, name: str = f"_acme-challenge.{ZONE}", zone: str = ZONE) -> ChallengeRecord:
    return ChallengeRecord(name, value, ZoneTarget(zone, CCP))


def ledger(ccp: FakeCcp) -> RecordLedger:
    return RecordLedger(ccp, None)  # type: ignore[arg-type]


@pytest.mark.parametrize("quoted", [False, True], ids=["as-recorded", "quoted-txt"])
def test_publish_then_remove_all_leaves_the_zone_as_it_was(quoted: bool) -> None:
    ccp = FakeCcp(quoted=quoted)
    book = ledger(ccp)
    book.publish([record("apex-value"), record("wildcard-value")])
    assert ccp.txt() == {
        ("_acme-challenge", "someone-elses-value"),
        ("_acme-challenge", "apex-value"),
        ("_acme-challenge", "wildcard-value"),
    }
    assert ccp.calls == [("add", ZONE)]  # one call per zone
    book.remove_all()
    assert ccp.zones[ZONE] == [APEX_A, SOMEONE_ELSES]  # ours gone, the rest untouched
    assert book.created == []


def test_one_add_per_zone_and_cleanup_in_each() -> None:
    ccp = FakeCcp()
    book = ledger(ccp)
    book.publish([record("a"), record("b", f"_acme-challenge.{OTHER_ZONE}", OTHER_ZONE), record("c")])
    assert sorted(c for c in ccp.calls if c[0] == "add") == [("add", ZONE), ("add", OTHER_ZONE)]
    book.remove_all()
    assert ccp.zones[ZONE] == [APEX_A, SOMEONE_ELSES] and ccp.zones[OTHER_ZONE] == []


def test_a_refused_add_leaves_nothing_to_clean_up() -> None:
    ccp = FakeCcp()
    ccp.add_error = ApiError("refused", api="CCP API", operation="updateDnsRecords", code="5028")
    book = ledger(ccp)
    with pytest.raises(ApiError):
        book.publish([record("v")])
    assert book.created == []
    book.remove_all()
    assert not [call for call in ccp.calls if call[0] == "delete"]  # nothing to delete
    assert ccp.zones[ZONE] == [APEX_A, SOMEONE_ELSES]


@pytest.mark.parametrize("quoted", [False, True], ids=["as-recorded", "quoted-txt"])
def test_an_add_whose_answer_was_lost_is_found_and_removed(quoted: bool) -> None:
    ccp = FakeCcp(quoted=quoted)
    ccp.add_applied_before_error = True
    ccp.add_error = TransportError("the connection was closed without an answer")
    book = ledger(ccp)
    with pytest.raises(TransportError):
        book.publish([record("lost-answer")])
    assert ("_acme-challenge", "lost-answer") in ccp.txt()
    ccp.add_error = None
    book.remove_all()
    assert ccp.zones[ZONE] == [APEX_A, SOMEONE_ELSES]


def test_every_copy_of_a_value_added_twice_is_removed() -> None:
    ccp = FakeCcp(quoted=True)
    ccp.adds_twice = True
    book = ledger(ccp)
    book.publish([record("twice")])
    assert sum(1 for r in ccp.zones[ZONE] if r.destination == "twice") == 2
    book.remove_all()
    assert ccp.zones[ZONE] == [APEX_A, SOMEONE_ELSES]


def test_when_the_zone_cannot_be_listed_the_ids_from_the_add_are_deleted() -> None:
    ccp = FakeCcp(quoted=True)
    book = ledger(ccp)
    book.publish([record("known-id")])
    ccp.list_error = ApiError("listing failed", api="CCP API", operation="infoDnsRecords", code="5029")
    book.remove_all()
    assert ccp.zones[ZONE] == [APEX_A, SOMEONE_ELSES]


def test_a_failed_deletion_names_each_record_left_behind() -> None:
    ccp = FakeCcp()
    book = ledger(ccp)
    book.publish([record("stuck")])
    ccp.delete_error = TransportError("no answer")
    with pytest.raises(CleanupError) as caught:
        book.remove_all()
    assert f'_acme-challenge.{ZONE} TXT "stuck" in zone {ZONE}' in str(caught.value)
