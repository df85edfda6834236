"""Compatibility matrix: the plugin on the Certbot releases that users already have.

Each ``certbot-<version>`` session installs that Certbot with the versions of its
dependencies the matching distribution ships (``constraints/certbot-<version>.txt``)
on that distribution's Python, checks that ``certbot plugins`` lists dns-netcup,
then runs the end-to-end tests against it.  Arguments after ``--`` replace the
default pytest selection, e.g. ``nox -s certbot-2.1 -- -m e2e -x``.

Interpreters come from pyenv when it is there (``pyenv prefix 3.10``), else from
``python3.X`` on PATH.  Other sessions: ``packaging`` (sdist, wheel, twine,
check-manifest, offline install) and ``debian-system`` (Debian's own certbot plus
the .deb built from debian/; needs root and apt).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
CONSTRAINTS = ROOT / "constraints"
# Added after tests/test_e2e.py, which every run names: apex + wildcard issuance on both APIs, and
# renewal from the configs and credentials files older releases wrote (tests/test_e2e_legacy.py).
DEFAULT_PYTEST_ARGS = (str(ROOT / "tests" / "test_e2e_legacy.py"), "-m", "e2e", "-k", "apex_and_wildcard or legacy")
# Certbot 1.x finds its zope.* requirements through pkg_resources, which cannot match a
# distribution whose metadata says "zope_hookable" (what a current setuptools writes when
# it builds one of these from an sdist).  Wheels from PyPI carry the dotted names.
ZOPE_PACKAGES = (
    "zope.interface",
    "zope.component",
    "zope.event",
    "zope.hookable",
    "zope.proxy",
    "zope.deferredimport",
    "zope.deprecation",
)

nox.options.sessions = []  # nothing by default: name the sessions (``nox -s ...`` or ``-t matrix``)
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True


@dataclass(frozen=True)
class MatrixEntry:
    """One Certbot as some installation base ships it."""

    certbot: str  # "1.21", or "latest" for the newest release on the registry
    python: str  # "3.10"
    shipped_by: str  # who ships this combination, for the session's description

    @property
    def session_name(self) -> str:
        return f"certbot-{self.certbot}"

    @property
    def constraints(self) -> Path | None:
        if self.certbot == "latest":
            return None
        return CONSTRAINTS / f"certbot-{self.certbot}.txt"

    @property
    def certbot_requirement(self) -> str:
        return "certbot" if self.certbot == "latest" else f"certbot=={self.certbot}.*"


MATRIX = (
    MatrixEntry("1.12", "3.9", "Debian 11; zope-based plugin discovery"),
    MatrixEntry("1.21", "3.10", "Ubuntu 22.04"),
    MatrixEntry("2.1", "3.11", "Debian 12"),
    MatrixEntry("2.9", "3.12", "Ubuntu 24.04"),
    MatrixEntry("4.0", "3.13", "Debian 13"),
    MatrixEntry("latest", "3.13", "the newest release on PyPI"),
)


def interpreter(version: str) -> str:
    """Absolute path of pyenv's Python ``version`` if pyenv has it, else ``python<version>``."""
    pyenv = shutil.which("pyenv")
    if pyenv:
        found = subprocess.run(  # noqa: S603 - fixed arguments, pyenv from PATH
            [pyenv, "prefix", version], capture_output=True, text=True, check=False
        )
        prefix = found.stdout.strip()
        candidate = Path(prefix, "bin", f"python{version}")
        if found.returncode == 0 and candidate.exists():
            return str(candidate)
    return f"python{version}"


def certbot_plugins(session: nox.Session, certbot: str = "certbot") -> str:
    """Output of ``certbot plugins --text``, with Certbot's state kept out of /etc."""
    state = os.path.join(session.create_tmp(), "certbot-state")
    output = session.run(
        certbot,
        "plugins",
        "--text",
        "--config-dir",
        state,
        "--work-dir",
        state,
        "--logs-dir",
        state,
        silent=True,
        external=True,
    )
    return str(output)


def assert_lists_dns_netcup(session: nox.Session, plugins_output: str) -> None:
    if "* dns-netcup" not in plugins_output.splitlines():
        session.error(f"certbot plugins does not list dns-netcup:\n{plugins_output}")
    session.log("certbot plugins lists dns-netcup")


def install_matrix_entry(session: nox.Session, entry: MatrixEntry) -> None:
    args = ["--prefer-binary", f"--only-binary={','.join(ZOPE_PACKAGES)}"]
    if entry.constraints is not None:
        args += ["-c", str(entry.constraints)]
    else:
        # A reused venv would otherwise keep whatever was newest when it was made.
        args += ["--upgrade", "--upgrade-strategy", "eager"]
    session.install(*args, entry.certbot_requirement, str(ROOT), "-r", str(ROOT / "requirements-test.txt"))


def make_matrix_session(entry: MatrixEntry) -> None:
    def run_entry(session: nox.Session) -> None:
        install_matrix_entry(session, entry)
        session.run("certbot", "--version")
        assert_lists_dns_netcup(session, certbot_plugins(session))
        pytest_args = session.posargs or list(DEFAULT_PYTEST_ARGS)
        session.run(
            "python", "-m", "pytest", "-p", "no:cacheprovider", str(ROOT / "tests" / "test_e2e.py"), *pytest_args
        )

    run_entry.__doc__ = f"Certbot {entry.certbot} on Python {entry.python} ({entry.shipped_by})."
    nox.session(name=entry.session_name, python=interpreter(entry.python), tags=["matrix"])(run_entry)


for _entry in MATRIX:
    make_matrix_session(_entry)


@nox.session(python=interpreter("3.11"), tags=["packaging"])
def packaging(session: nox.Session) -> None:
    """sdist + wheel, twine check, check-manifest, and an offline install of the wheel."""
    session.install("build", "twine", "check-manifest")
    tmp = Path(session.create_tmp())
    dist = tmp / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    session.run("python", "-m", "build", "--outdir", str(dist), str(ROOT))
    artifacts = sorted(str(p) for p in dist.iterdir())
    session.run("twine", "check", "--strict", *artifacts)
    session.run("check-manifest", str(ROOT))
    wheel = next(p for p in dist.iterdir() if p.suffix == ".whl")

    # A venv holding only the wheel's declared dependencies; the wheel itself then has
    # to install with no index at all, and everything in it has to import.
    clean = tmp / "clean-venv"
    shutil.rmtree(clean, ignore_errors=True)
    session.run("python", "-m", "venv", str(clean))
    clean_python = str(clean / "bin" / "python")
    checks = str(ROOT / "scripts" / "packaging_checks.py")
    requires = session.run("python", checks, "requires", str(wheel), silent=True)
    session.run(clean_python, "-m", "pip", "install", "-q", *str(requires).split(), external=True)
    session.run(clean_python, "-m", "pip", "install", "--no-index", "--no-deps", str(wheel), external=True)
    session.run(clean_python, "-m", "pip", "check", external=True)
    session.run(clean_python, checks, "import-all", "certbot_dns_netcup", external=True)
    session.run(str(clean / "bin" / "certbot-dns-netcup"), "--help", silent=True, external=True)
    assert_lists_dns_netcup(session, certbot_plugins(session, str(clean / "bin" / "certbot")))


@nox.session(name="debian-system", python=False, tags=["debian"])
def debian_system(session: nox.Session) -> None:
    """Debian's certbot from apt plus our .deb from debian/; end-to-end with /usr/bin/certbot."""
    if sys.platform != "linux" or not Path("/usr/bin/apt-get").exists():
        session.skip("needs Debian's apt")
    session.run(
        "bash",
        str(ROOT / "scripts" / "debian-system.sh"),
        "--e2e",
        *(session.posargs or DEFAULT_PYTEST_ARGS),
        external=True,
    )


@nox.session(python=interpreter("3.11"), tags=["lint"])
def lint(session: nox.Session) -> None:
    """ruff (lint and format) over the tree, mypy --strict over the package."""
    session.install("ruff", "mypy", "types-requests", str(ROOT))
    session.run("ruff", "check", str(ROOT))
    session.run("ruff", "format", "--check", str(ROOT))
    session.run("mypy", "--config-file", str(ROOT / "pyproject.toml"), str(ROOT / "certbot_dns_netcup"))
