"""End to end with nameserver discovery: real Certbot, no ``--dns-netcup-nameservers``.

The sandbox binds its nameservers and resolvers on port 53 of 127.A.B.x addresses,
and Certbot runs in a private mount namespace whose /etc/resolv.conf names the
sandbox's system resolver.  So the plugin does what it does on a real host: it
follows CNAMEs, reads each zone's NS set and the nameservers' addresses through
"the system resolver" and polls netcup's servers on port 53, all on loopback.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from netcup_sandbox.certbot_runner import (
    CertbotResult,
    CertbotRunner,
    load_certificate,
    private_resolv_conf_marks,
    subject_alt_names,
    write_resolv_conf,
)
from netcup_sandbox.checks import ca_lookups, challenge_owner, early_ca_lookups, values_published_since
from netcup_sandbox.pebble import Pebble
from netcup_sandbox.sandbox import Sandbox, ZoneSpec, servers_with_lags

pytestmark = private_resolv_conf_marks()

# One server up to date, one a bit behind, one slow.
LAGS = (0.0, 1.0, 3.0)
BOUND_SECONDS = 60  # generous: the wait ends as soon as every server serves

CCP_ZONE = "example.test"
REST_ZONE = "cloud.test"
EXTERNAL_ZONE = "external.test"  # in the account, but its NS set is someone else's
EXTERNAL_NAMESERVER = "ns1.elsewhere.test"
# Outside the account; the sandbox's default foreign records make its challenge name a CNAME.
DELEGATED_DOMAIN = "delegated.test"
DELEGATION_TARGET = f"_acme-challenge.delegated.{CCP_ZONE}"

ZONES = (
    ZoneSpec(CCP_ZONE),
    ZoneSpec(REST_ZONE, platform="rest"),
    ZoneSpec(EXTERNAL_ZONE, nameservers=(EXTERNAL_NAMESERVER, "ns2.elsewhere.test")),
)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    workdir = tmp_path_factory.mktemp("sandbox")
    with Sandbox(str(workdir), servers=servers_with_lags(LAGS), zones=ZONES, port53=True) as box:
        yield box


@pytest.fixture(scope="module")
def credentials(sandbox: Sandbox) -> Path:
    return Path(sandbox.write_credentials())


@pytest.fixture(scope="module")
def discovering_certbot(certbot: CertbotRunner, sandbox: Sandbox) -> CertbotRunner:
    """The module's Certbot, seeing only the sandbox's system resolver in /etc/resolv.conf."""
    resolv_conf = write_resolv_conf(certbot.workdir / "resolv.conf", sandbox.system_resolver.address)
    return CertbotRunner(certbot.workdir, certbot.server, certbot.ca_bundle, resolv_conf=str(resolv_conf))


@dataclass
class Run:
    result: CertbotResult
    domains: list[str]
    started: float  # time.monotonic() just before Certbot started
    txt_before: list[tuple[str, str]]


def run_certonly(certbot: CertbotRunner, sandbox: Sandbox, credentials: Path, domains: list[str]) -> Run:
    txt_before = sorted(sandbox.state.all_txt_records())
    plugin_args = ["--dns-netcup-credentials", str(credentials), "--dns-netcup-propagation-seconds", str(BOUND_SECONDS)]
    started = time.monotonic()
    return Run(certbot.certonly(domains, plugin_args), domains, started, txt_before)


def early_lookups_through_cname(
    sandbox: Sandbox, asked: str, target: str, values: set[str], since: float
) -> list[tuple[float, str, str]]:
    """(CA lookup time, server, value) where the CA asked ``asked`` before a server served ``value`` at ``target``.

    ``checks.early_ca_lookups`` compares the name the CA asks with the same name's
    records; behind a CNAME the records live at the target instead.
    """
    early: list[tuple[float, str, str]] = []
    for lookup in ca_lookups(sandbox.ca_resolver.log, asked, since):
        for server in sandbox.servers:
            for value in values:
                serving = server.first_serving_time(target, value)
                if serving is None or lookup < serving:
                    early.append((lookup, server.name, value))
    return early


def assert_issued(run: Run) -> None:
    result = run.result
    assert result.returncode == 0, result.describe()
    assert "Traceback" not in result.output
    assert "--dns-netcup-nameservers" not in " ".join(result.args)
    assert subject_alt_names(load_certificate(result.cert_path)) == set(run.domains)


def assert_servers_found_by_name(run: Run, sandbox: Sandbox, zone: str) -> None:
    """The plugin asked the system resolver for the zone's NS set and named every server it waited for."""
    assert sandbox.system_resolver.log.matching(zone, "NS", since=run.started), "the NS set was never looked up"
    for server in sandbox.servers:
        assert f"{server.name} ({server.address}) serves" in run.result.output, run.result.describe()


def assert_waited_and_cleaned_up(run: Run, sandbox: Sandbox, pebble: Pebble) -> None:
    for owner in sorted({challenge_owner(d) for d in run.domains}):
        values = values_published_since(sandbox.state, owner, run.started)
        assert len(values) == sum(1 for d in run.domains if challenge_owner(d) == owner), values
        assert ca_lookups(sandbox.ca_resolver.log, owner, run.started), f"the CA never looked up {owner}"
        assert early_ca_lookups(sandbox.ca_resolver.log, sandbox.servers, owner, values, run.started) == []
    assert {d.removeprefix("*.") for d in run.domains} <= set(pebble.validated_identifiers())
    assert sorted(sandbox.state.all_txt_records()) == run.txt_before


# ----- (a) CCP zone, apex and wildcard --------------------------------------------------
def test_ccp_zone_waits_for_the_discovered_nameservers(
    discovering_certbot: CertbotRunner, sandbox: Sandbox, credentials: Path, pebble: Pebble
) -> None:
    run = run_certonly(discovering_certbot, sandbox, credentials, [CCP_ZONE, f"*.{CCP_ZONE}"])
    assert_issued(run)
    assert_servers_found_by_name(run, sandbox, CCP_ZONE)
    assert_waited_and_cleaned_up(run, sandbox, pebble)


# ----- (b) REST zone ----------------------------------------------------------------------
def test_rest_zone_waits_for_the_discovered_nameservers(
    discovering_certbot: CertbotRunner, sandbox: Sandbox, credentials: Path, pebble: Pebble
) -> None:
    run = run_certonly(discovering_certbot, sandbox, credentials, [REST_ZONE, f"*.{REST_ZONE}"])
    assert_issued(run)
    assert_servers_found_by_name(run, sandbox, REST_ZONE)
    assert_waited_and_cleaned_up(run, sandbox, pebble)


# ----- (c) a domain elsewhere whose challenge name is a CNAME into a netcup zone ---------
def test_cname_delegation_creates_the_record_at_the_target(
    discovering_certbot: CertbotRunner, sandbox: Sandbox, credentials: Path, pebble: Pebble
) -> None:
    run = run_certonly(discovering_certbot, sandbox, credentials, [DELEGATED_DOMAIN])
    assert_issued(run)
    asked = challenge_owner(DELEGATED_DOMAIN)
    assert f"{asked} is a CNAME: creating its TXT record at {DELEGATION_TARGET}" in run.result.output
    assert_servers_found_by_name(run, sandbox, CCP_ZONE)  # the target's zone, not delegated.test

    values = values_published_since(sandbox.state, DELEGATION_TARGET, run.started)
    assert len(values) == 1, values
    assert ca_lookups(sandbox.ca_resolver.log, asked, run.started), f"the CA never looked up {asked}"
    assert early_lookups_through_cname(sandbox, asked, DELEGATION_TARGET, values, run.started) == []
    assert DELEGATED_DOMAIN in pebble.validated_identifiers()
    assert sorted(sandbox.state.all_txt_records()) == run.txt_before


# ----- (d) an account zone whose DNS is served elsewhere ------------------------------------
def test_zone_with_external_dns_fails_before_creating_anything(
    discovering_certbot: CertbotRunner, sandbox: Sandbox, credentials: Path, pebble: Pebble
) -> None:
    zone = sandbox.state.zones[EXTERNAL_ZONE]
    history_before = len(zone.history)
    run = run_certonly(discovering_certbot, sandbox, credentials, [EXTERNAL_ZONE])
    result = run.result

    assert result.returncode != 0, result.describe()
    assert "Traceback" not in result.output
    explained = [line for line in result.output.splitlines() if "is not served by netcup" in line]
    assert len(explained) == 1, result.describe()
    assert EXTERNAL_NAMESERVER in explained[0], result.describe()
    assert len(zone.history) == history_before  # nothing was created, not even for a moment
    assert not result.cert_path.exists()
    assert EXTERNAL_ZONE not in pebble.validated_identifiers()
    assert ca_lookups(sandbox.ca_resolver.log, challenge_owner(EXTERNAL_ZONE), run.started) == []
