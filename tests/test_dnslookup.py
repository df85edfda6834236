"""System-resolver lookups, against the sandbox's fake recursive resolver on loopback."""

from __future__ import annotations

import random
from collections.abc import Iterator

import dns.resolver
import pytest

from certbot_dns_netcup._internal.dns01 import dnslookup
from certbot_dns_netcup._internal.dns01.dnslookup import DnsLookupError
from netcup_sandbox.dns_server import AuthoritativeServer
from netcup_sandbox.resolver import FakeRecursiveResolver
from netcup_sandbox.state import NETCUP_NAMESERVERS, NetcupState


def loopback() -> str:
    return f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"


@pytest.fixture
def state() -> NetcupState:
    state = NetcupState()
    state.add_zone("example.test")
    return state


@pytest.fixture
def resolver(state: NetcupState) -> Iterator[dns.resolver.Resolver]:
    authoritative = AuthoritativeServer(state, "root-dns.netcup.net", loopback()).start()
    fake = FakeRecursiveResolver(state, [authoritative], loopback()).start()
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [fake.address]
    resolver.port = fake.port
    resolver.lifetime = 3.0
    yield resolver
    fake.stop()
    authoritative.stop()


def test_make_system_resolver_bounds_every_lookup() -> None:
    try:
        resolver = dnslookup.make_system_resolver(timeout=4.0)
    except DnsLookupError as error:  # a host without /etc/resolv.conf: the error must say so
        assert "resolver configuration" in str(error)
        return
    assert resolver.lifetime == 4.0
    assert resolver.timeout <= 4.0


def test_follow_cname_chain(state: NetcupState, resolver: dns.resolver.Resolver) -> None:
    state.foreign_records["_acme-challenge.customer.test"] = [("CNAME", "_acme-challenge.hop.test.")]
    state.foreign_records["_acme-challenge.hop.test"] = [("CNAME", "_acme-challenge.Example.Test.")]

    assert dnslookup.follow_cname_chain("_acme-challenge.customer.test.", resolver) == "_acme-challenge.example.test"
    # No CNAME, whether or not the name exists: the name itself.
    assert dnslookup.follow_cname_chain("_acme-challenge.example.test", resolver) == "_acme-challenge.example.test"
    assert dnslookup.follow_cname_chain("www.example.test", resolver) == "example.test"  # www is a CNAME to @


def test_cname_loop_is_an_error(state: NetcupState, resolver: dns.resolver.Resolver) -> None:
    state.foreign_records["a.loop.test"] = [("CNAME", "b.loop.test.")]
    state.foreign_records["b.loop.test"] = [("CNAME", "a.loop.test.")]

    with pytest.raises(DnsLookupError, match=r"CNAME loop at a\.loop\.test: a\.loop\.test -> b\.loop\.test -> a"):
        dnslookup.follow_cname_chain("a.loop.test", resolver)


def test_overlong_cname_chain_is_an_error(state: NetcupState, resolver: dns.resolver.Resolver) -> None:
    for i in range(dnslookup.MAX_CNAME_CHAIN + 1):
        state.foreign_records[f"n{i}.chain.test"] = [("CNAME", f"n{i + 1}.chain.test.")]

    with pytest.raises(DnsLookupError, match="longer than"):
        dnslookup.follow_cname_chain("n0.chain.test", resolver)


def test_zone_nameserver_names(state: NetcupState, resolver: dns.resolver.Resolver) -> None:
    state.add_zone("elsewhere.test", nameservers=("NS2.Provider.test.", "ns1.provider.test."))

    assert dnslookup.zone_nameserver_names("example.test", resolver) == sorted(NETCUP_NAMESERVERS)
    assert dnslookup.zone_nameserver_names("elsewhere.test.", resolver) == ["ns1.provider.test", "ns2.provider.test"]
    with pytest.raises(DnsLookupError, match=r"the zone unknown\.invalid does not exist"):
        dnslookup.zone_nameserver_names("unknown.invalid", resolver)


def test_host_addresses(state: NetcupState, resolver: dns.resolver.Resolver) -> None:
    state.host_addresses["root-dns.netcup.net"] = ["192.0.2.1", "2001:db8::1", "192.0.2.11"]
    state.host_addresses["v6only.test"] = ["2001:db8::6"]

    assert dnslookup.host_addresses("root-dns.netcup.net", resolver) == ["192.0.2.1", "192.0.2.11", "2001:db8::1"]
    assert dnslookup.host_addresses("v6only.test", resolver) == ["2001:db8::6"]
    with pytest.raises(DnsLookupError, match=r"the host nowhere\.invalid does not resolve to an address"):
        dnslookup.host_addresses("nowhere.invalid", resolver)


def test_a_resolver_that_does_not_answer_times_out_with_a_clear_error(state: NetcupState) -> None:
    silent = AuthoritativeServer(state, "silent", loopback(), mode="silent").start()
    try:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [silent.address]
        resolver.port = silent.port
        resolver.lifetime = 0.5
        resolver.timeout = 0.5

        with pytest.raises(DnsLookupError, match=r"looking up NS of example\.test timed out"):
            dnslookup.zone_nameserver_names("example.test", resolver)
    finally:
        silent.stop()


def test_invalid_name_is_a_lookup_error(resolver: dns.resolver.Resolver) -> None:
    with pytest.raises(DnsLookupError, match="not a valid DNS name"):
        dnslookup.follow_cname_chain("a" * 64 + ".test", resolver)


def test_the_name_service_is_asked_first_only_for_the_system_resolver(
    state: NetcupState, resolver: dns.resolver.Resolver, monkeypatch: pytest.MonkeyPatch
) -> None:
    state.host_addresses["root-dns.netcup.net"] = ["192.0.2.1"]
    asked: list[str] = []

    def name_service(host: str) -> list[str]:
        asked.append(host)
        return ["198.51.100.9"]  # what /etc/hosts would say

    monkeypatch.setattr(dnslookup, "_name_service_addresses", name_service)

    assert dnslookup.host_addresses("root-dns.netcup.net", resolver) == ["192.0.2.1"]
    assert asked == []
    assert dnslookup.host_addresses("root-dns.netcup.net", resolver, name_service=True) == ["198.51.100.9"]
    system = dnslookup.SystemResolver(configure=False)
    system.nameservers, system.port, system.lifetime = resolver.nameservers, resolver.port, 3.0
    assert dnslookup.host_addresses("root-dns.netcup.net", system) == ["198.51.100.9"]
    assert dnslookup.host_addresses("root-dns.netcup.net", system, name_service=False) == ["192.0.2.1"]
    assert asked == ["root-dns.netcup.net", "root-dns.netcup.net"]
