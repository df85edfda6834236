"""The propagation wait against real lagging authoritative servers on loopback (tests/sandbox)."""

from __future__ import annotations

import errno
import random
import threading
import time
from collections.abc import Iterator
from typing import Callable, Optional

import dns.resolver
import pytest

from certbot_dns_netcup._internal.dns01 import dnsquery
from certbot_dns_netcup._internal.dns01.dnslookup import DnsLookupError
from certbot_dns_netcup._internal.dns01.nameservers import (
    Nameserver,
    discover_nameservers,
    parse_nameservers_option,
    resolve_nameserver_option,
)
from certbot_dns_netcup._internal.dns01.propagation import (
    ExpectedRecord,
    PropagationResult,
    PropagationTimeout,
    wait_for_propagation,
)
from netcup_sandbox.dns_server import AuthoritativeServer
from netcup_sandbox.resolver import FakeRecursiveResolver
from netcup_sandbox.sandbox import wait_until
from netcup_sandbox.state import NetcupState, Record

ZONE = "example.test"


def loopback() -> str:
    """A random loopback address, so that parallel helpers and test runs never collide."""
    return f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"


class Sandbox:
    """A NetcupState plus the servers started for one test; everything is stopped at the end."""

    def __init__(self) -> None:
        self.state = NetcupState()
        self.started: list[AuthoritativeServer | FakeRecursiveResolver] = []

    def server(self, name: str, lag: float = 0.0, mode: str = "normal") -> AuthoritativeServer:
        server = AuthoritativeServer(self.state, name, loopback(), lag=lag, mode=mode).start()
        self.started.append(server)
        return server

    def resolver(self, servers: list[AuthoritativeServer]) -> FakeRecursiveResolver:
        resolver = FakeRecursiveResolver(self.state, servers, loopback()).start()
        self.started.append(resolver)
        return resolver

    def publish(self, zone: str, records: dict[str, list[str]]) -> list[ExpectedRecord]:
        """Add TXT records in ONE zone change (a zone reaches a server all at once) and return them as expected."""
        with self.state.lock:
            target = self.state.zones[zone]
            for hostname, values in records.items():
                for value in values:
                    target.records.append(Record(self.state.new_id(), hostname, "TXT", value))
            self.state.commit(target)
        return [
            ExpectedRecord(zone, f"{hostname}.{zone}", value)
            for hostname, values in records.items()
            for value in values
        ]


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    box = Sandbox()
    box.state.add_zone(ZONE)
    yield box
    for server in box.started:
        server.stop()


def ns(server: AuthoritativeServer | FakeRecursiveResolver, host: Optional[str] = None) -> Nameserver:
    return Nameserver(host or server.name, server.address, server.port)


class Messages(list):
    """The notify callback: collects the lines the user would see."""

    def __call__(self, message: str) -> None:
        self.append(message)

    def containing(self, text: str) -> list[str]:
        return [m for m in self if text in m]


def wait(
    records: list[ExpectedRecord],
    servers: dict[str, list[Nameserver]],
    bound: float,
    notify: Callable[[str], None],
    grace: float = 30.0,
    progress_interval: float = 30.0,
    clock: Callable[[], float] = time.monotonic,
) -> PropagationResult:
    """The wait with small steps and query timeouts, to keep the tests quick; the logic is the same."""
    return wait_for_propagation(
        records,
        servers,
        bound,
        notify,
        step=0.1,
        query_timeout=0.3,
        grace=grace,
        progress_interval=progress_interval,
        clock=clock,
        bound_option="--propagation-seconds",
    )


class ClockJumpingWhen:
    """A clock for the wait that runs true until ``condition`` holds, then jumps a day ahead.

    Lets a test run the wait out of time exactly when the servers have answered what it needs to
    see (a condition on their query logs), instead of after a guessed number of seconds.
    """

    def __init__(self, condition: Callable[[], bool]) -> None:
        self.condition = condition
        self.offset = 0.0

    def __call__(self) -> float:
        if not self.offset and self.condition():
            self.offset = 86400.0
        return time.monotonic() + self.offset


def answered_twice(*servers: AuthoritativeServer) -> Callable[[], bool]:
    """True once each server got a second query: the wait asks again only after it took in the first answer."""
    return lambda: all(len(server.log) >= 2 for server in servers)


class Releaser:
    """Brings lagging servers up to date (lag 0) once a condition on the logs holds, from a thread."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []
        self.errors: list[BaseException] = []

    def release(self, server: AuthoritativeServer, condition: Callable[[], object], timeout: float = 20) -> None:
        def run() -> None:
            try:
                wait_until(condition, timeout, message=f"condition to release {server.name}")
            except BaseException as error:  # seen by join(): a test must not hang on a lagging server
                self.errors.append(error)
            server.lag = 0.0

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        self.threads.append(thread)

    def join(self) -> None:
        for thread in self.threads:
            thread.join(timeout=30)
        assert not self.errors, self.errors


def txt_answers(server: AuthoritativeServer, name: str) -> list[tuple[str, ...]]:
    return [e.txt_values for e in server.log.matching(name, "TXT") if e.rcode == "NOERROR"]


# ----- waiting until every server serves everything ----------------------------------------------------------------
def test_waits_until_every_server_serves_every_value(sandbox: Sandbox) -> None:
    fresh = sandbox.server("root-dns.netcup.net")
    lagging = sandbox.server("second-dns.netcup.net", lag=3600)  # NXDOMAIN until released
    reloading = sandbox.server("third-dns.netcup.net", lag=3600, mode="servfail")  # SERVFAIL until released
    truncating = sandbox.server("fourth-dns.netcup.net", mode="truncate")  # answers only over TCP
    servers = [fresh, lagging, reloading, truncating]
    records = sandbox.publish(ZONE, {"_acme-challenge": ["value-apex", "value-wildcard"], "_acme-challenge.www": ["w"]})
    messages = Messages()
    releaser = Releaser()
    # Up to date only once the wait saw them fail and reported progress: the order the asserts rely on.
    releaser.release(reloading, lambda: any(e.rcode == "SERVFAIL" for e in reloading.log.entries()))
    releaser.release(
        lagging,
        lambda: (
            messages.containing("Still waiting after") and any(e.rcode == "NXDOMAIN" for e in lagging.log.entries())
        ),
    )

    result = wait(records, {ZONE: [ns(s) for s in servers]}, 60, messages, progress_interval=0.3)
    releaser.join()

    assert result.waited
    assert set(result.ready_after) == {(ZONE, ns(s)) for s in servers}
    assert not result.silent and not result.warnings
    for server in servers:  # it returned only after each server really answered every value
        assert any({"value-apex", "value-wildcard"} <= set(v) for v in txt_answers(server, "_acme-challenge." + ZONE))
        assert any("w" in v for v in txt_answers(server, "_acme-challenge.www." + ZONE))
    assert lagging.log.entries()[0].rcode == "NXDOMAIN"
    assert reloading.log.entries()[0].rcode == "SERVFAIL"
    assert {e.transport for e in truncating.log.entries()} == {"udp", "tcp"}
    assert messages[0].startswith("Waiting for 4 nameserver addresses to serve 3 TXT records (at most 60 s)")
    for server in servers:
        assert len(messages.containing(f"{ns(server)} serves all 3 records after")) == 1
    assert messages.containing("Still waiting after")
    assert "second-dns.netcup.net" in messages.containing("Still waiting after")[0]
    assert messages[-1].startswith("All answering nameservers serve all 3 TXT records after")


def test_probes_one_name_per_zone_and_server_while_a_server_lags(sandbox: Sandbox) -> None:
    sandbox.state.add_zone("other.test")
    fresh = sandbox.server("root-dns.netcup.net")
    lagging = sandbox.server("second-dns.netcup.net", lag=3600)
    names = {f"_acme-challenge.host{i}": [f"value{i}"] for i in range(6)}
    records = sandbox.publish(ZONE, names)
    records += sandbox.publish("other.test", {"_acme-challenge": ["o1"], "_acme-challenge.a": ["o2"]})
    servers = {zone: [ns(fresh), ns(lagging)] for zone in (ZONE, "other.test")}
    probes = {"_acme-challenge.host0." + ZONE, "_acme-challenge.a.other.test"}  # the first name of each zone, sorted
    released: list[float] = []
    releaser = Releaser()

    def asked_each_probe_twice() -> bool:
        asked = [e.qname for e in lagging.log.entries()]
        done = all(asked.count(probe) >= 2 for probe in probes)
        if done:
            released.append(time.monotonic())
        return done

    releaser.release(lagging, asked_each_probe_twice)
    result = wait(records, servers, 60, Messages())
    releaser.join()

    before = [e.qname for e in lagging.log.entries() if e.time < released[0]]
    assert set(before) == probes, "while it lagged, only each zone's probe was asked"
    for server in (fresh, lagging):
        asked = [e.qname for e in server.log.entries()]
        for record in records:
            if record.name not in probes:
                assert asked.count(record.name) == 2, "found, confirmed once at the end, never asked again"
    # Records were there before the wait: the fresh server needs each name once, and once to confirm.
    assert result.queries[ns(fresh)] == 2 * 8 == len(fresh.log.entries())
    assert result.confirm_rounds == 1


def test_other_values_at_the_name_do_not_matter_and_split_txt_strings_join(sandbox: Sandbox) -> None:
    server = sandbox.server("root-dns.netcup.net")
    long_value = "x" * 300  # longer than one TXT character-string: sent as two strings
    records = sandbox.publish(ZONE, {"_acme-challenge": [long_value, "unrelated-old-value"]})[:1]

    result = wait(records, {ZONE: [ns(server)]}, 10, Messages())

    assert (ZONE, ns(server)) in result.ready_after


def test_bound_zero_does_not_query(sandbox: Sandbox) -> None:
    server = sandbox.server("root-dns.netcup.net")
    records = sandbox.publish(ZONE, {"_acme-challenge": ["v"]})

    result = wait_for_propagation(records, {ZONE: [ns(server)]}, 0, Messages())

    assert not result.waited
    assert len(server.log) == 0


# ----- servers that never answer ------------------------------------------------------------------------------------
def test_silent_server_is_skipped_after_the_grace_with_a_warning(sandbox: Sandbox) -> None:
    answering = sandbox.server("root-dns.netcup.net", lag=0.3)
    silent = sandbox.server("second-dns.netcup.net", mode="silent")
    records = sandbox.publish(ZONE, {"_acme-challenge": ["v"]})
    messages = Messages()

    result = wait(records, {ZONE: [ns(answering), ns(silent)]}, 20, messages, grace=0.5)

    assert result.silent == [(ZONE, ns(silent))]
    assert list(result.ready_after) == [(ZONE, ns(answering))]
    assert len(silent.log) > 0, "the silent server was asked"
    warnings = messages.containing("Warning: not waiting any longer for")
    assert len(warnings) == 1 and str(ns(silent)) in warnings[0]
    assert warnings[0] in result.warnings


def test_all_servers_silent_is_a_timeout_not_a_success(sandbox: Sandbox) -> None:
    silent = sandbox.server("root-dns.netcup.net", mode="silent")
    records = sandbox.publish(ZONE, {"_acme-challenge": ["v"]})

    with pytest.raises(PropagationTimeout) as caught:
        wait(records, {ZONE: [ns(silent)]}, 60, Messages(), grace=0.2, clock=ClockJumpingWhen(answered_twice(silent)))

    assert "timeout" in str(caught.value)
    assert f"No nameserver of {ZONE} answered at all" in str(caught.value)


def test_unreachable_address_family_is_reported_once_and_skipped(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = sandbox.server("root-dns.netcup.net")
    # Closed ports on ::1: never queried, because the route check below says IPv6 is unreachable.
    v6_servers = [Nameserver("root-dns.netcup.net", "::1", 9), Nameserver("second-dns.netcup.net", "::1", 7)]
    no_route = OSError(errno.ENETUNREACH, "Network is unreachable")
    monkeypatch.setattr(dnsquery, "route_error", lambda s: no_route if s.family == "IPv6" else None)
    records = sandbox.publish(ZONE, {"_acme-challenge": ["v"]})
    messages = Messages()

    result = wait(records, {ZONE: [ns(server), *v6_servers]}, 10, messages)

    assert result.unreachable == v6_servers
    assert list(result.ready_after) == [(ZONE, ns(server))]
    reports = messages.containing("IPv6 is not reachable from this host")
    assert len(reports) == 1 and all(str(s) in reports[0] for s in v6_servers)
    assert "1 nameserver address" in messages.containing("Waiting for")[0]


def test_zone_without_any_reachable_nameserver_is_named_in_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dnsquery, "route_error", lambda s: OSError(errno.EHOSTUNREACH, "No route to host"))
    messages = Messages()

    result = wait(
        [ExpectedRecord(ZONE, "_acme-challenge." + ZONE, "v")], {ZONE: [Nameserver("ns", "::1", 9)]}, 5, messages
    )

    assert result.unreachable == [Nameserver("ns", "::1", 9)] and not result.ready_after
    assert f"Warning: no nameserver of {ZONE} is reachable from this host: not checked" in result.warnings
    assert messages.containing("No route to host")


# ----- running out of time ------------------------------------------------------------------------------------------
def test_timeout_names_each_server_and_what_it_returned(sandbox: Sandbox) -> None:
    sandbox.state.add_zone("other.test")
    fresh = sandbox.server("root-dns.netcup.net")
    lagging = sandbox.server("second-dns.netcup.net", lag=100)
    refusing = sandbox.server("third-dns.netcup.net", mode="refused")
    reloading = sandbox.server("fourth-dns.netcup.net", lag=100, mode="servfail")
    silent = sandbox.server("fifth-dns.netcup.net", mode="silent")
    recursive = sandbox.resolver([fresh])  # answers from "cache": no AA flag
    records = sandbox.publish(ZONE, {"_acme-challenge": ["v"]})
    sandbox.publish("other.test", {"_acme-challenge": ["a-different-value"]})
    records.append(ExpectedRecord("other.test", "_acme-challenge.other.test", "wanted"))
    example_servers = [fresh, lagging, refusing, reloading, silent]
    servers = {ZONE: [*map(ns, example_servers), ns(recursive, "resolver.test")], "other.test": [ns(fresh)]}
    messages = Messages()

    with pytest.raises(PropagationTimeout) as caught:
        clock = ClockJumpingWhen(answered_twice(*example_servers))
        wait(records, servers, 60, messages, grace=0.2, clock=clock)

    text = str(caught.value)
    lines = text.splitlines()

    def line_of(server: Nameserver, zone: str = ZONE) -> str:
        found = [line for line in lines if line.startswith(f"  {server} for {zone}:")]
        assert len(found) == 1, text
        return found[0]

    assert line_of(ns(lagging)).endswith("_acme-challenge.example.test: NXDOMAIN")
    assert line_of(ns(refusing)).endswith(": REFUSED")
    assert line_of(ns(reloading)).endswith(": SERVFAIL")
    assert "timeout" in line_of(ns(silent)) and "no answer to any query" in line_of(ns(silent))
    assert "not authoritative" in line_of(ns(recursive, "resolver.test"))
    assert "wrong values: has 'a-different-value'; missing 'wanted'" in line_of(ns(fresh), "other.test")
    assert f"Serving everything: {ns(fresh)} for {ZONE}." in lines
    assert lines[-1] == "If the nameservers are just slow, raise --propagation-seconds (now 60)."
    assert set(caught.value.lagging) == {(z, s) for z, group in servers.items() for s in group} - {(ZONE, ns(fresh))}
    # Answering servers are never "silent", so the grace did not end the wait early.
    assert not messages.containing("not waiting any longer")


def test_timeout_report_stays_short_with_many_names(sandbox: Sandbox) -> None:
    servers = [sandbox.server(f"ns{i}.test", lag=100) for i in range(3)]
    records = sandbox.publish(ZONE, {f"_acme-challenge.h{i}": ["v"] for i in range(200)})

    with pytest.raises(PropagationTimeout) as caught:
        wait(
            records, {ZONE: [ns(s) for s in servers]}, 60, Messages(), clock=ClockJumpingWhen(answered_twice(*servers))
        )

    lines = str(caught.value).splitlines()
    assert len(lines) < 10
    assert "199 other names not checked until _acme-challenge.h0.example.test is served" in lines[2]
    for server in servers:  # the probe is all that was asked
        assert {e.qname for e in server.log.entries()} == {"_acme-challenge.h0." + ZONE}


def test_keyboard_interrupt_propagates(sandbox: Sandbox) -> None:
    server = sandbox.server("root-dns.netcup.net", lag=100)
    records = sandbox.publish(ZONE, {"_acme-challenge": ["v"]})

    def interrupt_on_progress(message: str) -> None:
        if message.startswith("Still waiting"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        wait(records, {ZONE: [ns(server)]}, 20, interrupt_on_progress, progress_interval=0.2)


# ----- the nameserver option and discovery --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ns1.example.net", [("ns1.example.net", 53)]),
        ("NS1.Example.NET.:5353", [("ns1.example.net", 5353)]),
        ("192.0.2.1, 192.0.2.2:5300", [("192.0.2.1", 53), ("192.0.2.2", 5300)]),
        ("2001:db8::1", [("2001:db8::1", 53)]),
        ("[2001:db8::1]:5353,[2001:db8::2]", [("2001:db8::1", 5353), ("2001:db8::2", 53)]),
        ("a.test,a.test", [("a.test", 53)]),
    ],
)
def test_parse_nameservers_option(text: str, expected: list[tuple[str, int]]) -> None:
    assert parse_nameservers_option(text) == expected


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("", "no nameserver given"),
        ("a.test,,b.test", "empty entry"),
        ("a.test:0", "not a number from 1 to 65535"),
        ("a.test:http", "not a number from 1 to 65535"),
        ("192.0.2.1:70000", "not a number from 1 to 65535"),
        ("[2001:db8::1", "missing ']'"),
        ("[a.test]:53", "is not an IPv6 address"),
        ("[2001:db8::1]53", "expected ':port'"),
        ("2001:db8::1:5353:x", "write an IPv6 address with a port as [address]:port"),
        ("bad host!", "neither an IP address nor a host name"),
    ],
)
def test_parse_nameservers_option_errors(text: str, complaint: str) -> None:
    with pytest.raises(ValueError, match="accepted forms: host, host:port") as caught:
        parse_nameservers_option(text)
    assert complaint in str(caught.value)


def resolver_at(server: FakeRecursiveResolver) -> dns.resolver.Resolver:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [server.address]
    resolver.port = server.port
    resolver.lifetime = 3.0
    return resolver


def test_discover_nameservers_through_a_resolver(sandbox: Sandbox) -> None:
    sandbox.state.host_addresses.update(
        {"root-dns.netcup.net": ["192.0.2.1", "2001:db8::1"], "second-dns.netcup.net": ["192.0.2.2"]}
    )  # third-dns.netcup.net has no address
    fake = sandbox.resolver([])
    messages = Messages()

    found = discover_nameservers(ZONE, resolver_at(fake), messages)

    assert found == [
        Nameserver("root-dns.netcup.net", "192.0.2.1"),
        Nameserver("root-dns.netcup.net", "2001:db8::1"),
        Nameserver("second-dns.netcup.net", "192.0.2.2"),
    ]
    assert len(messages) == 1 and "third-dns.netcup.net" in messages[0] and ZONE in messages[0]
    assert str(found[1]) == "root-dns.netcup.net (2001:db8::1)"


def test_discovery_fails_clearly_when_no_nameserver_resolves(sandbox: Sandbox) -> None:
    fake = sandbox.resolver([])
    with pytest.raises(DnsLookupError, match=r"none of the nameservers of example\.test"):
        discover_nameservers(ZONE, resolver_at(fake), Messages())


def test_resolve_nameserver_option(sandbox: Sandbox) -> None:
    sandbox.state.host_addresses["ns.example.test"] = ["192.0.2.7", "2001:db8::7"]
    fake = sandbox.resolver([])
    entries = parse_nameservers_option("ns.example.test:5353,198.51.100.1,[2001:db8::9]:54")

    servers = resolve_nameserver_option(entries, resolver_at(fake))

    assert servers == [
        Nameserver("ns.example.test", "192.0.2.7", 5353),
        Nameserver("ns.example.test", "2001:db8::7", 5353),
        Nameserver("198.51.100.1", "198.51.100.1"),
        Nameserver("2001:db8::9", "2001:db8::9", 54),
    ]
    assert [str(s) for s in servers] == [
        "ns.example.test (192.0.2.7:5353)",
        "ns.example.test ([2001:db8::7]:5353)",
        "198.51.100.1",
        "[2001:db8::9]:54",
    ]
    with pytest.raises(DnsLookupError, match=r"nowhere\.example\.test"):
        resolve_nameserver_option([("nowhere.example.test", 53)], resolver_at(fake))


def test_discovered_servers_feed_the_wait(sandbox: Sandbox) -> None:
    """Discovery and the wait together, as the plugin uses them (servers on port 53 need root: see e2e)."""
    servers = [sandbox.server(f"{name}-dns.netcup.net") for name in ("root", "second", "third")]
    for server in servers:
        sandbox.state.host_addresses[server.name] = [server.address]
    ports = {server.address: server.port for server in servers}
    discovered = discover_nameservers(ZONE, resolver_at(sandbox.resolver(servers)), Messages())
    records = sandbox.publish(ZONE, {"_acme-challenge": ["v"]})

    with_ports = [Nameserver(n.host, n.address, ports[n.address]) for n in discovered]
    result = wait(records, {ZONE: with_ports}, 10, Messages())

    assert {server.host for (_zone, server) in result.ready_after} == {s.name for s in servers}
