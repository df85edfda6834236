"""``certbot-dns-netcup check`` against the sandbox: verdicts, exit status, the probe and its cleanup."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from certbot_dns_netcup._internal.cli import main
from netcup_sandbox.plugin_harness import sandbox_resolver
from netcup_sandbox.sandbox import Sandbox, ServerSpec, host_port, servers_with_lags, wait_until

LAGS = [0, 0.3, 1.0]  # the third server is the slow one


def resolver_for(box: Sandbox):
    """A factory for the plugin's "system resolver" that asks the sandbox's fake recursive resolver."""
    return lambda: sandbox_resolver(box)


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    with Sandbox(str(tmp_path / "sandbox"), servers=servers_with_lags(LAGS)) as box:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", box.ca_bundle)
        yield box


class Run:
    def __init__(self, box: Sandbox, *args: str, nameservers: bool = True) -> None:
        self.stdout, self.stderr = io.StringIO(), io.StringIO()
        argv = ["check", *args]
        if nameservers:  # the sandbox's servers listen on ephemeral ports, not on the discovered addresses' 53
            argv += ["--nameservers", box.nameservers_option]
        self.status = main(argv, resolver_for(box), stdout=self.stdout, stderr=self.stderr)
        self.out, self.err = self.stdout.getvalue(), self.stderr.getvalue()


def endpoints(box: Sandbox) -> list[str]:
    return [host_port(server.address, server.port) for server in box.servers]


def test_probe_of_a_ccp_zone_times_each_server_recommends_a_bound_and_leaves_nothing(sandbox):
    credentials = sandbox.write_credentials(rest=False)
    run = Run(sandbox, "example.test", "--credentials", credentials, "--probe", "--timeout", "60")
    assert run.status == 0, run.out + run.err
    assert "customer 12345, API key and API password  accepted" in run.out
    assert "example.test, through netcup's CCP API" in run.out
    probe_table = run.out[run.out.index("Probe:") :]
    for endpoint in endpoints(sandbox):
        assert f"{endpoint}  served after" in probe_table
    assert "Recommended: --dns-netcup-propagation-seconds 120" in run.out
    assert "Result: OK" in run.out
    # live progress on stderr, one line per server as it catches up
    assert sum("serves all 1 record after" in line for line in run.err.splitlines()) == 3
    assert sandbox.ccp_api.log.count("updateDnsRecords") == 2  # created, then removed
    assert sandbox.state.all_txt_records() == []
    assert sandbox.ccp_api.log.count("logout") == 1


def test_rest_zone_is_probed_through_the_rest_api(sandbox):
    credentials = sandbox.write_credentials(ccp=False)
    run = Run(sandbox, "www.cloud.test", "--credentials", credentials, "--probe", "--timeout", "60")
    assert run.status == 0, run.out + run.err
    assert "cloud.test, through netcup's REST API" in run.out
    assert "CCP API   not in the file" in run.out
    assert sandbox.rest_api.log.count("POST /v1/domain/{id}/acme/challenge") == 1
    assert sandbox.state.all_txt_records() == []
    assert sandbox.ccp_api.log.count() == 0


def test_a_lame_server_is_a_warning_and_the_probe_does_not_wait_for_it(sandbox):
    lame = sandbox.server("second-dns.netcup.net")
    lame.mode = "refused"
    credentials = sandbox.write_credentials(rest=False)
    run = Run(sandbox, "example.test", "--credentials", credentials, "--probe", "--timeout", "60", "--json")
    assert run.status == 0, run.out + run.err  # the plugin issues through the other servers
    report = json.loads(run.out)
    assert report["problems"] == []
    [warning] = [w for w in report["warnings"] if "lame" in w]
    assert lame.address in warning and "REFUSED" in warning
    statuses = {host_port(s["address"], s["port"]): s["status"] for s in report["probe"]["servers"]}
    assert statuses[host_port(lame.address, lame.port)] == "lame: does not serve the zone (not waited for)"
    assert [e for e in lame.log.entries() if e.qtype == "TXT"] == []  # never polled for the record
    assert sandbox.state.all_txt_records() == []


def test_domain_on_external_dns_fails_naming_its_nameservers(sandbox):
    credentials = sandbox.write_credentials(rest=False)
    run = Run(sandbox, "external.test", "--credentials", credentials, "--probe", nameservers=False)
    assert run.status == 1
    assert "NOT netcup's" in run.out
    result = run.out[run.out.index("Result:") :]
    assert "would FAIL" in result and "ns1.elsewhere.test" in result and "ns2.elsewhere.test" in result
    assert sandbox.ccp_api.log.count("updateDnsRecords") == 0  # no probe when the verdict is already known


def test_cname_delegated_name_is_checked_and_probed_at_the_target(sandbox):
    credentials = sandbox.write_credentials(rest=False)
    run = Run(sandbox, "delegated.test", "--credentials", credentials, "--probe", "--timeout", "60", "--json")
    assert run.status == 0, run.out + run.err
    report = json.loads(run.out)
    assert report["record_name"] == "_acme-challenge.delegated.test"
    assert report["cname_target"] == "_acme-challenge.delegated.example.test"
    assert report["zone"] == "example.test"
    assert report["probe"]["record"] == "_acme-challenge.delegated.example.test"
    assert report["probe"]["removed"] is True
    assert sandbox.ccp_api.log.count("updateDnsRecords") == 2
    assert sandbox.state.all_txt_records() == []


def test_rejected_credentials_fail_with_a_clear_message_and_no_secret(sandbox):
    wrong_password, wrong_key = "definitely-wrong-password", "w" * 64
    credentials = sandbox.write_credentials(dns_netcup_api_password=wrong_password, dns_netcup_api_v1_key=wrong_key)
    run = Run(sandbox, "example.test", "--credentials", credentials, "--probe")
    assert run.status == 1
    assert "REJECTED" in run.out
    assert "rejected the login" in run.out and "rejected the API key" in run.out
    everything = run.out + run.err
    for secret in (wrong_password, wrong_key, sandbox.state.api_key):
        assert secret not in everything
    assert sandbox.state.all_txt_records() == []


def test_rejected_ccp_login_is_only_a_warning_for_a_zone_the_rest_api_manages(sandbox):
    credentials = sandbox.write_credentials(dns_netcup_api_password="definitely-wrong-password")
    run = Run(sandbox, "cloud.test", "--credentials", credentials)
    assert run.status == 0, run.out
    assert "REJECTED" in run.out
    assert "rejected the login" in run.out[run.out.index("Warnings") :]


def test_json_holds_the_same_facts_as_the_table(sandbox):
    credentials = sandbox.write_credentials()
    table = Run(sandbox, "example.test", "--credentials", credentials)
    as_json = Run(sandbox, "example.test", "--credentials", credentials, "--json")
    assert table.status == as_json.status == 0
    report = json.loads(as_json.out)
    assert report["ok"] is True and report["problems"] == []
    assert f"{report['zone']}, through netcup's {report['api']}" in table.out
    assert [(a["api"], a["accepted"]) for a in report["apis"]] == [("CCP API", True), ("REST API", True)]
    assert report["delegation"] == ["root-dns.netcup.net", "second-dns.netcup.net", "third-dns.netcup.net"]
    assert report["delegated_to_netcup"] is True
    served = [host_port(s["address"], s["port"]) for s in report["servers"] if s["authoritative"]]
    assert served == endpoints(sandbox)
    for endpoint in served:
        assert endpoint in table.out
    assert report["families"] == {"IPv4": True}
    assert report["probe"] is None
    assert sandbox.state.api_password not in as_json.out


def test_silent_server_is_reported_and_not_fatal_while_another_answers(tmp_path, monkeypatch):
    specs = [ServerSpec("root-dns.netcup.net"), ServerSpec("second-dns.netcup.net", mode="silent")]
    with Sandbox(str(tmp_path), servers=specs) as box:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", box.ca_bundle)
        run = Run(box, "example.test", "--credentials", box.write_credentials(rest=False), "--json")
    report = json.loads(run.out)
    assert run.status == 0, run.out
    assert [s["reachable"] for s in report["servers"]] == [True, False]


# The check in a child process (so that Ctrl-C goes to it, never to pytest), its "system resolver"
# the sandbox's recursive resolver as in ``Run``: argv is the resolver's address and port, then the command line.
CHECK_IN_A_CHILD = """
import sys
import dns.resolver
from certbot_dns_netcup._internal.cli import main

def sandbox_resolver():
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [sys.argv[1]]
    resolver.port = int(sys.argv[2])
    resolver.lifetime = 5
    return resolver

sys.exit(main(sys.argv[3:], sandbox_resolver))
"""


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_or_sigterm_during_the_probe_removes_the_record(sandbox, signum, status):
    sandbox.server("third-dns.netcup.net").lag = 3600  # the probe cannot finish by itself
    credentials = sandbox.write_credentials(rest=False)
    owner = "_acme-challenge.example.test"
    resolver = sandbox.system_resolver
    argv = ["check", "example.test", "--credentials", credentials, "--probe", "--timeout", "60"]
    argv += ["--nameservers", sandbox.nameservers_option]
    child = subprocess.Popen(
        [sys.executable, "-c", CHECK_IN_A_CHILD, resolver.address, str(resolver.port), *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def probe_record_created() -> bool:
        assert child.poll() is None, "the check ended before its probe record was created"
        return bool(sandbox.state.txt_values(owner))

    try:
        wait_until(probe_record_created, timeout=60, message="probe record created")
        child.send_signal(signum)
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == status, err
    assert "Traceback" not in err
    assert f"The throwaway record {owner} was removed again" in err
    assert sandbox.ccp_api.log.count("updateDnsRecords") == 2
    assert sandbox.state.all_txt_records() == []
    assert sandbox.ccp_api.log.count("logout") == 1


def test_probe_timeout_fails_and_removes_the_record(sandbox):
    sandbox.server("third-dns.netcup.net").lag = 3600
    credentials = sandbox.write_credentials(rest=False)
    run = Run(sandbox, "example.test", "--credentials", credentials, "--probe", "--timeout", "3", "--json")
    assert run.status == 1
    report = json.loads(run.out)
    slow = sandbox.server("third-dns.netcup.net")
    statuses = {host_port(s["address"], s["port"]): s["status"] for s in report["probe"]["servers"]}
    assert statuses[host_port(slow.address, slow.port)] == "not served within 3 s"
    assert sum(s["served_after"] is not None for s in report["probe"]["servers"]) == 2
    assert report["probe"]["recommended_seconds"] is None
    assert any("within 3 s" in p for p in report["problems"])
    assert sandbox.state.all_txt_records() == []


@pytest.mark.parametrize(
    "args, expected",
    [
        (["example.test", "--credentials", "/nonexistent/netcup.ini"], "does not exist"),
        (["example.test", "--credentials", "{credentials}", "--nameservers", "1.2.3.4:99999"], "--nameservers"),
        (["bad..name", "--credentials", "{credentials}"], "not a valid domain name"),
    ],
)
def test_usage_and_configuration_errors_exit_2_without_a_traceback(sandbox, args, expected):
    credentials = sandbox.write_credentials()
    stdout, stderr = io.StringIO(), io.StringIO()
    argv = ["check", *(a.format(credentials=credentials) for a in args)]
    status = main(argv, resolver_for(sandbox), stdout=stdout, stderr=stderr)
    assert status == 2
    assert expected in stderr.getvalue() and "Traceback" not in stderr.getvalue()
    assert sandbox.ccp_api.log.count() == 0


def test_bad_timeout_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["check", "example.test", "--credentials", "x.ini", "--timeout", "0"])
    assert caught.value.code == 2
    assert "--timeout" in capsys.readouterr().err


def test_module_entry_point_prints_the_version():
    from certbot_dns_netcup import __version__

    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-m", "certbot_dns_netcup", "--version"], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    assert done.stdout.strip() == f"certbot-dns-netcup {__version__}"


@pytest.mark.root
@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="binding port 53 needs root")
def test_nameservers_are_discovered_from_the_delegation_and_asked_on_their_addresses(tmp_path, monkeypatch):
    with Sandbox(str(tmp_path), servers=servers_with_lags([0, 0.3]), port53=True) as box:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", box.ca_bundle)
        run = Run(
            box,
            "example.test",
            "--credentials",
            box.write_credentials(rest=False),
            "--probe",
            "--timeout",
            "60",
            nameservers=False,
        )
        assert run.status == 0, run.out + run.err
        for server in box.servers:
            row = rf"\n  {re.escape(server.name)} +{re.escape(server.address)} +"
            assert re.search(row + r"IPv4 +answers for the zone\n", run.out), run.out
            assert re.search(row + r"served after [0-9.]+ s\n", run.out), run.out
        assert box.state.all_txt_records() == []
