"""The netcup API doubles, driven over real HTTPS on loopback, answer in the shapes netcup uses."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Optional

import pytest
import requests
from cryptography import x509

from netcup_sandbox.ccp_api import CcpApi
from netcup_sandbox.faults import CcpFaults, Fault, RestFaults
from netcup_sandbox.https import ApiServer, TlsMaterial, make_tls_material
from netcup_sandbox.rest_api import RestApi
from netcup_sandbox.state import NetcupState

CCP_PATH = "/run/webservice/servers/endpoint.php?JSON"
ENVELOPE_KEYS = {
    "serverrequestid",
    "clientrequestid",
    "action",
    "status",
    "statuscode",
    "shortmessage",
    "longmessage",
    "responsedata",
}
VALUE_A = "A" * 42 + "a"  # 43 base64url characters, like an ACME DNS-01 digest
VALUE_B = "b-_" * 14 + "c"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsMaterial:
    return make_tls_material(str(tmp_path_factory.mktemp("tls")))


@pytest.fixture
def state() -> NetcupState:
    state = NetcupState()
    state.add_zone("example.com")
    state.add_zone("example.org", platform="rest")
    state.add_zone("elsewhere.net", nameservers=("ns1.other-dns.test",))
    return state


class Ccp:
    """A client for the CCP double that speaks the JSON protocol plainly, as the real clients do."""

    def __init__(self, server: ApiServer, api: CcpApi, state: NetcupState, ca: str) -> None:
        self.server, self.api, self.state = server, api, state
        self.http = requests.Session()
        # Without trust_env = False, REQUESTS_CA_BUNDLE in the environment would override verify.
        self.http.verify = ca
        self.http.trust_env = False

    def post(self, action: str, **param: Any) -> dict[str, Any]:
        response = self.http.post(self.server.url + CCP_PATH, json={"action": action, "param": param}, timeout=10)
        assert response.status_code == 200
        return response.json()

    def login(self) -> str:
        answer = self.post(
            "login",
            customernumber=self.state.customer_number,
            apikey=self.state.api_key,
            apipassword=self.state.api_password,
        )
        return answer["responsedata"]["apisessionid"]

    def call(self, action: str, session: str, **param: Any) -> dict[str, Any]:
        return self.post(
            action, customernumber=self.state.customer_number, apikey=self.state.api_key, apisessionid=session, **param
        )

    def update(self, session: str, domain: str, *records: dict[str, Any]) -> dict[str, Any]:
        return self.call("updateDnsRecords", session, domainname=domain, dnsrecordset={"dnsrecords": list(records)})


@pytest.fixture
def ccp(state: NetcupState, tls: TlsMaterial) -> Iterator[Ccp]:
    api = CcpApi(state, CcpFaults())
    with ApiServer(api, "127.0.0.1", 0, tls) as server:
        yield Ccp(server, api, state, tls.ca_path)


class Rest:
    def __init__(self, server: ApiServer, api: RestApi, state: NetcupState, ca: str) -> None:
        self.server, self.api, self.state = server, api, state
        self.http = requests.Session()
        # Without trust_env = False, REQUESTS_CA_BUNDLE in the environment would override verify.
        self.http.verify = ca
        self.http.trust_env = False
        self.http.headers["Authorization"] = f"Bearer {state.rest_key}"

    def request(
        self, method: str, path: str, body: Optional[dict[str, Any]] = None, **params: Any
    ) -> requests.Response:
        return self.http.request(method, self.server.url + path, json=body, params=params, timeout=10)


@pytest.fixture
def rest(state: NetcupState, tls: TlsMaterial) -> Iterator[Rest]:
    api = RestApi(state, RestFaults())
    with ApiServer(api, "127.0.0.1", 0, tls) as server:
        yield Rest(server, api, state, tls.ca_path)


# ----- TLS material -------------------------------------------------------------------------------
def test_tls_material_names_the_api_hosts_and_is_reused(tmp_path: Any) -> None:
    first = make_tls_material(str(tmp_path), extra_ips=["127.9.8.7"])
    with open(first.cert_path, "rb") as f:
        pem = f.read()
    san = x509.load_pem_x509_certificate(pem).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"ccp.netcup.net", "api.netcup.com", "localhost"} <= set(san.get_values_for_type(x509.DNSName))
    assert {"127.0.0.1", "::1", "127.9.8.7"} <= {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    again = make_tls_material(str(tmp_path))
    with open(again.cert_path, "rb") as f:
        assert f.read() == pem


# ----- CCP ----------------------------------------------------------------------------------------
def test_login_answers_with_a_session_in_netcups_envelope(ccp: Ccp) -> None:
    answer = ccp.post(
        "login",
        customernumber=ccp.state.customer_number,
        apikey=ccp.state.api_key,
        apipassword=ccp.state.api_password,
        clientrequestid="abc123",
    )
    assert set(answer) == ENVELOPE_KEYS
    assert (answer["status"], answer["statuscode"], answer["action"]) == ("success", 2000, "login")
    assert answer["clientrequestid"] == "abc123"
    assert len(answer["serverrequestid"]) == 28
    assert len(answer["responsedata"]["apisessionid"]) == 50


def test_wrong_credentials_are_a_validation_error(ccp: Ccp) -> None:
    answer = ccp.post("login", customernumber=ccp.state.customer_number, apikey=ccp.state.api_key, apipassword="wrong")
    assert (answer["status"], answer["statuscode"], answer["responsedata"]) == ("error", 4013, "")
    assert answer["shortmessage"] == "Validation Error."


def test_update_adds_records_and_returns_the_whole_set(ccp: Ccp) -> None:
    session = ccp.login()
    answer = ccp.update(
        session,
        "example.com",
        {"hostname": "_acme-challenge", "type": "TXT", "destination": "one", "priority": "0", "deleterecord": False},
        {"hostname": "_acme-challenge", "type": "TXT", "destination": "two"},
    )
    assert (answer["status"], answer["statuscode"]) == ("success", 2000)
    records = answer["responsedata"]["dnsrecords"]
    assert {r["type"] for r in records} == {"A", "CNAME", "TXT"}  # the untouched records come back too
    added = [r for r in records if r["type"] == "TXT"]
    assert sorted(r["destination"] for r in added) == ["one", "two"]
    assert all(isinstance(r["id"], str) and r["id"].isdigit() for r in added)
    assert all(r["priority"] == "0" and r["deleterecord"] is False for r in added)
    assert sorted(ccp.state.txt_values("_acme-challenge.example.com")) == ["one", "two"]


def test_update_deletes_by_id_and_treats_a_missing_id_as_deleted(ccp: Ccp) -> None:
    session = ccp.login()
    records = ccp.update(
        session, "example.com", {"hostname": "_acme-challenge.www", "type": "TXT", "destination": "gone"}
    )["responsedata"]["dnsrecords"]
    record = next(r for r in records if r["destination"] == "gone")
    answer = ccp.update(
        session, "example.com", {**record, "deleterecord": True}, {**record, "id": "999", "deleterecord": True}
    )
    assert answer["statuscode"] == 2000
    assert [r for r in answer["responsedata"]["dnsrecords"] if r["type"] == "TXT"] == []
    assert ccp.state.txt_values("_acme-challenge.www.example.com") == []


@pytest.mark.parametrize(
    "bad", [{"hostname": "", "type": "TXT", "destination": "x"}, {"hostname": "_acme-challenge", "destination": "x"}]
)
def test_update_rejects_records_without_hostname_or_type(ccp: Ccp, bad: dict[str, Any]) -> None:
    session = ccp.login()
    answer = ccp.update(session, "example.com", {"hostname": "ok", "type": "TXT", "destination": "v"}, bad)
    assert (answer["statuscode"], answer["responsedata"]) == (4013, "")
    assert ccp.state.txt_values("ok.example.com") == []  # nothing of a rejected batch is applied


def test_zone_errors_match_netcups_codes(ccp: Ccp) -> None:
    session = ccp.login()
    assert ccp.call("infoDnsZone", session, domainname="example.com")["responsedata"]["name"] == "example.com"
    assert ccp.call("infoDnsZone", session, domainname="unknown.com")["statuscode"] == 5031
    unknown = ccp.call("infoDnsRecords", session, domainname="unknown.com")
    assert unknown["statuscode"] == 4013
    assert "does not match requirements of type: domainname" in unknown["longmessage"]
    assert ccp.call("infoDnsZone", session, domainname="example.org")["statuscode"] == 5031
    assert ccp.call("infoDnsRecords", session, domainname="example.org")["statuscode"] == 5028
    assert (
        ccp.update(session, "example.org", {"hostname": "a", "type": "TXT", "destination": "v"})["statuscode"] == 5028
    )
    assert ccp.call("infoDnsRecords", session, domainname="elsewhere.net")["statuscode"] == 5029


def test_expired_sessions_answer_4001(ccp: Ccp) -> None:
    session = ccp.login()
    assert ccp.call("infoDnsRecords", session, domainname="example.com")["statuscode"] == 2000
    ccp.api.expire_all_sessions()
    answer = ccp.call("infoDnsRecords", session, domainname="example.com")
    assert (answer["statuscode"], answer["responsedata"]) == (4001, "")
    ccp.api.faults.session_ttl = 0
    assert ccp.call("infoDnsRecords", ccp.login(), domainname="example.com")["statuscode"] == 4001
    assert ccp.call("infoDnsRecords", "x" * 50, domainname="example.com")["statuscode"] == 4001


def test_garbled_json_is_a_validation_error(ccp: Ccp) -> None:
    answer = ccp.http.post(ccp.server.url + CCP_PATH, data=b"{not json", timeout=10).json()
    assert (answer["statuscode"], answer["responsedata"]) == (4013, "")
    assert "JSON decode failed" in answer["longmessage"]


def test_a_wrong_login_gets_the_rate_limit_text_as_from_netcup(ccp: Ccp) -> None:
    answer = ccp.post("login", customernumber="1", apikey="k", apipassword="p")
    assert (answer["statuscode"], answer["shortmessage"]) == (4013, "Validation Error.")
    assert answer["longmessage"].startswith("More than 180 requests per minute. Please wait and retry later.")


def test_repeated_wrong_logins_lock_every_login_out_when_switched_on(ccp: Ccp) -> None:
    ccp.api.faults.lockout_after_failed_logins = 2
    wrong = [ccp.post("login", customernumber="1", apikey="k", apipassword="p") for _ in range(2)]
    assert all(a["longmessage"].startswith("More than") for a in wrong)
    right = ccp.post(
        "login",
        customernumber=ccp.state.customer_number,
        apikey=ccp.state.api_key,
        apipassword=ccp.state.api_password,
    )
    assert right["longmessage"] == "Too many error messages, please check your commands."


def test_rate_limit_rejects_requests_beyond_the_window(ccp: Ccp) -> None:
    ccp.api.faults.rate_limit_per_minute = 3
    # Requests with no valid session: each is answered (4001) and counted, until the limit answers instead.
    answers = [ccp.post("infoDnsZone", domainname="example.com") for _ in range(4)]
    assert [a["longmessage"].startswith("More than") for a in answers] == [False, False, False, True]
    assert answers[3]["statuscode"] == 4013
    assert answers[3]["longmessage"].startswith("More than 3 requests per minute. Please wait and retry later.")


def test_scripted_faults_hit_only_matching_requests(ccp: Ccp) -> None:
    session = ccp.login()
    ccp.api.faults.script.add(Fault.gateway_error(502).only(action="infoDnsRecords"), Fault.invalid_json())
    # logout passes over the restricted fault and takes the unrestricted one behind it
    garbled = ccp.http.post(ccp.server.url + CCP_PATH, json={"action": "logout", "param": {}}, timeout=10)
    with pytest.raises(ValueError):
        garbled.json()
    assert ccp.api.faults.script.pending() == 1
    gateway = ccp.http.post(
        ccp.server.url + CCP_PATH,
        timeout=10,
        json={"action": "infoDnsRecords", "param": {"apisessionid": session, "domainname": "example.com"}},
    )
    assert (gateway.status_code, gateway.headers["Content-Type"]) == (502, "text/html")
    assert "<h1>502 Bad Gateway</h1>" in gateway.text
    assert ccp.api.faults.script.pending() == 0


def test_reset_and_call_log_without_secrets(ccp: Ccp) -> None:
    session = ccp.login()
    ccp.api.faults.script.add(Fault.reset())
    with pytest.raises(requests.ConnectionError):
        ccp.call("infoDnsRecords", session, domainname="example.com")
    ccp.call("infoDnsRecords", session, domainname="example.com")
    calls = ccp.api.log.calls()
    assert [(c.operation, c.domain, c.outcome) for c in calls] == [
        ("login", None, 2000),
        ("infoDnsRecords", "example.com", "reset"),
        ("infoDnsRecords", "example.com", 2000),
    ]
    logged = repr(calls)
    for secret in (session, ccp.state.api_key, ccp.state.api_password):
        assert secret not in logged


def test_stop_does_not_hang_on_a_hung_request(state: NetcupState, tls: TlsMaterial) -> None:
    api = CcpApi(state, CcpFaults())
    api.faults.script.add(Fault.hang(seconds=300))
    server = ApiServer(api, "127.0.0.1", 0, tls).start()
    outcome: list[object] = []

    def client() -> None:
        try:
            outcome.append(
                requests.post(server.url + CCP_PATH, json={"action": "login"}, verify=tls.ca_path, timeout=60)
            )
        except requests.RequestException as e:
            outcome.append(e)

    thread = threading.Thread(target=client)
    thread.start()
    deadline_wait(lambda: api.log.count("login") == 1)
    server.stop()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert isinstance(outcome[0], requests.ConnectionError)


# ----- REST ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("header", [None, "Bearer wrong"])
def test_rest_rejects_missing_or_wrong_keys(rest: Rest, header: Optional[str]) -> None:
    if header is None:
        del rest.http.headers["Authorization"]
    else:
        rest.http.headers["Authorization"] = header
    response = rest.request("GET", "/v1/domain", fqdn="example.org")
    assert response.status_code == 400
    assert response.json() == {
        "success": False,
        "messages": [],
        "meta": None,
        "result": None,
        "errors": [{"code": "authenticationError", "message": "Authentication token is not valid or has expired."}],
    }


def test_rest_domain_lookup(rest: Rest) -> None:
    org = rest.request("GET", "/v1/domain", fqdn="example.org").json()
    assert org["success"] is True
    assert org["result"] == [
        {"id": rest.state.zones["example.org"].rest_id, "fqdn": "example.org", "isDnsManaged": True}
    ]
    assert rest.request("GET", "/v1/domain", fqdn="example.com").json()["result"][0]["isDnsManaged"] is False
    missing = rest.request("GET", "/v1/domain", fqdn="www.example.org")
    assert (missing.status_code, missing.json()["errors"][0]["code"]) == (404, "resourceDoesNotExist")
    underscore = rest.request("GET", "/v1/domain", fqdn="_acme-challenge.example.org")
    assert (underscore.status_code, underscore.json()["errors"][0]["code"]) == (400, "validationError")
    listing = rest.request("GET", "/v1/domain", page=1).json()
    assert {d["fqdn"] for d in listing["result"]} == {"example.com", "example.org", "elsewhere.net"}
    assert listing["meta"]["pagination"] == {"currentPage": 1, "lastPage": 1, "perPage": 50, "total": 3}


def test_rest_challenge_lifecycle(rest: Rest) -> None:
    rest.api.faults.deployed_after = 3600
    base = f"/v1/domain/{rest.state.zones['example.org'].rest_id}/acme/challenge"
    created = rest.request("POST", base, {"scope": "www", "value": VALUE_A})
    assert created.status_code == 201
    assert created.json()["result"] == [
        {"scope": "www", "fqdn": "_acme-challenge.www.example.org", "value": VALUE_A, "status": "pending"}
    ]
    assert rest.request("POST", base, {"scope": "www", "value": VALUE_A}).status_code == 200
    assert rest.request("POST", base, {"scope": "@", "value": VALUE_B}).status_code == 201
    assert rest.state.txt_values("_acme-challenge.www.example.org") == [VALUE_A]
    assert rest.state.txt_values("_acme-challenge.example.org") == [VALUE_B]

    assert rest.request("GET", f"{base}/www/{VALUE_A}").json()["result"][0]["status"] == "pending"
    rest.api.faults.deployed_after = 0
    assert rest.request("GET", f"{base}/www/{VALUE_A}").json()["result"][0]["status"] == "deployed"

    deleted = rest.request("DELETE", f"{base}/www/{VALUE_A}")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert rest.state.txt_values("_acme-challenge.www.example.org") == []
    for method in ("GET", "DELETE"):
        gone = rest.request(method, f"{base}/www/{VALUE_A}")
        assert (gone.status_code, gone.json()["errors"][0]["code"]) == (404, "resourceDoesNotExist")
    assert [c.outcome for c in rest.api.log.calls("DELETE /v1/domain/{id}/acme/challenge/{scope}/{value}")] == [
        204,
        404,
    ]


def test_rest_challenge_validation(rest: Rest) -> None:
    legacy = f"/v1/domain/{rest.state.zones['example.com'].rest_id}/acme/challenge"
    assert rest.request("POST", legacy, {"scope": "@", "value": VALUE_A}).status_code == 409
    managed = f"/v1/domain/{rest.state.zones['example.org'].rest_id}/acme/challenge"
    short = rest.request("POST", managed, {"scope": "@", "value": "tooshort"})
    assert (short.status_code, short.json()["errors"][0]["code"]) == (400, "validationError")
    assert rest.state.txt_values("_acme-challenge.example.com") == []
    assert rest.state.txt_values("_acme-challenge.example.org") == []


def test_rest_scripted_api_error(rest: Rest) -> None:
    rest.api.faults.script.add(Fault.rest_error(500, "internalServerError", "boom").only(method="POST"))
    assert rest.request("GET", "/v1/domain", fqdn="example.org").status_code == 200
    path = f"/v1/domain/{rest.state.zones['example.org'].rest_id}/acme/challenge"
    failed = rest.request("POST", path, {"scope": "@", "value": VALUE_A})
    assert (failed.status_code, failed.json()["errors"]) == (500, [{"code": "internalServerError", "message": "boom"}])
    assert rest.state.txt_values("_acme-challenge.example.org") == []


def test_ipv6_loopback(state: NetcupState, tls: TlsMaterial) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        server = ApiServer(RestApi(state, RestFaults()), "::1", 0, tls).start()
    except OSError:
        pytest.skip("::1 not available")
    try:
        assert server.url.startswith("https://[::1]:")
        response = requests.get(
            server.url + "/v1/domain",
            verify=tls.ca_path,
            timeout=10,
            headers={"Authorization": f"Bearer {state.rest_key}"},
        )
        assert json.loads(response.content)["meta"]["pagination"]["total"] == 3
    finally:
        server.stop()


def deadline_wait(predicate: Callable[[], bool], seconds: float = 10.0) -> None:
    """Poll ``predicate`` until it holds; fail when ``seconds`` pass first."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached before the deadline")
        threading.Event().wait(0.01)
