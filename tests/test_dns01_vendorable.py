"""The dns01 package works on its own: copied unchanged into another package, it probes and waits.

Run in a subprocess so that ``sys.modules`` shows exactly what the copy pulls in.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parent.parent
DNS01 = ROOT / "certbot_dns_netcup" / "_internal" / "dns01"

SCRIPT = """
import json
import sys

from other_plugin.dns01 import authority, propagation
from other_plugin.dns01.nameservers import Nameserver
from netcup_sandbox.dns_server import AuthoritativeServer
from netcup_sandbox.state import NetcupState

state = NetcupState()
state.add_zone("example.test")
good = AuthoritativeServer(state, "ns1.provider.test", "127.0.0.1", lag=0.3).start()
lame = AuthoritativeServer(state, "ns2.provider.test", "127.0.0.1", mode="refused").start()
try:
    servers = {"example.test": [Nameserver(s.name, s.address, s.port) for s in (good, lame)]}
    report = authority.probe_authority(servers, timeout=0.5)
    report.check("Fix it at the provider.")
    state.add_record("example.test", "_acme-challenge", "TXT", "the-value")
    messages = []
    result = propagation.wait_for_propagation(
        [propagation.ExpectedRecord("example.test", "_acme-challenge.example.test", "the-value")],
        servers,
        30,
        messages.append,
        step=0.1,
        query_timeout=0.5,
        authority=report,
    )
finally:
    good.stop()
    lame.stop()
print(json.dumps({
    "standings": [e.standing.value for e in report.entries],
    "ready": [server.host for _zone, server in result.ready_after],
    "lame": [server.host for _zone, server in result.lame],
    "lame_txt_queries": len(lame.log.matching(qtype="TXT")),
    "messages": messages,
    "modules": sorted(sys.modules),
}))
"""


def test_a_copy_of_dns01_probes_and_waits_without_the_rest_of_the_plugin(tmp_path: Path) -> None:
    vendor = tmp_path / "vendor" / "other_plugin"
    vendor.mkdir(parents=True)
    (vendor / "__init__.py").write_text("")
    shutil.copytree(DNS01, vendor / "dns01", ignore=shutil.ignore_patterns("__pycache__"))
    # The copy first on the path; the repository only for the sandbox's DNS servers.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "vendor"), str(ROOT)])}

    run = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=100
    )

    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert [m for m in out["modules"] if m.startswith(("certbot", "acme", "josepy"))] == []
    assert "other_plugin.dns01.propagation" in out["modules"]
    assert out["standings"] == ["authoritative", "lame"]
    assert out["ready"] == ["ns1.provider.test"]
    assert out["lame"] == ["ns2.provider.test"] and out["lame_txt_queries"] == 0
    assert any("ns2.provider.test" in m and "REFUSED" in m for m in out["messages"])


def test_dns01_names_no_provider() -> None:
    for path in sorted(DNS01.glob("*.py")):
        assert "netcup" not in path.read_text(encoding="utf-8").lower(), f"{path.name} mentions netcup"
