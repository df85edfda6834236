"""Real Certbot processes interrupted or killed while the plugin holds records (see tests/test_journal.py for
the in-process cases).

- SIGINT or SIGTERM while the API double holds the add request (after carrying it out): the plugin finishes
  the add (learning what netcup created), then the signal is handled as Certbot handles it: SIGINT ends the
  run with "Exiting due to user request." (exit status 1), SIGTERM kills Certbot (after its ErrorHandler ran
  the cleanup).  Either way the records netcup created are removed.
- A second SIGINT while cleanup's delete request is held: the delete completes, then Certbot stops.
- Certbot killed with SIGKILL during the wait: the next run on the same host (same --work-dir), for another
  domain, removes the killed run's records from its journal, while a run in progress at the same time keeps
  its own.  Certbot itself locks its --work-dir, so no second Certbot can run there at once: the run in
  progress is ``certbot-dns-netcup check --probe --work-dir`` (same journal directory), waiting for its probe.
- A work directory the journal cannot be written to: a warning, and the certificate is issued.

Every wait is on a condition (the API double's call log, the nameservers' query logs, Certbot's debug log)
with a deadline; signals go only to the processes the test started.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from certbot_dns_netcup._internal.journal import journal_dir
from netcup_sandbox.certbot_runner import (
    CertbotRunner,
    certonly_subcommand,
    private_resolv_conf_marks,
    with_private_resolv_conf,
)
from netcup_sandbox.faults import Fault
from netcup_sandbox.pebble import Pebble
from netcup_sandbox.sandbox import Sandbox, ServerSpec, ZoneSpec, host_port, wait_until
from tests.reliability_support import ZoneSnapshot, assert_no_secret, secrets_of

pytestmark = private_resolv_conf_marks()

FAST = ("root-dns.netcup.net", "second-dns.netcup.net")  # the zones' NS set: what the CA's resolver asks
STUCK = "stuck-dns.netcup.test"  # never catches up; only runs told to poll it wait for it
BOUND = 600  # --dns-netcup-propagation-seconds: never reached here
DEADLINE = 120.0  # for every condition the tests wait on

HELD_CCP_ZONE = "held.test"
HELD_REST_ZONE = "held-cloud.test"
SECOND_SIGINT_ZONE = "twice.test"
KILLED_ZONE = "killed.test"
NEXT_ZONE = "next.test"
PROBE_ZONE = "probing.test"
UNWRITABLE_ZONE = "unwritable.test"
CCP_ZONES = (HELD_CCP_ZONE, SECOND_SIGINT_ZONE, KILLED_ZONE, NEXT_ZONE, PROBE_ZONE, UNWRITABLE_ZONE)
DEFERRED_LOG_LINE = "received: deferred until the current step is done"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    zones = [ZoneSpec(z, nameservers=FAST) for z in CCP_ZONES]
    zones.append(ZoneSpec(HELD_REST_ZONE, platform="rest", nameservers=FAST))
    servers = [ServerSpec(FAST[0]), ServerSpec(FAST[1]), ServerSpec(STUCK, lag=36000)]
    with Sandbox(str(tmp_path_factory.mktemp("sandbox")), servers=servers, zones=zones, port53=True) as box:
        yield box


@pytest.fixture(scope="module")
def credentials(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> str:
    return sandbox.write_credentials(str(tmp_path_factory.mktemp("credentials") / "netcup.ini"))


def servers_option(box: Sandbox, names: tuple[str, ...]) -> str:
    return ",".join(host_port(s.address, s.port) for s in box.servers if s.name in names)


def plugin_args(box: Sandbox, credentials: str, *, stuck: bool) -> list[str]:
    """With ``stuck`` the run also polls the server that never catches up: its wait lasts until stopped."""
    names = (*FAST, STUCK) if stuck else FAST
    return [
        "--dns-netcup-credentials",
        credentials,
        "--dns-netcup-propagation-seconds",
        str(BOUND),
        "--dns-netcup-nameservers",
        servers_option(box, names),
    ]


def start_certbot(certbot: CertbotRunner, zone: str, args: list[str]) -> subprocess.Popen[str]:
    return certbot.start(certonly_subcommand([zone], args, zone))


def finish(process: subprocess.Popen[str]) -> tuple[str, str]:
    try:
        return process.communicate(timeout=DEADLINE)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def operations(api: Any, zone: str, names: tuple[str, ...]) -> list[tuple[str, Any]]:
    return [(c.operation, c.outcome) for c in api.log.calls() if c.domain == zone and c.operation in names]


def txt_values(box: Sandbox, zone: str) -> list[str]:
    return box.state.txt_values(f"_acme-challenge.{zone}")


def journals(certbot: CertbotRunner) -> list[Path]:
    directory = Path(journal_dir(str(certbot.work_dir)))
    return sorted(directory.glob("*.journal")) if directory.is_dir() else []


def stuck_server_asked(box: Sandbox, zone: str) -> Any:
    return box.server(STUCK).log.matching(f"_acme-challenge.{zone}", "TXT")


REST_ADD = "POST /v1/domain/{id}/acme/challenge"
REST_DELETE = "DELETE /v1/domain/{id}/acme/challenge/{scope}/{value}"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("zone", [HELD_CCP_ZONE, HELD_REST_ZONE], ids=["ccp", "rest"])
def test_a_signal_while_the_add_is_held_removes_what_netcup_created_and_ends_certbot_as_that_signal_does(
    sandbox: Sandbox, pebble: Pebble, certbot: CertbotRunner, credentials: str, zone: str, signum: int
) -> None:
    before = ZoneSnapshot.take(sandbox)
    ccp = zone == HELD_CCP_ZONE
    api = sandbox.ccp_api if ccp else sandbox.rest_api
    api.log.clear()
    release = threading.Event()
    adding = {"action": "updateDnsRecords"} if ccp else {"method": "POST"}
    # netcup carries the add out, and its answer does not come until the test says so.
    api.faults.script.add(Fault.hang(DEADLINE, release=release).after_applying().only(**adding, domain=zone))
    process = start_certbot(certbot, zone, plugin_args(sandbox, credentials, stuck=False))
    try:
        wait_until(
            lambda: any(c.outcome == "hang" for c in api.log.calls()), timeout=DEADLINE, message="the add is held"
        )
        assert len(txt_values(sandbox, zone)) == 1  # netcup created the record; the plugin does not know yet
        process.send_signal(signum)
        wait_until(lambda: DEFERRED_LOG_LINE in certbot.log_text(), timeout=DEADLINE, message="the signal deferred")
        release.set()
        stdout, stderr = finish(process)
    finally:
        release.set()
        if process.poll() is None:
            process.kill()
            process.communicate()
    if signum == signal.SIGINT:
        assert process.returncode == 1, stdout + stderr
        assert "Exiting due to user request." in stderr
    else:
        assert process.returncode == -signal.SIGTERM, stdout + stderr
    assert "Traceback" not in stdout + stderr
    if ccp:
        assert operations(api, zone, ("infoDnsRecords", "updateDnsRecords")) == [
            ("updateDnsRecords", 2000),  # carried out ...
            ("updateDnsRecords", "hang"),  # ... its answer held while the signal came, then lost
            ("updateDnsRecords", 2000),  # the retry, answered: the plugin learns the record exists
            ("infoDnsRecords", 2000),  # cleanup
            ("updateDnsRecords", 2000),
        ]
    else:
        assert operations(api, zone, (REST_ADD, REST_DELETE)) == [
            (REST_ADD, 201),
            (REST_ADD, "hang"),
            (REST_ADD, 200),  # already there
            (REST_DELETE, 204),
        ]
    after = ZoneSnapshot.take(sandbox)
    assert after.added_since(before) == set() and after.removed_since(before) == set()
    assert journals(certbot) == []
    assert zone not in pebble.validated_identifiers()


def test_a_second_sigint_during_cleanup_does_not_cut_it_short(
    sandbox: Sandbox, pebble: Pebble, certbot: CertbotRunner, credentials: str
) -> None:
    zone = SECOND_SIGINT_ZONE
    before = ZoneSnapshot.take(sandbox)
    sandbox.ccp_api.log.clear()
    release = threading.Event()
    process = start_certbot(certbot, zone, plugin_args(sandbox, credentials, stuck=True))
    try:
        wait_until(lambda: stuck_server_asked(sandbox, zone), timeout=DEADLINE, message="the wait has begun")
        # The next change to the zone is cleanup's delete: hold it.
        sandbox.ccp_api.faults.script.add(
            Fault.hang(DEADLINE, release=release).only(action="updateDnsRecords", domain=zone)
        )
        process.send_signal(signal.SIGINT)  # the first Ctrl-C: stops the wait, cleanup begins
        wait_until(
            lambda: any(c.outcome == "hang" for c in sandbox.ccp_api.log.calls()),
            timeout=DEADLINE,
            message="cleanup's delete is held",
        )
        process.send_signal(signal.SIGINT)  # the second one, while the delete is under way
        wait_until(lambda: DEFERRED_LOG_LINE in certbot.log_text(), timeout=DEADLINE, message="the signal deferred")
        release.set()
        stdout, stderr = finish(process)
    finally:
        release.set()
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 1, stdout + stderr
    assert "Exiting due to user request." in stderr
    assert "SIGINT (Ctrl-C) received while removing the TXT records: finishing that first, then stopping." in (
        stdout + stderr
    )
    assert operations(sandbox.ccp_api, zone, ("infoDnsRecords", "updateDnsRecords")) == [
        ("updateDnsRecords", 2000),  # the add
        ("infoDnsRecords", 2000),  # cleanup lists the zone
        ("updateDnsRecords", "hang"),  # the delete, held while the second SIGINT came (its answer lost)
        ("updateDnsRecords", 2000),  # the delete again: cleanup went on to the end
    ]
    after = ZoneSnapshot.take(sandbox)
    assert after.added_since(before) == set() and after.removed_since(before) == set()
    assert journals(certbot) == []


def test_records_of_a_killed_certbot_are_removed_by_the_next_run_while_a_run_in_progress_keeps_its_own(
    sandbox: Sandbox, pebble: Pebble, certbot: CertbotRunner, credentials: str, tmp_path: Path
) -> None:
    before = ZoneSnapshot.take(sandbox)
    # 1. A Certbot run, killed (SIGKILL) while it waits for the nameservers: no cleanup at all.
    killed = start_certbot(certbot, KILLED_ZONE, plugin_args(sandbox, credentials, stuck=True))
    try:
        wait_until(lambda: stuck_server_asked(sandbox, KILLED_ZONE), timeout=DEADLINE, message="run 1 waits")
    finally:
        killed.kill()
        killed.communicate(timeout=DEADLINE)
    assert killed.returncode == -signal.SIGKILL
    [left_value] = txt_values(sandbox, KILLED_ZONE)
    [killed_journal] = journals(certbot)

    # 2. A run in progress on the same host, journaling into the same directory: check --probe, waiting.
    probe_args = [
        sys.executable,
        "-m",
        "certbot_dns_netcup",
        "check",
        PROBE_ZONE,
        "--credentials",
        credentials,
        "--probe",
        "--timeout",
        str(BOUND),
        "--nameservers",
        servers_option(sandbox, (*FAST, STUCK)),
        "--work-dir",
        str(certbot.work_dir),
    ]
    assert certbot.resolv_conf is not None
    probe = subprocess.Popen(
        with_private_resolv_conf(probe_args, certbot.resolv_conf),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=certbot.environment(),
    )
    try:
        wait_until(lambda: stuck_server_asked(sandbox, PROBE_ZONE), timeout=DEADLINE, message="the probe waits")
        [probe_value] = txt_values(sandbox, PROBE_ZONE)
        assert len(journals(certbot)) == 2
        sandbox.ccp_api.log.clear()

        # 3. The next Certbot run, for another domain, same --work-dir.
        result = certbot.certonly([NEXT_ZONE], plugin_args(sandbox, credentials, stuck=False))
        assert result.returncode == 0, result.describe()
        assert (
            f'Removed _acme-challenge.{KILLED_ZONE} TXT "{left_value}" in zone {KILLED_ZONE} (CCP API), left behind '
            "by an earlier run"
        ) in result.output
        assert txt_values(sandbox, KILLED_ZONE) == []  # the killed run's record: removed
        assert txt_values(sandbox, PROBE_ZONE) == [probe_value]  # the run in progress: untouched
        assert not killed_journal.exists()
        # The leftovers went first, then the run's own record.
        calls = [(c.operation, c.domain) for c in sandbox.ccp_api.log.calls() if c.operation != "login"]
        assert calls.index(("updateDnsRecords", KILLED_ZONE)) < calls.index(("updateDnsRecords", NEXT_ZONE))
        assert ("updateDnsRecords", PROBE_ZONE) not in calls
        assert len(journals(certbot)) == 1  # the probe's

        # 4. The probe, stopped, removes its own record.
        probe.send_signal(signal.SIGINT)
        probe_out, probe_err = probe.communicate(timeout=DEADLINE)
    finally:
        if probe.poll() is None:
            probe.kill()
            probe.communicate()
    assert probe.returncode == 130, probe_out + probe_err
    assert "The throwaway record" in probe_err and "was removed again" in probe_err
    after = ZoneSnapshot.take(sandbox)
    assert after.added_since(before) == set() and after.removed_since(before) == set()
    assert journals(certbot) == []
    assert_no_secret([result.output, certbot.log_text()], secrets_of(sandbox))


def test_an_unwritable_work_directory_is_a_warning_and_the_certificate_is_issued(
    sandbox: Sandbox, pebble: Pebble, certbot: CertbotRunner, credentials: str, tmp_path: Path
) -> None:
    host = CertbotRunner(tmp_path / "host", certbot.server, certbot.ca_bundle, resolv_conf=certbot.resolv_conf)
    host.work_dir.mkdir(parents=True)
    # Not a directory: the journal cannot be created (whatever the user's rights, root's included).
    (host.work_dir / "dns-netcup").write_text("in the way\n", encoding="utf-8")
    before = ZoneSnapshot.take(sandbox)
    result = host.certonly([UNWRITABLE_ZONE], plugin_args(sandbox, credentials, stuck=False))
    assert result.returncode == 0, result.describe()
    assert result.cert_path.exists()
    text = " ".join(result.output.split())
    assert f"Could not use the dns-netcup journal in {host.work_dir / 'dns-netcup' / 'journal'}" in text
    assert "The renewal goes on" in text
    after = ZoneSnapshot.take(sandbox)
    assert after.added_since(before) == set() and after.removed_since(before) == set()
