"""Test double of netcup's REST API v1 (``https://api.netcup.com/v1``), the parts DNS-01 clients use.

Every answer uses the envelope ``{"success", "errors", "messages", "meta", "result"}``
(except DELETE's empty 204).  Error codes and messages live in ``_Err`` below.

Choices where netcup's behaviour is unknown:
- ACME challenges on a zone that is not ``isDnsManaged`` (platform "ccp"): HTTP 409, code
  ``dnsNotManaged``.
- An unknown domain id: HTTP 404 ``resourceDoesNotExist``; a non-numeric one: 400 ``validationError``.
- A challenge's ``fqdn`` is the TXT record's full name, ``_acme-challenge.<scope>.<zone>``.
- A challenge stays ``pending`` for ``faults.deployed_after`` seconds after it was created,
  then reports ``deployed`` (the nameservers may still lag: that is the DNS servers' business).
- Unknown paths answer 404 ``notFound``, known paths with another method 405 ``methodNotAllowed``.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from typing import Any, Optional
from urllib.parse import unquote

from netcup_sandbox.faults import CallLog, FaultKind, RestFaults, fault_outcome, transport_fault_response
from netcup_sandbox.https import ApiRequest, ApiResponse
from netcup_sandbox.state import NetcupState, Record, Zone

PER_PAGE = 50
_VALUE_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
_LABEL_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_ROUTES = (
    ("/v1/domain", re.compile(r"^/v1/domain$"), ("GET",)),
    ("/v1/domain/{id}/acme/challenge", re.compile(r"^/v1/domain/(?P<id>[^/]+)/acme/challenge$"), ("POST",)),
    (
        "/v1/domain/{id}/acme/challenge/{scope}/{value}",
        re.compile(r"^/v1/domain/(?P<id>[^/]+)/acme/challenge/(?P<scope>[^/]+)/(?P<value>[^/]+)$"),
        ("GET", "DELETE"),
    ),
)


class _Err:
    AUTH = (400, "authenticationError", "Authentication token is not valid or has expired.")
    NO_RESULTS = (404, "resourceDoesNotExist", "No results found, the page number may be too high.")
    NO_DOMAIN = (404, "resourceDoesNotExist", "The domain does not exist.")
    NO_CHALLENGE = (404, "resourceDoesNotExist", "The ACME challenge does not exist.")
    NOT_MANAGED = (409, "dnsNotManaged", "The DNS zone of this domain is not managed by this API.")
    FQDN = (400, "validationError", "fqdn: This value is not a valid domain name.")
    PAGE = (400, "validationError", "page: This value should be a positive integer.")
    DOMAIN_ID = (400, "validationError", "id: This value should be a positive integer.")
    BODY = (400, "validationError", "The request body must be a JSON object with scope and value.")
    SCOPE = (400, "validationError", "scope: This value must be '@' or a host name relative to the domain.")
    VALUE = (400, "validationError", "value: This value must be a 43 character base64url string.")
    NOT_FOUND = (404, "notFound", "No route found.")
    METHOD = (405, "methodNotAllowed", "Method not allowed.")


class RestError(Exception):
    def __init__(self, http_status: int, code: str, message: str) -> None:
        super().__init__(http_status, code)
        self.http_status = http_status
        self.code = code
        self.message = message


class RestApi:
    def __init__(self, state: NetcupState, faults: RestFaults) -> None:
        self.state = state
        self.faults = faults
        self.log = CallLog()
        self._lock = threading.Lock()
        # (zone, record hostname, value) -> monotonic creation time, for pending/deployed.
        self._created: dict[tuple[str, str, str], float] = {}

    # ----- HTTP entry ---------------------------------------------------------------------------
    def handle(self, request: ApiRequest, scripted: bool = True) -> Optional[ApiResponse]:
        path = request.path.rstrip("/") or "/"
        template, params, methods = _route(path)
        operation = f"{request.method} {template or path}"
        domain = self._domain_name(request, params)

        fault = self.faults.script.take(method=request.method, path=path, domain=domain) if scripted else None
        if fault is not None and fault.kind is not FaultKind.API_ERROR:
            if fault.apply_first:
                self.handle(request, scripted=False)  # carried out and logged as usual; its answer is lost
            self.log.record(operation, domain, fault_outcome(fault))
            return transport_fault_response(fault, request)
        try:
            if fault is not None:
                raise RestError(fault.http_status, fault.error_code, fault.message)
            self._authenticate(request)
            if template is None:
                raise RestError(*_Err.NOT_FOUND)
            if request.method not in methods:
                raise RestError(*_Err.METHOD)
            response = self._dispatch(request, template, params)
        except RestError as e:
            body = {
                "success": False,
                "errors": [{"code": e.code, "message": e.message}],
                "messages": [],
                "meta": None,
                "result": None,
            }
            response = _json(e.http_status, body)
        self.log.record(operation, domain, response.status)
        return response

    def _authenticate(self, request: ApiRequest) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if self.state.rest_key is None or scheme.lower() != "bearer" or token.strip() != self.state.rest_key:
            raise RestError(*_Err.AUTH)

    def _dispatch(self, request: ApiRequest, template: str, params: dict[str, str]) -> ApiResponse:
        if template == "/v1/domain":
            return self._domains(request.query)
        zone = self._zone_by_id(params["id"])
        if template.endswith("/challenge"):
            return self._create_challenge(zone, request.body)
        hostname, value, scope = _challenge_key(params["scope"], params["value"])
        if request.method == "DELETE":
            return self._delete_challenge(zone, hostname, value)
        return self._get_challenge(zone, hostname, value, scope)

    def _domain_name(self, request: ApiRequest, params: dict[str, str]) -> Optional[str]:
        """The domain a request is about, for the call log and fault filters."""
        if "id" in params:
            try:
                return self._zone_by_id(params["id"]).name
            except RestError:
                return None
        fqdn = request.query.get("fqdn")
        return fqdn.lower().rstrip(".") if fqdn else None

    # ----- domains ------------------------------------------------------------------------------
    def _domains(self, query: dict[str, str]) -> ApiResponse:
        with self.state.lock:
            zones = sorted(self.state.zones.values(), key=lambda z: z.rest_id)
        if "fqdn" in query:
            fqdn = query["fqdn"].lower().rstrip(".")
            labels = fqdn.split(".")
            if len(labels) < 2 or not all(_LABEL_RE.match(label) for label in labels):
                raise RestError(*_Err.FQDN)  # includes labels starting with "_"
            zones = [z for z in zones if z.name == fqdn]
            if not zones:
                raise RestError(*_Err.NO_RESULTS)
            page = 1
        else:
            try:
                page = int(query.get("page", "1"))
            except ValueError:
                page = 0
            if page < 1:
                raise RestError(*_Err.PAGE)
        last_page = max(1, math.ceil(len(zones) / PER_PAGE))
        if page > last_page:
            raise RestError(*_Err.NO_RESULTS)
        result = [_domain_json(z) for z in zones[(page - 1) * PER_PAGE : page * PER_PAGE]]
        meta = {"pagination": {"currentPage": page, "lastPage": last_page, "perPage": PER_PAGE, "total": len(zones)}}
        return _json(200, _ok(result, meta))

    def _zone_by_id(self, raw_id: str) -> Zone:
        if not raw_id.isdigit():
            raise RestError(*_Err.DOMAIN_ID)
        with self.state.lock:
            for zone in self.state.zones.values():
                if zone.rest_id == int(raw_id):
                    return zone
        raise RestError(*_Err.NO_DOMAIN)

    # ----- ACME challenges ----------------------------------------------------------------------
    def _create_challenge(self, zone: Zone, body: bytes) -> ApiResponse:
        if zone.platform != "rest":
            raise RestError(*_Err.NOT_MANAGED)
        try:
            payload = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            payload = None
        if not isinstance(payload, dict) or not isinstance(payload.get("scope"), str):
            raise RestError(*_Err.BODY)
        if not isinstance(payload.get("value"), str):
            raise RestError(*_Err.VALUE)
        hostname, value, scope = _challenge_key(payload["scope"], payload["value"])
        key = (zone.name, hostname, value)
        with self.state.lock:
            exists = _find_txt(zone, hostname, value)
            if not exists:
                zone.records.append(Record(self.state.new_id(), hostname, "TXT", value))
                self.state.commit(zone)
                with self._lock:
                    self._created[key] = time.monotonic()
        return _json(200 if exists else 201, _ok([self._challenge_json(zone, hostname, value, scope)], None))

    def _get_challenge(self, zone: Zone, hostname: str, value: str, scope: str) -> ApiResponse:
        with self.state.lock:
            if not _find_txt(zone, hostname, value):
                raise RestError(*_Err.NO_CHALLENGE)
        return _json(200, _ok([self._challenge_json(zone, hostname, value, scope)], None))

    def _delete_challenge(self, zone: Zone, hostname: str, value: str) -> ApiResponse:
        with self.state.lock:
            remaining = [
                r for r in zone.records if not (r.type == "TXT" and r.hostname == hostname and r.destination == value)
            ]
            if len(remaining) == len(zone.records):
                raise RestError(*_Err.NO_CHALLENGE)
            zone.records = remaining
            self.state.commit(zone)
        with self._lock:
            self._created.pop((zone.name, hostname, value), None)
        return ApiResponse(204, {}, b"")

    def _challenge_json(self, zone: Zone, hostname: str, value: str, scope: str) -> dict[str, Any]:
        with self._lock:
            # A record placed by other means (e.g. a test through state) counts as long deployed.
            created = self._created.get((zone.name, hostname, value), -math.inf)
        deployed = time.monotonic() - created >= self.faults.deployed_after
        return {
            "scope": scope,
            "fqdn": f"{hostname}.{zone.name}",
            "value": value,
            "status": "deployed" if deployed else "pending",
        }


def _route(path: str) -> tuple[Optional[str], dict[str, str], tuple[str, ...]]:
    for template, pattern, methods in _ROUTES:
        match = pattern.match(path)
        if match:
            return template, {k: unquote(v) for k, v in match.groupdict().items()}, methods
    return None, {}, ()


def _challenge_key(scope: str, value: str) -> tuple[str, str, str]:
    """(TXT record hostname relative to the zone, value, normalised scope) or a validation error."""
    scope = scope.lower().rstrip(".")
    if scope != "@" and not all(_LABEL_RE.match(label) for label in scope.split(".")):
        raise RestError(*_Err.SCOPE)
    if not _VALUE_RE.match(value):
        raise RestError(*_Err.VALUE)
    return ("_acme-challenge" if scope == "@" else f"_acme-challenge.{scope}"), value, scope


def _find_txt(zone: Zone, hostname: str, value: str) -> bool:
    return any(r.type == "TXT" and r.hostname == hostname and r.destination == value for r in zone.records)


def _domain_json(zone: Zone) -> dict[str, Any]:
    return {"id": zone.rest_id, "fqdn": zone.name, "isDnsManaged": zone.platform == "rest"}


def _ok(result: Any, meta: Optional[dict[str, Any]]) -> dict[str, Any]:
    return {"success": True, "errors": [], "messages": [], "meta": meta, "result": result}


def _json(status: int, body: dict[str, Any]) -> ApiResponse:
    return ApiResponse(status, {"Content-Type": "application/json"}, json.dumps(body).encode())
