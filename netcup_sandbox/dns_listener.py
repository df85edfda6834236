"""UDP + TCP transport shared by the sandbox's DNS servers, and their query log.

A ``DnsListener`` owns one UDP and one TCP socket on the same address and port,
parses queries with dnspython, hands them to a handler and writes the handler's
answer back.  The handler decides everything about the content; this module only
knows the wire: DNS-over-TCP length prefixes, UDP size limits, and stopping fast.
"""

from __future__ import annotations

import errno
import logging
import selectors
import socket
import struct
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, NamedTuple, Optional, TypeVar

import dns.exception
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype
import dns.rrset

# handler(query, transport) -> response, or None to drop the query without answering.
Handler = Callable[[dns.message.Message, str], Optional[dns.message.Message]]
_Self = TypeVar("_Self", bound="ListeningServer")

_logger = logging.getLogger(__name__)

DROPPED = "DROPPED"  # rcode text logged for a query the handler chose not to answer
TCP_REFUSED = "TCP REFUSED"  # rcode text logged for a TCP connection closed unread (qname and qtype empty)
_POLL_SECONDS = 0.05  # how long a loop waits before checking for stop(): bounds stop()'s latency
_TCP_IDLE_SECONDS = 10.0


class QueryLogEntry(NamedTuple):
    time: float  # time.monotonic() when the answer was sent (or the query dropped)
    qname: str  # lower case, no trailing dot
    qtype: str  # e.g. "TXT"
    transport: str  # "udp" or "tcp"
    rcode: str  # e.g. "NOERROR", "NXDOMAIN", or DROPPED
    txt_values: tuple[str, ...]  # every TXT value in the answer section, chunks joined
    # The UDP payload size the query's EDNS OPT record advertised; None when it carried no OPT record.
    edns_payload: Optional[int] = None


class QueryLog:
    """Thread-safe list of the queries a server received."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[QueryLogEntry] = []

    def add(self, entry: QueryLogEntry) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[QueryLogEntry]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def matching(
        self, qname: Optional[str] = None, qtype: Optional[str] = None, since: Optional[float] = None
    ) -> list[QueryLogEntry]:
        """Entries for ``qname``/``qtype`` (any when None) logged at or after ``since``."""
        name = None if qname is None else qname.lower().rstrip(".")
        kind = None if qtype is None else qtype.upper()
        return [
            e
            for e in self.entries()
            if (name is None or e.qname == name)
            and (kind is None or e.qtype == kind)
            and (since is None or e.time >= since)
        ]

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


def txt_strings(rrsets: Iterable[dns.rrset.RRset]) -> tuple[str, ...]:
    """Every TXT value in ``rrsets``, with a record's character-strings joined back into one value."""
    values = []
    for rrset in rrsets:
        if rrset.rdtype == dns.rdatatype.TXT:
            for rdata in rrset:
                values.append(b"".join(rdata.strings).decode("utf-8", "replace"))
    return tuple(values)


def bind_udp_and_tcp(host: str, port: int) -> tuple[socket.socket, socket.socket]:
    """A UDP and a TCP socket bound to the same ``host``:``port``; port 0 finds one free for both."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    attempts = 1 if port else 50
    for attempt in range(attempts):
        udp = socket.socket(family, socket.SOCK_DGRAM)
        tcp = socket.socket(family, socket.SOCK_STREAM)
        try:
            udp.bind((host, port))
            chosen = udp.getsockname()[1]
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart while old connections linger
            tcp.bind((host, chosen))
            tcp.listen(64)
            return udp, tcp
        except OSError as error:
            udp.close()
            tcp.close()
            # With port 0 the kernel's free UDP port may be taken for TCP: try another one.
            if port or error.errno != errno.EADDRINUSE or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


class DnsListener:
    """Serves ``handler`` over UDP and TCP on one address and port, each query in a worker thread."""

    def __init__(
        self,
        handler: Handler,
        host: str,
        port: int = 0,
        log: Optional[QueryLog] = None,
        accepts_tcp: Callable[[], bool] = lambda: True,
    ) -> None:
        self._handler = handler
        self._accepts_tcp = accepts_tcp  # asked per connection: a server's mode may change at run time
        self.log = log if log is not None else QueryLog()
        self._udp, self._tcp = bind_udp_and_tcp(host, port)
        self.address: str = host
        self.port: int = self._udp.getsockname()[1]
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        # Workers, so that one slow answer (a resolver waiting on a silent server) does not stall the rest.
        self._workers = ThreadPoolExecutor(max_workers=16, thread_name_prefix=f"dns-{host}-{self.port}")

    def start(self) -> None:
        for target in (self._serve_udp, self._serve_tcp):
            thread = threading.Thread(target=target, name=f"dns-{self.address}-{self.port}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stopping.set()
        with self._connections_lock:
            for connection in self._connections:
                _close_quietly(connection)
        for thread in self._threads:
            thread.join(timeout=1.0)
        self._workers.shutdown(wait=False, cancel_futures=True)
        _close_quietly(self._udp)
        _close_quietly(self._tcp)

    # ----- UDP -------------------------------------------------------------
    def _serve_udp(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._udp, selectors.EVENT_READ)
            while not self._stopping.is_set():
                if not selector.select(_POLL_SECONDS):
                    continue
                try:
                    wire, peer = self._udp.recvfrom(65535)
                except OSError:
                    continue
                self._submit(self._answer_udp, wire, peer)

    def _answer_udp(self, wire: bytes, peer: tuple) -> None:
        query = _parse(wire)
        if query is None:
            return
        response = self._respond(query, "udp")
        if response is None:
            return
        limit = max(512, query.payload if query.edns >= 0 else 512)
        try:
            out = response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            # Too big for UDP: tell the client to retry over TCP, as a real server would.
            response.answer, response.authority, response.additional = [], [], []
            response.flags |= dns.flags.TC
            out = response.to_wire(max_size=limit)
        try:
            self._udp.sendto(out, peer)
        except OSError:
            pass  # socket closed by stop()

    # ----- TCP -------------------------------------------------------------
    def _serve_tcp(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._tcp, selectors.EVENT_READ)
            while not self._stopping.is_set():
                if not selector.select(_POLL_SECONDS):
                    continue
                try:
                    connection, _peer = self._tcp.accept()
                except OSError:
                    continue
                if not self._accepts_tcp():
                    # Reset at once, unread, like a firewall rejecting port 53/tcp: the client sees an error.
                    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    _close_quietly(connection)
                    self.log.add(QueryLogEntry(time.monotonic(), "", "", "tcp", TCP_REFUSED, ()))
                    continue
                with self._connections_lock:
                    self._connections.add(connection)
                # A thread per connection rather than a worker: idle connections must not starve UDP.
                threading.Thread(target=self._serve_connection, args=(connection,), daemon=True).start()

    def _serve_connection(self, connection: socket.socket) -> None:
        connection.settimeout(_POLL_SECONDS)
        idle_since = time.monotonic()
        buffer = b""
        try:
            while not self._stopping.is_set() and time.monotonic() - idle_since < _TCP_IDLE_SECONDS:
                try:
                    chunk = connection.recv(65537)
                except socket.timeout:
                    continue
                if not chunk:
                    return
                idle_since = time.monotonic()
                buffer += chunk
                while len(buffer) >= 2:
                    (length,) = struct.unpack("!H", buffer[:2])
                    if len(buffer) < 2 + length:
                        break
                    wire, buffer = buffer[2 : 2 + length], buffer[2 + length :]
                    query = _parse(wire)
                    response = None if query is None else self._respond(query, "tcp")
                    if response is not None:
                        out = response.to_wire()
                        connection.sendall(struct.pack("!H", len(out)) + out)
        except OSError:
            return
        finally:
            with self._connections_lock:
                self._connections.discard(connection)
            _close_quietly(connection)

    # ----- common ----------------------------------------------------------
    def _submit(self, function: Callable[..., None], *args: object) -> None:
        try:
            self._workers.submit(_logging_errors, function, *args)
        except RuntimeError:
            pass  # executor shut down by stop()

    def _respond(self, query: dns.message.Message, transport: str) -> Optional[dns.message.Message]:
        try:
            response = self._handler(query, transport)
        except Exception:
            # A bug in the handler must show up as SERVFAIL in tests, not as a silent hang.
            response = dns.message.make_response(query)
            response.set_rcode(dns.rcode.SERVFAIL)
        self.log.add(_log_entry(query, transport, response))
        return response


def _logging_errors(function: Callable[..., None], *args: object) -> None:
    """Run ``function``; a failure is logged instead of vanishing inside the worker pool."""
    try:
        function(*args)
    except Exception:
        _logger.exception("sandbox DNS listener failed to answer")


def _parse(wire: bytes) -> Optional[dns.message.Message]:
    try:
        return dns.message.from_wire(wire)
    except Exception:
        return None  # garbage: drop it, like a server that cannot even echo the id


def _log_entry(query: dns.message.Message, transport: str, response: Optional[dns.message.Message]) -> QueryLogEntry:
    if query.question:
        question = query.question[0]
        qname = question.name.to_text(omit_final_dot=True).lower()
        qtype = dns.rdatatype.to_text(question.rdtype)
    else:
        qname, qtype = "", ""
    payload = int(query.payload) if query.edns >= 0 else None
    if response is None:
        return QueryLogEntry(time.monotonic(), qname, qtype, transport, DROPPED, (), payload)
    rcode = dns.rcode.to_text(response.rcode())
    return QueryLogEntry(time.monotonic(), qname, qtype, transport, rcode, txt_strings(response.answer), payload)


def _close_quietly(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass


class ListeningServer:
    """What the sandbox's DNS servers share: a ``DnsListener`` answering through ``_handle``."""

    def __init__(self, host: str, port: int) -> None:
        self._listener = DnsListener(self._handle, host, port, accepts_tcp=self._accepts_tcp)

    def _handle(self, query: dns.message.Message, transport: str) -> Optional[dns.message.Message]:
        raise NotImplementedError

    def _accepts_tcp(self) -> bool:
        """Whether to serve a new TCP connection; False resets it unread."""
        return True

    @property
    def address(self) -> str:
        return self._listener.address

    @property
    def port(self) -> int:
        return self._listener.port

    @property
    def log(self) -> QueryLog:
        """Every query this server received, with what it answered."""
        return self._listener.log

    def start(self: _Self) -> _Self:
        self._listener.start()
        return self

    def stop(self) -> None:
        self._listener.stop()


def rejected(query: dns.message.Message, response: dns.message.Message) -> bool:
    """Set the error rcode a DNS server gives a query it cannot answer at all; True if it did."""
    if query.opcode() != dns.opcode.QUERY:
        response.set_rcode(dns.rcode.NOTIMP)
        return True
    if len(query.question) != 1:
        response.set_rcode(dns.rcode.FORMERR)
        return True
    return False
