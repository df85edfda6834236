"""Fault injection: whatever netcup's APIs, the network or the nameservers do, the plugin either
succeeds or stops with an error a person can act on, and leaves every zone as it found it.

Each case runs the plugin in-process through Certbot's plugin interface (perform, then cleanup)
against the sandbox's real HTTPS and DNS servers on loopback, and checks the outcome and the
invariants: the zones hold exactly the records they held before (ids included: nothing of ours
left, nothing else touched), perform ended within its time bound, and no credential or session
id appears in the error, the terminal notifications or the debug log.

The HTTP clients keep their retry policy but get a 1 s read timeout, and their sleeps (backoff,
rate-limit waits) are recorded rather than slept: the tests assert the waits the plugin asked for.
docs/reliability.md lists every case with its outcome.
"""

from __future__ import annotations

import _thread
import errno
import functools
import logging
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Callable, Optional

import pytest
from certbot import errors
from certbot._internal import error_handler

from certbot_dns_netcup._internal.dns01 import propagation
from netcup_sandbox.faults import Fault
from netcup_sandbox.https import ApiRequest, ApiResponse
from netcup_sandbox.plugin_harness import RecordingDisplay, dns01_achall, install_display, make_authenticator
from netcup_sandbox.sandbox import Sandbox, servers_with_lags, wait_until
from tests.reliability_support import (
    GHOST_NAMESERVER,
    GHOST_NS_ZONE,
    FastHttp,
    PluginRun,
    SessionIds,
    ZoneSnapshot,
    assert_no_secret,
    run_plugin,
    sandbox_for_plugin,
    secrets_of,
    time_bound,
    timed,
)

pytestmark = pytest.mark.timeout(120)

CCP_ZONE = "example.test"
SECOND_CCP_ZONE = "second.test"
REST_ZONE = "cloud.test"
WAIT_BOUND = 30  # --dns-netcup-propagation-seconds where a case waits for the nameservers
SHORT_BOUND = 2  # where a case is expected to run out of time
GRACE_IN_TESTS = 1.0  # the wait's grace for silent servers (30 s in production)
# The retry policy as specified, written out here rather than read from transport.py:
BACKOFF_SLEEPS = [1.0, 2.0]  # 3 attempts: 1 s before the second, 2 s before the third
RATE_LIMIT_WAIT = 60.0  # a rate limit is waited out for netcup's minute...
RATE_LIMIT_BUDGET = 180.0  # ...for at most 180 s per API per run


@dataclass
class Rig:
    """A sandbox with everything a fault case reads back."""

    box: Sandbox
    http: FastHttp
    sessions: SessionIds
    display: RecordingDisplay
    caplog: pytest.LogCaptureFixture
    before: ZoneSnapshot

    def credentials(self, **options: Any) -> str:
        return self.box.write_credentials(**options)

    def run(self, domains: list[str], *, ccp: bool = True, rest: bool = True, **options: Any) -> PluginRun:
        return run_plugin(self.box, domains, self.credentials(ccp=ccp, rest=rest), **options)

    def output(self, run: PluginRun) -> list[str]:
        return [run.error_text(), *self.display.lines, self.caplog.text]

    def assert_left_as_found(self, run: PluginRun) -> None:
        after = ZoneSnapshot.take(self.box)
        assert after.added_since(self.before) == set(), "records of the run were left behind"
        assert after.removed_since(self.before) == set(), "records the run did not create were removed"
        assert_no_secret(self.output(run), secrets_of(self.box, self.sessions))

    def assert_within_bound(self, run: PluginRun, propagation_seconds: float, api_attempts: int = 0) -> None:
        bound = time_bound(propagation_seconds, api_attempts, self.http.read_timeout)
        assert run.perform.elapsed <= bound, f"perform took {run.perform.elapsed:.1f} s, bound {bound:.1f} s"


def make_rig(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, **sandbox: Any
) -> Iterator[Rig]:
    caplog.set_level(logging.DEBUG)
    display = install_display()
    http = FastHttp().install(monkeypatch)
    # Shorter grace for nameservers that never answer: the behaviour is the same, the test is faster.
    monkeypatch.setattr(
        propagation, "wait_for_propagation", functools.partial(propagation.wait_for_propagation, grace=GRACE_IN_TESTS)
    )
    # Up-to-date nameservers unless a case sets lags: the wait then ends at its first round of queries.
    sandbox.setdefault("servers", servers_with_lags([0, 0, 0]))
    with sandbox_for_plugin(str(tmp_path / "sandbox"), monkeypatch, **sandbox) as box:
        yield Rig(box, http, SessionIds(box), display, caplog, ZoneSnapshot.take(box))


@pytest.fixture
def rig(tmp_path: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> Iterator[Rig]:
    yield from make_rig(tmp_path, monkeypatch, caplog)


def plugin_error(run: PluginRun) -> str:
    """perform's error, which must be one Certbot prints as a message (no traceback)."""
    assert isinstance(run.perform.error, errors.PluginError), f"perform raised {run.perform.error!r}"
    return str(run.perform.error)


def assert_succeeded(run: PluginRun) -> None:
    assert run.perform.error is None, f"perform failed: {run.perform.error}"
    assert run.cleanup.error is None, f"cleanup failed: {run.cleanup.error}"


# ===== API faults =====================================================================================
# (fault, what the error message says about it)
TRANSPORT_FAULTS: dict[str, tuple[Callable[[], Fault], str]] = {
    "http-502": (lambda: Fault.gateway_error(502), "HTTP 502"),
    "http-503": (lambda: Fault.gateway_error(503), "HTTP 503"),
    "http-504": (lambda: Fault.gateway_error(504), "HTTP 504"),
    "html-body": (lambda: Fault.gateway_error(200), "not JSON"),  # HTTP 200 with a proxy's HTML page
    "invalid-json": (Fault.invalid_json, "not JSON"),
    "reset": (Fault.reset, "closed without an answer"),
    "hang": (lambda: Fault.hang(10), "no answer within the time limit"),
}
# Where each API's records are created: the fault hits exactly that request.
ADDING = {"ccp": ({"action": "updateDnsRecords"}, CCP_ZONE), "rest": ({"method": "POST"}, REST_ZONE)}


def inject(box: Sandbox, api: str, *faults: Fault) -> None:
    (box.ccp_api if api == "ccp" else box.rest_api).faults.script.add(*faults)


@pytest.mark.parametrize("api", ["ccp", "rest"])
@pytest.mark.parametrize("fault", sorted(TRANSPORT_FAULTS))
def test_a_passing_api_fault_is_retried_and_the_run_succeeds(rig: Rig, api: str, fault: str) -> None:
    where, zone = ADDING[api]
    inject(rig.box, api, TRANSPORT_FAULTS[fault][0]().only(**where))
    run = rig.run([zone, f"*.{zone}"], propagation_seconds=WAIT_BOUND)
    assert_succeeded(run)
    assert rig.http.sleeps == BACKOFF_SLEEPS[:1]  # one backoff before the second attempt
    rig.assert_left_as_found(run)
    rig.assert_within_bound(run, WAIT_BOUND, api_attempts=1)


@pytest.mark.parametrize("api", ["ccp", "rest"])
@pytest.mark.parametrize("fault", sorted(TRANSPORT_FAULTS))
def test_a_persistent_api_fault_stops_the_run_with_an_actionable_error(rig: Rig, api: str, fault: str) -> None:
    where, zone = ADDING[api]
    make, described = TRANSPORT_FAULTS[fault]
    inject(rig.box, api, *(make().only(**where) for _ in range(3)))
    run = rig.run([zone], propagation_seconds=WAIT_BOUND)
    message = plugin_error(run)
    assert described in message and "after 3 attempts" in message
    assert "retry in a few minutes" in message  # what to do
    assert rig.http.sleeps == BACKOFF_SLEEPS
    assert run.cleanup.error is None
    rig.assert_left_as_found(run)
    rig.assert_within_bound(run, 0, api_attempts=3)


@pytest.mark.parametrize("api", ["ccp", "rest"])
def test_connection_refused_stops_the_run_naming_the_host(rig: Rig, api: str) -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    closed = f"https://127.0.0.1:{port}/endpoint"
    if api == "ccp":
        zone, credentials = CCP_ZONE, rig.box.write_credentials(dns_netcup_api_url=closed)
    else:
        zone, credentials = REST_ZONE, rig.box.write_credentials(dns_netcup_api_v1_url=closed)
    run = run_plugin(rig.box, [zone], credentials, propagation_seconds=WAIT_BOUND)
    message = plugin_error(run)
    assert "connection refused" in message and "127.0.0.1" in message and "firewall" in message
    assert rig.http.sleeps == BACKOFF_SLEEPS
    assert run.cleanup.error is None  # nothing was created, so nothing is reported as left over
    rig.assert_left_as_found(run)
    rig.assert_within_bound(run, 0, api_attempts=3)


def drop_answers(box: Sandbox, action: str, times: int) -> list[int]:
    """Let the CCP double carry out ``action`` but lose its answer ``times`` times (connection reset):
    the client cannot know whether the change was made.  Returns a list that counts the drops."""
    handle = box.ccp_api.handle
    dropped: list[int] = []

    def losing_answer(request: ApiRequest) -> Optional[ApiResponse]:
        response = handle(request)
        if len(dropped) < times and f'"action": "{action}"' in request.body.decode():
            dropped.append(1)
            return None
        return response

    box.ccp_api.handle = losing_answer  # type: ignore[method-assign]
    return dropped


def test_a_lost_answer_to_the_add_is_retried_without_duplicating_the_record(rig: Rig) -> None:
    dropped = drop_answers(rig.box, "updateDnsRecords", 1)
    run = rig.run([CCP_ZONE], ccp=True, rest=False, propagation_seconds=WAIT_BOUND)
    assert_succeeded(run)
    assert dropped == [1]
    # The record existed once, never twice, during the run.
    zone = rig.box.state.zones[CCP_ZONE]
    assert max(sum(1 for r in snapshot if r.type == "TXT") for _, snapshot in zone.history) == 1
    rig.assert_left_as_found(run)


def test_records_whose_creation_was_never_confirmed_are_found_and_removed(rig: Rig) -> None:
    dropped = drop_answers(rig.box, "updateDnsRecords", 3)
    run = rig.run([CCP_ZONE, f"*.{CCP_ZONE}"], ccp=True, rest=False, propagation_seconds=WAIT_BOUND)
    assert "closed without an answer" in plugin_error(run)
    assert len(dropped) == 3
    assert run.cleanup.error is None
    # Cleanup had no ids: it read the zone and removed the records with our name and values.
    assert rig.box.ccp_api.log.count("infoDnsRecords") == 1
    rig.assert_left_as_found(run)


def expire_sessions_before(box: Sandbox, request_numbers: set[int]) -> None:
    """End every CCP session just before the given requests (counted from 0), as netcup does early."""
    handle = box.ccp_api.handle
    seen = [0]

    def expiring(request: ApiRequest) -> Optional[ApiResponse]:
        if seen[0] in request_numbers or -1 in request_numbers:
            box.ccp_api.expire_all_sessions()
        seen[0] += 1
        return handle(request)

    box.ccp_api.handle = expiring  # type: ignore[method-assign]


# A run's CCP requests: 0 login, 1 infoDnsZone, 2 updateDnsRecords (add), 3 infoDnsRecords (cleanup lists the
# zone: every copy of our records goes), 4 updateDnsRecords (delete), 5 logout.
@pytest.mark.parametrize(
    "before_request", [1, 2, 3, 4, 5], ids=["zone-lookup", "add", "cleanup-listing", "delete", "logout"]
)
def test_session_expiry_between_any_two_calls_is_handled_by_logging_in_again(rig: Rig, before_request: int) -> None:
    expire_sessions_before(rig.box, {before_request})
    run = rig.run([CCP_ZONE], rest=False)
    assert_succeeded(run)
    # A new session for the call that found its session gone; logout just gives up (nothing depends on it).
    assert rig.box.ccp_api.log.count("login") == (1 if before_request == 5 else 2)
    rig.assert_left_as_found(run)


def test_session_expiry_during_the_wait_is_handled_by_logging_in_again(rig: Rig) -> None:
    # netcup ends the session once the wait has begun (a nameserver was asked for the record); the
    # lagging server holds the wait open until then, so the order never depends on a clock.
    slow, owner, run_over = rig.box.servers[2], f"_acme-challenge.{CCP_ZONE}", threading.Event()
    slow.lag = 3600

    def end_sessions_once_the_wait_begins() -> None:
        try:
            wait_until(lambda: run_over.is_set() or slow.log.matching(owner, "TXT"), timeout=60, message="the wait")
            rig.box.ccp_api.expire_all_sessions()
        finally:
            slow.lag = 0

    watcher = threading.Thread(target=end_sessions_once_the_wait_begins, daemon=True)
    watcher.start()
    try:
        run = rig.run([CCP_ZONE], rest=False, propagation_seconds=WAIT_BOUND)
    finally:
        run_over.set()
        watcher.join()
    assert_succeeded(run)
    assert rig.box.ccp_api.log.count("login") == 2
    rig.assert_left_as_found(run)
    rig.assert_within_bound(run, WAIT_BOUND)


def test_a_session_that_keeps_expiring_stops_the_run_naming_the_option(rig: Rig) -> None:
    expire_sessions_before(rig.box, {-1})  # before every request
    run = rig.run([CCP_ZONE], rest=False, login_retries=2)
    message = plugin_error(run)
    assert "kept ending our session" in message and "--dns-netcup-login-retries" in message
    assert rig.box.ccp_api.log.count("login") == 3  # the first login and two retries, then it gave up
    rig.assert_left_as_found(run)


RATE_LIMIT_FAULT = Fault.ccp_error(
    4013, "Validation Error.", "More than 180 requests per minute. Please wait and retry later."
)


def test_a_ccp_rate_limit_is_waited_out(rig: Rig) -> None:
    inject(rig.box, "ccp", RATE_LIMIT_FAULT.only(action="updateDnsRecords"))
    run = rig.run([CCP_ZONE], rest=False, propagation_seconds=WAIT_BOUND)
    assert_succeeded(run)
    assert rig.http.sleeps == [RATE_LIMIT_WAIT]  # a little over netcup's minute, then the same request again
    assert rig.box.ccp_api.log.count("updateDnsRecords") == 3  # refused add, add, delete
    rig.assert_left_as_found(run)


def test_a_rest_rate_limit_is_waited_out(rig: Rig) -> None:
    inject(rig.box, "rest", Fault.rest_error(429, "tooManyRequests", "Too many requests.").only(method="POST"))
    run = rig.run([REST_ZONE], ccp=False, propagation_seconds=WAIT_BOUND)
    assert_succeeded(run)
    assert rig.http.sleeps == [RATE_LIMIT_WAIT]
    rig.assert_left_as_found(run)


def test_a_rate_limit_that_does_not_clear_stops_within_the_budget(rig: Rig) -> None:
    rig.box.ccp_api.faults.rate_limit_per_minute = 1  # the login passes, everything after is refused
    run = rig.run([CCP_ZONE], rest=False, propagation_seconds=WAIT_BOUND)
    message = plugin_error(run)
    assert "rate limit" in message and "wait a few minutes" in message
    # Waits of a minute until the budget is spent: 3 x 60 s = 180 s, then the run stops.
    assert rig.http.sleeps == [RATE_LIMIT_WAIT] * 3 and sum(rig.http.sleeps) == RATE_LIMIT_BUDGET
    rig.assert_left_as_found(run)


def test_a_failure_adding_to_the_second_of_two_zones_removes_the_first_zones_records(rig: Rig) -> None:
    inject(
        rig.box,
        "ccp",
        Fault.ccp_error(5028, "Updating DNS records failed", "Zone could not be updated.").only(
            action="updateDnsRecords", domain=SECOND_CCP_ZONE
        ),
    )
    run = rig.run([CCP_ZONE, SECOND_CCP_ZONE], rest=False, propagation_seconds=WAIT_BOUND)
    message = plugin_error(run)
    assert SECOND_CCP_ZONE in message and "5028" in message
    assert run.cleanup.error is None
    assert rig.box.ccp_api.log.count("updateDnsRecords") == 3  # add (first zone), failed add, delete
    rig.assert_left_as_found(run)


def test_a_rest_failure_after_a_ccp_zone_was_changed_removes_the_ccp_records(rig: Rig) -> None:
    inject(rig.box, "rest", Fault.rest_error(500, "internalServerError", "Something went wrong.").only(method="POST"))
    run = rig.run([CCP_ZONE, REST_ZONE], propagation_seconds=WAIT_BOUND)
    message = plugin_error(run)
    assert "REST API refused" in message and "internalServerError" in message
    assert run.cleanup.error is None
    rig.assert_left_as_found(run)


def perform_then_fail_cleanup(rig: Rig, domains: list[str], fault_api: str, *faults: Fault) -> PluginRun:
    plugin = make_authenticator(rig.credentials(), nameservers=rig.box.nameservers_option)
    achalls = [dns01_achall(d) for d in domains]
    run = PluginRun(plugin, achalls)
    run.perform = timed(lambda: plugin.perform(achalls))
    assert run.perform.error is None, run.perform.error
    inject(rig.box, fault_api, *faults)
    run.cleanup = timed(lambda: plugin.cleanup(achalls))
    return run


def assert_only_named_leftovers(rig: Rig, run: PluginRun, zone: str) -> None:
    """Cleanup failed for ``zone`` only: its records are left and named, everything else is clean."""
    assert isinstance(run.cleanup.error, errors.PluginError), repr(run.cleanup.error)
    message = str(run.cleanup.error)
    assert "remove these by hand" in message
    left = ZoneSnapshot.take(rig.box).added_since(rig.before)
    assert left and {z for z, _ in left} == {zone}
    for _, (_, hostname, _, value) in left:
        assert f"{hostname}.{zone}" in message and value in message  # each leftover is named in full
    assert ZoneSnapshot.take(rig.box).removed_since(rig.before) == set()
    assert_no_secret(rig.output(run), secrets_of(rig.box, rig.sessions))


def test_a_failure_during_cleanup_is_reported_the_rest_cleaned_and_the_leftover_named(rig: Rig) -> None:
    failing = Fault.gateway_error(502).only(action="updateDnsRecords", domain=CCP_ZONE)
    run = perform_then_fail_cleanup(rig, [CCP_ZONE, SECOND_CCP_ZONE, REST_ZONE], "ccp", failing, failing, failing)
    assert_only_named_leftovers(rig, run, CCP_ZONE)
    assert rig.box.ccp_api.log.count("logout") == 1  # the session is ended all the same


def test_a_rest_failure_during_cleanup_names_the_leftover(rig: Rig) -> None:
    failing = Fault.rest_error(500, "internalServerError", "Something went wrong.").only(method="DELETE")
    run = perform_then_fail_cleanup(rig, [CCP_ZONE, REST_ZONE], "rest", failing)
    assert_only_named_leftovers(rig, run, REST_ZONE)


# ===== DNS faults =====================================================================================
def set_server(box: Sandbox, index: int, mode: str, lag: Optional[float] = None) -> Any:
    server = box.servers[index]
    server.mode = mode
    if lag is not None:
        server.lag = lag
    return server


def test_a_nameserver_that_never_answers_is_given_up_after_the_grace(rig: Rig) -> None:
    silent = set_server(rig.box, 2, "silent")
    run = rig.run([CCP_ZONE], rest=False, propagation_seconds=WAIT_BOUND)
    assert_succeeded(run)
    assert any("not waiting any longer" in line and silent.address in line for line in rig.display.lines)
    rig.assert_left_as_found(run)
    rig.assert_within_bound(run, WAIT_BOUND)


def test_no_nameserver_answering_runs_out_the_bound_and_suspects_blocked_dns(rig: Rig) -> None:
    for index in range(3):
        set_server(rig.box, index, "silent")
    run = rig.run([CCP_ZONE], rest=False, propagation_seconds=SHORT_BOUND)
    message = plugin_error(run)
    assert "answered at all" in message and "port 53" in message
    rig.assert_left_as_found(run)
    rig.assert_within_bound(run, SHORT_BOUND)


def test_servfail_while_a_nameserver_reloads_is_waited_out(rig: Rig) -> None:
    set_server(rig.box, 2, "servfail", lag=1.0)
    run = rig.run([CCP_ZONE], rest=False, propagation_seconds=WAIT_BOUND)
    assert_succeeded(run)
    assert any(entry.rcode == "SERVFAIL" for entry in rig.box.servers[2].log.entries())
    rig.assert_left_as_found(run)
    rig.assert_within_bound(run, WAIT_BOUND)


# A server that answers REFUSED is lame: named and not waited for (tests/test_authority_plugin.py).
@pytest.mark.parametrize("mode, reported", [("servfail", "SERVFAIL")])
def test_a_nameserver_that_keeps_failing_is_named_when_the_bound_runs_out(rig: Rig, mode: str, reported: str) -> None:
    failing = set_server(rig.box, 1, mode, lag=3600)
    run = rig.run([CCP_ZONE], rest=False, propagation_seconds=SHORT_BOUND)
    message = plugin_error(run)
    assert f"{failing.address}:{failing.port}" in message and reported in message
    assert "--dns-netcup-propagation-seconds" in message
    rig.assert_left_as_found(run)
    rig.assert_within_bound(run, SHORT_BOUND)


def test_a_truncated_udp_answer_is_asked_again_over_tcp(rig: Rig) -> None:
    truncating = set_server(rig.box, 0, "truncate")
    run = rig.run([CCP_ZONE], rest=False, propagation_seconds=WAIT_BOUND)
    assert_succeeded(run)
    assert {entry.transport for entry in truncating.log.entries()} == {"udp", "tcp"}
    rig.assert_left_as_found(run)


UNROUTABLE_IPV6 = "2001:db8::53"


class _NoIpv6RouteSocket(socket.socket):
    """A socket on a host without an IPv6 route: anything to a non-loopback IPv6 address fails with
    ENETUNREACH in the kernel's words, and nothing is ever sent (the test host does have a route)."""

    def _check(self, address: Any) -> None:
        if self.family == socket.AF_INET6 and isinstance(address, tuple) and address[0] not in ("::1", "localhost"):
            raise OSError(errno.ENETUNREACH, "Network is unreachable")

    def connect(self, address: Any) -> None:
        self._check(address)
        super().connect(address)

    def sendto(self, data: Any, *args: Any) -> int:
        self._check(args[-1])
        return super().sendto(data, *args)


def test_an_unreachable_ipv6_nameserver_is_skipped_with_a_warning(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "socket", _NoIpv6RouteSocket)
    nameservers = f"{rig.box.nameservers_option},[{UNROUTABLE_IPV6}]:53"
    run = rig.run([CCP_ZONE], rest=False, propagation_seconds=WAIT_BOUND, nameservers=nameservers)
    assert_succeeded(run)
    assert any("IPv6 is not reachable" in line and UNROUTABLE_IPV6 in line for line in rig.display.lines)
    rig.assert_left_as_found(run)
    rig.assert_within_bound(run, WAIT_BOUND)


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="binding port 53 needs root")
def test_a_nameserver_name_that_does_not_resolve_is_left_out_with_a_warning(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Discovery from DNS (no --dns-netcup-nameservers) needs the nameservers on port 53.
    for rig in make_rig(tmp_path, monkeypatch, caplog, port53=True):
        run = rig.run([GHOST_NS_ZONE], rest=False, propagation_seconds=WAIT_BOUND, nameservers=None)
        assert_succeeded(run)
        assert any(GHOST_NAMESERVER in line and "left out" in line for line in rig.display.lines)
        rig.assert_left_as_found(run)
        rig.assert_within_bound(run, WAIT_BOUND)


# ===== interruptions ==================================================================================
def test_ctrl_c_during_the_wait_removes_the_records(rig: Rig) -> None:
    """Certbot wraps perform in its ExitHandler, which runs cleanup on KeyboardInterrupt; so here."""
    slow = set_server(rig.box, 2, "normal", lag=3600)
    owner = f"_acme-challenge.{CCP_ZONE}"
    plugin = make_authenticator(
        rig.credentials(rest=False), propagation_seconds=WAIT_BOUND, nameservers=rig.box.nameservers_option
    )
    achalls = [dns01_achall(CCP_ZONE)]

    def press_ctrl_c_once_waiting() -> None:
        # The wait has begun once the slow server was asked about the record (and does not have it).
        wait_until(lambda: slow.log.matching(owner, "TXT"), timeout=20, message="the wait querying the slow server")
        _thread.interrupt_main()

    presser = threading.Thread(target=press_ctrl_c_once_waiting, daemon=True)
    presser.start()
    with pytest.raises(KeyboardInterrupt):
        with error_handler.ExitHandler(plugin.cleanup, achalls):
            plugin.perform(achalls)
    presser.join(timeout=5)
    assert rig.box.state.first_published(owner, achalls[0].validation(achalls[0].account_key)) is not None
    assert rig.box.ccp_api.log.count("updateDnsRecords") == 2  # added, then removed by the interrupted run
    run = PluginRun(plugin, achalls)
    rig.assert_left_as_found(run)
