"""The authority probe in the plugin's perform: lame servers are skipped, a zone nobody serves stops the run
before anything is created.  In-process against the sandbox, with the servers named by --dns-netcup-nameservers
and, once, discovered from the zone's NS set."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from certbot import errors

from certbot_dns_netcup._internal.dns01.authority import NoAuthoritativeServerError
from certbot_dns_netcup._internal.dns01.nameservers import Nameserver
from certbot_dns_netcup._internal.planning import Planner
from netcup_sandbox.plugin_harness import (
    RecordingDisplay,
    dns01_achall,
    install_display,
    make_authenticator,
    point_plugin_at,
)
from netcup_sandbox.sandbox import Sandbox, ServerSpec
from netcup_sandbox.state import NETCUP_NAMESERVERS

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def display() -> RecordingDisplay:
    return install_display()


def start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, modes: tuple[str, ...]) -> Iterator[Sandbox]:
    specs = [ServerSpec(name, mode=mode) for name, mode in zip(NETCUP_NAMESERVERS, modes)]
    with Sandbox(str(tmp_path / "sandbox"), servers=specs) as box:
        point_plugin_at(box, monkeypatch)
        yield box


@pytest.fixture
def one_lame(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    yield from start(tmp_path, monkeypatch, ("normal", "normal", "refused"))


@pytest.fixture
def none_serving(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    yield from start(tmp_path, monkeypatch, ("refused", "noaa", "referral"))


def test_a_lame_nameserver_is_named_and_not_waited_for(one_lame: Sandbox, display: RecordingDisplay) -> None:
    box = one_lame
    plugin = make_authenticator(
        box.write_credentials(rest=False), propagation_seconds=60, nameservers=box.nameservers_option
    )
    achalls = [dns01_achall("example.test")]

    plugin.perform(achalls)
    plugin.cleanup(achalls)

    lame = box.server("third-dns.netcup.net")
    warnings = [line for line in display.lines if f"{lame.address}:{lame.port}" in line]
    assert len(warnings) == 1 and "REFUSED" in warnings[0] and "delegation" in warnings[0]
    assert [(e.qname, e.qtype) for e in lame.log.entries()] == [("example.test", "SOA")]
    assert box.state.all_txt_records() == []


def test_no_nameserver_serving_the_zone_stops_the_run_before_anything_is_created(none_serving: Sandbox) -> None:
    box = none_serving
    plugin = make_authenticator(
        box.write_credentials(rest=False), propagation_seconds=60, nameservers=box.nameservers_option
    )
    achalls = [dns01_achall("example.test")]

    with pytest.raises(errors.PluginError) as caught:
        plugin.perform(achalls)
    plugin.cleanup(achalls)

    message = str(caught.value)
    assert message.startswith("No nameserver of example.test serves the zone")
    for server in box.servers:
        assert f"  {server.address}:{server.port}: " in message  # named as the option named it
    assert "REFUSED" in message and "without the AA flag" in message and "a referral" in message
    assert "Nothing was created." in message and "--dns-netcup-nameservers" in message
    assert box.ccp_api.log.count("updateDnsRecords") == 0
    assert box.state.all_txt_records() == []


def test_without_the_option_the_planner_points_at_the_ns_records_and_the_registry(none_serving: Sandbox) -> None:
    servers = [Nameserver(s.name, s.address, s.port) for s in none_serving.servers]
    planner = Planner(None, lambda _message: None)  # type: ignore[arg-type]  # no zone lookups here

    with pytest.raises(NoAuthoritativeServerError) as caught:
        planner.check_authority({"example.test": servers}, None)

    message = str(caught.value)
    assert "NS records at netcup" in message and "registry" in message and "root-dns.netcup.net" in message
