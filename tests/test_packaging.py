"""Consistency of the packaging files with each other and with the package version.

The builds themselves (sdist/wheel, .deb, the Certbot matrix) run as nox sessions;
these checks catch the cheap mistakes first: a version bumped in one place only, a
constraints file that pins a different Certbot than its name says, a 1.x entry that
lets a zope.* release in whose metadata Certbot 1.x cannot resolve.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from certbot_dns_netcup._version import __version__

ROOT = Path(__file__).resolve().parent.parent
CONSTRAINT_FILES = sorted((ROOT / "constraints").glob("certbot-*.txt"))


def pins(path: Path) -> dict[str, str]:
    """``name==version`` lines of a constraints file, names lower-cased."""
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)$", line.strip())
        if match:
            found[match.group(1).lower()] = match.group(2)
    return found


def test_debian_changelog_version_is_the_package_version() -> None:
    first_line = (ROOT / "debian" / "changelog").read_text(encoding="utf-8").splitlines()[0]
    match = re.match(r"^certbot-dns-netcup \(([^)]+)\) ", first_line)
    assert match, first_line
    assert match.group(1) == __version__


def test_debian_package_depends_on_debians_certbot_and_libraries() -> None:
    control = (ROOT / "debian" / "control").read_text(encoding="utf-8")
    binary = control.split("\nPackage: python3-certbot-dns-netcup\n", 1)[1]
    depends = binary.split("\nDepends:", 1)[1].split("\nEnhances:", 1)[0]
    for package in ("python3-certbot", "python3-acme", "python3-dnspython", "python3-requests"):
        assert re.search(rf"\b{re.escape(package)}\b", depends), package


def test_snap_uses_certbots_plugin_content_interface() -> None:
    snapcraft = (ROOT / "snap" / "snapcraft.yaml").read_text(encoding="utf-8")
    assert re.search(r"^base: core24$", snapcraft, re.M)
    assert re.search(r"^\s+content: certbot-1$", snapcraft, re.M)
    assert re.search(r"^\s+content: metadata-1$", snapcraft, re.M)
    assert "certbot_dns_netcup/_version.py" in snapcraft  # version comes from the package


def test_there_is_a_constraints_file_per_pinned_matrix_entry() -> None:
    names = {p.name for p in CONSTRAINT_FILES}
    assert names >= {"certbot-1.12.txt", "certbot-1.21.txt", "certbot-2.1.txt", "certbot-2.9.txt", "certbot-4.0.txt"}


@pytest.mark.parametrize("path", CONSTRAINT_FILES, ids=lambda p: p.name)
def test_constraints_pin_the_certbot_and_acme_their_name_says(path: Path) -> None:
    series = path.stem.removeprefix("certbot-")
    pinned = pins(path)
    assert pinned["certbot"].startswith(series + "."), pinned["certbot"]
    assert pinned["acme"] == pinned["certbot"]


@pytest.mark.parametrize("path", [p for p in CONSTRAINT_FILES if p.stem.startswith("certbot-1.")], ids=lambda p: p.name)
def test_certbot_1_entries_keep_zope_below_6(path: Path) -> None:
    zope = {name: version for name, version in pins(path).items() if name.startswith("zope.")}
    assert {"zope.interface", "zope.component", "zope.hookable", "zope.proxy", "zope.event"} <= set(zope)
    assert all(int(version.split(".")[0]) < 6 for version in zope.values()), zope
