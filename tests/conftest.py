"""Shared fixtures: a guard that keeps every test on loopback, and for end-to-end tests a Pebble CA
and a Certbot runner, one per test module.

Both use the module's own ``sandbox`` fixture (a started ``netcup_sandbox.sandbox.Sandbox``),
which each end-to-end module defines with the zones it needs, on port 53 (``port53=True``):
every Certbot run sees a private /etc/resolv.conf naming the sandbox's system resolver, so no
lookup of Certbot's or the plugin's leaves the sandbox.  Where that is impossible the modules
are skipped (``private_resolv_conf_marks``; netcup_sandbox/certbot_runner.py says which runs where).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from netcup_sandbox.certbot_runner import CertbotRunner, write_ca_bundle, write_resolv_conf
from netcup_sandbox.pebble import Pebble
from netcup_sandbox.sandbox import Sandbox
from tests.network_guard import LoopbackOnly


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackOnly]:
    """Every test, in this process: no connection, datagram or name lookup beyond loopback (a test that
    tries fails, naming what it tried).  Subprocesses are kept in by their own means (see ``certbot``)."""
    guard = LoopbackOnly().install(monkeypatch)
    yield guard
    guard.check()


@pytest.fixture(scope="module")
def pebble(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    """Pebble validating DNS-01 through the sandbox's CA resolver (the CA's vantage points)."""
    with Pebble(tmp_path_factory.mktemp("pebble"), sandbox.ca_resolver_option) as ca:
        yield ca


@pytest.fixture(scope="module")
def certbot(pebble: Pebble, sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> CertbotRunner:
    """Runs real Certbot against ``pebble``; its config dir (accounts, lineages) lives for the module.

    Certbot sees only the sandbox's system resolver in /etc/resolv.conf (a private mount namespace).
    """
    if not sandbox.port53:
        pytest.fail("modules that run Certbot need Sandbox(port53=True): resolv.conf cannot name another port")
    workdir = tmp_path_factory.mktemp("certbot")
    # Certbot talks to Pebble and the plugin to the API doubles, both through requests.
    bundle = write_ca_bundle(workdir / "ca-bundle.pem", [pebble.ca_bundle, Path(sandbox.ca_bundle)])
    resolv_conf = write_resolv_conf(workdir / "resolv.conf", sandbox.system_resolver.address)
    return CertbotRunner(workdir, pebble.directory_url, bundle, resolv_conf=str(resolv_conf))
