"""Bad input: each mistake a user can make gets one clear error that says what to fix, as a
Certbot ``PluginError`` (printed as a message, never a traceback), before any zone is changed.
Names in unusual spellings (IDN, upper case, trailing dot) simply work.

In-process through Certbot's plugin interface against the sandbox; docs/reliability.md lists
every case.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import pytest
from certbot import errors

from netcup_sandbox.plugin_harness import RecordingDisplay, install_display, make_authenticator
from netcup_sandbox.sandbox import Sandbox, servers_with_lags
from tests.reliability_support import (
    IDN_ZONE,
    FastHttp,
    PluginRun,
    SessionIds,
    ZoneSnapshot,
    assert_no_secret,
    run_plugin,
    sandbox_for_plugin,
    secrets_of,
    write_file,
)

pytestmark = pytest.mark.timeout(60)

REPO = Path(__file__).resolve().parent.parent
CCP_ZONE = "example.test"
REST_ZONE = "cloud.test"
WAIT_BOUND = 30


class Box:
    """The sandbox plus what a bad-input case reads back."""

    def __init__(self, sandbox: Sandbox, display: RecordingDisplay, caplog: pytest.LogCaptureFixture) -> None:
        self.sandbox = sandbox
        self.display = display
        self.caplog = caplog
        self.sessions = SessionIds(sandbox)
        self.before = ZoneSnapshot.take(sandbox)

    def run(self, domains: list[str], credentials: Optional[str] = None, **options: Any) -> PluginRun:
        return run_plugin(self.sandbox, domains, credentials or self.sandbox.write_credentials(), **options)

    def rejects(self, run: PluginRun, *fixes: str, extra_secrets: tuple[str, ...] = ()) -> str:
        """perform failed with a message naming every one of ``fixes``; no zone changed, nothing leaked."""
        error = run.perform.error
        assert isinstance(error, errors.PluginError), f"perform raised {error!r}"
        # Raised "from None": Certbot shows the message alone, with no chained traceback.
        assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
        message = str(error)
        for fix in fixes:
            assert fix in message, f"{fix!r} not in: {message}"
        assert run.cleanup.error is None
        self.assert_untouched(run, extra_secrets)
        return message

    def assert_untouched(self, run: PluginRun, extra_secrets: tuple[str, ...] = ()) -> None:
        after = ZoneSnapshot.take(self.sandbox)
        assert after == self.before
        secrets = secrets_of(self.sandbox, self.sessions, extra_secrets)
        assert_no_secret([run.error_text(), *self.display.lines, self.caplog.text], secrets)

    def succeeded_at(self, run: PluginRun, owner: str) -> None:
        """perform and cleanup succeeded, the record was published at ``owner`` and is gone again."""
        assert run.perform.error is None, run.perform.error
        assert run.cleanup.error is None, run.cleanup.error
        for value in run.values():
            assert self.sandbox.state.first_published(owner, value) is not None, f"{value} never at {owner}"
        self.assert_untouched(run)


@pytest.fixture
def box(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> Iterator[Box]:
    caplog.set_level(logging.DEBUG)
    display = install_display()
    FastHttp().install(monkeypatch)
    with sandbox_for_plugin(str(tmp_path / "sandbox"), monkeypatch, servers=servers_with_lags([0, 0, 0])) as sandbox:
        yield Box(sandbox, display, caplog)


# ----- the credentials file ----------------------------------------------------------------------------
def test_missing_credentials_file(box: Box, tmp_path: Path) -> None:
    run = box.run([CCP_ZONE], str(tmp_path / "missing.ini"))
    box.rejects(run, "does not exist", "--dns-netcup-credentials")


def test_credentials_path_is_a_directory(box: Box, tmp_path: Path) -> None:
    box.rejects(box.run([CCP_ZONE], str(tmp_path)), "is a directory", "--dns-netcup-credentials")


def test_no_credentials_option_in_a_non_interactive_run(box: Box) -> None:
    plugin = make_authenticator("")
    run = PluginRun(plugin, [])
    try:
        plugin.perform([])
    except Exception as error:  # asserted below
        run.perform.error = error
    box.rejects(run, "--dns-netcup-credentials", "dns_netcup_api_key")


def unreadable_file_error(path: str) -> str:
    """What the plugin says about ``path`` when run by a user who may not read it."""
    if os.geteuid() != 0:
        os.chmod(path, 0)
        plugin = make_authenticator(path)
        with pytest.raises(errors.PluginError) as caught:
            plugin.perform([])
        return str(caught.value)
    # root reads every file: ask as the unprivileged user "nobody" in a child process instead.  The child
    # starts as root and imports everything first (the clone and its .venv may sit in a directory only
    # root may enter, e.g. under a 0700 home), then drops to nobody before the plugin reads the file.
    script = (
        "import importlib, os, pkgutil, sys\n"
        "import certbot_dns_netcup, netcup_sandbox.plugin_harness\n"
        "from certbot import errors\n"
        "for module in pkgutil.walk_packages(certbot_dns_netcup.__path__, 'certbot_dns_netcup.'):\n"
        "    if not module.name.endswith('__main__'):\n"
        "        importlib.import_module(module.name)\n"
        "import requests, dns.resolver, dns.message, dns.query  # imported lazily by the plugin\n"
        "os.setgroups([])\n"
        "os.setgid(65534)\n"
        "os.setuid(65534)\n"
        "print('euid', os.geteuid())\n"
        "try:\n"
        f"    netcup_sandbox.plugin_harness.make_authenticator({path!r}).perform([])\n"
        "except errors.PluginError as error:\n"
        "    print('PluginError:', error)\n"
    )
    os.chmod(os.path.dirname(path), 0o755)
    completed = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in completed.stderr, completed.stderr
    assert completed.returncode == 0 and completed.stdout.startswith("euid 65534\n"), completed
    return completed.stdout


def test_unreadable_credentials_file(box: Box) -> None:
    # A directory others may enter (pytest's own temporary directories are private to root; so may
    # TMPDIR be): the child, as nobody, must reach the file to be refused reading it.
    directory = tempfile.mkdtemp(prefix="netcup-unreadable-", dir="/tmp" if os.path.isdir("/tmp") else None)
    try:
        path = box.sandbox.write_credentials(os.path.join(directory, "private.ini"))
        message = unreadable_file_error(path)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    assert "PluginError" in message or os.geteuid() != 0
    assert "cannot be read" in message and "chmod 600" in message
    assert_no_secret([message], secrets_of(box.sandbox))


def test_empty_credentials_file(box: Box, tmp_path: Path) -> None:
    path = write_file(str(tmp_path / "empty.ini"), "\n  \n")
    box.rejects(box.run([CCP_ZONE], path), "is empty", "dns_netcup_api_key", "dns_netcup_api_v1_key")


def test_credentials_file_without_netcup_keys(box: Box, tmp_path: Path) -> None:
    path = write_file(str(tmp_path / "other.ini"), "# a comment\ndns_cloudflare_api_token = abc\n")
    box.rejects(box.run([CCP_ZONE], path), "holds no netcup credentials", "dns_netcup_customer_id")


def test_credentials_file_that_is_not_ini_names_the_line_not_its_content(box: Box, tmp_path: Path) -> None:
    secret_line = "dns_netcup_api_password oops-no-equals-sign-secret"
    path = write_file(str(tmp_path / "broken.ini"), f"dns_netcup_customer_id = 12345\n{secret_line}\n")
    message = box.rejects(box.run([CCP_ZONE], path), "not a valid INI file", "line 2")
    assert "oops-no-equals-sign-secret" not in message + box.caplog.text


def test_world_readable_credentials_get_certbots_warning_and_still_work(box: Box) -> None:
    path = box.sandbox.write_credentials()
    os.chmod(path, 0o644)
    run = box.run([CCP_ZONE], path, propagation_seconds=WAIT_BOUND)
    box.succeeded_at(run, f"_acme-challenge.{CCP_ZONE}")
    warnings = [r.getMessage() for r in box.caplog.records if r.levelno == logging.WARNING]
    assert any("Unsafe permissions" in w and path in w for w in warnings), warnings


@pytest.mark.parametrize("missing", ["dns_netcup_customer_id", "dns_netcup_api_key", "dns_netcup_api_password"])
def test_partial_ccp_credentials_name_the_missing_key(box: Box, missing: str) -> None:
    path = box.sandbox.write_credentials(rest=False, **{missing: None})  # type: ignore[arg-type]
    message = box.rejects(box.run([CCP_ZONE], path), "incomplete set of CCP API credentials", missing)
    assert box.sandbox.ccp_api.log.count() == 0
    assert "dns_netcup_api_v1_key" in message  # the other way out: a REST key alone


def test_customer_number_that_is_not_a_number(box: Box) -> None:
    path = box.sandbox.write_credentials(rest=False, dns_netcup_customer_id="K12345")
    box.rejects(box.run([CCP_ZONE], path), "dns_netcup_customer_id", "digits only")


def test_api_url_that_is_not_a_url(box: Box) -> None:
    path = box.sandbox.write_credentials(dns_netcup_api_v1_url="api.netcup.com/v1")
    box.rejects(box.run([REST_ZONE], path), "dns_netcup_api_v1_url", "https://")


WRONG_VALUES = {
    "dns_netcup_customer_id": "99999",
    "dns_netcup_api_key": "WrongCcpApiKey" + "w" * 36,
    "dns_netcup_api_password": "wrong-api-password-value",
}


@pytest.mark.parametrize("key", sorted(WRONG_VALUES))
def test_wrong_ccp_credentials_are_rejected_naming_the_keys(box: Box, key: str) -> None:
    wrong = WRONG_VALUES[key]
    path = box.sandbox.write_credentials(rest=False, **{key: wrong})  # type: ignore[arg-type]
    extra = () if key == "dns_netcup_customer_id" else (wrong,)
    box.rejects(
        box.run([CCP_ZONE], path),
        "rejected the login",
        "dns_netcup_customer_id",
        "dns_netcup_api_key",
        "dns_netcup_api_password",
        extra_secrets=extra,
    )
    assert box.sandbox.ccp_api.log.count("login") == 1  # a rejected login is not retried


def test_wrong_rest_key_is_rejected_naming_the_key(box: Box) -> None:
    wrong = "WrongRestKey" + "k" * 52
    path = box.sandbox.write_credentials(ccp=False, dns_netcup_api_v1_key=wrong)
    box.rejects(box.run([REST_ZONE], path), "rejected the API key", "dns_netcup_api_v1_key", extra_secrets=(wrong,))


# ----- domains and zones -------------------------------------------------------------------------------
def test_domain_not_in_the_account(box: Box) -> None:
    box.rejects(box.run(["www.not-mine.test"]), "No zone of your netcup account holds", "--dns-netcup-zone-name")


def test_domain_whose_dns_is_hosted_elsewhere(box: Box) -> None:
    run = box.run(["external.test"], propagation_seconds=WAIT_BOUND, nameservers=None)
    box.rejects(run, "not served by netcup", "ns1.elsewhere.test", "root-dns.netcup.net")


def test_legacy_zone_with_only_a_rest_key_asks_for_the_ccp_keys(box: Box) -> None:
    path = box.sandbox.write_credentials(ccp=False)
    box.rejects(box.run([CCP_ZONE], path), "legacy DNS platform", "dns_netcup_customer_id", "dns_netcup_api_password")


def test_new_platform_zone_with_only_ccp_keys_asks_for_the_rest_key(box: Box) -> None:
    path = box.sandbox.write_credentials(rest=False)
    box.rejects(box.run([REST_ZONE], path), "dns_netcup_api_v1_key")


def test_zone_name_option_that_does_not_hold_the_name(box: Box) -> None:
    box.rejects(box.run(["www.example.test"], zone_name="second.test"), "--dns-netcup-zone-name", "not inside")


def test_a_name_dns_cannot_carry(box: Box) -> None:
    box.rejects(box.run([f"{'a' * 64}.example.test"]), "is not a valid domain name")


@pytest.mark.parametrize(
    "domain",
    ["münchen.test", "*.münchen.test", IDN_ZONE, "www.MÜNCHEN.test"],
    ids=["unicode", "unicode-wildcard", "punycode", "unicode-upper-case"],
)
def test_idn_names_are_published_in_punycode(box: Box, domain: str) -> None:
    run = box.run([domain], propagation_seconds=WAIT_BOUND)
    base = domain.removeprefix("*.").lower().replace("münchen.test", IDN_ZONE)
    box.succeeded_at(run, f"_acme-challenge.{base}")


@pytest.mark.parametrize("domain", ["EXAMPLE.TEST", "Www.Example.Test", "example.test.", "*.Example.Test."])
def test_upper_case_and_trailing_dots_are_normalized(box: Box, domain: str) -> None:
    run = box.run([domain], propagation_seconds=WAIT_BOUND)
    base = domain.removeprefix("*.").lower().rstrip(".")
    box.succeeded_at(run, f"_acme-challenge.{base}")


# ----- options -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "option, names",
    [
        ("192.0.2.1:99999", "99999"),
        ("[::1", "missing ']'"),
        ("ns1 example test", "neither an IP address nor a host name"),
        ("ns1.example.test,,ns2.example.test", "empty entry"),
        ("ns1.example.test:dns", "'dns'"),
        ("[::1]x", "':port'"),
        ("no-such-host.elsewhere.test", "no-such-host.elsewhere.test"),
    ],
    ids=[
        "port-out-of-range",
        "unclosed-bracket",
        "spaces",
        "empty-entry",
        "port-not-a-number",
        "junk-after-bracket",
        "host-without-address",
    ],
)
def test_malformed_nameservers_option(box: Box, option: str, names: str) -> None:
    run = box.run([CCP_ZONE], propagation_seconds=WAIT_BOUND, nameservers=option)
    message = box.rejects(run, "--dns-netcup-nameservers", names)
    if "host-without" not in names and "no-such-host" not in option:
        assert "accepted forms" in message
    assert box.sandbox.ccp_api.log.count("updateDnsRecords") == 0


@pytest.mark.parametrize("seconds", [-1, -1200, 86401, 10**9])
def test_negative_or_absurd_propagation_seconds(box: Box, seconds: int) -> None:
    run = box.run([CCP_ZONE], propagation_seconds=seconds)
    box.rejects(run, "--dns-netcup-propagation-seconds", str(seconds), "86400")
    assert box.sandbox.ccp_api.log.count() == 0


@pytest.mark.parametrize("retries", [-1, 1000])
def test_absurd_login_retries(box: Box, retries: int) -> None:
    box.rejects(box.run([CCP_ZONE], login_retries=retries), "--dns-netcup-login-retries", str(retries))
