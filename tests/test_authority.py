"""The authority probe and what the wait does with it, against real sandbox servers on loopback.

Order is asserted through the servers' query logs and the wait's result, never through wall time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Callable, Optional

import pytest

from certbot_dns_netcup._internal.dns01.authority import (
    AuthorityReport,
    NoAuthoritativeServerError,
    Standing,
    probe_authority,
)
from certbot_dns_netcup._internal.dns01.dnsquery import query_txt
from certbot_dns_netcup._internal.dns01.nameservers import Nameserver
from certbot_dns_netcup._internal.dns01.propagation import (
    ExpectedRecord,
    PropagationResult,
    wait_for_propagation,
)
from netcup_sandbox.dns_listener import TCP_REFUSED
from netcup_sandbox.dns_server import AuthoritativeServer
from netcup_sandbox.sandbox import wait_until
from tests.test_propagation import Messages, Sandbox, ns

pytestmark = pytest.mark.timeout(120)

ZONE = "example.test"
OWNER = "_acme-challenge.example.test"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    box = Sandbox()
    box.state.add_zone(ZONE)
    yield box
    for server in box.started:
        server.stop()


def probe(servers: list[AuthoritativeServer], zone: str = ZONE) -> AuthorityReport:
    return probe_authority({zone: [ns(s) for s in servers]}, timeout=0.3)


def wait(
    records: list[ExpectedRecord],
    servers: list[AuthoritativeServer],
    notify: Callable[[str], None],
    authority: Optional[AuthorityReport] = None,
    **options: float,
) -> PropagationResult:
    """The wait with small steps and query timeouts; a bound no test is meant to reach."""
    settings: dict[str, float] = {"step": 0.1, "query_timeout": 0.3, **options}
    return wait_for_propagation(
        records,
        {ZONE: [ns(s) for s in servers]},
        60,
        notify,
        authority=authority,
        **settings,  # type: ignore[arg-type]
    )


# ----- lame servers -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("mode", "answered"),
    [
        ("refused", "REFUSED"),
        ("notauth", "NOTAUTH"),
        ("noaa", "NOERROR without the AA flag"),
        ("referral", "a referral (NS records of example.test"),
        ("othersoa", "the SOA of another zone (test)"),
    ],
)
def test_a_lame_server_is_named_once_and_not_waited_for(sandbox: Sandbox, mode: str, answered: str) -> None:
    good = [sandbox.server("root-dns.netcup.net"), sandbox.server("second-dns.netcup.net", lag=0.2)]
    lame = sandbox.server("third-dns.netcup.net", mode=mode)
    report = probe([*good, lame])
    assert [e.standing for e in report.entries] == [Standing.AUTHORITATIVE, Standing.AUTHORITATIVE, Standing.LAME]
    report.check()  # two servers serve the zone: the run goes on
    records = sandbox.publish(ZONE, {"_acme-challenge": ["v"]})
    messages = Messages()

    result = wait(records, [*good, lame], messages, report)

    assert set(result.ready_after) == {(ZONE, ns(s)) for s in good}
    assert result.lame == [(ZONE, ns(lame))]
    named = messages.containing(str(ns(lame)))
    assert len(named) == 1, messages
    warning = named[0]
    assert warning.startswith("Warning:") and answered in warning
    assert "skip" in warning and "delegation" in warning
    assert warning in result.warnings
    # The probe's SOA query is all it ever got: no TXT query after it.
    assert [(e.qname, e.qtype) for e in lame.log.entries()] == [(ZONE, "SOA")]
    assert "Waiting for 2 nameserver addresses" in messages.containing("Waiting for")[0]


def test_a_zone_without_any_authoritative_server_is_an_error_naming_every_server(sandbox: Sandbox) -> None:
    servers = [
        sandbox.server("root-dns.netcup.net", mode="refused"),
        sandbox.server("second-dns.netcup.net", mode="noaa"),
        sandbox.server("third-dns.netcup.net", mode="silent"),
    ]
    report = probe(servers)
    assert [e.standing for e in report.entries] == [Standing.LAME, Standing.LAME, Standing.SILENT]

    with pytest.raises(NoAuthoritativeServerError) as caught:
        report.check("Fix the NS records at your provider.")

    text = str(caught.value)
    lines = text.splitlines()
    assert lines[0].startswith("No nameserver of example.test serves the zone")
    assert f"  {ns(servers[0])}: REFUSED" in lines
    assert f"  {ns(servers[1])}: NOERROR without the AA flag (not authoritative)" in lines
    assert f"  {ns(servers[2])}: no answer within 0.3 s over UDP nor TCP" in lines
    assert lines[-1] == "Nothing was created. Fix the NS records at your provider."
    assert caught.value.zones == [ZONE]


def test_servers_that_all_stay_silent_suggest_blocked_dns(sandbox: Sandbox) -> None:
    servers = [sandbox.server("root-dns.netcup.net", mode="silent"), sandbox.server("b.test", mode="silent")]

    with pytest.raises(NoAuthoritativeServerError, match=r"answered at all .*port 53"):
        probe(servers).check()
    for server in servers:  # asked over UDP, then over TCP
        assert sorted(e.transport for e in server.log.entries()) == ["tcp", "udp"]


def test_servfail_is_not_lame_and_the_server_is_waited_for(sandbox: Sandbox) -> None:
    loading = sandbox.server("root-dns.netcup.net", mode="servfail", lag=3600)
    sandbox.publish(ZONE, {"_acme-challenge.earlier": ["x"]})  # the server has not loaded this change yet
    report = probe([loading])
    assert report.entries[0].standing is Standing.LOADING
    report.check()  # a loading server may serve the zone soon: not an error
    records = sandbox.publish(ZONE, {"_acme-challenge": ["v"]})
    threading.Thread(
        target=lambda: (
            wait_until(lambda: len(loading.log.matching(OWNER, "TXT")) >= 2, 20),
            setattr(loading, "lag", 0.0),
        ),
        daemon=True,
    ).start()

    result = wait(records, [loading], Messages(), report)

    assert list(result.ready_after) == [(ZONE, ns(loading))]
    assert loading.log.matching(OWNER, "TXT")[0].rcode == "SERVFAIL"


# ----- silent servers -----------------------------------------------------------------------------------------------
def test_a_server_silent_before_publishing_gets_only_the_short_grace(sandbox: Sandbox) -> None:
    answering = sandbox.server("root-dns.netcup.net")
    silent = sandbox.server("second-dns.netcup.net", mode="silent")
    report = probe([answering, silent])
    assert [e.standing for e in report.entries] == [Standing.AUTHORITATIVE, Standing.SILENT]
    records = sandbox.publish(ZONE, {"_acme-challenge": ["v"]})
    messages = Messages()

    result = wait(records, [answering, silent], messages, report, grace=30.0)  # default silent grace

    assert result.grace == 5.0
    assert result.silent == [(ZONE, ns(silent))]
    assert list(result.ready_after) == [(ZONE, ns(answering))]
    warnings = messages.containing("Warning: not waiting any longer for")
    assert len(warnings) == 1 and str(ns(silent)) in warnings[0]
    assert "since before the records were created" in warnings[0]


def test_a_server_that_answered_the_probe_and_falls_silent_keeps_the_full_grace(sandbox: Sandbox) -> None:
    answering = sandbox.server("root-dns.netcup.net")
    failing = sandbox.server("second-dns.netcup.net")
    report = probe([answering, failing])
    failing.mode = "silent"
    records = sandbox.publish(ZONE, {"_acme-challenge": ["v"]})
    messages = Messages()

    result = wait(records, [answering, failing], messages, report, grace=0.8, silent_grace=0.2)

    assert result.grace == 0.8
    assert result.silent == [(ZONE, ns(failing))]
    assert messages.containing("Warning: not waiting any longer for")


def test_an_unreachable_server_in_the_probe_is_not_asked_again(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from certbot_dns_netcup._internal.dns01 import dnsquery

    server = sandbox.server("root-dns.netcup.net")
    v6 = Nameserver("second-dns.netcup.net", "::1", 9)  # a closed port: must never be asked
    monkeypatch.setattr(
        dnsquery, "route_error", lambda s: OSError(errno.ENETUNREACH, "Network is unreachable") if s == v6 else None
    )
    report = probe_authority({ZONE: [ns(server), v6]}, timeout=0.3)
    assert [e.standing for e in report.entries] == [Standing.AUTHORITATIVE, Standing.UNREACHABLE]
    report.check()
    messages = Messages()

    result = wait_for_propagation(
        sandbox.publish(ZONE, {"_acme-challenge": ["v"]}), {ZONE: [ns(server), v6]}, 60, messages, authority=report
    )

    assert result.unreachable == [v6]
    assert len(messages.containing("IPv6 is not reachable from this host")) == 1


# ----- the confirmation before returning ----------------------------------------------------------------------------
def test_a_server_that_loses_the_values_again_puts_the_wait_back_on(sandbox: Sandbox) -> None:
    flapping = sandbox.server("root-dns.netcup.net", mode="flap")
    flapping.flap_after, flapping.flap_for = 1.0, 2.0  # serves 1 s, then NXDOMAIN for 2 s, then serves again
    lagging = sandbox.server("second-dns.netcup.net", lag=3600)
    records = sandbox.publish(ZONE, {"_acme-challenge": ["v"]})
    gap = flapping.flap_window(ZONE)
    assert gap is not None
    gap_start, gap_end = gap
    # The other server becomes ready inside the gap: the confirmation then finds the flapping one without the value.
    threading.Thread(
        target=lambda: (wait_until(lambda: time.monotonic() >= gap_start, 20), setattr(lagging, "lag", 0.0)),
        daemon=True,
    ).start()
    messages = Messages()

    result = wait(records, [flapping, lagging], messages)

    assert result.relapses == [(ZONE, ns(flapping), OWNER)]
    assert result.confirm_rounds >= 2
    answers = flapping.log.matching(OWNER, "TXT")
    assert answers[0].rcode == "NOERROR" and answers[0].txt_values == ("v",) and answers[0].time < gap_start
    assert any(gap_start <= e.time < gap_end and e.rcode == "NXDOMAIN" for e in answers), "the gap was seen"
    # The last confirmation came after the gap and found the value.
    assert answers[-1].time >= gap_end and answers[-1].txt_values == ("v",)
    assert lagging.log.matching(OWNER, "TXT")[-1].time >= gap_end
    lost = messages.containing("no longer serves")
    assert len(lost) == 1 and str(ns(flapping)) in lost[0]


def test_values_of_one_name_published_apart_are_all_waited_for(sandbox: Sandbox) -> None:
    server = sandbox.server("root-dns.netcup.net", lag=1.5)
    state = sandbox.state
    state.add_record(ZONE, "_acme-challenge", "TXT", "first-value")
    with state.lock:  # the first change reached netcup a second before the second one
        zone = state.zones[ZONE]
        stamp, snapshot = zone.history[-1]
        zone.history[-1] = (stamp - 1.0, snapshot)
    state.add_record(ZONE, "_acme-challenge", "TXT", "second-value")
    records = [ExpectedRecord(ZONE, OWNER, "first-value"), ExpectedRecord(ZONE, OWNER, "second-value")]

    wait(records, [server], Messages())
    returned = time.monotonic()

    second_served = server.first_serving_time(OWNER, "second-value")
    first_served = server.first_serving_time(OWNER, "first-value")
    assert first_served is not None and second_served is not None and first_served < second_served
    assert returned >= second_served, "the wait returned before the server served the second value"
    answers = [e.txt_values for e in server.log.matching(OWNER, "TXT") if e.rcode == "NOERROR"]
    assert ("first-value",) in answers, "the server was seen with the first value only"
    assert set(answers[-1]) == {"first-value", "second-value"}


# ----- EDNS -----------------------------------------------------------------------------------------------------------
def test_queries_carry_edns_with_a_1232_byte_payload(sandbox: Sandbox) -> None:
    server = sandbox.server("root-dns.netcup.net")
    probe([server])
    query_txt(OWNER, ns(server), timeout=1.0)

    entries = server.log.entries()
    assert [(e.qtype, e.edns_payload) for e in entries] == [("SOA", 1232), ("TXT", 1232)]


def test_many_values_fit_over_udp_with_edns_when_tcp_is_refused(sandbox: Sandbox) -> None:
    server = sandbox.server("root-dns.netcup.net", mode="notcp")
    values = [f"{i:02d}-Lb5bFEEAYwdmcLZrpDYcpfaaoKcXQuJXa6Vt2yJmB" for i in range(15)]  # ~900 bytes in all
    report = probe([server])
    records = sandbox.publish(ZONE, {"_acme-challenge": values})

    result = wait(records, [server], Messages(), report)

    assert list(result.ready_after) == [(ZONE, ns(server))]
    txt = server.log.matching(OWNER, "TXT")
    assert {e.transport for e in txt} == {"udp"}
    assert len(txt[-1].txt_values) == 15
    assert not [e for e in server.log.entries() if e.rcode == TCP_REFUSED]
