"""``certbot-dns-netcup check``: the delegation at the registry (the parent zone's own servers) and DNSSEC.

The sandbox's registry serves the parent zone ``test.``; the walk finds it by asking the fake
recursive resolver for the NS set of ``test``.  Its servers listen on ephemeral ports, so the
check is told the registry's port (``parent_port``) the way the other tests pass ``--nameservers``.
"""

from __future__ import annotations

import io
import json
import os

import pytest

from certbot_dns_netcup._internal.cli import main
from certbot_dns_netcup._internal.dns01 import delegation
from certbot_dns_netcup._internal.dns01.nameservers import Nameserver
from netcup_sandbox.plugin_harness import sandbox_resolver
from netcup_sandbox.sandbox import Sandbox, host_port
from tests.network_guard import LoopbackOnly

ZONE = "example.test"
NETCUP = ["root-dns.netcup.net", "second-dns.netcup.net", "third-dns.netcup.net"]
# An ECDSA P-256 (algorithm 13) key-signing key; its public key is the bytes 0..63.  DS records for it at
# example.test, computed with hashlib from the owner name and the DNSKEY's wire format (RFC 4034 5.1.4).
KEY = "257 3 13 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw=="
KEY_TAG = 59409
DS_SHA1 = "59409 13 1 b5b4eabe2ae24589cf74c7ecaeac5f34f208298f"
DS_SHA256 = "59409 13 2 db56d24b6f7514b6a7a206f8729fa59796aa07f1c8fdaf367a6cf54381f4d874"
DS_SHA384 = (
    "59409 13 4 6c3903de97717db8063829d5455172c4a44abe5202e2babc4e70df28d2f4dd0116b6e5097b41160df285dc7ff4d5b71b"
)
# Another key (public key: the bytes 64..127) and the SHA-256 DS for it.
OTHER_KEY = "257 3 13 QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl9gYWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+fw=="
OTHER_DS = "61465 13 2 b17c052e0c10addbb8263b70bd8794782164eb8642a9e9afa461486c91f1feca"
# The right key tag and algorithm, a wrong digest: a DS left over from an old key with the same tag.
STALE_DS = "59409 13 2 " + "00" * 32


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """The walk to the parent must stay inside the sandbox: no query to a real TLD server."""
    guard = LoopbackOnly().install(monkeypatch)
    yield
    guard.check()


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    with Sandbox(str(tmp_path / "sandbox"), registry=True) as box:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", box.ca_bundle)
        yield box


class Run:
    """``check ZONE --json`` in-process, through the sandbox's resolver, asking its registry on its port."""

    def __init__(self, box: Sandbox, *extra: str, domain: str = ZONE) -> None:
        stdout, stderr = io.StringIO(), io.StringIO()
        argv = ["check", domain, "--credentials", box.write_credentials(rest=False), *extra]
        argv += ["--nameservers", box.nameservers_option]
        port = box.registry.port if box.registry is not None else 53
        self.status = main(argv, lambda: sandbox_resolver(box), stdout=stdout, stderr=stderr, parent_port=port)
        self.out, self.err = stdout.getvalue(), stderr.getvalue()

    @property
    def report(self) -> dict:
        return json.loads(self.out)


def endpoints(box: Sandbox) -> list[str]:
    return [host_port(server.address, server.port) for server in box.servers]


def sign(box: Sandbox, *keys: str) -> None:
    box.state.zones[ZONE].dnskeys = keys


# ----- the NS set ------------------------------------------------------------------------------------------------
def test_registry_ns_set_differing_from_the_zone_is_a_problem(sandbox):
    sandbox.registry.delegate(ZONE, ("root-dns.netcup.net", "second-dns.netcup.net"))
    run = Run(sandbox, "--json")
    assert run.status == 1, run.out + run.err
    report = run.report
    registry = report["registry"]
    assert registry["checked"] is True
    assert registry["parent_zone"] == "test"
    assert registry["server"] == f"a.registry.test ({host_port(sandbox.registry.address, sandbox.registry.port)})"
    assert registry["nameservers"] == ["root-dns.netcup.net", "second-dns.netcup.net"]
    assert registry["zone_nameservers"] == NETCUP
    assert registry["nameservers_match"] is False
    assert report["delegation"] == NETCUP  # the recursive resolver's view shows nothing wrong
    assert report["problems"] == [
        "The registry delegates example.test to root-dns.netcup.net, second-dns.netcup.net, but the zone lists "
        "root-dns.netcup.net, second-dns.netcup.net, third-dns.netcup.net: change the nameservers at your "
        "registrar (netcup CCP: Domains -> Nameservers) so that both name the same servers."
    ]
    # asked of the parent's own server, directly, and of the zone's servers for their NS set
    assert [e.rcode for e in sandbox.registry.log.matching(ZONE, "NS")] == ["NOERROR"]
    for server in sandbox.servers:
        assert len(server.log.matching(ZONE, "NS")) == 1


def test_registry_naming_a_foreign_nameserver_says_so_in_the_table(sandbox):
    sandbox.registry.delegate(ZONE, ("ns1.elsewhere.test", *NETCUP))
    run = Run(sandbox)
    assert run.status == 1, run.out + run.err
    assert "ns1.elsewhere.test, root-dns.netcup.net, second-dns.netcup.net, third-dns.netcup.net (DIFFERS" in run.out
    result = " ".join(run.out[run.out.index("Result:") :].split())  # unwrapped
    assert "which is not netcup's: resolvers that ask it never see records created at netcup" in result
    assert "(netcup CCP: Domains -> Nameservers) so that both name the same servers" in result


def test_matching_delegation_is_no_problem(sandbox):
    run = Run(sandbox, "--json")
    assert run.status == 0, run.out + run.err
    registry = run.report["registry"]
    assert (registry["nameservers"], registry["nameservers_match"], registry["dnssec"]) == (NETCUP, True, "unsigned")
    assert run.report["problems"] == [] and run.report["notes"] == []


def test_registry_saying_the_domain_does_not_exist_is_a_problem(sandbox):
    sandbox.registry.delegate(ZONE, ())  # not registered (any more)
    run = Run(sandbox, "--json")
    assert run.status == 1
    assert run.report["registry"]["registered"] is False
    [problem] = run.report["problems"]
    assert "says example.test does not exist" in problem


# ----- DS against DNSKEY -----------------------------------------------------------------------------------------
def test_ds_matching_no_dnskey_is_a_problem(sandbox):
    sign(sandbox, KEY)
    sandbox.registry.delegate(ZONE, ds=(STALE_DS,))
    run = Run(sandbox, "--json")
    assert run.status == 1, run.out + run.err
    registry = run.report["registry"]
    assert registry["dnssec"] == "broken"
    assert [(d["record"], d["key_tag"], d["matches"]) for d in registry["ds"]] == [(STALE_DS, KEY_TAG, [])]
    assert [s["ds_match"] for s in registry["apex"]] == [False, False, False]
    assert [s["dnskeys"] for s in registry["apex"]] == [["key tag 59409 (algorithm 13, KSK)"]] * 3
    [problem] = run.report["problems"]
    assert problem.startswith(f"The registry publishes DS {STALE_DS} for example.test, but the zone's nameservers")
    assert "answers SERVFAIL for names in example.test" in problem
    assert "(netcup CCP: Domains -> DNSSEC)" in problem


def test_ds_left_at_the_registry_of_an_unsigned_zone_is_a_problem(sandbox):
    sandbox.registry.delegate(ZONE, ds=(DS_SHA256,))
    run = Run(sandbox)
    assert run.status == 1
    assert "DNSSEC    BROKEN" in run.out
    assert "serve no DNSKEY at all" in " ".join(run.out[run.out.index("Result:") :].split())


def test_ds_matching_the_zone_key_is_no_problem(sandbox):
    sign(sandbox, KEY)
    sandbox.registry.delegate(ZONE, ds=(DS_SHA256,))
    run = Run(sandbox, "--json")
    assert run.status == 0, run.out + run.err
    registry = run.report["registry"]
    assert registry["dnssec"] == "secure"
    assert [d["matches"] for d in registry["ds"]] == [endpoints(sandbox)]
    assert [s["ds_match"] for s in registry["apex"]] == [True, True, True]
    assert run.report["problems"] == [] and run.report["notes"] == []


def test_stale_ds_next_to_a_matching_one_is_only_a_note(sandbox):
    sign(sandbox, KEY)
    sandbox.registry.delegate(ZONE, ds=(DS_SHA256, OTHER_DS))
    run = Run(sandbox, "--json")
    assert run.status == 0, run.out + run.err
    assert run.report["registry"]["dnssec"] == "secure"
    [note] = run.report["notes"]
    assert note.startswith(f"The DS {OTHER_DS} at the registry matches no DNSKEY of example.test: harmless")


def test_signed_zone_without_ds_is_only_a_note(sandbox):
    sign(sandbox, KEY)
    run = Run(sandbox, "--json")
    assert run.status == 0, run.out + run.err
    assert run.report["registry"]["dnssec"] == "unsigned delegation"
    assert run.report["registry"]["ds"] == []
    [note] = run.report["notes"]
    assert "the registry has no DS for it" in note


# ----- no parent to ask ------------------------------------------------------------------------------------------
def test_without_a_parent_zone_the_registry_is_a_note_and_the_verdict_unchanged(tmp_path, monkeypatch):
    with Sandbox(str(tmp_path)) as box:  # no registry: "test" does not exist for the resolver
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", box.ca_bundle)
        box.state.zones[ZONE].dnskeys = (KEY,)
        run = Run(box, "--json")
        table = Run(box)
    assert run.status == table.status == 0, run.out + run.err
    report = run.report
    assert report["problems"] == []
    assert report["registry"]["checked"] is False
    assert report["registry"]["dnssec"] == "not checked"
    assert report["registry"]["not_checked"] == (
        "the top-level domain test is not delegated in this host's DNS (a private name?)"
    )
    assert report["notes"] == [
        "The delegation of example.test at the registry and its DNSSEC were not checked: the top-level domain "
        "test is not delegated in this host's DNS (a private name?)."
    ]
    assert "Delegation of example.test at the registry: not checked (see Notes)" in table.out
    assert "Result: OK" in table.out


def test_refusing_registry_is_a_note(sandbox):
    sandbox.registry.mode = "refused"
    sandbox.registry.delegate(ZONE, ("root-dns.netcup.net",))  # would be a problem, were it answered
    run = Run(sandbox, "--json")
    assert run.status == 0, run.out + run.err
    assert run.report["registry"]["checked"] is False
    assert "no server of the parent zone test answered about example.test" in run.report["notes"][0]
    assert "REFUSED" in run.report["notes"][0]


def test_failing_setup_keeps_failing_when_the_parent_cannot_be_asked(sandbox):
    sandbox.registry.mode = "refused"
    for name in ("root-dns.netcup.net", "second-dns.netcup.net", "third-dns.netcup.net"):
        sandbox.server(name).mode = "refused"  # no server serves the zone: a problem of its own
    run = Run(sandbox, "--json")
    assert run.status == 1
    assert run.report["registry"]["checked"] is False
    assert len(run.report["problems"]) == 1 and "REFUSED" in run.report["problems"][0]


# ----- the comparison itself -------------------------------------------------------------------------------------
@pytest.mark.parametrize("ds", [DS_SHA1, DS_SHA256, DS_SHA384])
def test_ds_matches_its_key_with_every_digest_type(ds):
    assert delegation.ds_matches_key(ZONE, ds, KEY) is True
    assert delegation.ds_matches_key(ZONE, ds, OTHER_KEY) is False
    assert delegation.ds_matches_key("other.test", ds, KEY) is False


def test_ds_with_a_digest_type_not_computable_here_is_unknown():
    assert delegation.ds_matches_key(ZONE, "59409 13 3 " + "00" * 32, KEY) is None
    result = delegation.compare_dnssec(ZONE, ["59409 13 3 " + "00" * 32], {Nameserver("a", "192.0.2.1"): [KEY]})
    assert result.state == delegation.UNKNOWN
    assert result.unmatched_servers == ()


def test_key_tag():
    assert delegation.key_tag(KEY) == KEY_TAG
    assert delegation.key_tag(OTHER_KEY) == 61465


def test_one_server_with_another_key_breaks_dnssec_for_it_alone():
    first, second = Nameserver("a", "192.0.2.1"), Nameserver("b", "192.0.2.2")
    result = delegation.compare_dnssec(ZONE, [DS_SHA256], {first: [KEY], second: [OTHER_KEY]})
    assert result.state == delegation.BROKEN
    assert result.unmatched_servers == (second,)
    assert [v.matched_by for v in result.ds] == [(first,)]
    # during a rollover both keys are in the zone and both DS at the registry: fine everywhere
    rollover = delegation.compare_dnssec(ZONE, [DS_SHA256, OTHER_DS], {first: [KEY, OTHER_KEY], second: [OTHER_KEY]})
    assert rollover.state == delegation.SECURE and rollover.stale_ds == ()


def test_unsigned_states():
    server = Nameserver("a", "192.0.2.1")
    assert delegation.compare_dnssec(ZONE, [], {server: []}).state == delegation.UNSIGNED
    assert delegation.compare_dnssec(ZONE, [], {server: [KEY]}).state == delegation.UNSIGNED_DELEGATION
    assert delegation.compare_dnssec(ZONE, [DS_SHA256], {}).state == delegation.UNKNOWN


@pytest.mark.root
@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="binding port 53 needs root")
def test_parent_is_walked_to_on_port_53_like_in_the_world(tmp_path, monkeypatch):
    with Sandbox(str(tmp_path), port53=True, registry=True) as box:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", box.ca_bundle)
        box.state.zones[ZONE].dnskeys = (KEY,)
        box.registry.delegate(ZONE, ds=(STALE_DS,))
        registry_address = box.registry.address
        stdout, stderr = io.StringIO(), io.StringIO()
        argv = ["check", ZONE, "--credentials", box.write_credentials(rest=False), "--json"]
        status = main(argv, lambda: sandbox_resolver(box), stdout=stdout, stderr=stderr)  # default port 53
    report = json.loads(stdout.getvalue())
    assert status == 1, stdout.getvalue() + stderr.getvalue()
    assert report["registry"]["server"] == f"a.registry.test ({registry_address})"  # port 53: no port shown
    assert report["registry"]["nameservers_match"] is True
    assert report["registry"]["dnssec"] == "broken"
