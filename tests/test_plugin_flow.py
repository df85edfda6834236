"""The plugin driven through Certbot's plugin interface against the sandbox's API doubles and nameservers.

In-process (so that the corner cases are cheap); the real certbot binary runs in test_e2e.py.
"""

from __future__ import annotations

import logging
import os

import pytest
from certbot import errors

from netcup_sandbox.faults import Fault
from netcup_sandbox.plugin_harness import (
    challenge_name,
    dns01_achall,
    expected_value,
    install_display,
    make_authenticator,
    point_plugin_at,
)
from netcup_sandbox.sandbox import Sandbox, servers_with_lags


@pytest.fixture
def display():
    return install_display()


@pytest.fixture
def sandbox(tmp_path, monkeypatch, display):
    with Sandbox(str(tmp_path / "sandbox"), servers=servers_with_lags([0, 0.3, 0.6])) as box:
        point_plugin_at(box, monkeypatch)
        yield box


def txt_records(box: Sandbox) -> set[tuple[str, str]]:
    return set(box.state.all_txt_records())


def run(box: Sandbox, domains: list[str], credentials: str, **options):
    plugin = make_authenticator(credentials, nameservers=options.pop("nameservers", box.nameservers_option), **options)
    achalls = [dns01_achall(d) for d in domains]
    return plugin, achalls


def test_ccp_apex_and_wildcard_are_added_in_one_call_waited_for_and_removed(sandbox):
    credentials = sandbox.write_credentials(rest=False)
    before = txt_records(sandbox)
    plugin, achalls = run(sandbox, ["example.test", "*.example.test"], credentials, propagation_seconds=60)
    responses = plugin.perform(achalls)
    assert len(responses) == 2
    owner = "_acme-challenge.example.test"
    for achall in achalls:
        # perform returned only once every server serves every value
        assert sandbox.all_servers_serve(owner, expected_value(achall))
    assert sandbox.ccp_api.log.count("updateDnsRecords") == 1
    assert sandbox.ccp_api.log.count("login") == 1
    plugin.cleanup(achalls)
    assert txt_records(sandbox) == before
    assert sandbox.ccp_api.log.count("updateDnsRecords") == 2
    assert sandbox.ccp_api.log.count("logout") == 1


def test_rest_zone_goes_through_the_rest_api(sandbox):
    credentials = sandbox.write_credentials(ccp=False)
    before = txt_records(sandbox)
    plugin, achalls = run(
        sandbox, ["cloud.test", "*.cloud.test", "www.cloud.test"], credentials, propagation_seconds=60
    )
    plugin.perform(achalls)
    for achall in achalls:
        owner = challenge_name(achall)
        assert expected_value(achall) in sandbox.state.txt_values(owner)
        assert sandbox.all_servers_serve(owner, expected_value(achall))
    assert sandbox.rest_api.log.count("POST /v1/domain/{id}/acme/challenge") == 3
    plugin.cleanup(achalls)
    assert txt_records(sandbox) == before
    assert sandbox.ccp_api.log.count() == 0


def test_with_both_keys_a_legacy_zone_goes_through_the_ccp_api(sandbox):
    credentials = sandbox.write_credentials()
    plugin, achalls = run(sandbox, ["example.test"], credentials)
    plugin.perform(achalls)
    assert sandbox.ccp_api.log.count("updateDnsRecords") == 1
    assert sandbox.rest_api.log.count("POST /v1/domain/{id}/acme/challenge") == 0
    plugin.cleanup(achalls)
    assert sandbox.state.txt_values("_acme-challenge.example.test") == []


def test_unrelated_txt_at_the_same_name_is_left_alone(sandbox):
    sandbox.state.add_record("example.test", "_acme-challenge", "TXT", "someone-elses-value")
    credentials = sandbox.write_credentials(rest=False)
    plugin, achalls = run(sandbox, ["example.test"], credentials)
    plugin.perform(achalls)
    assert set(sandbox.state.txt_values("_acme-challenge.example.test")) == {
        "someone-elses-value",
        expected_value(achalls[0]),
    }
    plugin.cleanup(achalls)
    assert sandbox.state.txt_values("_acme-challenge.example.test") == ["someone-elses-value"]


def test_hundred_names_in_one_zone_cost_a_handful_of_calls(sandbox):
    credentials = sandbox.write_credentials(rest=False)
    domains = [f"host{i}.example.test" for i in range(100)]
    plugin, achalls = run(sandbox, domains, credentials, propagation_seconds=120)
    plugin.perform(achalls)
    plugin.cleanup(achalls)
    # login, 2 zone probes at most, add, delete, logout
    assert sandbox.ccp_api.log.count() <= 6
    assert sandbox.state.all_txt_records() == []


def test_failure_in_the_second_zone_cleans_up_the_first(sandbox):
    credentials = sandbox.write_credentials(rest=False)
    sandbox.ccp_api.faults.script.add(
        Fault.ccp_error(5028, "Updating DNS records failed", "Zone could not be updated.").only(
            action="updateDnsRecords", domain="second.test"
        )
    )
    plugin, achalls = run(sandbox, ["example.test", "second.test"], credentials)
    with pytest.raises(errors.PluginError) as caught:
        plugin.perform(achalls)
    assert "second.test" in str(caught.value)
    assert sandbox.state.txt_values("_acme-challenge.example.test") == [expected_value(achalls[0])]
    plugin.cleanup(achalls)
    assert sandbox.state.all_txt_records() == []


def test_session_expiry_between_calls_is_handled_by_logging_in_again(sandbox):
    credentials = sandbox.write_credentials(rest=False)
    plugin, achalls = run(sandbox, ["example.test"], credentials)
    plugin.perform(achalls)
    sandbox.ccp_api.expire_all_sessions()
    plugin.cleanup(achalls)
    assert sandbox.state.all_txt_records() == []
    assert sandbox.ccp_api.log.count("login") == 2


def test_wrong_password_is_a_clear_error_without_the_secret(sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    credentials = sandbox.write_credentials(rest=False, dns_netcup_api_password="definitely-wrong-password")
    plugin, achalls = run(sandbox, ["example.test"], credentials)
    with pytest.raises(errors.PluginError) as caught:
        plugin.perform(achalls)
    message = str(caught.value)
    assert "rejected the login" in message and "dns_netcup_api_password" in message
    assert "definitely-wrong-password" not in message
    assert "definitely-wrong-password" not in caplog.text
    assert sandbox.state.api_key not in caplog.text + message
    plugin.cleanup(achalls)
    assert sandbox.state.all_txt_records() == []


def test_wrong_rest_key_is_a_clear_error(sandbox):
    credentials = sandbox.write_credentials(ccp=False, dns_netcup_api_v1_key="x" * 64)
    plugin, achalls = run(sandbox, ["cloud.test"], credentials)
    with pytest.raises(errors.PluginError, match="rejected the API key"):
        plugin.perform(achalls)


def test_rest_only_credentials_for_a_legacy_zone_name_the_ccp_keys(sandbox):
    credentials = sandbox.write_credentials(ccp=False)
    plugin, achalls = run(sandbox, ["example.test"], credentials)
    with pytest.raises(errors.PluginError, match="dns_netcup_customer_id"):
        plugin.perform(achalls)
    assert sandbox.state.all_txt_records() == []


def test_ccp_only_credentials_for_a_new_platform_zone_name_the_rest_key(sandbox):
    credentials = sandbox.write_credentials(rest=False)
    plugin, achalls = run(sandbox, ["cloud.test"], credentials)
    with pytest.raises(errors.PluginError, match="dns_netcup_api_v1_key"):
        plugin.perform(achalls)


def test_domain_not_in_the_account(sandbox):
    credentials = sandbox.write_credentials()
    plugin, achalls = run(sandbox, ["www.not-mine.test"], credentials)
    with pytest.raises(errors.PluginError, match="No zone of your netcup account holds"):
        plugin.perform(achalls)


def test_cname_delegation_creates_the_record_at_the_target(sandbox):
    credentials = sandbox.write_credentials(rest=False)
    plugin, achalls = run(sandbox, ["delegated.test"], credentials, propagation_seconds=60)
    plugin.perform(achalls)
    assert sandbox.state.txt_values("_acme-challenge.delegated.example.test") == [expected_value(achalls[0])]
    plugin.cleanup(achalls)
    assert sandbox.state.all_txt_records() == []


def test_zone_name_option_skips_the_lookup(sandbox):
    credentials = sandbox.write_credentials(rest=False)
    plugin, achalls = run(sandbox, ["a.b.example.test"], credentials, zone_name="example.test")
    plugin.perform(achalls)
    assert sandbox.ccp_api.log.count("infoDnsZone") == 0
    assert sandbox.state.txt_values("_acme-challenge.a.b.example.test") == [expected_value(achalls[0])]
    plugin.cleanup(achalls)


def test_bound_running_out_fails_with_a_report_and_cleanup_removes_the_records(sandbox):
    sandbox.server("third-dns.netcup.net").lag = 3600
    credentials = sandbox.write_credentials(rest=False)
    plugin, achalls = run(sandbox, ["example.test"], credentials, propagation_seconds=2)
    with pytest.raises(errors.PluginError) as caught:
        plugin.perform(achalls)
    slow = sandbox.server("third-dns.netcup.net")
    report = str(caught.value)
    assert f"{slow.address}:{slow.port}" in report
    assert "NXDOMAIN" in report
    assert "--dns-netcup-propagation-seconds" in report
    plugin.cleanup(achalls)
    assert sandbox.state.all_txt_records() == []


def test_nameserver_discovery_and_external_dns(sandbox):
    credentials = sandbox.write_credentials(rest=False)
    plugin, achalls = run(sandbox, ["external.test"], credentials, nameservers=None, propagation_seconds=30)
    with pytest.raises(errors.PluginError) as caught:
        plugin.perform(achalls)
    assert "ns1.elsewhere.test" in str(caught.value)
    assert sandbox.ccp_api.log.count("updateDnsRecords") == 0


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"dns_netcup_api_password": None}, "dns_netcup_api_password"),
        ({"dns_netcup_customer_id": "abc"}, "digits only"),
        ({"dns_netcup_api_url": "ftp://x"}, "dns_netcup_api_url"),
    ],
)
def test_bad_credentials_files(sandbox, overrides, expected):
    credentials = sandbox.write_credentials(rest=False, **overrides)
    plugin, achalls = run(sandbox, ["example.test"], credentials)
    with pytest.raises(errors.PluginError, match=expected):
        plugin.perform(achalls)
    assert sandbox.ccp_api.log.count() == 0


def test_missing_and_empty_credentials_files(sandbox, tmp_path):
    plugin, achalls = run(sandbox, ["example.test"], str(tmp_path / "nope.ini"))
    with pytest.raises(errors.PluginError, match="does not exist"):
        plugin.perform(achalls)
    empty = tmp_path / "empty.ini"
    empty.write_text("")
    os.chmod(empty, 0o600)
    plugin, achalls = run(sandbox, ["example.test"], str(empty))
    with pytest.raises(errors.PluginError, match="is empty"):
        plugin.perform(achalls)


@pytest.mark.parametrize("seconds", [-1, 10**7])
def test_absurd_propagation_seconds(sandbox, seconds):
    credentials = sandbox.write_credentials()
    plugin, achalls = run(sandbox, ["example.test"], credentials, propagation_seconds=seconds)
    with pytest.raises(errors.PluginError, match="propagation-seconds"):
        plugin.perform(achalls)


def test_malformed_nameservers_option(sandbox):
    credentials = sandbox.write_credentials(rest=False)
    plugin, achalls = run(sandbox, ["example.test"], credentials, nameservers="1.2.3.4:99999", propagation_seconds=5)
    with pytest.raises(errors.PluginError, match="--dns-netcup-nameservers"):
        plugin.perform(achalls)
    assert sandbox.state.all_txt_records() == []
