"""Planning (planning.py) with a fake resolver: where each record goes, which servers are polled.

The fake answers from a table and notes every question; a zone of the account is one the fake
CCP client knows.  Nothing is sent anywhere.
"""

from __future__ import annotations

import types
from typing import Any, Optional

import dns.exception
import dns.name
import dns.resolver
import dns.rrset
import pytest

from certbot_dns_netcup._internal.dns01.dnslookup import CnameChainError
from certbot_dns_netcup._internal.dns01.nameservers import Nameserver
from certbot_dns_netcup._internal.errors import ConfigurationError, ZoneNotFoundError
from certbot_dns_netcup._internal.netcup.zones import CCP, ZoneResolver, ZoneTarget
from certbot_dns_netcup._internal.planning import Planner

ZONE = "example.test"
NETCUP_NS = ["root-dns.netcup.net.", "second-dns.netcup.net."]


class FakeResolver:
    """``resolve`` from a table of (name, type) -> texts; a name absent from the table is NXDOMAIN."""

    def __init__(self, table: dict[tuple[str, str], list[str]], silent: bool = False) -> None:
        self.table = table
        self.silent = silent
        self.asked: list[tuple[str, str]] = []

    def resolve(self, qname: Any, rdtype: Any, raise_on_no_answer: bool = True, **_: Any) -> Any:
        name = (qname.to_text() if isinstance(qname, dns.name.Name) else str(qname)).rstrip(".").lower()
        rdtype = str(rdtype if isinstance(rdtype, str) else dns.rdatatype.to_text(rdtype))
        self.asked.append((name, rdtype))
        if self.silent:
            raise dns.exception.Timeout
        if not any(owner == name for owner, _ in self.table):
            raise dns.resolver.NXDOMAIN
        texts = self.table.get((name, rdtype)) or self.table.get((name, "CNAME"))
        if not texts:
            return types.SimpleNamespace(rrset=None)
        kind = rdtype if (name, rdtype) in self.table else "CNAME"
        return types.SimpleNamespace(rrset=dns.rrset.from_text_list(name + ".", 300, "IN", kind, texts))


class FakeCcp:
    def __init__(self, zones: set[str]) -> None:
        self.zones = zones

    def zone_exists(self, zone: str) -> bool:
        return zone in self.zones


def planner(table: dict[tuple[str, str], list[str]], silent: bool = False) -> tuple[Planner, FakeResolver, list[str]]:
    resolver = FakeResolver(table, silent)
    said: list[str] = []
    zones = ZoneResolver(FakeCcp({ZONE, "second.test"}), None)  # type: ignore[arg-type]
    return Planner(zones, said.append, lambda: resolver), resolver, said


def ns_table(zone: str, hosts: list[str], addresses: Optional[dict[str, str]] = None) -> dict:
    table: dict[tuple[str, str], list[str]] = {(zone, "NS"): hosts}
    for host, address in (addresses or {}).items():
        table[(host, "A")] = [address]
    return table


# ----- where the records go ------------------------------------------------------------------------------------
def test_a_name_without_cname_gets_its_record_in_its_own_zone() -> None:
    plan, _, said = planner({(ZONE, "SOA"): ["x"]})
    records = plan.records([(f"_acme-challenge.{ZONE}", "v1"), (f"_acme-challenge.WWW.{ZONE}.", "v2")])
    assert [(r.name, r.value, r.target) for r in records] == [
        (f"_acme-challenge.{ZONE}", "v1", ZoneTarget(ZONE, CCP)),
        (f"_acme-challenge.www.{ZONE}", "v2", ZoneTarget(ZONE, CCP)),
    ]
    assert said == []


def test_a_cname_chain_is_followed_to_the_zone_that_holds_its_end() -> None:
    table = {
        ("_acme-challenge.customer.elsewhere", "CNAME"): ["_acme-challenge.hop.elsewhere."],
        ("_acme-challenge.hop.elsewhere", "CNAME"): [f"_acme-challenge.Delegated.{ZONE}."],
    }
    plan, _, said = planner(table)
    [record] = plan.records([("_acme-challenge.customer.elsewhere", "v")])
    assert (record.name, record.target) == (f"_acme-challenge.delegated.{ZONE}", ZoneTarget(ZONE, CCP))
    assert said == [f"_acme-challenge.customer.elsewhere is a CNAME: creating its TXT record at {record.name}"]


def test_a_cname_loop_stops_the_run() -> None:
    table = {
        (f"_acme-challenge.{ZONE}", "CNAME"): [f"loop.{ZONE}."],
        (f"loop.{ZONE}", "CNAME"): [f"_acme-challenge.{ZONE}."],
    }
    plan, _, _ = planner(table)
    with pytest.raises(CnameChainError):
        plan.records([(f"_acme-challenge.{ZONE}", "v")])


def test_a_cname_out_of_the_account_names_both_names() -> None:
    plan, _, _ = planner({(f"_acme-challenge.{ZONE}", "CNAME"): ["_acme-challenge.not-mine.test."]})
    with pytest.raises(ZoneNotFoundError) as caught:
        plan.records([(f"_acme-challenge.{ZONE}", "v")])
    assert f"_acme-challenge.{ZONE} is a CNAME for _acme-challenge.not-mine.test" in str(caught.value)


def test_a_silent_resolver_is_asked_once_not_once_per_name() -> None:
    plan, resolver, _ = planner({}, silent=True)
    names = [f"_acme-challenge.host{i}.{ZONE}" for i in range(5)]
    assert [r.name for r in plan.records([(n, "v") for n in names])] == names
    assert resolver.asked == [(names[0], "CNAME")]


# ----- which servers are polled --------------------------------------------------------------------------------
def test_the_zones_ns_set_is_resolved_to_addresses() -> None:
    addresses = {"root-dns.netcup.net": "192.0.2.53", "second-dns.netcup.net": "198.51.100.53"}
    plan, _, _ = planner(ns_table(ZONE, NETCUP_NS, addresses))
    servers = plan.nameservers([ZoneTarget(ZONE, CCP)], None)
    assert servers == {
        ZONE: [Nameserver("root-dns.netcup.net", "192.0.2.53"), Nameserver("second-dns.netcup.net", "198.51.100.53")]
    }


def test_a_ccp_zone_served_by_someone_else_is_refused_before_anything_is_created() -> None:
    plan, _, _ = planner(ns_table(ZONE, ["ns1.elsewhere.test.", "ns2.elsewhere.test."]))
    with pytest.raises(ConfigurationError) as caught:
        plan.nameservers([ZoneTarget(ZONE, CCP)], None)
    assert "is not served by netcup" in str(caught.value) and "ns1.elsewhere.test" in str(caught.value)


def test_a_nameserver_without_address_is_left_out_with_a_warning() -> None:
    addresses = {"root-dns.netcup.net": "192.0.2.53"}
    plan, _, said = planner(ns_table(ZONE, NETCUP_NS, addresses))
    servers = plan.nameservers([ZoneTarget(ZONE, CCP)], None)
    assert servers == {ZONE: [Nameserver("root-dns.netcup.net", "192.0.2.53")]}
    assert any("second-dns.netcup.net" in line and "left out" in line for line in said), said


def test_the_nameservers_option_with_addresses_needs_no_lookup() -> None:
    plan, resolver, _ = planner({})
    servers = plan.nameservers([ZoneTarget(ZONE, CCP), ZoneTarget("second.test", CCP)], "192.0.2.1:5353,[2001:db8::1]")
    expected = [Nameserver("192.0.2.1", "192.0.2.1", 5353), Nameserver("2001:db8::1", "2001:db8::1", 53)]
    assert servers == {ZONE: expected, "second.test": expected}
    assert resolver.asked == []


def test_a_malformed_nameservers_option_names_the_option() -> None:
    plan, _, _ = planner({})
    with pytest.raises(ConfigurationError) as caught:
        plan.nameservers([ZoneTarget(ZONE, CCP)], "192.0.2.1:99999")
    assert "--dns-netcup-nameservers" in str(caught.value)
