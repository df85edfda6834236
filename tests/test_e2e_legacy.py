"""End to end: renewal configs and credentials files written for older releases renew unchanged.

Users upgrading from certbot-dns-netcup 2.x keep the renewal configs that release
made (``authenticator = dns-netcup``, ``dns_netcup_credentials``,
``dns_netcup_propagation_seconds = 900``, ``dns_netcup_login_retries``) and their
credentials files (with the ignored ``dns_netcup_timeout``, or a REST key alone in
``dns_netcup_api_key``).  Users of Certbot 1.x may still have configs in Certbot's
old prefixed plugin naming (``certbot-dns-netcup:dns-netcup``).

A lineage is obtained once per zone; each test then rewrites only the plugin keys
of its ``[renewalparams]`` the old way and runs ``certbot renew --force-renewal``.
The sandbox serves DNS on port 53 and Certbot sees it as /etc/resolv.conf (as in
test_e2e_discovery.py), so the plugin finds netcup's nameservers itself and the
renewal configs need no test-only key.  Only the credentials files name the
sandbox's API URLs, since those stand in for netcup's own endpoints.
"""

from __future__ import annotations

import importlib.metadata
import re
import time
from collections.abc import Iterator, Mapping
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
from netcup_sandbox.checks import ca_lookups, challenge_owner, challenges_for, early_ca_lookups, values_published_since
from netcup_sandbox.pebble import Pebble
from netcup_sandbox.sandbox import Sandbox, ZoneSpec, servers_with_lags

pytestmark = private_resolv_conf_marks()

# Small lags: the servers still catch up at different times, so the plugin has to wait.
LAGS = (0.0, 0.5, 1.0)
CCP_ZONE = "legacy.test"
REST_ZONE = "legacycloud.test"
ZONES = (ZoneSpec(CCP_ZONE), ZoneSpec(REST_ZONE, platform="rest"))

# What certbot-dns-netcup 2.x users have: its default 900 s fixed sleep, saved in every renewal config.
OLD_PROPAGATION_SECONDS = "900"
OLD_LOGIN_RETRIES = "3"
OLD_TIMEOUT = "30"  # documented by the old README; read by nothing any more
# Certbot 1.7 registered every third-party plugin under a second, prefixed name; 2.0 removed it.
PREFIXED_AUTHENTICATOR = "certbot-dns-netcup:dns-netcup"
PREFIX = "certbot_dns_netcup:"
PREFIXED_NAMING_LAST_MAJOR = 1


def installed_certbot_version() -> tuple[int, int]:
    """(major, minor) of the Certbot the tests drive (the one installed next to this interpreter)."""
    version = importlib.metadata.version("certbot")
    found = re.match(r"(\d+)\.(\d+)", version)
    assert found is not None, f"unexpected certbot version {version!r}"
    return int(found.group(1)), int(found.group(2))


CERTBOT_VERSION = installed_certbot_version()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    workdir = tmp_path_factory.mktemp("sandbox")
    with Sandbox(str(workdir), servers=servers_with_lags(LAGS), zones=ZONES, port53=True) as box:
        yield box


@pytest.fixture(scope="module")
def discovering_certbot(certbot: CertbotRunner, sandbox: Sandbox) -> CertbotRunner:
    """The module's Certbot, seeing only the sandbox's system resolver in /etc/resolv.conf."""
    resolv_conf = write_resolv_conf(certbot.workdir / "resolv.conf", sandbox.system_resolver.address)
    return CertbotRunner(certbot.workdir, certbot.server, certbot.ca_bundle, resolv_conf=str(resolv_conf))


@dataclass(frozen=True)
class Lineage:
    """A certificate obtained with the current plugin, and the renewal config Certbot wrote for it."""

    cert_name: str
    domains: list[str]
    renewal_config: Path
    written_by_certbot: str


def obtain(certbot: CertbotRunner, sandbox: Sandbox, tmp_path: Path, domains: list[str]) -> Lineage:
    credentials = sandbox.write_credentials(str(tmp_path / "current.ini"))
    result = certbot.certonly(domains, ["--dns-netcup-credentials", credentials])
    assert result.returncode == 0, result.describe()
    return Lineage(
        result.cert_name, domains, result.renewal_config_path, result.renewal_config_path.read_text(encoding="utf-8")
    )


@pytest.fixture(scope="module")
def ccp_lineage(
    discovering_certbot: CertbotRunner, sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> Lineage:
    return obtain(discovering_certbot, sandbox, tmp_path_factory.mktemp("ccp"), [CCP_ZONE, f"*.{CCP_ZONE}"])


@pytest.fixture(scope="module")
def rest_lineage(
    discovering_certbot: CertbotRunner, sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> Lineage:
    return obtain(discovering_certbot, sandbox, tmp_path_factory.mktemp("rest"), [REST_ZONE, f"*.{REST_ZONE}"])


# ----- writing what older releases left behind ---------------------------------------------
def is_plugin_key(line: str) -> bool:
    """Whether a renewalparams line is the authenticator or one of this plugin's options (any naming)."""
    key = line.split("=", 1)[0].strip()
    return key == "authenticator" or key.startswith(("dns_netcup_", PREFIX))


def with_old_renewalparams(written_by_certbot: str, authenticator: str, options: Mapping[str, str]) -> str:
    """The renewal config with its plugin keys in [renewalparams] replaced; every other line kept as written.

    Server, account, key type, paths: all stay exactly what Certbot saved for the lineage.
    """
    lines = written_by_certbot.splitlines()
    start = lines.index("[renewalparams]")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")), len(lines))
    section = [line for line in lines[start + 1 : end] if not is_plugin_key(line)]
    assert any(line.startswith("server = ") for line in section), written_by_certbot
    assert any(line.startswith("account = ") for line in section), written_by_certbot
    old = [f"authenticator = {authenticator}", *(f"{key} = {value}" for key, value in options.items())]
    return "\n".join([*lines[: start + 1], *section, *old, *lines[end:]]) + "\n"


def write_private(path: Path, entries: Mapping[str, str]) -> Path:
    path.write_text("".join(f"{key} = {value}\n" for key, value in entries.items()), encoding="utf-8")
    path.chmod(0o600)
    return path


def old_ccp_credentials(sandbox: Sandbox, prefix: str = "") -> dict[str, str]:
    """The CCP keys as the old README listed them, including the timeout it no longer reads."""
    state = sandbox.state
    return {
        f"{prefix}dns_netcup_customer_id": state.customer_number,
        f"{prefix}dns_netcup_api_key": state.api_key,
        f"{prefix}dns_netcup_api_password": state.api_password,
        f"{prefix}dns_netcup_timeout": OLD_TIMEOUT,
        f"{prefix}dns_netcup_api_url": sandbox.ccp_url,  # stands in for ccp.netcup.net
    }


# ----- the renewal and what it must have done ---------------------------------------------
@dataclass
class Renewal:
    result: CertbotResult
    domains: list[str]
    started: float
    txt_before: list[tuple[str, str]]
    serial_before: int
    validations_before: int  # validations Pebble had logged before the run (see checks.challenges_for)


def renew(certbot: CertbotRunner, sandbox: Sandbox, pebble: Pebble, lineage: Lineage, renewal_config: str) -> Renewal:
    lineage.renewal_config.write_text(renewal_config, encoding="utf-8")
    serial_before = load_certificate(certbot.config_dir / "live" / lineage.cert_name / "cert.pem").serial_number
    txt_before = sorted(sandbox.state.all_txt_records())
    validations_before = len(pebble.validated_identifiers())
    started = time.monotonic()
    result = certbot.renew(lineage.cert_name)
    return Renewal(result, lineage.domains, started, txt_before, serial_before, validations_before)


def assert_renewed_with_active_wait(renewal: Renewal, sandbox: Sandbox, pebble: Pebble) -> None:
    """A new certificate from Pebble, after every nameserver served every value; no records left."""
    result = renewal.result
    assert result.returncode == 0, result.describe()
    assert "Traceback" not in result.output
    cert = load_certificate(result.cert_path)
    assert cert.serial_number != renewal.serial_before
    assert cert.serial_number in pebble.issued_serials()
    assert subject_alt_names(cert) == set(renewal.domains)

    # The 900 s bound did not become a 900 s sleep: each server was seen serving, then Certbot went on.
    for server in sandbox.servers:
        assert f"{server.name} ({server.address}) serves all" in result.output, result.describe()
    for owner in sorted({challenge_owner(d) for d in renewal.domains}):
        values = values_published_since(sandbox.state, owner, renewal.started)
        challenged = challenges_for(pebble.validated_identifiers()[renewal.validations_before :], owner)
        assert challenged >= 1, f"the CA asked for no challenge at {owner}: nothing exercised the plugin"
        assert len(values) == challenged, values
        assert ca_lookups(sandbox.ca_resolver.log, owner, renewal.started), f"the CA never looked up {owner}"
        assert early_ca_lookups(sandbox.ca_resolver.log, sandbox.servers, owner, values, renewal.started) == []
    assert sorted(sandbox.state.all_txt_records()) == renewal.txt_before


def saved_renewalparams(lineage: Lineage) -> set[str]:
    """The [renewalparams] lines Certbot saved after the renewal (it rewrites the file)."""
    text = lineage.renewal_config.read_text(encoding="utf-8")
    return {line.strip() for line in text.split("[renewalparams]", 1)[1].splitlines()}


# ----- (a) a 2.x renewal config and credentials file ------------------------------------------
def test_legacy_2x_renewal_config_renews(
    discovering_certbot: CertbotRunner, sandbox: Sandbox, pebble: Pebble, ccp_lineage: Lineage, tmp_path: Path
) -> None:
    credentials = write_private(tmp_path / "netcup-2x.ini", old_ccp_credentials(sandbox))
    config = with_old_renewalparams(
        ccp_lineage.written_by_certbot,
        "dns-netcup",
        {
            "dns_netcup_credentials": str(credentials),
            "dns_netcup_propagation_seconds": OLD_PROPAGATION_SECONDS,
            "dns_netcup_login_retries": OLD_LOGIN_RETRIES,
        },
    )

    renewal = renew(discovering_certbot, sandbox, pebble, ccp_lineage, config)

    assert_renewed_with_active_wait(renewal, sandbox, pebble)
    # Certbot kept the user's settings for the next renewal.
    saved = saved_renewalparams(ccp_lineage)
    assert "authenticator = dns-netcup" in saved
    assert f"dns_netcup_credentials = {credentials}" in saved
    assert f"dns_netcup_propagation_seconds = {OLD_PROPAGATION_SECONDS}" in saved


# ----- (b) a REST key alone in dns_netcup_api_key ---------------------------------------------
def test_legacy_rest_key_in_api_key_renews(
    discovering_certbot: CertbotRunner, sandbox: Sandbox, pebble: Pebble, rest_lineage: Lineage, tmp_path: Path
) -> None:
    rest_key = sandbox.state.rest_key
    assert rest_key is not None and len(rest_key) == 64
    credentials = write_private(
        tmp_path / "netcup-rest.ini",
        {"dns_netcup_api_key": rest_key, "dns_netcup_api_v1_url": sandbox.rest_url},  # URL: stands in for netcup's
    )
    config = with_old_renewalparams(
        rest_lineage.written_by_certbot,
        "dns-netcup",
        {"dns_netcup_credentials": str(credentials), "dns_netcup_propagation_seconds": OLD_PROPAGATION_SECONDS},
    )

    renewal = renew(discovering_certbot, sandbox, pebble, rest_lineage, config)

    assert_renewed_with_active_wait(renewal, sandbox, pebble)
    assert f"in {REST_ZONE} through netcup's REST API" in renewal.result.output, renewal.result.describe()


# ----- (c) Certbot's old prefixed plugin naming (Certbot 1.7 to 1.32) --------------------------
@pytest.mark.skipif(
    CERTBOT_VERSION[0] > PREFIXED_NAMING_LAST_MAJOR,
    reason=f"Certbot {CERTBOT_VERSION[0]}.{CERTBOT_VERSION[1]} no longer reads the prefixed plugin naming "
    f"({PREFIXED_AUTHENTICATOR}): Certbot 2.0 removed it",
)
def test_legacy_prefixed_renewal_config_renews(
    discovering_certbot: CertbotRunner, sandbox: Sandbox, pebble: Pebble, ccp_lineage: Lineage, tmp_path: Path
) -> None:
    credentials = write_private(tmp_path / "netcup-prefixed.ini", old_ccp_credentials(sandbox, prefix=PREFIX))
    config = with_old_renewalparams(
        ccp_lineage.written_by_certbot,
        PREFIXED_AUTHENTICATOR,
        {
            f"{PREFIX}dns_netcup_credentials": str(credentials),
            f"{PREFIX}dns_netcup_propagation_seconds": OLD_PROPAGATION_SECONDS,
        },
    )

    renewal = renew(discovering_certbot, sandbox, pebble, ccp_lineage, config)

    assert_renewed_with_active_wait(renewal, sandbox, pebble)
    # The prefixed plugin did the work: Certbot saved the config back under the same names.
    saved = saved_renewalparams(ccp_lineage)
    assert f"authenticator = {PREFIXED_AUTHENTICATOR}" in saved
    assert f"{PREFIX}dns_netcup_credentials = {credentials}" in saved
