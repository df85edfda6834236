"""``CcpClient`` against netcup's real answers: the recordings in tests/fixtures/ccp-cassettes,
replayed over loopback HTTP in the order netcup gave them (tests/fast/cassettes.py).

Each replay also checks what the client sent: the recorded action, and after the login the
session id that login handed out.  Errors no recording shows are written in the recorded
envelope's shape with the texts netcup uses (``ccp_error``).
"""

from __future__ import annotations

import pytest

from certbot_dns_netcup._internal.credentials import CcpCredentials
from certbot_dns_netcup._internal.errors import ApiError, TransportError, ZoneNotFoundError
from certbot_dns_netcup._internal.netcup.ccp import CcpClient, CcpRecord
from certbot_dns_netcup._internal.netcup.transport import JsonHttpClient
from tests.fast.cassettes import Exchange, Replay, ccp_error, http_answer, load

ZONE = "coldfix.de"  # the recordings' zone
CREDENTIALS = CcpCredentials("12345", "ReplayCcpApiKey" + "k" * 35, "replay-api-password")

AUTHENTICATE = "test_provider_authenticate"
UNMANAGED = "test_provider_authenticate_with_unmanaged_domain_should_fail"
CREATE_TXT = "test_provider_when_calling_create_record_for_TXT_with_valid_name_and_content"
DELETE_BY_FILTER = "test_provider_when_calling_delete_record_by_filter_should_remove_record"
RECORD_SET = "test_provider_when_calling_delete_record_with_record_set_by_content_should_leave_others_untouched"
LIST_ALL = "test_provider_when_calling_list_records_with_no_arguments_should_list_all"

# netcup's texts for errors the recordings do not show (as the sandbox's CCP double words them).
RATE_LIMITED = (
    "Validation Error.",
    "More than 180 requests per minute. Please wait and retry later. Please contact our customer service to "
    "find out if the limitation of requests can be increased.",
)
SESSION_GONE = (
    "Api session id in invalid format",
    "The session id is not in a valid format. Most likely the session has expired.",
)
NO_RECORDS = (
    "Getting DNS records failed",
    f"Can not get DNS records for zone. The zone {ZONE} does not contain any DNS records.",
)
UPDATE_FAILED = (
    "Update of DNS records failed",
    f"Can not update (all) DNS records for zone. The zone {ZONE} could not be found.",
)


def client(replay: Replay, sleeps: list[float]) -> CcpClient:
    return CcpClient(CREDENTIALS, replay.url, http=JsonHttpClient("CCP API", sleep=sleeps.append))


def txt(records: list[CcpRecord]) -> set[tuple[str, str, str]]:
    return {(r.id, r.hostname, r.destination) for r in records if r.type == "TXT"}


def records_sent(replay: Replay, index: int) -> list[dict]:
    return replay.requests[index]["param"]["dnsrecordset"]["dnsrecords"]


# ----- sessions and zones ----------------------------------------------------------------------------------
def test_login_then_the_zone_is_found() -> None:
    sleeps: list[float] = []
    with Replay(load(AUTHENTICATE)) as replay:
        ccp = client(replay, sleeps)
        assert ccp.zone_exists(ZONE) is True
        assert ccp.has_session
    replay.done()
    login = replay.requests[0]["param"]
    assert (login["customernumber"], login["apikey"], login["apipassword"]) == (
        "12345",
        CREDENTIALS.api_key,
        "replay-api-password",
    )
    assert replay.requests[1]["param"]["domainname"] == ZONE
    assert sleeps == []


def test_a_domain_that_is_not_a_zone_of_the_account() -> None:
    recorded = load(UNMANAGED)
    assert recorded[1].answer["statuscode"] == 5031 and recorded[1].answer["responsedata"] == ""
    with Replay(recorded) as replay:
        assert client(replay, []).zone_exists("thisisadomainidonotown.com") is False
    replay.done()


def test_a_session_netcup_ended_is_replaced_by_a_new_login() -> None:
    first_login, zone_found = load(AUTHENTICATE)
    second_login = load(CREATE_TXT)[0]  # another recorded login: another session id
    gone = ccp_error("infoDnsZone", 4001, *SESSION_GONE)
    with Replay([first_login, gone, second_login, zone_found]) as replay:
        assert client(replay, []).zone_exists(ZONE) is True
    replay.done()  # the repeated infoDnsZone carried the second login's session id


def test_a_5028_for_the_zone_means_not_a_ccp_zone() -> None:
    login = load(AUTHENTICATE)[0]
    with Replay([login, ccp_error("infoDnsZone", 5028, *UPDATE_FAILED)]) as replay:
        assert client(replay, []).zone_exists(ZONE) is False
    replay.done()


# ----- records -----------------------------------------------------------------------------------------------
def test_listing_gives_string_ids_and_priorities_as_netcup_sends_them() -> None:
    with Replay(load(LIST_ALL)) as replay:
        ccp = client(replay, [])
        assert ccp.zone_exists(ZONE)
        records = ccp.list_records(ZONE)
    replay.done()
    assert CcpRecord("405422", "@", "A", "37.120.171.171", "0") in records
    assert CcpRecord("11758164", "_acme-challenge.test", "TXT", "challengetoken", "0") in records
    assert ("11758177", "_acme-challenge.listrecordset", "challengetoken2") in txt(records)
    assert len(txt(records)) == 12


def test_a_zone_without_records_lists_as_empty() -> None:
    login, zone_found = load(AUTHENTICATE)
    with Replay([login, zone_found, ccp_error("infoDnsRecords", 5029, *NO_RECORDS)]) as replay:
        ccp = client(replay, [])
        assert ccp.zone_exists(ZONE)
        assert ccp.list_records(ZONE) == []
    replay.done()


def test_adding_a_txt_record_returns_it_with_netcups_id() -> None:
    with Replay(load(CREATE_TXT)) as replay:
        ccp = client(replay, [])
        assert ccp.zone_exists(ZONE)
        assert ("11758164", "_acme-challenge.test", "challengetoken") not in txt(ccp.list_records(ZONE))
        added = ccp.add_txt_records(ZONE, [("_acme-challenge.test", "challengetoken")])
    replay.done()
    # The answer holds the whole zone; ours is the record with our hostname and value.
    assert added == [CcpRecord("11758164", "_acme-challenge.test", "TXT", "challengetoken", "0")]
    sent = records_sent(replay, 3)
    assert [(r["hostname"], r["type"], r["destination"], r["deleterecord"]) for r in sent] == [
        ("_acme-challenge.test", "TXT", "challengetoken", False)
    ]
    assert "id" not in sent[0]


def test_add_then_delete_by_id() -> None:
    with Replay(load(DELETE_BY_FILTER)) as replay:
        ccp = client(replay, [])
        assert ccp.zone_exists(ZONE)
        ccp.list_records(ZONE)
        added = ccp.add_txt_records(ZONE, [("delete.testfilt", "challengetoken")])
        assert added == [CcpRecord("11758168", "delete.testfilt", "TXT", "challengetoken", "0")]
        assert ("11758168", "delete.testfilt", "challengetoken") in txt(ccp.list_records(ZONE))
        ccp.delete_records(ZONE, added)
        left = ccp.list_records(ZONE)
    replay.done()
    sent = records_sent(replay, 5)
    assert [(r["id"], r["hostname"], r["type"], r["destination"], r["deleterecord"]) for r in sent] == [
        ("11758168", "delete.testfilt", "TXT", "challengetoken", True)
    ]
    assert not any(r.hostname == "delete.testfilt" for r in left)


def test_two_values_at_one_name_each_add_returns_only_its_own_and_deleting_one_keeps_the_other() -> None:
    name = "_acme-challenge.deleterecordinset"
    with Replay(load(RECORD_SET)) as replay:
        ccp = client(replay, [])
        assert ccp.zone_exists(ZONE)
        ccp.list_records(ZONE)
        first = ccp.add_txt_records(ZONE, [(name, "challengetoken1")])
        ccp.list_records(ZONE)
        second = ccp.add_txt_records(ZONE, [(name, "challengetoken2")])
        ccp.list_records(ZONE)
        ccp.delete_records(ZONE, first)
        left = ccp.list_records(ZONE)
    replay.done()
    assert [r.id for r in first] == ["11758172"]
    assert [r.id for r in second] == ["11758173"]  # the zone then holds both; only this one is ours
    assert {(r.id, r.destination) for r in left if r.hostname == name} == {("11758173", "challengetoken2")}


def test_an_update_refused_for_the_zone_is_an_error_naming_the_code() -> None:
    login, zone_found, listing, _ = load(CREATE_TXT)
    with Replay([login, zone_found, listing, ccp_error("updateDnsRecords", 5028, *UPDATE_FAILED)]) as replay:
        ccp = client(replay, [])
        assert ccp.zone_exists(ZONE)
        ccp.list_records(ZONE)
        with pytest.raises(ApiError) as caught:
            ccp.add_txt_records(ZONE, [("_acme-challenge.test", "challengetoken")])
    replay.done()
    assert caught.value.code == "5028"
    assert isinstance(caught.value, ZoneNotFoundError)


# ----- the rate limit and the transport, through the client ---------------------------------------------------
def test_the_rate_limit_text_is_waited_out_for_60_s_then_the_same_call_repeated() -> None:
    login, zone_found, listing, added = load(CREATE_TXT)
    limited = ccp_error("updateDnsRecords", 4013, *RATE_LIMITED)
    sleeps: list[float] = []
    with Replay([login, zone_found, listing, limited, added]) as replay:
        ccp = client(replay, sleeps)
        assert ccp.zone_exists(ZONE)
        ccp.list_records(ZONE)
        assert [r.id for r in ccp.add_txt_records(ZONE, [("_acme-challenge.test", "challengetoken")])] == ["11758164"]
    replay.done()
    assert sleeps == [60.0]
    assert replay.requests[3] == replay.requests[4]  # the same request again, same session


def test_a_rate_limit_that_does_not_clear_gives_up_after_180_s_of_waiting() -> None:
    login = load(AUTHENTICATE)[0]
    limited = [ccp_error("infoDnsZone", 4013, *RATE_LIMITED) for _ in range(4)]
    sleeps: list[float] = []
    with Replay([login, *limited]) as replay:
        with pytest.raises(TransportError) as caught:
            client(replay, sleeps).zone_exists(ZONE)
    replay.done()
    assert sleeps == [60.0, 60.0, 60.0]  # the budget: 180 s per API per run
    assert "rate limit" in str(caught.value)


def test_gateway_errors_are_retried_after_1_s_then_2_s() -> None:
    login, zone_found = load(AUTHENTICATE)
    bad_gateway = http_answer("infoDnsZone", 502, "<html><body><h1>502 Bad Gateway</h1></body></html>")
    sleeps: list[float] = []
    with Replay([login, bad_gateway, bad_gateway, zone_found]) as replay:
        assert client(replay, sleeps).zone_exists(ZONE) is True
    replay.done()
    assert sleeps == [1.0, 2.0]


def test_three_gateway_errors_stop_the_call() -> None:
    login = load(AUTHENTICATE)[0]
    bad_gateway = http_answer("infoDnsZone", 503, "<html><body><h1>503 Service Unavailable</h1></body></html>")
    sleeps: list[float] = []
    with Replay([login, bad_gateway, bad_gateway, bad_gateway]) as replay:
        with pytest.raises(TransportError) as caught:
            client(replay, sleeps).zone_exists(ZONE)
    replay.done()
    assert sleeps == [1.0, 2.0]  # 3 attempts
    assert "after 3 attempts" in str(caught.value) and "HTTP 503" in str(caught.value)


def test_http_429_waits_as_long_as_retry_after_says_in_seconds() -> None:
    login, zone_found = load(AUTHENTICATE)
    too_many = http_answer("infoDnsZone", 429, "", (("Retry-After", "7"),))
    sleeps: list[float] = []
    with Replay([login, too_many, zone_found]) as replay:
        assert client(replay, sleeps).zone_exists(ZONE) is True
    replay.done()
    assert sleeps == [7.0]


def test_http_429_without_retry_after_waits_60_s() -> None:
    login, zone_found = load(AUTHENTICATE)
    too_many = http_answer("infoDnsZone", 429)
    sleeps: list[float] = []
    with Replay([login, too_many, zone_found]) as replay:
        assert client(replay, sleeps).zone_exists(ZONE) is True
    replay.done()
    assert sleeps == [60.0]


def test_http_429_waits_until_a_retry_after_http_date() -> None:
    import email.utils
    import time

    login, zone_found = load(AUTHENTICATE)
    until = email.utils.formatdate(time.time() + 30, usegmt=True)
    too_many = http_answer("infoDnsZone", 429, "", (("Retry-After", until),))
    sleeps: list[float] = []
    with Replay([login, too_many, zone_found]) as replay:
        assert client(replay, sleeps).zone_exists(ZONE) is True
    replay.done()
    assert len(sleeps) == 1 and 25.0 <= sleeps[0] <= 30.0, sleeps


def test_every_recording_is_a_ccp_envelope() -> None:
    """What the client relies on in every recorded answer: HTTP 200, status/statuscode, string ids."""
    from tests.fast.cassettes import cassette_names

    exchanges: list[Exchange] = [e for name in cassette_names() for e in load(name)]
    assert len(exchanges) == 135
    for exchange in exchanges:
        answer = exchange.answer
        assert exchange.status == 200
        assert answer["action"] in ("login", "infoDnsZone", "infoDnsRecords", "updateDnsRecords", "")
        assert (answer["status"], answer["statuscode"] == 2000) in (("success", True), ("error", False))
        data = answer["responsedata"]
        for record in data.get("dnsrecords", []) if isinstance(data, dict) else []:
            assert all(isinstance(record[key], str) for key in ("id", "hostname", "type", "priority", "destination"))
            assert not record["destination"].startswith('"')  # TXT values come unquoted from the real API
