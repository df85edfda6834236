"""Secrets: the real certbot at -vvv, with credentials nobody could mistake for anything else, never
shows the API key, the API password, the REST key or a CCP session id: not on stdout or stderr, not
in any file under Certbot's config, work and logs directories.

The runs cover both APIs, a retried API failure, a session that netcup ends during the run (so
the plugin logs in twice), a run that fails on a wrong password, and one whose wait runs out.
Session ids are read from the CCP double, which records each one it issues.

The session is ended at a point fixed by the sandbox's logs, not by a clock: once a nameserver
has been asked for the challenge record (the wait has begun), while one nameserver holds the
wait open until then.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from netcup_sandbox.certbot_runner import CertbotResult, CertbotRunner, private_resolv_conf_marks
from netcup_sandbox.faults import Fault
from netcup_sandbox.sandbox import Sandbox, ZoneSpec, servers_with_lags, wait_until
from tests.reliability_support import (
    DISTINCT_API_KEY,
    DISTINCT_API_PASSWORD,
    DISTINCT_REST_KEY,
    SessionIds,
    distinct_state,
)

# Certbot sees the sandbox's resolver as /etc/resolv.conf (tests/conftest.py): the sandbox binds port 53.
pytestmark = private_resolv_conf_marks()

CCP_ZONE = "secret-ccp.test"
REST_ZONE = "secret-rest.test"
FAILING_ZONE = "secret-fail.test"
WRONG_PASSWORD = "LeakCanary-the-wrong-password-4d1a"
LAGS = (0, 0.5, 1.5)
HOLD = 3600.0  # a lag that keeps the wait from ending by itself


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    zones = (ZoneSpec(CCP_ZONE), ZoneSpec(REST_ZONE, platform="rest"), ZoneSpec(FAILING_ZONE))
    with Sandbox(
        str(tmp_path_factory.mktemp("sandbox")),
        servers=servers_with_lags(LAGS),
        zones=zones,
        state=distinct_state(),
        port53=True,
    ) as box:
        yield box


def plugin_args(sandbox: Sandbox, credentials: str, bound: int = 60) -> list[str]:
    return [
        "-vvv",
        "--dns-netcup-credentials",
        credentials,
        "--dns-netcup-propagation-seconds",
        str(bound),
        "--dns-netcup-nameservers",
        sandbox.nameservers_option,
    ]


@contextmanager
def sessions_ended_once_the_wait_begins(sandbox: Sandbox, owner: str) -> Iterator[list[float]]:
    """End every CCP session (as netcup does, early) once a nameserver was asked for ``owner``'s TXT record.

    The slowest nameserver serves nothing until then, so the wait (and with it the cleanup, which
    needs the session) cannot get ahead of the expiry.  Yields a list that gets the expiry's time.
    """
    since = time.monotonic()
    run_over = threading.Event()
    ended: list[float] = []
    slow = sandbox.servers[-1]
    slow.lag = HOLD

    def began() -> bool:
        return run_over.is_set() or any(server.log.matching(owner, "TXT", since=since) for server in sandbox.servers)

    def watch() -> None:
        try:
            wait_until(began, timeout=240, message="the wait has begun")
            if not run_over.is_set():
                sandbox.ccp_api.expire_all_sessions()
                ended.append(time.monotonic())
        finally:
            slow.lag = LAGS[-1]

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield ended
    finally:
        run_over.set()
        watcher.join()


def files_under(*directories: Path) -> dict[Path, str]:
    found = {}
    for directory in directories:
        for path in directory.rglob("*"):
            if path.is_file():
                found[path] = path.read_bytes().decode("utf-8", errors="replace")
    return found


def leaks(texts: dict[str, str], secrets: dict[str, str]) -> list[str]:
    return [f"{what} in {where}" for where, text in texts.items() for what, secret in secrets.items() if secret in text]


def test_no_credential_or_session_id_in_any_output_at_vvv(
    sandbox: Sandbox, certbot: CertbotRunner, tmp_path: Path
) -> None:
    sessions = SessionIds(sandbox)
    results: list[CertbotResult] = []
    good = sandbox.write_credentials(str(tmp_path / "netcup.ini"))

    # 1. Both APIs, one failed request retried, and netcup ending the session during the wait.
    sandbox.ccp_api.faults.script.add(Fault.gateway_error(502).only(action="updateDnsRecords"))
    started = time.monotonic()
    with sessions_ended_once_the_wait_begins(sandbox, f"_acme-challenge.{CCP_ZONE}") as ended:
        results.append(certbot.certonly([CCP_ZONE, f"*.{CCP_ZONE}", REST_ZONE], plugin_args(sandbox, good)))
    assert results[-1].returncode == 0, results[-1].describe()
    assert ended, "the wait never began"
    calls = [c for c in sandbox.ccp_api.log.calls() if c.at >= started]
    assert sandbox.ccp_api.faults.script.pending() == 0 and 502 in [c.outcome for c in calls]
    # In this order: a login, the session ended, a call refused for it (4001), a second login.
    logins = [c.at for c in calls if c.operation == "login"]
    refused = [c.at for c in calls if c.outcome == 4001]
    assert len(logins) == 2 and logins[0] < ended[0] < refused[0] < logins[1], calls

    # 2. A wrong password: the refusal is logged at length at -vvv.
    wrong = sandbox.write_credentials(str(tmp_path / "wrong.ini"), rest=False, dns_netcup_api_password=WRONG_PASSWORD)
    results.append(certbot.certonly([FAILING_ZONE], plugin_args(sandbox, wrong)))
    assert results[-1].returncode != 0

    # 3. The wait runs out: the failure report and the cleanup after it.
    sandbox.servers[2].lag = 3600
    results.append(certbot.certonly([FAILING_ZONE], plugin_args(sandbox, good, bound=2)))
    sandbox.servers[2].lag = 1.5
    assert results[-1].returncode != 0
    assert "--dns-netcup-propagation-seconds" in results[-1].output, results[-1].describe()

    assert len(sessions.issued) >= 3  # the runs really held sessions, and they are scanned for too
    secrets = {
        "API key": DISTINCT_API_KEY,
        "API password": DISTINCT_API_PASSWORD,
        "REST key": DISTINCT_REST_KEY,
        "wrong API password": WRONG_PASSWORD,
        **{f"session id #{i + 1}": sid for i, sid in enumerate(sessions.issued)},
    }
    texts = {
        f"{' '.join(r.args[1:3])} #{i + 1} {stream}": getattr(r, stream)
        for i, r in enumerate(results)
        for stream in ("stdout", "stderr")
    }
    written = files_under(certbot.config_dir, certbot.work_dir, certbot.logs_dir)
    texts.update({str(path): text for path, text in written.items()})
    # The scan read the -vvv debug log, and it is detailed enough to have shown a secret.
    log = "\n".join(text for path, text in written.items() if path.name.startswith("letsencrypt.log"))
    assert "certbot_dns_netcup" in log and "updateDnsRecords" in log
    assert leaks(texts, secrets) == []
