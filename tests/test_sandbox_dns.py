"""Real DNS packets against the sandbox's authoritative servers, fake resolver and launcher."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest
import requests

from netcup_sandbox.dns_listener import DROPPED, TCP_REFUSED
from netcup_sandbox.dns_server import AuthoritativeServer
from netcup_sandbox.resolver import FakeRecursiveResolver
from netcup_sandbox.sandbox import Sandbox, ServerSpec, servers_with_lags, wait_until
from netcup_sandbox.state import NetcupState

pytestmark = pytest.mark.timeout(60)

HOST = "127.0.0.1"
OWNER = "_acme-challenge.example.test"
VALUE = "Lb5bFEEAYwdmcLZrpDYcpfaaoKcXQuJXa6Vt2yJmBqE"
ServerFactory = Callable[..., AuthoritativeServer]


@pytest.fixture
def state() -> NetcupState:
    state = NetcupState()
    state.add_zone("example.test")
    state.add_zone("external.test", nameservers=("ns1.elsewhere.test", "ns2.elsewhere.test"))
    return state


@pytest.fixture
def make_server(state: NetcupState) -> Iterator[ServerFactory]:
    started: list[AuthoritativeServer] = []

    def make(name: str = "root-dns.netcup.net", lag: float = 0.0, mode: str = "normal") -> AuthoritativeServer:
        server = AuthoritativeServer(state, name, HOST, lag=lag, mode=mode).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


def ask(
    server: AuthoritativeServer | FakeRecursiveResolver, name: str, rdtype: str = "TXT", tcp: bool = False
) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype)  # RD set, as stub resolvers send it
    send = dns.query.tcp if tcp else dns.query.udp
    return send(query, server.address, timeout=3, port=server.port)


def txt_values(response: dns.message.Message) -> list[str]:
    return [
        b"".join(rdata.strings).decode()
        for rrset in response.answer
        if rrset.rdtype == dns.rdatatype.TXT
        for rdata in rrset
    ]


# ----- authoritative servers ------------------------------------------------------------------------
def test_record_appears_on_a_lagged_server_only_after_its_lag(state: NetcupState, make_server: ServerFactory) -> None:
    prompt, lagged = make_server(lag=0.0), make_server("second-dns.netcup.net", lag=1.0)
    state.add_record("example.test", "_acme-challenge", "TXT", VALUE)

    assert txt_values(ask(prompt, OWNER)) == [VALUE]
    early = ask(lagged, OWNER)
    assert early.rcode() == dns.rcode.NXDOMAIN
    assert early.authority[0].rdtype == dns.rdatatype.SOA

    wait_until(lambda: txt_values(ask(lagged, OWNER)) == [VALUE], timeout=10)
    serving_since = lagged.first_serving_time(OWNER, VALUE)
    assert serving_since is not None
    assert lagged.log.matching(OWNER, "TXT")[-1].time >= serving_since
    assert prompt.first_serving_time(OWNER, VALUE) == pytest.approx(serving_since - 1.0)


def test_removed_record_lingers_on_a_lagged_server(state: NetcupState, make_server: ServerFactory) -> None:
    record = state.add_record("example.test", "_acme-challenge", "TXT", VALUE)
    lagged = make_server(lag=1.0)
    wait_until(lambda: txt_values(ask(lagged, OWNER)) == [VALUE], timeout=10)
    state.remove_record("example.test", record.id)
    assert txt_values(ask(lagged, OWNER)) == [VALUE]
    wait_until(lambda: ask(lagged, OWNER).rcode() == dns.rcode.NXDOMAIN, timeout=10)


def test_answers_are_authoritative_and_never_recursive(make_server: ServerFactory) -> None:
    response = ask(make_server(), "www.example.test", "A")
    assert response.flags & dns.flags.AA
    assert not response.flags & dns.flags.RA
    assert [rrset.rdtype for rrset in response.answer] == [dns.rdatatype.CNAME, dns.rdatatype.A]


def test_apex_serves_soa_and_the_zone_ns_set(make_server: ServerFactory) -> None:
    server = make_server()
    ns = ask(server, "example.test", "NS")
    assert sorted(r.target.to_text() for r in ns.answer[0]) == [
        "root-dns.netcup.net.",
        "second-dns.netcup.net.",
        "third-dns.netcup.net.",
    ]
    soa = ask(server, "example.test", "SOA")
    assert soa.answer[0].rdtype == dns.rdatatype.SOA


def test_nodata_nxdomain_and_refused(state: NetcupState, make_server: ServerFactory) -> None:
    server = make_server()
    nodata = ask(server, "example.test", "CAA")
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer
    assert nodata.authority[0].rdtype == dns.rdatatype.SOA
    state.add_record("example.test", "_acme-challenge.deep", "TXT", VALUE)
    empty_non_terminal = ask(server, "deep.example.test", "TXT")
    assert empty_non_terminal.rcode() == dns.rcode.NOERROR and not empty_non_terminal.answer
    assert ask(server, "missing.example.test").rcode() == dns.rcode.NXDOMAIN
    outside = ask(server, "example.org", "A")
    assert outside.rcode() == dns.rcode.REFUSED and not outside.flags & dns.flags.AA


def test_long_txt_value_is_split_into_character_strings(state: NetcupState, make_server: ServerFactory) -> None:
    long_value = "v" * 300
    state.add_record("example.test", "_acme-challenge", "TXT", long_value)
    response = ask(make_server(), OWNER)
    assert [len(s) for s in response.answer[0][0].strings] == [255, 45]
    assert txt_values(response) == [long_value]


def test_servfail_mode_fails_until_the_server_caught_up(state: NetcupState, make_server: ServerFactory) -> None:
    server = make_server(lag=1.0, mode="servfail")
    assert ask(server, OWNER).rcode() == dns.rcode.NXDOMAIN  # caught up: answers normally
    state.add_record("example.test", "_acme-challenge", "TXT", VALUE)
    assert ask(server, OWNER).rcode() == dns.rcode.SERVFAIL
    wait_until(lambda: txt_values(ask(server, OWNER)) == [VALUE], timeout=10)


def test_refused_mode_and_switching_mode_at_run_time(make_server: ServerFactory) -> None:
    server = make_server(mode="refused")
    assert ask(server, "example.test", "SOA").rcode() == dns.rcode.REFUSED
    server.mode = "normal"
    assert ask(server, "example.test", "SOA").rcode() == dns.rcode.NOERROR


def test_silent_mode_never_answers_udp_or_tcp(make_server: ServerFactory) -> None:
    server = make_server(mode="silent")
    query = dns.message.make_query("example.test", "SOA")
    with pytest.raises(dns.exception.Timeout):
        dns.query.udp(query, server.address, port=server.port, timeout=0.3)
    with pytest.raises(dns.exception.Timeout):
        dns.query.tcp(query, server.address, port=server.port, timeout=0.3)
    wait_until(lambda: len(server.log) == 2, timeout=5)
    assert {(e.transport, e.rcode) for e in server.log.entries()} == {("udp", DROPPED), ("tcp", DROPPED)}


def test_truncate_mode_sets_tc_over_udp_and_answers_over_tcp(state: NetcupState, make_server: ServerFactory) -> None:
    state.add_record("example.test", "_acme-challenge", "TXT", VALUE)
    server = make_server(mode="truncate")
    over_udp = ask(server, OWNER)
    assert over_udp.flags & dns.flags.TC and not over_udp.answer
    over_tcp = ask(server, OWNER, tcp=True)
    assert not over_tcp.flags & dns.flags.TC and txt_values(over_tcp) == [VALUE]
    assert [e.transport for e in server.log.entries()] == ["udp", "tcp"]
    assert server.log.entries()[-1].txt_values == (VALUE,)


def test_lame_modes_answer_like_servers_that_do_not_serve_the_zone(make_server: ServerFactory) -> None:
    no_aa = ask(make_server(mode="noaa"), "example.test", "SOA")
    assert no_aa.rcode() == dns.rcode.NOERROR and not no_aa.flags & dns.flags.AA
    assert no_aa.answer[0].rdtype == dns.rdatatype.SOA
    referral = ask(make_server(mode="referral"), OWNER)
    assert referral.rcode() == dns.rcode.NOERROR and not referral.flags & dns.flags.AA and not referral.answer
    assert referral.authority[0].rdtype == dns.rdatatype.NS
    assert referral.authority[0].name.to_text() == "example.test."
    other_soa = ask(make_server(mode="othersoa"), "example.test", "SOA")
    assert other_soa.rcode() == dns.rcode.NXDOMAIN and other_soa.flags & dns.flags.AA
    assert [(r.name.to_text(), r.rdtype) for r in other_soa.authority] == [("test.", dns.rdatatype.SOA)]
    assert ask(make_server(mode="notauth"), "example.test", "SOA").rcode() == dns.rcode.NOTAUTH


def test_flap_mode_hides_the_newest_change_for_a_while(state: NetcupState, make_server: ServerFactory) -> None:
    server = make_server(mode="flap")
    server.flap_after, server.flap_for = 1.0, 0.5
    assert server.flap_window("example.test") is None  # nothing changed yet
    state.add_record("example.test", "_acme-challenge", "TXT", VALUE)
    window = server.flap_window("example.test")
    assert window is not None
    start, end = window
    first = ask(server, OWNER)
    wait_until(lambda: time.monotonic() >= start, timeout=10)
    during = ask(server, OWNER)
    wait_until(lambda: time.monotonic() >= end, timeout=10)
    after = ask(server, OWNER)
    entries = server.log.matching(OWNER, "TXT")
    assert entries[0].time < start <= entries[1].time < end <= entries[2].time  # asked where meant
    assert txt_values(first) == [VALUE]
    assert during.rcode() == dns.rcode.NXDOMAIN
    assert txt_values(after) == [VALUE]


def test_udp_truncation_follows_the_edns_payload_and_the_log_records_it(
    state: NetcupState, make_server: ServerFactory
) -> None:
    for i in range(15):  # about 900 bytes: more than 512, less than 1232
        state.add_record("example.test", "_acme-challenge", "TXT", f"{i:02d}-{VALUE}")
    server = make_server()
    plain = dns.message.make_query(OWNER, "TXT")
    with_edns = dns.message.make_query(OWNER, "TXT", use_edns=0, payload=1232)
    small = dns.query.udp(plain, server.address, port=server.port, timeout=3)
    large = dns.query.udp(with_edns, server.address, port=server.port, timeout=3)
    assert small.flags & dns.flags.TC and not small.answer
    assert not large.flags & dns.flags.TC and len(txt_values(large)) == 15
    assert [e.edns_payload for e in server.log.entries()] == [None, 1232]


def test_notcp_mode_resets_tcp_and_answers_over_udp(state: NetcupState, make_server: ServerFactory) -> None:
    state.add_record("example.test", "_acme-challenge", "TXT", VALUE)
    server = make_server(mode="notcp")
    assert txt_values(ask(server, OWNER)) == [VALUE]
    with pytest.raises((ConnectionError, EOFError, OSError)):
        ask(server, OWNER, tcp=True)
    wait_until(lambda: len(server.log) == 2, timeout=5)
    assert [(e.transport, e.rcode) for e in server.log.entries()] == [("udp", "NOERROR"), ("tcp", TCP_REFUSED)]


def test_stopped_server_releases_its_port(state: NetcupState) -> None:
    server = AuthoritativeServer(state, "root-dns.netcup.net", HOST).start()
    port = server.port
    server.stop()
    again = AuthoritativeServer(state, "root-dns.netcup.net", HOST, port=port).start()
    try:
        assert ask(again, "example.test", "SOA").rcode() == dns.rcode.NOERROR
    finally:
        again.stop()


# ----- fake recursive resolver ------------------------------------------------------------------------
@pytest.fixture
def resolver_with_servers(
    state: NetcupState, make_server: ServerFactory
) -> Iterator[tuple[FakeRecursiveResolver, list[AuthoritativeServer]]]:
    servers = [make_server(name) for name in ("root-dns.netcup.net", "second-dns.netcup.net", "third-dns.netcup.net")]
    for server in servers:
        state.host_addresses[server.name] = [server.address]
    state.foreign_records["_acme-challenge.other.test"] = [("CNAME", "_acme-challenge.example.test.")]
    resolver = FakeRecursiveResolver(state, servers, HOST).start()
    yield resolver, servers
    resolver.stop()


def test_resolver_forwards_round_robin_without_caching(
    state: NetcupState, resolver_with_servers: tuple[FakeRecursiveResolver, list[AuthoritativeServer]]
) -> None:
    resolver, servers = resolver_with_servers
    state.add_record("example.test", "_acme-challenge", "TXT", VALUE)
    for _ in range(6):
        response = ask(resolver, OWNER)
        assert response.flags & dns.flags.RA and not response.flags & dns.flags.AA
        assert txt_values(response) == [VALUE]
    assert [len(server.log.matching(OWNER, "TXT")) for server in servers] == [2, 2, 2]
    assert len(resolver.log.matching(OWNER, "TXT")) == 6


def test_resolver_shows_a_lagging_server_to_some_queries(
    state: NetcupState, resolver_with_servers: tuple[FakeRecursiveResolver, list[AuthoritativeServer]]
) -> None:
    resolver, servers = resolver_with_servers
    servers[1].lag = 3600.0
    state.add_record("example.test", "_acme-challenge", "TXT", VALUE)
    rcodes = [ask(resolver, OWNER).rcode() for _ in range(3)]
    assert rcodes == [dns.rcode.NOERROR, dns.rcode.NXDOMAIN, dns.rcode.NOERROR]


def test_resolver_answers_delegation_and_nameserver_addresses(
    resolver_with_servers: tuple[FakeRecursiveResolver, list[AuthoritativeServer]],
) -> None:
    resolver, servers = resolver_with_servers
    ns = ask(resolver, "example.test", "NS")
    assert sorted(r.target.to_text() for r in ns.answer[0]) == sorted(f"{s.name}." for s in servers)
    external = ask(resolver, "external.test", "NS")
    assert sorted(r.target.to_text() for r in external.answer[0]) == ["ns1.elsewhere.test.", "ns2.elsewhere.test."]
    address = ask(resolver, "second-dns.netcup.net", "A")
    assert [r.address for r in address.answer[0]] == [servers[1].address]
    assert not ask(resolver, "second-dns.netcup.net", "AAAA").answer
    assert ask(resolver, "nowhere.invalid", "A").rcode() == dns.rcode.NXDOMAIN


def test_resolver_never_shows_account_records_of_an_externally_hosted_zone(
    state: NetcupState, resolver_with_servers: tuple[FakeRecursiveResolver, list[AuthoritativeServer]]
) -> None:
    resolver, servers = resolver_with_servers
    state.add_record("external.test", "_acme-challenge", "TXT", VALUE)
    assert txt_values(ask(servers[0], "_acme-challenge.external.test")) == [VALUE]  # netcup has it...
    assert ask(resolver, "_acme-challenge.external.test").rcode() == dns.rcode.NXDOMAIN  # ...the world does not


def test_resolver_follows_a_foreign_cname_into_the_account(
    state: NetcupState, resolver_with_servers: tuple[FakeRecursiveResolver, list[AuthoritativeServer]]
) -> None:
    resolver, _servers = resolver_with_servers
    before = ask(resolver, "_acme-challenge.other.test")
    assert before.rcode() == dns.rcode.NXDOMAIN
    assert before.answer[0].rdtype == dns.rdatatype.CNAME
    state.add_record("example.test", "_acme-challenge", "TXT", VALUE)
    after = ask(resolver, "_acme-challenge.other.test")
    assert [rrset.rdtype for rrset in after.answer] == [dns.rdatatype.CNAME, dns.rdatatype.TXT]
    assert txt_values(after) == [VALUE]
    cname_only = ask(resolver, "_acme-challenge.other.test", "CNAME")
    assert cname_only.answer[0][0].target.to_text() == "_acme-challenge.example.test."


def test_resolver_turns_a_silent_or_lame_server_into_servfail(
    resolver_with_servers: tuple[FakeRecursiveResolver, list[AuthoritativeServer]],
) -> None:
    resolver, servers = resolver_with_servers
    servers[0].mode = "silent"
    servers[1].mode = "refused"
    servers[2].mode = "truncate"  # the resolver retries over TCP like a real one
    rcodes = [ask(resolver, "example.test", "SOA").rcode() for _ in range(3)]
    assert rcodes == [dns.rcode.SERVFAIL, dns.rcode.SERVFAIL, dns.rcode.NOERROR]
    assert [e.transport for e in servers[2].log.entries()] == ["udp", "tcp"]


# ----- the whole sandbox and its launcher ------------------------------------------------------------
@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(str(tmp_path_factory.mktemp("sandbox")), servers=servers_with_lags([0.0, 0.5])) as box:
        yield box


def test_sandbox_wires_nameservers_into_the_resolvers(sandbox: Sandbox) -> None:
    assert sandbox.nameservers_option == ",".join(f"{s.address}:{s.port}" for s in sandbox.servers)
    assert len({s.address for s in sandbox.servers}) == len(sandbox.servers) == 2
    ns = ask(sandbox.system_resolver, "example.test", "NS")
    assert sorted(r.target.to_text() for r in ns.answer[0]) == ["root-dns.netcup.net.", "second-dns.netcup.net."]
    address = ask(sandbox.ca_resolver, "second-dns.netcup.net", "A")
    assert [r.address for r in address.answer[0]] == [sandbox.server("second-dns.netcup.net").address]
    assert ask(sandbox.system_resolver, "_acme-challenge.delegated.test", "CNAME").answer
    assert sandbox.state.zones["cloud.test"].platform == "rest"
    assert sandbox.state.zones["external.test"].external_dns


def test_sandbox_record_added_through_the_ccp_api_reaches_every_server(sandbox: Sandbox) -> None:
    url, verify = sandbox.ccp_url, sandbox.ca_bundle
    assert url.startswith("https://127.0.0.1:") and url.endswith("/run/webservice/servers/endpoint.php?JSON")
    state = sandbox.state
    credentials = {"customernumber": state.customer_number, "apikey": state.api_key}
    login = requests.post(
        url,
        json={"action": "login", "param": {**credentials, "apipassword": state.api_password}},
        verify=verify,
        timeout=10,
    ).json()
    assert login["status"] == "success"
    record = {"hostname": "_acme-challenge", "type": "TXT", "destination": VALUE, "deleterecord": False}
    update = {
        "action": "updateDnsRecords",
        "param": {
            **credentials,
            "apisessionid": login["responsedata"]["apisessionid"],
            "domainname": "second.test",
            "dnsrecordset": {"dnsrecords": [record]},
        },
    }
    assert requests.post(url, json=update, verify=verify, timeout=10).json()["status"] == "success"
    owner = "_acme-challenge.second.test"
    wait_until(lambda: all(txt_values(ask(s, owner)) == [VALUE] for s in sandbox.servers), timeout=10)
    assert sandbox.all_servers_serve(owner, VALUE)


def test_sandbox_rest_api_answers_over_https(sandbox: Sandbox) -> None:
    response = requests.get(
        f"{sandbox.rest_url}/v1/domain",
        params={"fqdn": "cloud.test"},
        headers={"Authorization": f"Bearer {sandbox.state.rest_key}"},
        verify=sandbox.ca_bundle,
        timeout=10,
    )
    assert [d["fqdn"] for d in response.json()["result"]] == ["cloud.test"]


def test_sandbox_writes_private_credentials(sandbox: Sandbox, tmp_path: Path) -> None:
    both = Path(sandbox.write_credentials(str(tmp_path / "both.ini")))
    assert stat.S_IMODE(both.stat().st_mode) == 0o600
    keys = {line.split(" = ")[0]: line.split(" = ", 1)[1] for line in both.read_text().splitlines()}
    assert keys["dns_netcup_api_url"] == sandbox.ccp_url and keys["dns_netcup_api_v1_url"] == sandbox.rest_url
    assert keys["dns_netcup_api_password"] == sandbox.state.api_password
    ccp_only = Path(sandbox.write_credentials(str(tmp_path / "ccp.ini"), rest=False, dns_netcup_api_key="wrong"))
    text = ccp_only.read_text()
    assert "dns_netcup_api_key = wrong" in text and "v1" not in text
    assert (
        "dns_netcup_api_password" not in Path(sandbox.write_credentials(str(tmp_path / "r.ini"), ccp=False)).read_text()
    )
    description = json.dumps(sandbox.describe())
    assert sandbox.state.api_password not in description and sandbox.state.api_key not in description


@pytest.mark.root
@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="binding port 53 needs root")
def test_sandbox_on_port_53_is_reachable_through_resolved_addresses(tmp_path: Path) -> None:
    specs = [ServerSpec("root-dns.netcup.net"), ServerSpec("second-dns.netcup.net", mode="refused")]
    with Sandbox(str(tmp_path), servers=specs, port53=True) as box:
        assert {box.system_resolver.port, box.ca_resolver.port} == {53}
        address = ask(box.system_resolver, "root-dns.netcup.net", "A").answer[0][0].address
        reply = dns.query.udp(dns.message.make_query("example.test", "SOA"), address, port=53, timeout=3)
        assert reply.flags & dns.flags.AA and reply.answer[0].rdtype == dns.rdatatype.SOA


def test_launcher_prints_json_first_and_stops_on_sigterm(tmp_path: Path) -> None:
    json_file = tmp_path / "sandbox.json"
    command = [
        sys.executable,
        "-m",
        "netcup_sandbox",
        "--workdir",
        str(tmp_path / "w"),
        "--lags",
        "0,0.5",
        "--json-file",
        str(json_file),
    ]
    root = Path(__file__).resolve().parent.parent
    process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        description = json.loads(process.stdout.readline())
        assert json.loads(json_file.read_text()) == description
        assert [s["lag"] for s in description["servers"]] == [0.0, 0.5]
        assert oct(os.stat(description["credentials"]).st_mode & 0o777) == oct(0o600)
        first = description["servers"][0]
        reply = dns.query.udp(
            dns.message.make_query("example.test", "SOA"), first["address"], port=first["port"], timeout=3
        )
        assert reply.rcode() == dns.rcode.NOERROR
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
