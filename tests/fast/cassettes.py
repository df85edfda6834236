"""Replaying recorded CCP API exchanges (tests/fixtures/ccp-cassettes) over loopback HTTP.

``load`` reads a vcrpy cassette without PyYAML: the files use a small, regular part of YAML
(block mappings, flow mappings, single-quoted scalars folded over several lines), and only
each request's method, URI and body and each response's status and body are needed.

``Replay`` is a loopback HTTP server that answers each request with the next recorded answer
and notes every request that does not match the recording (method, path, action, and for
every call after the login: the session id the recorded login handed out).  The client under
test talks real HTTP to it, so nothing of the client's transport is bypassed.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlsplit

CASSETTES = Path(__file__).resolve().parent.parent / "fixtures" / "ccp-cassettes"


@dataclass(frozen=True)
class Exchange:
    """One request and netcup's answer to it."""

    action: str  # the request's "action" (the recorder kept nothing else of the body)
    status: int
    body: str  # the response body, as netcup sent it
    method: str = "POST"
    path: str = "/run/webservice/servers/endpoint.php?JSON"
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)

    @property
    def answer(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def ccp_error(action: str, statuscode: int, shortmessage: str, longmessage: str) -> Exchange:
    """An error answer no recording shows, in the recorded envelope's shape (HTTP 200, responsedata "")."""
    envelope = {
        "serverrequestid": "SynthesizedForTheTestsXXXXXX",
        "clientrequestid": "",
        "action": action,
        "status": "error",
        "statuscode": statuscode,
        "shortmessage": shortmessage,
        "longmessage": longmessage,
        "responsedata": "",
    }
    return Exchange(action, 200, json.dumps(envelope, separators=(",", ":")))


def http_answer(action: str, status: int, body: str = "", headers: tuple[tuple[str, str], ...] = ()) -> Exchange:
    """An answer from in front of the API (a gateway error, HTTP 429), to the request with ``action``."""
    return Exchange(action, status, body, headers=headers or (("Content-Type", "text/html"),))


# ----- reading a cassette ---------------------------------------------------------------------------------
_QUOTED_START = re.compile(r"'")


def _single_quoted(text: str, start: int) -> tuple[str, int]:
    """The single-quoted YAML scalar whose opening quote is at ``start``: (value, index after it)."""
    assert text[start] == "'"
    chunks: list[str] = []
    i = start + 1
    while True:
        end = text.index("'", i)
        chunks.append(text[i:end])
        if text.startswith("''", end):  # an escaped quote
            chunks.append("'")
            i = end + 2
            continue
        raw = "".join(chunks)
        return _fold(raw), end + 1


def _fold(raw: str) -> str:
    """YAML line folding of a flow scalar: a line break (with the indentation around it) is a space,
    an empty line a newline."""
    lines = raw.split("\n")
    if len(lines) == 1:
        return raw
    out = lines[0].rstrip(" \t")
    pending_newlines = 0
    for line in lines[1:-1]:
        stripped = line.strip(" \t")
        if not stripped:
            pending_newlines += 1
            continue
        out += ("\n" * pending_newlines if pending_newlines else " ") + stripped
        pending_newlines = 0
    last = lines[-1].lstrip(" \t")
    out += ("\n" * pending_newlines if pending_newlines else " ") + last
    return out


def _value_after(text: str, key: str, start: int) -> tuple[str, int]:
    """The single-quoted value after ``key`` (e.g. ``"body: '"``), searching from ``start``."""
    at = text.index(key, start)
    return _single_quoted(text, at + len(key) - 1)


def load(name: str) -> list[Exchange]:
    """The exchanges of ``tests/fixtures/ccp-cassettes/<name>.yaml``, in recorded order."""
    text = (CASSETTES / f"{name}.yaml").read_text(encoding="utf-8")
    exchanges = []
    for block in text.split("\n- request:\n")[1:]:
        request_body, after_request = _value_after(block, "    body: '", 0)
        method = re.search(r"\n    method: (\S+)\n", block)
        uri = re.search(r"\n    uri: (\S+)\n", block)
        response_at = block.index("\n  response:\n", after_request)
        response_body, after_response = _value_after(block, "body: {string: '", response_at)
        status = re.search(r"status: \{code: (\d+),", block[after_response:])
        assert method and uri and status, f"{name}: unexpected cassette layout"
        parts = urlsplit(uri.group(1))
        exchanges.append(
            Exchange(
                action=json.loads(request_body)["action"],
                status=int(status.group(1)),
                body=response_body,
                method=method.group(1),
                path=f"{parts.path}?{parts.query}" if parts.query else parts.path,
            )
        )
    return exchanges


def cassette_names() -> list[str]:
    return sorted(path.stem for path in CASSETTES.glob("*.yaml"))


# ----- replaying ----------------------------------------------------------------------------------------------
class Replay:
    """Answers requests with ``exchanges`` in order on http://127.0.0.1:<port>; use as a context manager."""

    def __init__(self, exchanges: list[Exchange]) -> None:
        self.pending = list(exchanges)
        self.mismatches: list[str] = []
        self.requests: list[dict[str, Any]] = []  # the JSON bodies received, in order
        self._session: Optional[str] = None  # the id the last replayed login answer handed out
        self._lock = threading.Lock()
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                status, headers, body = replay._answer("POST", self.path, self.rfile.read(length))
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        """The CCP endpoint, as the client's dns_netcup_api_url."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/run/webservice/servers/endpoint.php?JSON"

    def __enter__(self) -> Replay:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def done(self) -> None:
        """Assert that every request matched its recording and every recorded exchange was replayed."""
        assert self.mismatches == [], self.mismatches
        assert self.pending == [], f"not replayed: {[e.action for e in self.pending]}"

    def _answer(self, method: str, path: str, raw: bytes) -> tuple[int, tuple[tuple[str, str], ...], bytes]:
        with self._lock:
            try:
                body = json.loads(raw.decode("utf-8"))
            except ValueError:
                body = None
            self.requests.append(body)
            action = body.get("action") if isinstance(body, dict) else None
            if not self.pending:
                self.mismatches.append(f"unexpected request {action!r}: nothing left to replay")
                return 500, (), b"{}"
            expected = self.pending.pop(0)
            where = f"request #{len(self.requests)} ({expected.action})"
            if (method, path) != (expected.method, expected.path):
                self.mismatches.append(f"{where}: {method} {path}, recorded {expected.method} {expected.path}")
            if action != expected.action:
                self.mismatches.append(f"{where}: action {action!r}, recorded {expected.action!r}")
            param = body.get("param") if isinstance(body, dict) else None
            if not isinstance(param, dict):
                self.mismatches.append(f"{where}: no param object")
            elif action != "login":
                if param.get("apisessionid") != self._session:
                    self.mismatches.append(f"{where}: not the session id of the last login")
                for key in ("customernumber", "apikey"):
                    if not param.get(key):
                        self.mismatches.append(f"{where}: no {key}")
            answer = expected.answer
            if action == "login" and isinstance(answer, dict) and answer.get("status") == "success":
                self._session = answer["responsedata"]["apisessionid"]
            return expected.status, expected.headers, expected.body.encode("utf-8")
