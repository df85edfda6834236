"""Run the real ``certbot`` command against a local ACME server, in its own directories.

Certbot runs as a subprocess exactly as a user would run it; only its state
directories are private to the run, and ``REQUESTS_CA_BUNDLE`` makes it (and the
plugin's HTTP calls, which go through ``requests`` too) trust the local test CAs.

With ``resolv_conf``, Certbot runs in a private mount namespace in which that file is
bind-mounted over /etc/resolv.conf: the plugin's own DNS lookups (CNAMEs, NS sets,
nameserver addresses) then go to the sandbox's resolver as they would go to the
host's in real use, without any test-only option, and nothing leaves loopback.

Where this runs (``private_resolv_conf_unavailable`` says why not, and the test
modules skip with that reason):
- as root: ``unshare --mount`` and a bind mount; the sandbox binds port 53 on 127.A.B.x;
- unprivileged: ``unshare --user --map-root-user --mount`` (Certbot is root only inside
  its own user namespace), where the kernel allows unprivileged user namespaces with
  mounts, and only where this user may bind port 53 on loopback (CAP_NET_BIND_SERVICE, or
  ``net.ipv4.ip_unprivileged_port_start`` <= 53, as in Docker's default): resolv.conf
  cannot name a port, so the sandbox's resolver must listen on 53;
- anywhere else: nowhere (skipped), since Certbot would ask the host's resolvers.
"""

from __future__ import annotations

import functools
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

CERTBOT_TIMEOUT = 240.0
UNSHARE = "unshare"


class PrivateResolvConfUnavailable(RuntimeError):
    """Running a command with its own /etc/resolv.conf is not possible here (see the message)."""


_BIND_SCRIPT = 'mount --bind "$0" /etc/resolv.conf && exec "$@"'


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _namespace_prefix() -> list[str]:
    """How to enter a private mount namespace: directly as root, else inside a new user namespace."""
    return [UNSHARE, "--mount"] if _is_root() else [UNSHARE, "--user", "--map-root-user", "--mount"]


@functools.cache
def _namespace_unavailable() -> Optional[str]:
    """Why a file cannot be bind-mounted over /etc/resolv.conf in a private namespace here, or None (tried)."""
    with tempfile.TemporaryDirectory(prefix="netcup-namespace-probe-") as directory:
        probe = Path(directory) / "resolv.conf"
        probe.write_text("nameserver 127.0.0.1 # netcup-userns-probe\n", encoding="ascii")
        command = [*_namespace_prefix(), "sh", "-c", _BIND_SCRIPT, str(probe), "cat", "/etc/resolv.conf"]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.SubprocessError) as error:
            return f"{' '.join(_namespace_prefix())} cannot run here ({error})"
    if done.returncode != 0 or "netcup-userns-probe" not in done.stdout:
        detail = " ".join(done.stderr.split())[:200] or f"exit status {done.returncode}"
        needs = "CAP_SYS_ADMIN" if _is_root() else "root, or unprivileged user namespaces with mounts"
        return f"a private /etc/resolv.conf needs {needs} ({' '.join(_namespace_prefix())} failed here: {detail})"
    return None


@functools.cache
def port53_unavailable() -> Optional[str]:
    """Why the sandbox cannot bind its DNS servers on port 53 of loopback addresses here, or None."""
    if _is_root():
        return None
    address = f"127.{random.randint(2, 254)}.{random.randint(0, 255)}.{random.randint(2, 254)}"
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as probe:
            try:
                probe.bind((address, 53))
            except PermissionError:
                return (
                    "the sandbox's resolver must listen on port 53 (resolv.conf names no port), which needs root, "
                    "CAP_NET_BIND_SERVICE or net.ipv4.ip_unprivileged_port_start <= 53"
                )
            except OSError as error:
                return f"cannot bind port 53 on {address}: {error}"
    return None


def private_resolv_conf_unavailable() -> Optional[str]:
    """Why a command cannot get its own /etc/resolv.conf naming a sandbox resolver here, or None.

    Needs util-linux's ``unshare``; root, or an unprivileged user namespace allowing mounts;
    and port 53 on loopback for the sandbox's resolver (see the module's docstring).
    """
    if shutil.which(UNSHARE) is None:
        return f"a private /etc/resolv.conf needs the '{UNSHARE}' command (util-linux)"
    return port53_unavailable() or _namespace_unavailable()


def with_private_resolv_conf(command: Sequence[str], resolv_conf: str) -> list[str]:
    """``command`` wrapped to run in a new mount namespace where ``resolv_conf`` is /etc/resolv.conf.

    As root a mount namespace; otherwise a user namespace (mapping this user to root inside it)
    with its own mount namespace.  unshare makes the namespace's mounts private, so the bind mount
    never shows outside it; it ends with the command.  unshare and sh exec the command (no fork),
    so a signal sent to the process reaches the command itself.  The file and the command reach
    the shell as positional arguments, so nothing in them needs quoting.
    Raises ``PrivateResolvConfUnavailable`` when this is not possible here.
    """
    reason = private_resolv_conf_unavailable()
    if reason is not None:
        raise PrivateResolvConfUnavailable(reason)
    return [*_namespace_prefix(), "sh", "-c", _BIND_SCRIPT, str(Path(resolv_conf).resolve()), *command]


def write_resolv_conf(path: Path, nameserver: str) -> Path:
    """A resolv.conf that sends every lookup to ``nameserver`` (an IP address; port 53 only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"nameserver {nameserver}\n", encoding="ascii")
    return path


def certbot_executable() -> Path:
    """The ``certbot`` script installed next to the running interpreter (same virtualenv)."""
    return Path(sys.executable).parent / "certbot"


def write_ca_bundle(path: Path, pem_files: Iterable[Path]) -> Path:
    """Concatenate PEM files into one bundle for ``REQUESTS_CA_BUNDLE``."""
    parts = [Path(pem).read_text(encoding="ascii").strip() + "\n" for pem in pem_files]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(parts), encoding="ascii")
    return path


@dataclass
class CertbotResult:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    elapsed: float  # seconds the whole certbot process took
    config_dir: Path
    cert_name: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def live_dir(self) -> Path:
        return self.config_dir / "live" / self.cert_name

    @property
    def cert_path(self) -> Path:
        return self.live_dir / "cert.pem"

    @property
    def chain_path(self) -> Path:
        return self.live_dir / "chain.pem"

    @property
    def fullchain_path(self) -> Path:
        return self.live_dir / "fullchain.pem"

    @property
    def privkey_path(self) -> Path:
        return self.live_dir / "privkey.pem"

    @property
    def renewal_config_path(self) -> Path:
        return self.config_dir / "renewal" / f"{self.cert_name}.conf"

    def describe(self) -> str:
        """Everything useful for an assertion message when a run did not go as expected."""
        return f"$ {' '.join(self.args)}\nexit {self.returncode} after {self.elapsed:.1f} s\n{self.output}"


class CertbotRunner:
    """Runs Certbot with private --config-dir/--work-dir/--logs-dir under ``workdir``.

    ``resolv_conf``: a file Certbot sees as /etc/resolv.conf (see ``with_private_resolv_conf``);
    None runs it with the host's own (never in the tests: see tests/conftest.py).
    """

    def __init__(
        self,
        workdir: Path,
        server: str,
        ca_bundle: Path,
        extra_env: Optional[Mapping[str, str]] = None,
        executable: Optional[Path] = None,
        resolv_conf: Optional[str] = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.server = server
        self.ca_bundle = ca_bundle
        self.extra_env = dict(extra_env or {})
        self.executable = executable or certbot_executable()
        self.resolv_conf = resolv_conf
        self.config_dir = self.workdir / "config"
        self.work_dir = self.workdir / "work"
        self.logs_dir = self.workdir / "logs"

    def common_args(self) -> list[str]:
        return [
            "--config-dir",
            str(self.config_dir),
            "--work-dir",
            str(self.work_dir),
            "--logs-dir",
            str(self.logs_dir),
            "--server",
            self.server,
            "--non-interactive",
            "--agree-tos",
            "--register-unsafely-without-email",
        ]

    def command(self, subcommand: Sequence[str]) -> tuple[list[str], list[str]]:
        """(certbot's own arguments, the command line that runs them, in the private namespace if any)."""
        args = [str(self.executable), *subcommand, *self.common_args()]
        command = args if self.resolv_conf is None else with_private_resolv_conf(args, self.resolv_conf)
        return args, command

    def environment(self) -> dict[str, str]:
        return {**os.environ, "REQUESTS_CA_BUNDLE": str(self.ca_bundle), **self.extra_env}

    def start(self, subcommand: Sequence[str]) -> subprocess.Popen[str]:
        """Start ``certbot <subcommand...> <common args>`` and return at once (stdout and stderr piped).

        The process is Certbot itself (see ``with_private_resolv_conf``): signal it directly.
        """
        _, command = self.command(subcommand)
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.environment(),
        )

    def run(self, subcommand: Sequence[str], cert_name: str = "") -> CertbotResult:
        """Run ``certbot <subcommand...> <common args>``; never raises on a non-zero exit."""
        args, command = self.command(subcommand)
        started = time.monotonic()
        completed = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=self.environment(),
            timeout=CERTBOT_TIMEOUT,
            check=False,
        )
        return CertbotResult(
            args=args,
            returncode=completed.returncode,
            stdout=completed.stdout,
            stderr=completed.stderr,
            elapsed=time.monotonic() - started,
            config_dir=self.config_dir,
            cert_name=cert_name,
        )

    def certonly(
        self,
        domains: Sequence[str],
        plugin_args: Sequence[str],
        cert_name: Optional[str] = None,
    ) -> CertbotResult:
        """``certbot certonly --authenticator dns-netcup`` for ``domains`` (first one names the lineage)."""
        name = cert_name or domains[0].lstrip("*.")
        return self.run(certonly_subcommand(domains, plugin_args, name), cert_name=name)

    def renew(self, cert_name: str, extra: Sequence[str] = ()) -> CertbotResult:
        """``certbot renew --force-renewal`` of one lineage, from its saved renewal config."""
        subcommand = ["renew", "--force-renewal", "--no-random-sleep-on-renew", "--cert-name", cert_name, *extra]
        return self.run(subcommand, cert_name=cert_name)

    def log_text(self) -> str:
        """Certbot's own debug log (letsencrypt.log) of the latest run."""
        log = self.logs_dir / "letsencrypt.log"
        return log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""


def certonly_subcommand(domains: Sequence[str], plugin_args: Sequence[str], cert_name: str) -> list[str]:
    """``certonly --authenticator dns-netcup --cert-name <cert_name> <plugin_args> -d <domain>...``."""
    subcommand = ["certonly", "--authenticator", "dns-netcup", "--cert-name", cert_name, *plugin_args]
    for domain in domains:
        subcommand += ["-d", domain]
    return subcommand


# ----- reading what was issued --------------------------------------------------
def load_certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(Path(path).read_bytes())


def parse_certificate(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode("ascii"))


def load_certificates(path: Path) -> list[x509.Certificate]:
    """Every certificate of a PEM file such as fullchain.pem, in file order."""
    text = Path(path).read_text(encoding="ascii")
    marker = "-----END CERTIFICATE-----"
    blocks = [block + marker for block in text.split(marker) if "-----BEGIN CERTIFICATE-----" in block]
    return [x509.load_pem_x509_certificate(block.strip().encode("ascii")) for block in blocks]


def subject_alt_names(cert: x509.Certificate) -> set[str]:
    """DNS names of the certificate's subjectAltName extension."""
    extension = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return set(extension.value.get_values_for_type(x509.DNSName))


def verify_signed_by(child: x509.Certificate, parent: x509.Certificate) -> None:
    """Raise unless ``parent`` issued ``child`` (names match and the signature checks out).

    Done by hand rather than with ``verify_directly_issued_by`` so that it also
    works with the old cryptography releases that old Certbot versions pin.
    """
    if child.issuer != parent.subject:
        raise ValueError(f"{child.subject.rfc4514_string()} is not issued by {parent.subject.rfc4514_string()}")
    key = parent.public_key()
    hash_algorithm = child.signature_hash_algorithm
    assert hash_algorithm is not None
    if isinstance(key, rsa.RSAPublicKey):
        key.verify(child.signature, child.tbs_certificate_bytes, padding.PKCS1v15(), hash_algorithm)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(child.signature, child.tbs_certificate_bytes, ec.ECDSA(hash_algorithm))
    else:
        raise ValueError(f"unexpected issuer key type {type(key).__name__}")


def verify_chain(fullchain: Sequence[x509.Certificate], root: x509.Certificate) -> None:
    """Check each certificate's signature by the next one, the last one's by ``root``.

    Raises (cryptography's ``InvalidSignature`` or ``ValueError``) when the chain
    does not lead to ``root``.
    """
    chain = [*fullchain, root]
    for child, parent in zip(chain, chain[1:]):
        verify_signed_by(child, parent)


def private_resolv_conf_marks() -> list[Any]:
    """pytest marks for a module that runs the real Certbot: every Certbot run sees a private
    /etc/resolv.conf naming the sandbox's resolver (tests/conftest.py), so the module needs a
    sandbox on port 53 and is skipped, with the reason, where that is impossible."""
    import pytest

    reason = private_resolv_conf_unavailable()
    return [
        pytest.mark.e2e,
        pytest.mark.timeout(300),
        pytest.mark.skipif(reason is not None, reason=f"Certbot cannot be kept to the sandbox's DNS: {reason}"),
    ]
