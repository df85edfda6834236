"""Loopback HTTP(S) servers for the API doubles, and the TLS material they present.

The server knows nothing about netcup: it turns each HTTP request into an
``ApiRequest``, hands it to an app (``handle(request) -> ApiResponse | None``)
and writes the answer back.  ``None`` means the app wants the connection
dropped without an answer (a simulated reset, or the end of a simulated hang).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
import ssl
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional, Protocol
from urllib.parse import parse_qsl, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

API_HOSTNAMES = ("ccp.netcup.net", "api.netcup.com", "localhost")
DEFAULT_IPS = ("127.0.0.1", "::1")
# Idle keep-alive connections are closed after this, so handler threads do not pile up.
CONNECTION_IDLE_TIMEOUT = 60.0


# ----- TLS material ------------------------------------------------------------------------------
@dataclass(frozen=True)
class TlsMaterial:
    ca_path: str
    cert_path: str
    key_path: str

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_path, self.key_path)
        return context


def make_tls_material(directory: str, extra_ips: Sequence[str] = ()) -> TlsMaterial:
    """A CA and a server certificate for the API host names; existing files in ``directory`` are reused."""
    material = TlsMaterial(
        ca_path=os.path.join(directory, "ca.pem"),
        cert_path=os.path.join(directory, "server.pem"),
        key_path=os.path.join(directory, "server-key.pem"),
    )
    if all(os.path.exists(p) for p in (material.ca_path, material.cert_path, material.key_path)):
        return material
    os.makedirs(directory, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    # Backdated a day so that small clock differences never make the certificate "not yet valid".
    not_before, not_after = now - datetime.timedelta(days=1), now + datetime.timedelta(days=365)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "netcup sandbox test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    server_key = ec.generate_private_key(ec.SECP256R1())
    ips = list(dict.fromkeys([*DEFAULT_IPS, *extra_ips]))
    san = [x509.DNSName(name) for name in API_HOSTNAMES] + [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, API_HOSTNAMES[0])]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    _write(
        material.key_path,
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )
    _write(material.cert_path, server_cert.public_bytes(serialization.Encoding.PEM))
    # The CA file is written last: its presence marks a complete set for the reuse check above.
    _write(material.ca_path, ca_cert.public_bytes(serialization.Encoding.PEM))
    return material


def _write(path: str, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


# ----- requests, responses, apps ------------------------------------------------------------------
@dataclass
class ApiRequest:
    method: str
    path: str  # without the query string, percent-escapes kept
    query: dict[str, str]  # "?JSON" gives {"JSON": ""}
    headers: dict[str, str]  # keys lower case
    body: bytes
    # Set when the server stops: a simulated hang waits on it so that stop() never blocks.
    cancelled: threading.Event = field(default_factory=threading.Event)


@dataclass
class ApiResponse:
    status: int
    headers: dict[str, str]
    body: bytes


class ApiApp(Protocol):
    def handle(self, request: ApiRequest) -> Optional[ApiResponse]: ...


# ----- the server ---------------------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as clients use against the real APIs
    server: _Server

    def setup(self) -> None:
        # The TLS handshake runs here, in the connection's own thread, so a client that
        # never completes it cannot block the accept loop.
        self.request.settimeout(CONNECTION_IDLE_TIMEOUT)
        if self.server.tls_context is not None:
            self.request = self.server.tls_context.wrap_socket(self.request, server_side=True)
        self.server.track(self.request)
        super().setup()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.request)
            # wrap_socket() detached the accepted socket, so socketserver's own close of it
            # is a no-op: close the TLS socket here.
            self.request.close()

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (OSError, ssl.SSLError):
            self.close_connection = True

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        parts = urlsplit(self.path)
        request = ApiRequest(
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            cancelled=self.server.stopping,
        )
        response = self.server.app.handle(request)
        if response is None:
            self._drop_connection()
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if response.body and self.command != "HEAD":
            self.wfile.write(response.body)

    def _drop_connection(self) -> None:
        # SO_LINGER 0: the close sends a TCP RST, like a proxy that kills the connection.
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _dispatch

    def log_message(self, format: str, *args: object) -> None:
        # Silence the default stderr access log: request lines can carry secrets in paths/queries.
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], app: ApiApp, tls_context: Optional[ssl.SSLContext]) -> None:
        self.app = app
        self.tls_context = tls_context
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, conn: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(conn)

    def untrack(self, conn: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(conn)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections, self._connections = list(self._connections), set()
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                conn.close()
            except OSError:
                pass

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients that vanish mid-request are part of the tests' life; no tracebacks on stderr.
        pass


class _Server6(_Server):
    address_family = socket.AF_INET6


class ApiServer:
    """``app`` served over HTTP(S) on ``host``:``port`` (port 0: ephemeral) from a background thread."""

    def __init__(self, app: ApiApp, host: str = "127.0.0.1", port: int = 0, tls: Optional[TlsMaterial] = None) -> None:
        self.app = app
        self.host = host
        self.tls = tls
        self._requested_port = port
        self._server: Optional[_Server] = None
        self._port = 0
        self._thread: Optional[threading.Thread] = None

    def start(self) -> ApiServer:
        server_class = _Server6 if ":" in self.host else _Server
        context = self.tls.server_context() if self.tls is not None else None
        self._server = server_class((self.host, self._requested_port), self.app, context)
        self._port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"ApiServer {self.url}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.stopping.set()  # ends simulated hangs
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("server not started")
        return self._port

    @property
    def url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
