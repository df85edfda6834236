"""TXT values with or without quotes: the real client and ledger against the sandbox's CCP double.

netcup's recorded answers show TXT destinations unquoted (tests/fixtures/ccp-cassettes), and so
does the double by default.  Should the API ever show them in quotes, as they stand in the zone
file (the double's ``quote_txt_destinations``), the client must still recognise its records:
otherwise the add's answer names none of them and cleanup leaves them in the zone.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from certbot_dns_netcup._internal.credentials import CcpCredentials
from certbot_dns_netcup._internal.netcup.ccp import CcpClient
from certbot_dns_netcup._internal.netcup.transport import JsonHttpClient
from certbot_dns_netcup._internal.netcup.zones import CCP, ZoneTarget
from certbot_dns_netcup._internal.records import ChallengeRecord, RecordLedger
from netcup_sandbox.ccp_api import CcpApi
from netcup_sandbox.faults import CcpFaults
from netcup_sandbox.https import ApiServer
from netcup_sandbox.sandbox import CCP_ENDPOINT_PATH
from netcup_sandbox.state import NetcupState

ZONE = "example.test"
OWNER = f"_acme-challenge.{ZONE}"
OTHERS = "someone-elses-verification"


@pytest.fixture
def double() -> Iterator[tuple[CcpApi, CcpClient]]:
    """The CCP double over plain HTTP on loopback, and a real client of it."""
    state = NetcupState()
    state.add_zone(ZONE)
    state.add_record(ZONE, "_acme-challenge", "TXT", OTHERS)
    api = CcpApi(state, CcpFaults())
    with ApiServer(api) as server:
        credentials = CcpCredentials(str(state.customer_number), state.api_key, state.api_password)
        client = CcpClient(credentials, server.url + CCP_ENDPOINT_PATH, http=JsonHttpClient("CCP API", sleep=[].append))
        yield api, client


@pytest.mark.parametrize("quoted", [False, True], ids=["as-recorded", "quoted"])
def test_cleanup_removes_our_records_however_the_api_shows_txt_values(
    double: tuple[CcpApi, CcpClient], quoted: bool
) -> None:
    api, client = double
    api.quote_txt_destinations = quoted
    ledger = RecordLedger(client, None)
    values = ["value-for-the-apex", "value-for-the-wildcard"]
    ledger.publish([ChallengeRecord(OWNER, value, ZoneTarget(ZONE, CCP)) for value in values])
    assert sorted(api.state.txt_values(OWNER)) == sorted([OTHERS, *values])
    shown = {r.destination for r in client.list_records(ZONE) if r.type == "TXT"}
    assert shown == ({f'"{v}"' for v in [OTHERS, *values]} if quoted else {OTHERS, *values})

    ledger.remove_all()
    assert api.state.txt_values(OWNER) == [OTHERS]  # ours gone, someone else's kept
    # One listing and one deletion: cleanup found both records by hostname and value.
    assert [c.operation for c in api.log.calls()][-2:] == ["infoDnsRecords", "updateDnsRecords"]


def test_the_add_answer_names_our_records_when_quoted(double: tuple[CcpApi, CcpClient]) -> None:
    api, client = double
    api.quote_txt_destinations = True
    added = client.add_txt_records(ZONE, [("_acme-challenge", "fresh-value")])
    assert [(r.hostname, r.destination) for r in added] == [("_acme-challenge", '"fresh-value"')]
