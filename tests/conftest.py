"""Shared fixtures for end-to-end tests: a Pebble CA and a Certbot runner, one per test module.

Both use the module's own ``sandbox`` fixture (a started ``netcup_sandbox.sandbox.Sandbox``),
which each end-to-end module defines with the zones it needs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from netcup_sandbox.certbot_runner import CertbotRunner, write_ca_bundle
from netcup_sandbox.pebble import Pebble
from netcup_sandbox.sandbox import Sandbox


@pytest.fixture(scope="module")
def pebble(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    """Pebble validating DNS-01 through the sandbox's CA resolver (the CA's vantage points)."""
    with Pebble(tmp_path_factory.mktemp("pebble"), sandbox.ca_resolver_option) as ca:
        yield ca


@pytest.fixture(scope="module")
def certbot(pebble: Pebble, sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> CertbotRunner:
    """Runs real Certbot against ``pebble``; its config dir (accounts, lineages) lives for the module."""
    workdir = tmp_path_factory.mktemp("certbot")
    # Certbot talks to Pebble and the plugin to the API doubles, both through requests.
    bundle = write_ca_bundle(workdir / "ca-bundle.pem", [pebble.ca_bundle, Path(sandbox.ca_bundle)])
    return CertbotRunner(workdir, pebble.directory_url, bundle)
