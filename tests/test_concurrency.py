"""Concurrency: two hosts renew certificates for the same zone at the same moment, one for
example.com and one for *.example.com.  Both challenges live at the same name,
_acme-challenge.example.com; each run must find its own value served, and each cleanup must
remove its own record only.  Two real certbot processes (separate config dirs, as two hosts
would have) run at once against Pebble and the sandbox.

Also here, because it needs the real certbot: Ctrl-C (SIGINT) during the wait removes the records.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from netcup_sandbox.certbot_runner import CertbotResult, CertbotRunner, load_certificate, subject_alt_names
from netcup_sandbox.checks import challenge_owner
from netcup_sandbox.pebble import Pebble
from netcup_sandbox.sandbox import Sandbox, ZoneSpec, servers_with_lags, wait_until
from tests.reliability_support import ZoneSnapshot

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

CCP_ZONE = "shared.test"
REST_ZONE = "shared-cloud.test"
INTERRUPTED_ZONE = "interrupted.test"
UNRELATED_TXT = "unrelated-verification-token"
# One server lags, so every run waits a moment: long enough for the two runs' records to coexist.
LAGS = (0.0, 0.5, 2.0)
BOUND = 60


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    zones = (ZoneSpec(CCP_ZONE), ZoneSpec(REST_ZONE, platform="rest"), ZoneSpec(INTERRUPTED_ZONE))
    with Sandbox(str(tmp_path_factory.mktemp("sandbox")), servers=servers_with_lags(LAGS), zones=zones) as box:
        for zone in (CCP_ZONE, INTERRUPTED_ZONE):
            box.state.add_record(zone, "_acme-challenge", "TXT", UNRELATED_TXT)
        yield box


@pytest.fixture(scope="module")
def credentials(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> str:
    return sandbox.write_credentials(str(tmp_path_factory.mktemp("credentials") / "netcup.ini"))


def plugin_args(sandbox: Sandbox, credentials: str) -> list[str]:
    return [
        "--dns-netcup-credentials",
        credentials,
        "--dns-netcup-propagation-seconds",
        str(BOUND),
        "--dns-netcup-nameservers",
        sandbox.nameservers_option,
    ]


def host(pebble: Pebble, certbot: CertbotRunner, name: str, tmp_path: Path) -> CertbotRunner:
    """Another machine: its own Certbot directories and ACME account, the same CA bundle."""
    return CertbotRunner(tmp_path / name, pebble.directory_url, certbot.ca_bundle)


def txt_values_over_time(sandbox: Sandbox, zone: str, owner: str) -> list[set[str]]:
    history = sandbox.state.zones[zone].history
    return [{r.destination for r in snapshot if r.type == "TXT" and r.owner(zone) == owner} for _, snapshot in history]


@pytest.mark.parametrize("zone", [CCP_ZONE, REST_ZONE], ids=["ccp", "rest"])
def test_two_hosts_renewing_the_same_zone_at_once_both_succeed(
    sandbox: Sandbox, pebble: Pebble, certbot: CertbotRunner, credentials: str, tmp_path: Path, zone: str
) -> None:
    before = ZoneSnapshot.take(sandbox)
    history_start = len(sandbox.state.zones[zone].history)
    runs = {"apex": [zone], "wildcard": [f"*.{zone}"]}
    hosts = {name: host(pebble, certbot, name, tmp_path) for name in runs}
    results: dict[str, CertbotResult] = {}
    start = threading.Barrier(len(runs))

    def renew(name: str) -> None:
        start.wait()
        results[name] = hosts[name].certonly(runs[name], plugin_args(sandbox, credentials), cert_name=name)

    threads = [threading.Thread(target=renew, args=(name,)) for name in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    for name, domains in runs.items():
        result = results[name]
        assert result.returncode == 0, result.describe()
        assert "Traceback" not in result.output
        assert subject_alt_names(load_certificate(result.cert_path)) == set(domains)
    # The two runs really overlapped: at some moment the zone held both challenge values.
    owner = challenge_owner(zone)
    ours = [values - {UNRELATED_TXT} for values in txt_values_over_time(sandbox, zone, owner)[history_start:]]
    assert max(len(values) for values in ours) == 2, f"the runs did not overlap: {ours}"
    # Both cleaned up their own record and nothing else.
    after = ZoneSnapshot.take(sandbox)
    assert after.added_since(before) == set() and after.removed_since(before) == set()


def test_ctrl_c_of_a_real_certbot_during_the_wait_removes_the_records(
    sandbox: Sandbox, pebble: Pebble, certbot: CertbotRunner, credentials: str
) -> None:
    before = ZoneSnapshot.take(sandbox)
    slow = sandbox.servers[2]
    slow.lag = 3600  # the wait cannot end by itself
    owner = challenge_owner(INTERRUPTED_ZONE)
    since = time.monotonic()
    args = [
        str(certbot.executable),
        "certonly",
        "--authenticator",
        "dns-netcup",
        "--cert-name",
        INTERRUPTED_ZONE,
        "-d",
        INTERRUPTED_ZONE,
        *plugin_args(sandbox, credentials),
        *certbot.common_args(),
    ]
    env = {**os.environ, "REQUESTS_CA_BUNDLE": str(certbot.ca_bundle)}
    process = subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        # The wait has begun once the lagging server was asked about the record.
        wait_until(lambda: slow.log.matching(owner, "TXT", since=since), timeout=60, message="the wait has begun")
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        slow.lag = LAGS[2]
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode != 0
    assert "Traceback" not in stdout + stderr
    values = txt_values_over_time(sandbox, INTERRUPTED_ZONE, owner)
    assert any(len(v - {UNRELATED_TXT}) == 1 for v in values), "the record was never created"
    after = ZoneSnapshot.take(sandbox)
    assert after.added_since(before) == set() and after.removed_since(before) == set()
    assert INTERRUPTED_ZONE not in pebble.validated_identifiers()
