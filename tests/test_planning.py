"""Planning corner cases: what the plugin decides before anything is created, when DNS misbehaves."""

from __future__ import annotations

import random

import dns.resolver

from certbot_dns_netcup._internal.netcup.zones import ZoneResolver
from certbot_dns_netcup._internal.planning import Planner
from netcup_sandbox.dns_server import AuthoritativeServer
from netcup_sandbox.state import NetcupState


def test_a_silent_resolver_is_asked_once_not_once_per_name() -> None:
    """If the system resolver does not answer, the CNAME check gives up after the first name instead of
    making every name of the certificate wait for the lookup timeout."""
    silent = AuthoritativeServer(NetcupState(), "silent resolver", f"127.{random.randint(1, 254)}.77.53", mode="silent")
    silent.start()
    try:

        def resolver() -> dns.resolver.Resolver:
            made = dns.resolver.Resolver(configure=False)
            made.nameservers = [silent.address]
            made.port = silent.port
            made.lifetime = 0.5
            return made

        planner = Planner(ZoneResolver(None, None, "example.test"), notify=lambda _: None, resolver_factory=resolver)
        names = [f"_acme-challenge.host{i}.example.test" for i in range(5)]
        assert [planner.follow_cname(name) for name in names] == names
        asked = {entry.qname.rstrip(".").lower() for entry in silent.log.entries()}
        assert asked == {names[0]}
    finally:
        silent.stop()
