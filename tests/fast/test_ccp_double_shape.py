"""The sandbox's CCP double answers in the shape netcup's recorded answers have (tests/fixtures/ccp-cassettes)."""

from __future__ import annotations

import json

from netcup_sandbox.ccp_api import CcpApi
from netcup_sandbox.faults import CcpFaults
from netcup_sandbox.https import ApiRequest
from netcup_sandbox.state import NetcupState
from tests.fast.cassettes import load

ZONE = "example.test"


def call(api: CcpApi, action: str, **param: object) -> dict:
    body = json.dumps({"action": action, "param": param}).encode()
    request = ApiRequest("POST", "/run/webservice/servers/endpoint.php", {"JSON": ""}, {}, body)
    response = api.handle(request)
    assert response is not None and response.status == 200
    return json.loads(response.body)


def shape(value: object) -> object:
    """Keys and value types, recursively (records: those of the first one)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def test_the_doubles_answers_have_the_recorded_shape() -> None:
    recorded = {
        e.action: e.answer for e in load("test_provider_when_calling_create_record_for_TXT_with_valid_name_and_content")
    }
    state = NetcupState()
    state.add_zone(ZONE)
    state.add_record(ZONE, "_acme-challenge", "TXT", "challengetoken")
    api = CcpApi(state, CcpFaults())
    login = call(
        api, "login", customernumber=state.customer_number, apikey=state.api_key, apipassword=state.api_password
    )
    session = {"customernumber": state.customer_number, "apikey": state.api_key}
    session["apisessionid"] = login["responsedata"]["apisessionid"]
    records = call(api, "infoDnsRecords", domainname=ZONE, **session)
    assert shape(login) == shape(recorded["login"])
    assert shape(records) == shape(recorded["infoDnsRecords"])
    [txt] = [r for r in records["responsedata"]["dnsrecords"] if r["type"] == "TXT"]
    assert txt["destination"] == "challengetoken" and txt["state"] == "unknown" and txt["priority"] == "0"


def test_an_error_answer_has_the_recorded_shape() -> None:
    recorded = load("test_provider_authenticate_with_unmanaged_domain_should_fail")[1].answer
    state = NetcupState()
    api = CcpApi(state, CcpFaults())
    login = call(
        api, "login", customernumber=state.customer_number, apikey=state.api_key, apipassword=state.api_password
    )
    session = {"customernumber": state.customer_number, "apikey": state.api_key}
    session["apisessionid"] = login["responsedata"]["apisessionid"]
    missing = call(api, "infoDnsZone", domainname="not-mine.test", **session)
    assert shape(missing) == shape(recorded)
    assert (missing["status"], missing["statuscode"], missing["responsedata"]) == ("error", 5031, "")
    assert (missing["shortmessage"], missing["longmessage"]) == (recorded["shortmessage"], recorded["longmessage"])
