"""What the reliability tests (faults, bad input, secrets, concurrency) share.

- ``sandbox_for_plugin``: a started sandbox that the in-process plugin talks to (CA bundle, resolver).
- ``FastHttp``: the plugin's HTTP clients with a short read timeout, and sleeps (retry backoff,
  rate-limit waits) recorded instead of slept, so a test asserts the waits without taking them.
- ``SessionIds``: every CCP session id the API double hands out (the double forgets them at logout).
- ``ZoneSnapshot``: every record of every zone, ids included, to prove that a run left the zones
  exactly as it found them (nothing of ours left, nothing else touched).
- ``assert_no_secret``: none of the credentials nor any session id in any text.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import pytest

from certbot_dns_netcup._internal.netcup.transport import JsonHttpClient
from netcup_sandbox.plugin_harness import dns01_achall, make_authenticator, point_plugin_at
from netcup_sandbox.sandbox import DEFAULT_ZONES, Sandbox, ServerSpec, ZoneSpec, servers_with_lags
from netcup_sandbox.state import NETCUP_NAMESERVERS, NetcupState

# Read timeout of the plugin's HTTP clients in tests: a hanging API costs this per attempt, not 30 s.
FAST_READ_TIMEOUT = 0.5
FAST_CONNECT_TIMEOUT = 2.0
# Slack on top of a run's time bound (see ``time_bound``): the last DNS query in flight (2 s),
# API calls before and after the wait, and a loaded CI machine.  Generous on purpose: this checks
# that the bound is honoured at all, not how fast the plugin is.
TIME_SLACK = 10.0

IDN_ZONE = "xn--mnchen-3ya.test"  # münchen.test
GHOST_NS_ZONE = "ghostns.test"  # one of its NS names has no address
GHOST_NAMESERVER = "ghost-dns.netcup.net"
RELIABILITY_ZONES: tuple[ZoneSpec, ...] = (
    *DEFAULT_ZONES,
    ZoneSpec(IDN_ZONE),
    ZoneSpec(GHOST_NS_ZONE, nameservers=(*NETCUP_NAMESERVERS, GHOST_NAMESERVER)),
)

# Credentials nobody could mistake for anything else, so a hit in any output is certainly a leak.
DISTINCT_API_KEY = "LeakCanaryCcpKey" + "Q7x" * 11 + "Zz"  # 51 characters
DISTINCT_API_PASSWORD = "LeakCanary-ccp-password-9f3b2e"
DISTINCT_REST_KEY = "LeakCanaryRestKey" + "R8y" * 15 + "Ww"  # 64 characters


def distinct_state() -> NetcupState:
    return NetcupState(
        customer_number="271828",
        api_key=DISTINCT_API_KEY,
        api_password=DISTINCT_API_PASSWORD,
        rest_key=DISTINCT_REST_KEY,
    )


# ----- the sandbox as the in-process plugin sees it --------------------------------------------------
@contextmanager
def sandbox_for_plugin(
    workdir: str,
    monkeypatch: pytest.MonkeyPatch,
    servers: Optional[Sequence[ServerSpec]] = None,
    port53: bool = False,
    state: Optional[NetcupState] = None,
) -> Iterator[Sandbox]:
    specs = servers if servers is not None else servers_with_lags([0, 0.2, 0.4])
    with Sandbox(workdir, servers=specs, zones=RELIABILITY_ZONES, port53=port53, state=state) as box:
        point_plugin_at(box, monkeypatch)
        yield box


class FastHttp:
    """Stands in for ``JsonHttpClient`` in the CCP and REST clients: same retry policy, short read
    timeout, and every sleep it asks for is recorded in ``sleeps`` (and not slept)."""

    def __init__(self, read_timeout: float = FAST_READ_TIMEOUT) -> None:
        self.read_timeout = read_timeout
        self.sleeps: list[float] = []

    def __call__(self, api_name: str) -> JsonHttpClient:
        return JsonHttpClient(api_name, timeout=(FAST_CONNECT_TIMEOUT, self.read_timeout), sleep=self.sleeps.append)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> FastHttp:
        monkeypatch.setattr("certbot_dns_netcup._internal.netcup.ccp.JsonHttpClient", self)
        monkeypatch.setattr("certbot_dns_netcup._internal.netcup.rest.JsonHttpClient", self)
        return self


class SessionIds:
    """Collects every session id the CCP double issues (it drops them from its table at logout)."""

    def __init__(self, box: Sandbox) -> None:
        self.issued: list[str] = []
        login = box.ccp_api._login

        def recording_login(param: dict[str, Any]) -> Any:
            result = login(param)
            self.issued.append(result[1]["apisessionid"])
            return result

        box.ccp_api._login = recording_login  # type: ignore[method-assign]


# ----- invariants ------------------------------------------------------------------------------------
RecordKey = tuple[str, str, str, str]


@dataclass(frozen=True)
class ZoneSnapshot:
    """Every record of every zone (id, hostname, type, destination)."""

    records: dict[str, frozenset[RecordKey]]

    @classmethod
    def take(cls, box: Sandbox) -> ZoneSnapshot:
        with box.state.lock:
            return cls(
                {
                    name: frozenset((r.id, r.hostname, r.type, r.destination) for r in zone.records)
                    for name, zone in box.state.zones.items()
                }
            )

    def added_since(self, earlier: ZoneSnapshot) -> set[tuple[str, RecordKey]]:
        return {(z, r) for z, rs in self.records.items() for r in rs - earlier.records.get(z, frozenset())}

    def removed_since(self, earlier: ZoneSnapshot) -> set[tuple[str, RecordKey]]:
        return {(z, r) for z, rs in earlier.records.items() for r in rs - self.records.get(z, frozenset())}


def secrets_of(box: Sandbox, sessions: Optional[SessionIds] = None, extra: Iterable[str] = ()) -> list[str]:
    values = [box.state.api_key, box.state.api_password, *extra]
    if box.state.rest_key:
        values.append(box.state.rest_key)
    if sessions is not None:
        values += sessions.issued
    return [v for v in values if v]


def assert_no_secret(texts: Iterable[str], secrets: Sequence[str]) -> None:
    for text in texts:
        for secret in secrets:
            assert secret not in text, f"a secret ({secret[:4]}...) appears in: {text[:300]!r}"


@dataclass
class TimedCall:
    elapsed: float = 0.0
    error: Optional[BaseException] = None


def timed(call: Callable[[], Any]) -> TimedCall:
    """Run ``call``; its wall time and the exception it raised (if any)."""
    outcome = TimedCall()
    started = time.monotonic()
    try:
        call()
    except Exception as error:  # the tests assert which one
        outcome.error = error
    outcome.elapsed = time.monotonic() - started
    return outcome


def time_bound(propagation_seconds: float, api_attempts: int = 0, read_timeout: float = FAST_READ_TIMEOUT) -> float:
    """The longest a perform may take: the propagation bound, each API attempt that may run into the
    read timeout, and ``TIME_SLACK``."""
    return propagation_seconds + api_attempts * (read_timeout + FAST_CONNECT_TIMEOUT) + TIME_SLACK


@dataclass
class PluginRun:
    """One Certbot round in-process: the plugin, its challenges, and how perform went."""

    plugin: Any
    achalls: list[Any]
    perform: TimedCall = field(default_factory=TimedCall)
    cleanup: TimedCall = field(default_factory=TimedCall)

    def values(self) -> list[str]:
        return [a.validation(a.account_key) for a in self.achalls]

    def error_text(self) -> str:
        return "\n".join(str(c.error) for c in (self.perform, self.cleanup) if c.error is not None)


def run_plugin(
    box: Sandbox,
    domains: Sequence[str],
    credentials: str,
    *,
    propagation_seconds: int = 0,
    nameservers: Optional[str] = "sandbox",
    zone_name: Optional[str] = None,
    login_retries: int = 3,
) -> PluginRun:
    """perform then cleanup, as Certbot does; neither raises here, the outcome is in the result."""
    plugin = make_authenticator(
        credentials,
        propagation_seconds=propagation_seconds,
        nameservers=box.nameservers_option if nameservers == "sandbox" else nameservers,
        zone_name=zone_name,
        login_retries=login_retries,
    )
    achalls = [dns01_achall(d) for d in domains]
    run = PluginRun(plugin, achalls)
    run.perform = timed(lambda: plugin.perform(achalls))
    run.cleanup = timed(lambda: plugin.cleanup(achalls))
    return run


def write_file(path: str, text: str, mode: int = 0o600) -> str:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, mode)
    return path
