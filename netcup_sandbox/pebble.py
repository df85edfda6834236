"""Run the Debian ``pebble`` ACME test server on loopback for end-to-end tests.

``Pebble(workdir, dns_server)`` is a context manager: it makes a TLS certificate
for Pebble's HTTPS listeners, writes its config with free loopback ports, starts
``/usr/bin/pebble`` with its DNS-01 lookups sent to ``dns_server`` and waits until
the ACME directory answers.  Pebble's output goes to ``log_path``: it is the CA's
own account of which validations it ran and when.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Optional

import requests

from netcup_sandbox.https import make_tls_material

PEBBLE_BINARY = Path("/usr/bin/pebble")
LOOPBACK = "127.0.0.1"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
# Pebble's HTTP/TLS-ALPN validation ports are never used (DNS-01 only) but must be set.
_PEBBLE_ENV = {
    "PEBBLE_VA_NOSLEEP": "1",  # validate as soon as the client asks, not after a random 0-15 s
    "PEBBLE_WFE_NONCEREJECT": "0",  # no random badNonce retries: runs stay deterministic
    "PEBBLE_AUTHZREUSE": "0",  # every order needs fresh challenges, so every run really validates
}


# Lines of Pebble's log that tell what the CA did (Pebble 2.x wording).
_VALIDATION_TASK = re.compile(
    r'Pulled a task from the Tasks queue: .*Identifier:acme\.Identifier\{Type:"dns", Value:"([^"]+)"'
)
_ISSUED = re.compile(r"Issued certificate serial ([0-9a-f]+) for order")


class PebbleError(RuntimeError):
    """Pebble could not be started."""


def free_loopback_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


class Pebble:
    """A running Pebble instance; use as ``with Pebble(workdir, "127.0.0.1:5353") as pebble:``."""

    def __init__(self, workdir: Path, dns_server: str, binary: Path = PEBBLE_BINARY) -> None:
        self.workdir = Path(workdir)
        self.dns_server = dns_server
        self.binary = binary
        self.log_path = self.workdir / "pebble.log"
        self.config_path = self.workdir / "pebble-config.json"
        self.ca_bundle = self.workdir / "tls" / "ca.pem"
        self.listen_port = 0
        self.management_port = 0
        self._process: Optional[subprocess.Popen[bytes]] = None
        self._log_file: Optional[IO[bytes]] = None

    # ----- addresses -----------------------------------------------------------
    @property
    def directory_url(self) -> str:
        """ACME directory URL, for Certbot's ``--server``."""
        return f"https://{LOOPBACK}:{self.listen_port}/dir"

    @property
    def management_url(self) -> str:
        return f"https://{LOOPBACK}:{self.management_port}"

    # ----- lifecycle -----------------------------------------------------------
    def __enter__(self) -> Pebble:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.stop()

    def start(self) -> None:
        if not self.binary.exists():
            raise PebbleError(f"{self.binary} is missing: install it with 'apt-get install pebble'")
        self.workdir.mkdir(parents=True, exist_ok=True)
        # The sandbox's certificate maker: its server certificate names localhost and 127.0.0.1 too.
        tls = make_tls_material(str(self.workdir / "tls"))
        cert_path, key_path = Path(tls.cert_path), Path(tls.key_path)
        # A port picked free can be taken by someone else before Pebble binds it;
        # Pebble then exits at once, so retrying with new ports is enough.
        last_error: Optional[PebbleError] = None
        for _ in range(3):
            self._write_config(cert_path, key_path)
            self._spawn()
            try:
                self._wait_until_ready()
                return
            except PebbleError as error:
                last_error = error
                self.stop()
        assert last_error is not None
        raise last_error

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def _write_config(self, cert_path: Path, key_path: Path) -> None:
        self.listen_port = free_loopback_port()
        self.management_port = free_loopback_port()
        config = {
            "pebble": {
                "listenAddress": f"{LOOPBACK}:{self.listen_port}",
                "managementListenAddress": f"{LOOPBACK}:{self.management_port}",
                "certificate": str(cert_path),
                "privateKey": str(key_path),
                "httpPort": free_loopback_port(),
                "tlsPort": free_loopback_port(),
                "ocspResponderURL": "",
                "externalAccountBindingRequired": False,
            }
        }
        self.config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")

    def _spawn(self) -> None:
        self._log_file = self.log_path.open("ab")
        env = {**os.environ, **_PEBBLE_ENV}
        self._process = subprocess.Popen(
            [str(self.binary), "-config", str(self.config_path), "-dnsserver", self.dns_server, "-strict=false"],
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self.workdir,
        )

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                raise PebbleError(f"pebble exited during start-up; see {self.log_path}")
            try:
                response = requests.get(self.directory_url, verify=str(self.ca_bundle), timeout=2)
                if response.ok and "newOrder" in response.json():
                    return
            except requests.RequestException:
                pass  # not listening yet
            time.sleep(0.05)  # poll interval while waiting for the listener, not a settle delay
        raise PebbleError(f"pebble did not answer {self.directory_url} within {START_TIMEOUT:.0f} s")

    # ----- what the CA knows ---------------------------------------------------
    def _management_get(self, path: str) -> str:
        response = requests.get(self.management_url + path, verify=str(self.ca_bundle), timeout=10)
        response.raise_for_status()
        return response.text

    def issuing_root_pem(self) -> str:
        """The root that signs issued certificates (regenerated at every Pebble start)."""
        return self._management_get("/roots/0")

    def issuing_intermediate_pem(self) -> str:
        return self._management_get("/intermediates/0")

    def log_text(self) -> str:
        """Everything Pebble printed so far."""
        if self._log_file is not None:
            self._log_file.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def validated_identifiers(self) -> list[str]:
        """The identifier of every challenge validation Pebble started, in order (wildcards without ``*.``)."""
        return _VALIDATION_TASK.findall(self.log_text())

    def issued_serials(self) -> set[int]:
        """Serial numbers of every certificate Pebble issued."""
        return {int(serial, 16) for serial in _ISSUED.findall(self.log_text())}
