"""Concurrency: two hosts renew certificates for the same zone at the same moment, one for
example.com and one for *.example.com.  Both challenges live at the same name,
_acme-challenge.example.com; each run must find its own value served, and each cleanup must
remove its own record only.  Two real certbot processes (separate config dirs, as two hosts
would have) run at once against Pebble and the sandbox.

Also here, because it needs the real certbot: Ctrl-C (SIGINT) during the wait removes the records.

No clock decides anything: one nameserver serves nothing until the test has seen, in the zone
and in the nameservers' query logs, what it waits for (both runs' records at once; the wait
begun), and the only process signalled is the Certbot the test started.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from netcup_sandbox.certbot_runner import (
    CERTBOT_TIMEOUT,
    CertbotRunner,
    certonly_subcommand,
    load_certificate,
    private_resolv_conf_marks,
    subject_alt_names,
)
from netcup_sandbox.checks import challenge_owner
from netcup_sandbox.pebble import Pebble
from netcup_sandbox.sandbox import Sandbox, ZoneSpec, servers_with_lags, wait_until
from tests.reliability_support import ZoneSnapshot

# Certbot sees the sandbox's resolver as /etc/resolv.conf (tests/conftest.py): the sandbox binds port 53.
pytestmark = private_resolv_conf_marks()

CCP_ZONE = "shared.test"
REST_ZONE = "shared-cloud.test"
INTERRUPTED_ZONE = "interrupted.test"
UNRELATED_TXT = "unrelated-verification-token"
LAGS = (0.0, 0.5, 2.0)
HOLD = 3600.0  # a lag that keeps every wait from ending until the test releases it
BOUND = 120


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    zones = (ZoneSpec(CCP_ZONE), ZoneSpec(REST_ZONE, platform="rest"), ZoneSpec(INTERRUPTED_ZONE))
    workdir = str(tmp_path_factory.mktemp("sandbox"))
    with Sandbox(workdir, servers=servers_with_lags(LAGS), zones=zones, port53=True) as box:
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
    """Another machine: its own Certbot directories and ACME account, the same CA bundle and resolver."""
    return CertbotRunner(tmp_path / name, pebble.directory_url, certbot.ca_bundle, resolv_conf=certbot.resolv_conf)


def finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    """Wait for a Certbot the test started (killing it if it hangs); its exit status and output."""
    try:
        stdout, stderr = process.communicate(timeout=CERTBOT_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return process.returncode, stdout + stderr


def still_running(processes: dict[str, subprocess.Popen[str]]) -> None:
    exited = [name for name, process in processes.items() if process.poll() is not None]
    assert not exited, f"Certbot {exited} exited early"


def txt_values_over_time(sandbox: Sandbox, zone: str, owner: str) -> list[set[str]]:
    history = sandbox.state.zones[zone].history
    return [{r.destination for r in snapshot if r.type == "TXT" and r.owner(zone) == owner} for _, snapshot in history]


@pytest.mark.parametrize("zone", [CCP_ZONE, REST_ZONE], ids=["ccp", "rest"])
def test_two_hosts_renewing_the_same_zone_at_once_both_succeed(
    sandbox: Sandbox, pebble: Pebble, certbot: CertbotRunner, credentials: str, tmp_path: Path, zone: str
) -> None:
    before = ZoneSnapshot.take(sandbox)
    history_start = len(sandbox.state.zones[zone].history)
    owner = challenge_owner(zone)
    runs = {"apex": [zone], "wildcard": [f"*.{zone}"]}
    hosts = {name: host(pebble, certbot, name, tmp_path) for name in runs}
    slow = sandbox.servers[-1]
    processes: dict[str, subprocess.Popen[str]] = {}
    slow.lag = HOLD  # neither run's wait can end until both records are in the zone
    try:
        for name, domains in runs.items():
            processes[name] = hosts[name].start(certonly_subcommand(domains, plugin_args(sandbox, credentials), name))

        def both_published() -> bool:
            still_running(processes)
            return len(set(sandbox.state.txt_values(owner)) - {UNRELATED_TXT}) == 2

        wait_until(both_published, timeout=CERTBOT_TIMEOUT, message="both runs' records in the zone at once")
    finally:
        slow.lag = LAGS[-1]
        outcomes = {name: finish(process) for name, process in processes.items()}

    for name, domains in runs.items():
        returncode, output = outcomes[name]
        assert returncode == 0, output
        assert "Traceback" not in output
        cert = hosts[name].config_dir / "live" / name / "cert.pem"
        assert subject_alt_names(load_certificate(cert)) == set(domains)
    # The zone's history agrees: at one moment it held both challenge values.
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
    subcommand = certonly_subcommand([INTERRUPTED_ZONE], plugin_args(sandbox, credentials), INTERRUPTED_ZONE)
    process = certbot.start(subcommand)  # Certbot itself (no shell or unshare in between): the one to signal

    def wait_has_begun() -> bool:
        still_running({"interrupted": process})
        return bool(slow.log.matching(owner, "TXT", since=since))  # the lagging server was asked

    try:
        wait_until(wait_has_begun, timeout=CERTBOT_TIMEOUT, message="the wait has begun")
        process.send_signal(signal.SIGINT)
    finally:
        slow.lag = LAGS[2]
        returncode, output = finish(process)
    assert returncode != 0
    assert "Traceback" not in output
    values = txt_values_over_time(sandbox, INTERRUPTED_ZONE, owner)
    assert any(len(v - {UNRELATED_TXT}) == 1 for v in values), "the record was never created"
    after = ZoneSnapshot.take(sandbox)
    assert after.added_since(before) == set() and after.removed_since(before) == set()
    assert INTERRUPTED_ZONE not in pebble.validated_identifiers()
