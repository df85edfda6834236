"""Credentials are judged at once: netcup's ambiguous login answers stop the run with the right cause.

netcup answers a CCP login with a wrong customer number, API key or API password with its *rate-limit*
text (4013 "More than 180 requests per minute..."), and locks API access after repeated failures
("Too many error messages, please check your commands.").  A run that has not logged in yet must not
wait a minute and send the same wrong password again; a run that has logged in and then meets the
rate limit waits it out as before.  In-process against the sandbox's HTTPS doubles; sleeps the plugin
asks for are recorded, not slept.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from certbot import errors

from netcup_sandbox.faults import Fault
from netcup_sandbox.plugin_harness import install_display
from netcup_sandbox.sandbox import Sandbox, servers_with_lags
from tests.reliability_support import (
    FastHttp,
    PluginRun,
    ZoneSnapshot,
    run_plugin,
    sandbox_for_plugin,
)

pytestmark = pytest.mark.timeout(60)

CCP_ZONE = "example.test"
REST_ZONE = "cloud.test"
WRONG_PASSWORD = "definitely-not-the-api-password"
RATE_LIMIT_TEXT = "More than 180 requests per minute. Please wait and retry later."


class Box:
    def __init__(self, sandbox: Sandbox, http: FastHttp) -> None:
        self.sandbox = sandbox
        self.http = http
        self.before = ZoneSnapshot.take(sandbox)

    def run(self, domains: list[str], **credentials: Any) -> PluginRun:
        path = self.sandbox.write_credentials(**credentials)
        return run_plugin(self.sandbox, domains, path, propagation_seconds=10)

    def nothing_changed(self) -> bool:
        after = ZoneSnapshot.take(self.sandbox)
        return after.added_since(self.before) == set() and after.removed_since(self.before) == set()

    def history_lengths(self) -> dict[str, int]:
        return {name: len(zone.history) for name, zone in self.sandbox.state.zones.items()}


@pytest.fixture
def box(tmp_path: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> Iterator[Box]:
    caplog.set_level(logging.DEBUG)
    install_display()
    http = FastHttp().install(monkeypatch)
    with sandbox_for_plugin(str(tmp_path / "sandbox"), monkeypatch, servers=servers_with_lags([0, 0])) as sandbox:
        yield Box(sandbox, http)


def plugin_error(run: PluginRun) -> str:
    assert isinstance(run.perform.error, errors.PluginError), f"perform raised {run.perform.error!r}"
    return str(run.perform.error)


def test_a_wrong_password_answered_with_the_rate_limit_text_stops_at_once(box: Box) -> None:
    history = box.history_lengths()
    run = box.run([CCP_ZONE], rest=False, dns_netcup_api_password=WRONG_PASSWORD)

    message = plugin_error(run)
    assert box.sandbox.ccp_api.log.count("login") == 1  # no second login with the same wrong password
    assert box.http.sleeps == []  # and no minute of waiting before it
    for key in ("dns_netcup_customer_id", "dns_netcup_api_key", "dns_netcup_api_password"):
        assert key in message
    assert "Master Data -> API" in message  # where in the CCP to look
    assert "wrong customer number, API key or API password" in message
    # The credentials come first; the real rate limit only after them.
    assert message.index("dns_netcup_api_password") < message.index("within a minute")
    assert WRONG_PASSWORD not in message
    assert box.history_lengths() == history  # nothing created, not even for a moment
    assert box.nothing_changed()


def test_netcups_lockout_answer_stops_at_once_and_names_the_likely_causes(box: Box) -> None:
    box.sandbox.ccp_api.faults.lockout_after_failed_logins = 1
    first = box.run([CCP_ZONE], rest=False, dns_netcup_api_password=WRONG_PASSWORD)
    assert "wrong customer number" in plugin_error(first)

    # Locked out now: even the right credentials get "Too many error messages".
    second = box.run([CCP_ZONE], rest=False)

    message = plugin_error(second)
    assert "Too many error messages" in message
    assert "locked" in message and "Customer Control Panel" in message
    assert "quotes" in message  # a common cause: values written in quotes in the INI file
    assert box.sandbox.ccp_api.log.count("login") == 2  # one per run
    assert box.http.sleeps == []
    assert box.nothing_changed()


def test_a_rate_limit_after_a_successful_login_is_still_waited_out(box: Box) -> None:
    box.sandbox.ccp_api.faults.script.add(
        Fault.ccp_error(4013, "Validation Error.", RATE_LIMIT_TEXT).only(action="updateDnsRecords")
    )
    run = box.run([CCP_ZONE], rest=False)

    assert run.perform.error is None, run.perform.error
    assert run.cleanup.error is None, run.cleanup.error
    assert box.http.sleeps == [60.0]  # netcup's window is a minute
    assert box.nothing_changed()


def test_a_relogin_met_by_the_rate_limit_after_a_good_login_is_waited_out(box: Box) -> None:
    # The first login succeeded, so the same text at a later login (after netcup ended the session) is a
    # real rate limit: the credentials were right a moment ago.
    box.sandbox.ccp_api.faults.script.add(Fault.ccp_error(4001, "Api session not found", "").only(action="infoDnsZone"))
    box.sandbox.ccp_api.faults.script.add(
        Fault.ccp_error(4013, "Validation Error.", RATE_LIMIT_TEXT).only(action="login")
    )
    # The first scripted login fault would hit the first login: let that one through.
    original = box.sandbox.ccp_api.faults.script.take
    logins = [0]

    def take(**filters: Any) -> Any:
        if filters.get("action") == "login":
            logins[0] += 1
            if logins[0] == 1:
                return None
        return original(**filters)

    box.sandbox.ccp_api.faults.script.take = take  # type: ignore[method-assign]
    run = box.run([CCP_ZONE], rest=False)

    assert run.perform.error is None, run.perform.error
    assert box.http.sleeps == [60.0]
    assert box.sandbox.ccp_api.log.count("login") == 3  # first, refused relogin, relogin after the wait
    assert run.cleanup.error is None
    assert box.nothing_changed()


@pytest.mark.parametrize("status", [401, 403])
def test_a_rest_key_refused_with_401_or_403_fails_at_once_naming_the_key(box: Box, status: int) -> None:
    box.sandbox.rest_api.faults.script.add(Fault.rest_error(status, "forbidden", "Access denied."))
    run = box.run([REST_ZONE], ccp=False)

    message = plugin_error(run)
    assert "dns_netcup_api_v1_key" in message
    assert f"HTTP {status}" in message
    assert box.http.sleeps == []
    assert [c for c in box.sandbox.rest_api.log.calls() if c.operation.startswith("POST")] == []
    assert box.nothing_changed()
