"""Test double of netcup's CCP JSON API (``POST .../endpoint.php?JSON``).

Answers are shaped like netcup's recorded answers in tests/fixtures/ccp-cassettes:
HTTP 200 even for API errors, the outcome in the envelope, ``responsedata`` the
empty string on error.  All messages live in ``_Msg`` below.

Choices where netcup's behaviour is unknown (documented here, not guessed silently):
- Sessions expire after ``faults.session_ttl`` seconds without use (each call refreshes).
  An expired id answers "Api session id in invalid format", an id never issued
  "Api session not found"; both are 4001.
- The rate limit counts requests that were let through (not the rejected ones) in a
  sliding 60 s window, across all actions.
- Adding a record identical (hostname, type, destination) to an existing one is a no-op.
- A record with an id and ``deleterecord`` false replaces that record's fields; an unknown id
  without ``deleterecord`` is a 4013; an unknown id with ``deleterecord`` counts as deleted.
- Request validation errors (malformed JSON, a bad ``domainname``) echo ``action`` as "",
  as in a captured real answer.
- TXT destinations: the recordings show them as stored, without quotes (``"destination":
  "challengetoken"``), and so does this double by default.  ``quote_txt_destinations`` makes it
  show them in double quotes, as they stand in the zone file, for tests that the client's
  matching does not depend on netcup never echoing the quotes.
"""

from __future__ import annotations

import json
import random
import re
import string
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Optional

from netcup_sandbox.faults import CallLog, CcpFaults, FaultKind, fault_outcome, transport_fault_response
from netcup_sandbox.https import ApiRequest, ApiResponse
from netcup_sandbox.state import NetcupState, Record, Zone

RECORD_TYPES = frozenset(
    {"A", "AAAA", "MX", "CNAME", "CAA", "SRV", "TXT", "TLSA", "NS", "DS", "SSHFP", "SMIMEA", "OPENPGPKEY"}
)
_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_HOSTNAME_RE = re.compile(r"^(@|[A-Za-z0-9_*]([A-Za-z0-9_.*-]{0,250}[A-Za-z0-9_*])?)$")
_SESSION_ID_RE = re.compile(r"^[A-Za-z0-9]{50}$")
_ALNUM = string.ascii_letters + string.digits
RATE_WINDOW_SECONDS = 60.0


class _Msg:
    """Status codes and messages, as netcup words them where recordings show them."""

    LOGIN_OK = ("Login successful", "Session has been created successful.")
    LOGOUT_OK = ("Logout successful", "Session has been ended successful.")
    ZONE_OK = ("DNS zone found", "DNS zone was found.")
    RECORDS_OK = ("DNS records found", "DNS Records for this zone were found.")
    UPDATE_OK = ("DNS records successful updated", "The given DNS records for this zone were updated.")
    VALIDATION = "Validation Error."
    JSON_DECODE = "Api key missing. JSON decode failed while validating request."
    LOCKOUT = "Too many error messages, please check your commands."
    BAD_ACCOUNT = "Customer number or api key do not match the api session."
    RATE_LIMIT = (
        "More than {limit} requests per minute. Please wait and retry later. Please contact our customer "
        "service to find out if the limitation of requests can be increased."
    )
    FIELD = "Value in field {field} does not match requirements of type: {type}. "
    BAD_HOST = "The host must not be empty or consist of special characters."
    UNKNOWN_ID = "The DNS record with id {id} does not exist in this zone."
    DUPLICATE = "The DNS record already exists."  # made up: whether netcup refuses duplicates is unknown
    UNKNOWN_ACTION = "The action {action} is not known."
    SESSION_FORMAT = (
        "Api session id in invalid format",
        "The session id is not in a valid format. Most likely the session has expired.",
    )
    SESSION_MISSING = (
        "Api session not found",
        "The session id could not be found. Most likely the session has expired.",
    )
    ZONE_NOT_FOUND = ("Getting DNS zone failed", "Can not get DNS records for zone.  Domain not found.")
    RECORDS_NOT_FOUND = (
        "Getting DNS records failed",
        "Can not get DNS records for zone. The zone {zone} could not be found.",
    )
    RECORDS_EMPTY = (
        "Getting DNS records failed",
        "Can not get DNS records for zone. The zone {zone} does not contain any DNS records.",
    )
    UPDATE_NOT_FOUND = (
        "Update of DNS records failed",
        "Can not update (all) DNS records for zone. The zone {zone} could not be found.",
    )


class CcpError(Exception):
    def __init__(self, statuscode: int, shortmessage: str, longmessage: str, echo_action: bool = True) -> None:
        super().__init__(statuscode, shortmessage)
        self.statuscode = statuscode
        self.shortmessage = shortmessage
        self.longmessage = longmessage
        self.echo_action = echo_action


def _validation(longmessage: str, echo_action: bool = True) -> CcpError:
    return CcpError(4013, _Msg.VALIDATION, longmessage, echo_action)


def _field_error(name: str, type_name: str) -> CcpError:
    return _validation(_Msg.FIELD.format(field=name, type=type_name), echo_action=False)


@dataclass
class _Session:
    last_used: float
    expired: bool = False


Result = tuple[tuple[str, str], Any]  # ((shortmessage, longmessage), responsedata)


class CcpApi:
    def __init__(self, state: NetcupState, faults: CcpFaults) -> None:
        self.state = state
        self.faults = faults
        self.log = CallLog()
        self._lock = threading.Lock()
        self._sessions: dict[str, _Session] = {}
        self._recent: deque[float] = deque()  # times of requests let through, for the rate limit
        self._failed_logins = 0
        self.quote_txt_destinations = False  # see the module's docstring

    # ----- test controls ------------------------------------------------------------------------
    def expire_all_sessions(self) -> None:
        with self._lock:
            for session in self._sessions.values():
                session.expired = True

    def active_sessions(self) -> int:
        with self._lock:
            now = time.monotonic()
            return sum(1 for s in self._sessions.values() if not self._is_expired(s, now))

    # ----- HTTP entry ---------------------------------------------------------------------------
    def handle(self, request: ApiRequest, scripted: bool = True) -> Optional[ApiResponse]:
        if not request.path.endswith("endpoint.php") or "JSON" not in request.query:
            self.log.record(f"{request.method} {request.path}", None, 404)
            return ApiResponse(404, {"Content-Type": "text/html"}, b"<html><body><h1>404 Not Found</h1></body></html>")
        payload = _parse(request.body)
        param = payload.get("param") if isinstance(payload, dict) else None
        param = param if isinstance(param, dict) else {}
        action = payload.get("action") if isinstance(payload, dict) else None
        action = action if isinstance(action, str) else ""
        domain = param.get("domainname") if isinstance(param.get("domainname"), str) else None
        client_id = param.get("clientrequestid")
        client_id = client_id if isinstance(client_id, str) else ""

        fault = self.faults.script.take(action=action, domain=domain) if scripted else None
        if fault is not None and fault.kind is not FaultKind.API_ERROR:
            if fault.apply_first:
                self.handle(request, scripted=False)  # carried out and logged as usual; its answer is lost
            self.log.record(action, domain, fault_outcome(fault))
            return transport_fault_response(fault, request)
        try:
            if fault is not None:
                raise CcpError(fault.statuscode, fault.shortmessage, fault.longmessage)
            self._check_rate_limit()
            if payload is None:
                raise _validation(_Msg.JSON_DECODE, echo_action=False)
            (short, long), data = self._dispatch(action, param)
            envelope = _envelope(action, client_id, "success", 2000, short, long, data)
            self.log.record(action, domain, 2000)
        except CcpError as e:
            envelope = _envelope(
                action if e.echo_action else "", client_id, "error", e.statuscode, e.shortmessage, e.longmessage, ""
            )
            self.log.record(action, domain, e.statuscode)
        return ApiResponse(200, {"Content-Type": "application/json"}, json.dumps(envelope).encode())

    def _check_rate_limit(self) -> None:
        now = time.monotonic()
        limit = self.faults.rate_limit_per_minute
        with self._lock:
            while self._recent and self._recent[0] <= now - RATE_WINDOW_SECONDS:
                self._recent.popleft()
            if len(self._recent) >= limit:
                raise _validation(_Msg.RATE_LIMIT.format(limit=limit))
            self._recent.append(now)

    def _dispatch(self, action: str, param: dict[str, Any]) -> Result:
        if action == "login":
            return self._login(param)
        handlers = {
            "logout": self._logout,
            "infoDnsZone": self._info_dns_zone,
            "infoDnsRecords": self._info_dns_records,
            "updateDnsRecords": self._update_dns_records,
        }
        if action not in handlers:
            raise _validation(_Msg.UNKNOWN_ACTION.format(action=action))
        session_id = self._check_session(param)
        return handlers[action](param, session_id)

    # ----- sessions -----------------------------------------------------------------------------
    def _login(self, param: dict[str, Any]) -> Result:
        given = (str(param.get("customernumber", "")), param.get("apikey"), param.get("apipassword"))
        state = self.state
        lockout_after = self.faults.lockout_after_failed_logins
        if lockout_after and self._failed_logins >= lockout_after:
            raise _validation(_Msg.LOCKOUT)
        if given != (str(state.customer_number), state.api_key, state.api_password):
            self._failed_logins += 1
            # What the real API answers to a wrong customer number, API key or API password: its rate-limit
            # text, indistinguishable from a real rate limit.
            raise _validation(_Msg.RATE_LIMIT.format(limit=self.faults.rate_limit_per_minute))
        session_id = "".join(random.choices(_ALNUM, k=50))
        with self._lock:
            self._sessions[session_id] = _Session(last_used=time.monotonic())
        return _Msg.LOGIN_OK, {"apisessionid": session_id}

    def _is_expired(self, session: _Session, now: float) -> bool:
        return session.expired or now - session.last_used >= self.faults.session_ttl

    def _check_session(self, param: dict[str, Any]) -> str:
        if str(param.get("customernumber", "")) != str(self.state.customer_number) or (
            param.get("apikey") != self.state.api_key
        ):
            raise _validation(_Msg.BAD_ACCOUNT)
        session_id = param.get("apisessionid")
        if not isinstance(session_id, str) or not _SESSION_ID_RE.match(session_id):
            raise CcpError(4001, *_Msg.SESSION_FORMAT)
        now = time.monotonic()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                raise CcpError(4001, *_Msg.SESSION_MISSING)
            if self._is_expired(session, now):
                session.expired = True
                raise CcpError(4001, *_Msg.SESSION_FORMAT)
            session.last_used = now
        return session_id

    def _logout(self, param: dict[str, Any], session_id: str) -> Result:
        with self._lock:
            self._sessions.pop(session_id, None)
        return _Msg.LOGOUT_OK, ""

    # ----- zones and records --------------------------------------------------------------------
    def _zone(self, param: dict[str, Any]) -> tuple[str, Optional[Zone]]:
        name = param.get("domainname")
        if not isinstance(name, str) or not _DOMAIN_RE.match(name.lower().rstrip(".")):
            raise _field_error("domainname", "domainname")
        name = name.lower().rstrip(".")
        with self.state.lock:
            return name, self.state.zones.get(name)

    def _info_dns_zone(self, param: dict[str, Any], session_id: str) -> Result:
        _, zone = self._zone(param)
        if zone is None or zone.platform != "ccp":
            raise CcpError(5031, *_Msg.ZONE_NOT_FOUND)
        with self.state.lock:
            data = {
                "name": zone.name,
                "ttl": str(zone.ttl),
                "serial": str(zone.serial),
                "refresh": "28800",
                "retry": "7200",
                "expire": "1209600",
                "dnssecstatus": False,
            }
        return _Msg.ZONE_OK, data

    def _ccp_zone(self, param: dict[str, Any], not_found: tuple[str, str]) -> Zone:
        """The zone named by ``domainname`` if the CCP platform serves it, else the matching error."""
        name, zone = self._zone(param)
        if zone is None:
            raise _field_error("domainname", "domainname")
        if zone.platform != "ccp":
            raise CcpError(5028, not_found[0], not_found[1].format(zone=name))
        return zone

    def _info_dns_records(self, param: dict[str, Any], session_id: str) -> Result:
        zone = self._ccp_zone(param, _Msg.RECORDS_NOT_FOUND)
        with self.state.lock:
            if zone.external_dns or not zone.records:
                short, long = _Msg.RECORDS_EMPTY
                raise CcpError(5029, short, long.format(zone=zone.name))
            return _Msg.RECORDS_OK, {"dnsrecords": [self._shown(r) for r in zone.records]}

    def _update_dns_records(self, param: dict[str, Any], session_id: str) -> Result:
        zone = self._ccp_zone(param, _Msg.UPDATE_NOT_FOUND)
        recordset = param.get("dnsrecordset")
        wanted = recordset.get("dnsrecords") if isinstance(recordset, dict) else None
        if not isinstance(wanted, list) or not all(isinstance(r, dict) for r in wanted):
            raise _field_error("dnsrecordset", "dnsrecordset")
        changes = [_validated_record(r) for r in wanted]
        with self.state.lock:
            records = list(zone.records)
            for record_id, delete, fields in changes:
                index = next((i for i, r in enumerate(records) if record_id is not None and r.id == record_id), None)
                if delete:
                    if index is not None:  # an id already gone counts as deleted
                        del records[index]
                elif record_id is not None:
                    if index is None:
                        raise _validation(_Msg.UNKNOWN_ID.format(id=record_id))
                    records[index] = Record(record_id, *fields)
                elif self.faults.refuse_duplicates and any(
                    (r.hostname, r.type, r.destination) == fields[:3] for r in records
                ):
                    raise _validation(_Msg.DUPLICATE)
                elif self.faults.duplicate_adds or not any(
                    (r.hostname, r.type, r.destination) == fields[:3] for r in records
                ):
                    records.append(Record(self.state.new_id(), *fields))
            if records != zone.records:
                zone.records = records
                self.state.commit(zone)
            return _Msg.UPDATE_OK, {"dnsrecords": [self._shown(r) for r in zone.records]}

    def _shown(self, record: Record) -> dict[str, Any]:
        """A record as the API lists it (TXT destinations quoted if ``quote_txt_destinations``)."""
        shown = record.as_ccp()
        if self.quote_txt_destinations and record.type == "TXT":
            shown["destination"] = '"' + record.destination + '"'
        return shown


def _validated_record(raw: dict[str, Any]) -> tuple[Optional[str], bool, tuple[str, str, str, str]]:
    """(id or None, delete?, (hostname, type, destination, priority)) or a 4013."""
    hostname, rtype, destination = raw.get("hostname"), raw.get("type"), raw.get("destination")
    if not isinstance(hostname, str) or not _HOSTNAME_RE.match(hostname):
        raise _validation(_Msg.BAD_HOST)
    if not isinstance(rtype, str) or rtype.upper() not in RECORD_TYPES:
        raise _field_error("type", "dnsrecordtype")
    if not isinstance(destination, str) or not destination:
        raise _field_error("destination", "destination")
    record_id = raw.get("id")
    record_id = str(record_id) if record_id not in (None, "") else None
    delete = raw.get("deleterecord") in (True, "true", "1", 1)
    priority = str(raw.get("priority") or "0")
    return record_id, delete, (hostname, rtype.upper(), destination, priority)


def _parse(body: bytes) -> Optional[dict[str, Any]]:
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return payload if isinstance(payload, dict) else None


def _envelope(
    action: str, client_id: str, status: str, statuscode: int, short: str, long: str, data: Any
) -> dict[str, Any]:
    return {
        "serverrequestid": "".join(random.choices(_ALNUM, k=28)),
        "clientrequestid": client_id,
        "action": action,
        "status": status,
        "statuscode": statuscode,
        "shortmessage": short,
        "longmessage": long,
        "responsedata": data,
    }
