"""End to end: real ``certbot certonly --authenticator dns-netcup`` against Pebble and the sandbox.

One sandbox (netcup API doubles, three lagging authoritative nameservers, the
CA's resolver) and one Pebble (tests/conftest.py) serve the whole module; every
scenario uses zones of its own, so the records and CA lookups of one scenario
never mix with another's.  Each scenario sets the nameservers' lags it needs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest

from netcup_sandbox.certbot_runner import (
    CertbotResult,
    CertbotRunner,
    load_certificate,
    load_certificates,
    parse_certificate,
    private_resolv_conf_marks,
    subject_alt_names,
    verify_chain,
)
from netcup_sandbox.checks import ca_lookups, challenge_owner, challenges_for, early_ca_lookups, values_published_since
from netcup_sandbox.pebble import Pebble
from netcup_sandbox.sandbox import Sandbox, ZoneSpec, host_port, servers_with_lags

# Certbot sees the sandbox's resolver as /etc/resolv.conf (tests/conftest.py): the sandbox binds port 53.
pytestmark = private_resolv_conf_marks()

# Lags of the three nameservers, seconds: one up to date, one a bit behind, one slow.
LAGS = (0.0, 1.0, 3.0)
# Generous for LAGS; the wait ends as soon as every server serves, so this costs nothing.
BOUND_SECONDS = 60

CCP_ZONE = "example.test"
REST_ZONE = "cloud.test"
FIRST_OF_TWO_ZONES = "alpha.test"
SECOND_OF_TWO_ZONES = "beta.test"
SHORT_BOUND_ZONE = "slow.test"
BAD_CREDENTIALS_ZONE = "locked.test"
UNRELATED_TXT = "unrelated-site-verification-token"
WRONG_PASSWORD = "not-the-api-password"

ZONES = (
    ZoneSpec(CCP_ZONE),
    ZoneSpec(REST_ZONE, platform="rest"),
    ZoneSpec(FIRST_OF_TWO_ZONES),
    ZoneSpec(SECOND_OF_TWO_ZONES, platform="rest"),
    ZoneSpec(SHORT_BOUND_ZONE),
    ZoneSpec(BAD_CREDENTIALS_ZONE),
)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    workdir = tmp_path_factory.mktemp("sandbox")
    with Sandbox(str(workdir), servers=servers_with_lags(LAGS), zones=ZONES, port53=True) as box:
        box.state.add_record(SECOND_OF_TWO_ZONES, "_acme-challenge", "TXT", UNRELATED_TXT)
        yield box


@pytest.fixture(scope="module")
def credentials(sandbox: Sandbox) -> Path:
    """Both APIs' keys: the plugin picks the API each zone needs."""
    return Path(sandbox.write_credentials())


@dataclass
class Issuance:
    """One Certbot run and what the sandbox looked like just before it."""

    result: CertbotResult
    domains: list[str]
    started: float  # time.monotonic() just before Certbot started
    txt_before: list[tuple[str, str]]
    # Renewals: how many validations Pebble had logged before the run (see checks.challenges_for).
    validations_before: Optional[int] = None


def plugin_args(sandbox: Sandbox, credentials: Path, bound: int = BOUND_SECONDS) -> list[str]:
    return [
        "--dns-netcup-credentials",
        str(credentials),
        "--dns-netcup-propagation-seconds",
        str(bound),
        "--dns-netcup-nameservers",
        sandbox.nameservers_option,
    ]


def set_lags(sandbox: Sandbox, lags: Sequence[float]) -> None:
    assert len(lags) == len(sandbox.servers)
    for server, lag in zip(sandbox.servers, lags):
        server.lag = lag


def run_certonly(
    certbot: CertbotRunner, sandbox: Sandbox, credentials: Path, domains: list[str], bound: int = BOUND_SECONDS
) -> Issuance:
    txt_before = sorted(sandbox.state.all_txt_records())
    started = time.monotonic()
    result = certbot.certonly(domains, plugin_args(sandbox, credentials, bound))
    return Issuance(result, domains, started, txt_before)


def assert_issued_after_propagation(issuance: Issuance, sandbox: Sandbox, pebble: Pebble) -> None:
    """Issued for exactly the names; the CA looked only once every server served every value; no leftovers."""
    result = issuance.result
    assert result.returncode == 0, result.describe()
    assert "Traceback" not in result.output

    cert = load_certificate(result.cert_path)
    assert subject_alt_names(cert) == set(issuance.domains)
    # The CA's own log agrees: it validated every name and issued this certificate.
    assert {d.removeprefix("*.") for d in issuance.domains} <= set(pebble.validated_identifiers())
    assert cert.serial_number in pebble.issued_serials()
    verify_chain(load_certificates(result.fullchain_path), parse_certificate(pebble.issuing_root_pem()))

    for owner in sorted({challenge_owner(d) for d in issuance.domains}):
        if issuance.validations_before is None:  # a first issuance: every name is challenged
            challenged = sum(1 for d in issuance.domains if challenge_owner(d) == owner)
        else:
            challenged = challenges_for(pebble.validated_identifiers()[issuance.validations_before :], owner)
        values = values_published_since(sandbox.state, owner, issuance.started)
        assert len(values) == challenged, f"{owner}: values published during the run: {values}"
        assert ca_lookups(sandbox.ca_resolver.log, owner, issuance.started), f"the CA never looked up {owner}"
        early = early_ca_lookups(sandbox.ca_resolver.log, sandbox.servers, owner, values, issuance.started)
        assert early == [], f"the CA looked up {owner} before every nameserver served every value"

    # The run's own records came and went; every other TXT record is as it was.
    assert sorted(sandbox.state.all_txt_records()) == issuance.txt_before


# ----- (1) CCP zone, and the lineage that (5) renews ------------------------------------
@pytest.fixture(scope="module")
def ccp_issuance(certbot: CertbotRunner, sandbox: Sandbox, credentials: Path) -> Issuance:
    set_lags(sandbox, LAGS)
    return run_certonly(certbot, sandbox, credentials, [CCP_ZONE, f"*.{CCP_ZONE}"])


def test_apex_and_wildcard_on_ccp_zone(ccp_issuance: Issuance, sandbox: Sandbox, pebble: Pebble) -> None:
    assert_issued_after_propagation(ccp_issuance, sandbox, pebble)


# ----- (2) REST zone ---------------------------------------------------------------------
def test_apex_and_wildcard_on_rest_zone(
    certbot: CertbotRunner, sandbox: Sandbox, credentials: Path, pebble: Pebble
) -> None:
    set_lags(sandbox, LAGS)
    issuance = run_certonly(certbot, sandbox, credentials, [REST_ZONE, f"*.{REST_ZONE}"])
    assert_issued_after_propagation(issuance, sandbox, pebble)


# ----- (3) two zones, one with an unrelated TXT at _acme-challenge -------------------
def test_names_in_two_zones_keep_unrelated_txt(
    certbot: CertbotRunner, sandbox: Sandbox, credentials: Path, pebble: Pebble
) -> None:
    set_lags(sandbox, LAGS)
    domains = [FIRST_OF_TWO_ZONES, f"*.{FIRST_OF_TWO_ZONES}", SECOND_OF_TWO_ZONES]
    issuance = run_certonly(certbot, sandbox, credentials, domains)
    assert_issued_after_propagation(issuance, sandbox, pebble)
    assert sandbox.state.txt_values(challenge_owner(SECOND_OF_TWO_ZONES)) == [UNRELATED_TXT]


# ----- (4) the bound runs out before the slowest server catches up -----------------
def test_bound_shorter_than_lag_fails_before_asking_the_ca(
    certbot: CertbotRunner, sandbox: Sandbox, credentials: Path, pebble: Pebble
) -> None:
    set_lags(sandbox, (0.0, 0.0, 8.0))
    slow = sandbox.servers[2]
    bound = 2
    issuance = run_certonly(certbot, sandbox, credentials, [SHORT_BOUND_ZONE, f"*.{SHORT_BOUND_ZONE}"], bound)
    result = issuance.result
    owner = challenge_owner(SHORT_BOUND_ZONE)

    assert result.returncode != 0, result.describe()
    assert "Traceback" not in result.output
    # The plugin's message names the server that lags and the option to raise.
    # Named as the plugin names a server: by address, with the port unless it is 53.
    named = slow.address if slow.port == 53 else host_port(slow.address, slow.port)
    assert named in result.output, result.describe()
    assert "--dns-netcup-propagation-seconds" in result.output, result.describe()
    assert not result.cert_path.exists()
    # The CA was never asked: it did not validate, nor even look the name up.
    assert SHORT_BOUND_ZONE not in pebble.validated_identifiers()
    assert ca_lookups(sandbox.ca_resolver.log, owner, issuance.started) == []
    # It did publish both values, and removed them again.
    assert len(values_published_since(sandbox.state, owner, issuance.started)) == 2
    assert sorted(sandbox.state.all_txt_records()) == issuance.txt_before


# ----- (5) renewal from the configuration (1) saved ------------------------------------
def test_renewal_from_saved_config(
    ccp_issuance: Issuance, certbot: CertbotRunner, sandbox: Sandbox, pebble: Pebble
) -> None:
    first = ccp_issuance.result
    assert first.returncode == 0, first.describe()
    saved = first.renewal_config_path.read_text(encoding="utf-8")
    assert "authenticator = dns-netcup" in saved
    assert "dns_netcup_credentials" in saved
    first_serial = load_certificate(first.cert_path).serial_number

    set_lags(sandbox, LAGS)
    txt_before = sorted(sandbox.state.all_txt_records())
    validations_before = len(pebble.validated_identifiers())
    started = time.monotonic()
    renewal = Issuance(certbot.renew(first.cert_name), ccp_issuance.domains, started, txt_before, validations_before)

    assert_issued_after_propagation(renewal, sandbox, pebble)
    assert load_certificate(renewal.result.cert_path).serial_number != first_serial


# ----- (6) wrong API password --------------------------------------------------------------
def test_bad_credentials_give_one_clear_error(
    certbot: CertbotRunner, sandbox: Sandbox, pebble: Pebble, tmp_path: Path
) -> None:
    # CCP keys only, with a wrong password: the REST key must not rescue the run.
    bad_path = str(tmp_path / "wrong.ini")
    bad = Path(sandbox.write_credentials(bad_path, rest=False, dns_netcup_api_password=WRONG_PASSWORD))
    zone = sandbox.state.zones[BAD_CREDENTIALS_ZONE]
    history_before = len(zone.history)
    started = time.monotonic()

    result = certbot.certonly([BAD_CREDENTIALS_ZONE], plugin_args(sandbox, bad))

    assert result.returncode != 0, result.describe()
    assert "Traceback" not in result.output
    assert WRONG_PASSWORD not in result.output
    # One message says what failed and which keys to fix (Certbot adds only its log hint around it).
    explained = [line for line in result.output.splitlines() if "dns_netcup_api_password" in line]
    assert len(explained) == 1, result.describe()
    assert "rejected the login" in explained[0], result.describe()
    assert len(zone.history) == history_before  # nothing was created, not even for a moment
    assert BAD_CREDENTIALS_ZONE not in pebble.validated_identifiers()
    assert ca_lookups(sandbox.ca_resolver.log, challenge_owner(BAD_CREDENTIALS_ZONE), started) == []
