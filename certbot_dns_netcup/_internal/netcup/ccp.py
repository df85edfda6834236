"""Client of netcup's CCP JSON API (customer number + API key + API password).

One endpoint; every answer is HTTP 200 with the outcome in the body's
``status``/``statuscode``.  The client logs in once, reuses the session, logs in
again when netcup says the session is gone (4001, which happens after as little
as 15-30 s), and logs out at the end.  It takes and returns plain data.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Optional

from certbot_dns_netcup._internal import messages
from certbot_dns_netcup._internal.credentials import CcpCredentials
from certbot_dns_netcup._internal.errors import ApiError, AuthenticationError, ZoneNotFoundError
from certbot_dns_netcup._internal.netcup.transport import RATE_LIMIT_WAIT, JsonHttpClient, JsonResponse, RetryLater
from certbot_dns_netcup._internal.redaction import SECRETS

logger = logging.getLogger(__name__)

API_NAME = "CCP API"
SUCCESS = 2000
SESSION_GONE = 4001
VALIDATION_ERROR = 4013
UPDATE_FAILED_ZONE = 5028
NO_RECORDS = 5029
ZONE_NOT_FOUND = 5031


@dataclass(frozen=True)
class CcpAnswer:
    """The envelope of every CCP API answer (HTTP 200 whatever the outcome)."""

    status: str  # "success", "error", "warning", "started", "pending"
    statuscode: int  # 2000 on success; -1 when netcup sent none that reads as a number
    shortmessage: str
    longmessage: str
    responsedata: Any  # an object on success, "" on error

    @property
    def succeeded(self) -> bool:
        return self.status == "success" or self.statuscode == SUCCESS

    @property
    def netcup_says(self) -> str:
        return f"{self.shortmessage} {self.longmessage}".strip()

    @classmethod
    def parse(cls, body: Any) -> Optional[CcpAnswer]:
        """The envelope of a parsed JSON body, or None when the body is not a CCP API answer."""
        if not isinstance(body, dict) or "statuscode" not in body:
            return None
        return cls(
            status=str(body.get("status") or ""),
            statuscode=_int(body.get("statuscode")),
            shortmessage=str(body.get("shortmessage") or ""),
            longmessage=str(body.get("longmessage") or ""),
            responsedata=body.get("responsedata"),
        )


@dataclass(frozen=True)
class CcpRecord:
    id: str
    hostname: str  # relative to the zone, "@" for the apex
    type: str
    destination: str
    priority: str = "0"


class CcpClient:
    def __init__(
        self,
        credentials: CcpCredentials,
        endpoint: str,
        *,
        login_retries: int = 3,
        http: Optional[JsonHttpClient] = None,
    ) -> None:
        self._credentials = credentials
        self.endpoint = endpoint
        self.login_retries = max(0, login_retries)
        self.http = http or JsonHttpClient(API_NAME)
        self._session_id: Optional[str] = None
        # netcup answers a wrong customer number, API key or API password with its rate-limit text, so that
        # text at a login is only a real rate limit once these credentials have been accepted in this run.
        self._credentials_accepted = False

    # ----- session -----------------------------------------------------------
    def login(self) -> None:
        data = self._call(
            "login",
            {
                "customernumber": self._credentials.customer_number,
                "apikey": self._credentials.api_key,
                "apipassword": self._credentials.api_password,
            },
            with_session=False,
        )
        session_id = data.get("apisessionid") if isinstance(data, dict) else None
        if not isinstance(session_id, str) or not session_id:
            raise ApiError(
                "netcup's CCP API accepted the login but sent no session id. Retry later.",
                api=API_NAME,
                operation="login",
            )
        SECRETS.add(session_id)
        self._session_id = session_id
        self._credentials_accepted = True
        logger.debug("CCP API: logged in")

    def logout(self) -> None:
        """End the session; failures are logged, never raised (this runs during cleanup)."""
        if self._session_id is None:
            return
        try:
            self._call("logout", {}, relogin=False)
        except Exception as error:  # logout is a courtesy to netcup; nothing depends on it
            logger.debug("CCP API: logout failed: %s", error)
        self._session_id = None

    @property
    def has_session(self) -> bool:
        """Whether we hold a session id that netcup has not (to our knowledge) ended."""
        return self._session_id is not None

    # ----- DNS ---------------------------------------------------------------
    def zone_exists(self, zone: str) -> bool:
        """Whether ``zone`` is a DNS zone of this account that the CCP API manages."""
        try:
            self._call("infoDnsZone", {"domainname": zone})
        except ApiError as error:
            if error.code in (str(ZONE_NOT_FOUND), str(UPDATE_FAILED_ZONE)) or _is_not_a_zone(error):
                return False
            raise
        return True

    def list_records(self, zone: str) -> list[CcpRecord]:
        try:
            data = self._call("infoDnsRecords", {"domainname": zone})
        except ApiError as error:
            if error.code == str(NO_RECORDS):
                return []
            raise
        return _records(data)

    def add_txt_records(self, zone: str, entries: list[tuple[str, str]]) -> list[CcpRecord]:
        """Add TXT records (hostname relative to the zone, value) in one call; return them with their ids."""
        wanted = [
            {"hostname": host, "type": "TXT", "priority": "0", "destination": value, "deleterecord": False}
            for host, value in entries
        ]
        data = self._call("updateDnsRecords", {"domainname": zone, "dnsrecordset": {"dnsrecords": wanted}})
        return matching_records(_records(data), entries)

    def delete_records(self, zone: str, records: list[CcpRecord]) -> None:
        """Delete records by id, all in one call.  Records already gone count as deleted."""
        if not records:
            return
        doomed = [
            {
                "id": r.id,
                "hostname": r.hostname,
                "type": r.type,
                "priority": r.priority,
                "destination": r.destination,
                "deleterecord": True,
            }
            for r in records
        ]
        self._call("updateDnsRecords", {"domainname": zone, "dnsrecordset": {"dnsrecords": doomed}})

    # ----- protocol ----------------------------------------------------------
    def _call(self, action: str, params: dict[str, Any], *, with_session: bool = True, relogin: bool = True) -> Any:
        relogins_left = self.login_retries if relogin else 0
        while True:
            if with_session and self._session_id is None:
                self.login()
            param = dict(params)
            if with_session:
                param.update(
                    customernumber=self._credentials.customer_number,
                    apikey=self._credentials.api_key,
                    apisessionid=self._session_id,
                )
            body = {"action": action, "param": param}
            # Before netcup has accepted these credentials once, a "rate limit" at login means wrong
            # credentials far more often than a real limit: judge it at once (in _outcome) instead of
            # waiting a minute and sending the same wrong password again, which risks netcup's lockout.
            waits_out_rate_limit = action != "login" or self._credentials_accepted
            response = self.http.request(
                "POST",
                self.endpoint,
                operation=_operation(action, params),
                json_body=body,
                check=_check_rate_limit if waits_out_rate_limit else None,
            )
            try:
                return self._outcome(action, params, response)
            except ApiError as error:
                if with_session and error.code == str(SESSION_GONE) and relogins_left > 0:
                    relogins_left -= 1
                    logger.debug("CCP API: session expired during %s; logging in again", action)
                    self._session_id = None
                    continue
                raise

    def _outcome(self, action: str, params: dict[str, Any], response: JsonResponse) -> Any:
        answer = CcpAnswer.parse(response.body)
        operation = _operation(action, params)
        if answer is None:
            raise ApiError(
                messages.ccp_not_an_api_answer(operation, response.status), api=API_NAME, operation=operation
            )
        code = answer.statuscode
        if answer.succeeded:
            return answer.responsedata
        netcup_says = SECRETS.scrub(answer.netcup_says)
        details = f"netcup answered {code}: {netcup_says}" if netcup_says else f"netcup answered {code}"
        kwargs = {"api": API_NAME, "operation": operation, "code": str(code), "netcup_message": netcup_says}
        if action == "login":
            if _is_lockout_text(netcup_says):
                raise AuthenticationError(messages.ccp_login_locked_out(details), **kwargs)
            if _is_rate_limit_text(netcup_says):
                raise AuthenticationError(messages.ccp_login_refused_as_rate_limit(details), **kwargs)
            raise AuthenticationError(messages.ccp_login_rejected(details), **kwargs)
        if code == SESSION_GONE:
            raise ApiError(messages.ccp_session_keeps_ending(operation, details), **kwargs)
        if code == NO_RECORDS and action == "infoDnsRecords":
            raise ApiError(f"{details}.", **kwargs)
        if code in (ZONE_NOT_FOUND, UPDATE_FAILED_ZONE) or _is_not_a_zone_text(netcup_says):
            raise ZoneApiError(messages.ccp_unknown_zone(params.get("domainname"), details), **kwargs)
        raise ApiError(messages.api_refused(API_NAME, operation, details), **kwargs)


class ZoneApiError(ApiError, ZoneNotFoundError):
    """The CCP API says a domain is not one of its zones."""


def matching_records(records: list[CcpRecord], entries: list[tuple[str, str]]) -> list[CcpRecord]:
    """The TXT records among ``records`` that have one of the (hostname, value) pairs.

    netcup's updateDnsRecords answers with the zone's whole record set; the
    records we added are those with our hostname and our value (ACME values are
    unique per challenge, so they cannot belong to anyone else).
    """
    wanted = {(h.lower(), v) for h, v in entries}
    # netcup quotes TXT values in the zone; should the API ever echo the quotes, the value is still ours.
    return [r for r in records if r.type.upper() == "TXT" and (r.hostname.lower(), unquoted(r.destination)) in wanted]


def unquoted(value: str) -> str:
    """A TXT value without the quotes netcup may show around it."""
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value


def _records(data: Any) -> list[CcpRecord]:
    raw = data.get("dnsrecords") if isinstance(data, dict) else None
    if not isinstance(raw, list):
        return []
    return [
        CcpRecord(
            id=str(r.get("id", "")),
            hostname=str(r.get("hostname", "")),
            type=str(r.get("type", "")),
            destination=str(r.get("destination", "")),
            priority=str(r.get("priority", "0")),
        )
        for r in raw
        if isinstance(r, dict)
    ]


def _check_rate_limit(response: JsonResponse) -> None:
    answer = CcpAnswer.parse(response.body)
    if answer is not None and answer.statuscode == VALIDATION_ERROR:
        if _is_rate_limit_text(answer.netcup_says):
            raise RetryLater(RATE_LIMIT_WAIT, "more than 180 requests per minute")


def _is_rate_limit_text(text: str) -> bool:
    # 4013 "More than 180 requests per minute. Please wait and retry later..."
    text = text.lower()
    return "requests per minute" in text or "rate limit" in text


def _is_lockout_text(text: str) -> bool:
    # 4013 "Too many error messages, please check your commands.": netcup's lockout after repeated bad
    # requests, which blocks the customer's own CCP web login too.
    return "too many error messages" in text.lower()


def _is_not_a_zone(error: ApiError) -> bool:
    return error.code == str(VALIDATION_ERROR) and _is_not_a_zone_text(error.netcup_message or "")


def _is_not_a_zone_text(text: str) -> bool:
    # 4013 "Value in field domainname does not match requirements of type: domainname"
    return "domainname" in text.lower() and "does not match" in text.lower()


def _operation(action: str, params: dict[str, Any]) -> str:
    zone = params.get("domainname")
    return f"{action} for {zone}" if zone else action


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1
