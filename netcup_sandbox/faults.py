"""What tests switch on and read off the API doubles: fault switches, scripted faults, a call log.

Tests flip the plain attributes at run time (a single attribute assignment is
atomic enough for that); the scripted-fault queue and the call log have their
own locks because server threads and the test thread use them at once.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Optional, Union

from netcup_sandbox.https import ApiRequest, ApiResponse


class FaultKind(str, Enum):
    GATEWAY_ERROR = "gateway-error"  # an HTTP error status with nginx's HTML page instead of JSON
    INVALID_JSON = "invalid-json"  # HTTP 200, JSON content type, body cut off mid-object
    RESET = "reset"  # connection closed (RST) without any response
    HANG = "hang"  # request read, never answered until the server stops or hang_seconds pass
    API_ERROR = "api-error"  # a well-formed error answer from the API itself


@dataclass(frozen=True)
class Fault:
    """One scripted fault for the next request that matches its filters (None = any)."""

    kind: FaultKind
    http_status: int = 502  # GATEWAY_ERROR; REST API_ERROR
    hang_seconds: float = 30.0
    # CCP API_ERROR
    statuscode: int = 4013
    shortmessage: str = "Validation Error."
    longmessage: str = ""
    # REST API_ERROR
    error_code: str = "internalServerError"
    message: str = ""
    # RESET/HANG: carry the request out first, then lose its answer (the client cannot know it was done).
    apply_first: bool = False
    # HANG: ends as soon as this is set (see ``release``), else after hang_seconds or at server stop.
    release: Optional[threading.Event] = field(default=None, compare=False)
    # Filters: CCP matches action (+ domain); REST matches method, path prefix (+ domain).
    action: Optional[str] = None
    method: Optional[str] = None
    path_prefix: Optional[str] = None
    domain: Optional[str] = None  # CCP param domainname; REST zone of the domain id or fqdn

    # Constructors; narrow with .only(...), e.g. Fault.reset().only(action="updateDnsRecords").
    @classmethod
    def gateway_error(cls, http_status: int = 502) -> Fault:
        return cls(FaultKind.GATEWAY_ERROR, http_status=http_status)

    @classmethod
    def invalid_json(cls) -> Fault:
        return cls(FaultKind.INVALID_JSON)

    @classmethod
    def reset(cls) -> Fault:
        return cls(FaultKind.RESET)

    @classmethod
    def hang(cls, seconds: float = 30.0, release: Optional[threading.Event] = None) -> Fault:
        """Hold the request unanswered; ``release.set()`` ends the hold (the connection is then dropped)."""
        return cls(FaultKind.HANG, hang_seconds=seconds, release=release)

    @classmethod
    def lost_answer(cls) -> Fault:
        """Carry the request out, then reset the connection: the client retries a change already made."""
        return cls(FaultKind.RESET, apply_first=True)

    def after_applying(self) -> Fault:
        """This RESET or HANG, but the request is carried out first (its answer is what gets lost)."""
        return dataclasses.replace(self, apply_first=True)

    @classmethod
    def ccp_error(cls, statuscode: int, shortmessage: str, longmessage: str) -> Fault:
        return cls(FaultKind.API_ERROR, statuscode=statuscode, shortmessage=shortmessage, longmessage=longmessage)

    @classmethod
    def rest_error(cls, http_status: int, error_code: str, message: str) -> Fault:
        return cls(FaultKind.API_ERROR, http_status=http_status, error_code=error_code, message=message)

    def only(
        self,
        *,
        action: Optional[str] = None,
        method: Optional[str] = None,
        path_prefix: Optional[str] = None,
        domain: Optional[str] = None,
    ) -> Fault:
        """This fault restricted to matching requests."""
        return dataclasses.replace(self, action=action, method=method, path_prefix=path_prefix, domain=domain)

    def matches(
        self,
        action: Optional[str] = None,
        method: Optional[str] = None,
        path: Optional[str] = None,
        domain: Optional[str] = None,
    ) -> bool:
        if self.action is not None and self.action != action:
            return False
        if self.method is not None and self.method.upper() != (method or "").upper():
            return False
        if self.path_prefix is not None and not (path or "").startswith(self.path_prefix):
            return False
        return self.domain is None or self.domain.lower().rstrip(".") == (domain or "").lower().rstrip(".")


class FaultScript:
    """Queue of one-shot faults; each request consumes the first fault that matches it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: deque[Fault] = deque()

    def add(self, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend(faults)

    def take(self, **request: Optional[str]) -> Optional[Fault]:
        with self._lock:
            for fault in self._faults:
                if fault.matches(**request):
                    self._faults.remove(fault)
                    return fault
        return None

    def pending(self) -> int:
        with self._lock:
            return len(self._faults)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()


@dataclass
class CcpFaults:
    session_ttl: float = 900.0  # seconds a session survives without use
    rate_limit_per_minute: int = 180  # successful requests allowed in any sliding 60 s window
    # netcup locks API access after repeated failed requests (how many is not known): after this many
    # failed logins every login, right or wrong, is answered with the lockout text.  0: never.
    lockout_after_failed_logins: int = 0
    # Whether netcup refuses an exact duplicate (same hostname, type, destination) is unknown: by default an
    # identical add is a no-op; True adds another copy with its own id.
    duplicate_adds: bool = False
    refuse_duplicates: bool = False  # True: such an add is refused with a 4013 (the whole call changes nothing)
    script: FaultScript = field(default_factory=FaultScript)


@dataclass
class RestFaults:
    deployed_after: float = 2.0  # seconds an ACME challenge reports "pending" before "deployed"
    script: FaultScript = field(default_factory=FaultScript)


# ----- transport-level faults, the same for both APIs ----------------------------------------------
_GATEWAY_REASONS = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}


def transport_fault_response(fault: Fault, request: ApiRequest) -> Optional[ApiResponse]:
    """The answer to a non-API fault; None means drop the connection without answering."""
    if fault.kind is FaultKind.GATEWAY_ERROR:
        title = f"{fault.http_status} {_GATEWAY_REASONS.get(fault.http_status, 'Error')}"
        page = (
            f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
            "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
        )
        return ApiResponse(fault.http_status, {"Content-Type": "text/html", "Server": "nginx"}, page.encode())
    if fault.kind is FaultKind.INVALID_JSON:
        return ApiResponse(200, {"Content-Type": "application/json"}, b'{"status":"success","result":[{"id":')
    if fault.kind is FaultKind.HANG:
        deadline = time.monotonic() + fault.hang_seconds
        release = fault.release
        while not request.cancelled.is_set() and time.monotonic() < deadline:
            if release is None:
                request.cancelled.wait(deadline - time.monotonic())
            elif release.wait(min(0.05, max(0.0, deadline - time.monotonic()))):
                break
        return None
    if fault.kind is FaultKind.RESET:
        return None
    raise ValueError(f"{fault.kind} is answered by the API itself")


def fault_outcome(fault: Fault) -> Union[int, str]:
    """How a transport fault appears in the call log."""
    return fault.http_status if fault.kind is FaultKind.GATEWAY_ERROR else fault.kind.value


# ----- the call log -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ApiCall:
    """One request as a test or benchmark counts it; never holds credentials or session ids."""

    at: float  # time.monotonic()
    # CCP action ("" if unreadable), or REST "METHOD route" with the route's template,
    # e.g. "POST /v1/domain/{id}/acme/challenge", so calls are easy to count.
    operation: str
    domain: Optional[str]  # CCP domainname, REST fqdn or zone name
    outcome: Union[int, str]  # CCP statuscode, REST HTTP status, or a transport fault's kind / status


class CallLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[ApiCall] = []

    def record(self, operation: str, domain: Optional[str], outcome: Union[int, str]) -> None:
        with self._lock:
            self._calls.append(ApiCall(time.monotonic(), operation, domain, outcome))

    def calls(self, operation: Optional[str] = None) -> list[ApiCall]:
        with self._lock:
            return [c for c in self._calls if operation is None or c.operation == operation]

    def count(self, operation: Optional[str] = None) -> int:
        return len(self.calls(operation))

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()
