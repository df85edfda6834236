"""Client of netcup's REST API v1 (``https://api.netcup.com``, bearer key).

Only this API reaches zones on netcup's newer DNS platform.  It has a purpose-
built ACME challenge endpoint: the client names a *scope* (the part between
``_acme-challenge.`` and the zone, ``@`` for the apex) and the 43-character
value; netcup adds ``_acme-challenge.`` itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import quote

from certbot_dns_netcup._internal import messages
from certbot_dns_netcup._internal.errors import ApiError, AuthenticationError
from certbot_dns_netcup._internal.netcup.transport import JsonHttpClient, JsonResponse
from certbot_dns_netcup._internal.redaction import SECRETS

logger = logging.getLogger(__name__)

API_NAME = "REST API"
ACME_LABEL = "_acme-challenge"


@dataclass(frozen=True)
class RestProblem:
    code: str  # e.g. "authenticationError", "resourceDoesNotExist", "validationError"
    message: str


@dataclass(frozen=True)
class RestAnswer:
    """An answer of the REST API: ``{"success", "errors": [{"code", "message"}], "result"}`` and its status."""

    status: int
    success: Optional[bool]  # None when the body does not say
    problems: tuple[RestProblem, ...]
    result: list[dict[str, Any]]  # a single object comes as a list of one

    @property
    def failed(self) -> bool:
        return self.status >= 400 or self.success is False

    @property
    def code(self) -> Optional[str]:
        return next((p.code for p in self.problems if p.code), None)

    @property
    def message(self) -> str:
        return "; ".join(p.message for p in self.problems if p.message)

    @classmethod
    def parse(cls, response: JsonResponse) -> RestAnswer:
        body = response.body if isinstance(response.body, dict) else {}
        errors = body.get("errors")
        problems = tuple(
            RestProblem(str(e.get("code") or ""), str(e.get("message") or ""))
            for e in (errors if isinstance(errors, list) else [])
            if isinstance(e, dict)
        )
        result = body.get("result")
        items = [result] if isinstance(result, dict) else result if isinstance(result, list) else []
        success = body.get("success")
        return cls(
            response.status,
            success if isinstance(success, bool) else None,
            problems,
            [item for item in items if isinstance(item, dict)],
        )


@dataclass(frozen=True)
class RestDomain:
    id: int
    fqdn: str
    dns_managed: bool  # False: the zone is on the legacy platform; the CCP API manages it


class RestClient:
    def __init__(self, api_key: str, base_url: str, *, http: Optional[JsonHttpClient] = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = http or JsonHttpClient(API_NAME)
        self._headers = {"Authorization": f"Bearer {api_key}"}

    def find_domain(self, fqdn: str) -> Optional[RestDomain]:
        """The account's domain named exactly ``fqdn``, or None when it is not one."""
        answer = self._request("GET", f"/v1/domain?fqdn={quote(fqdn)}", f"domain lookup for {fqdn}")
        if answer.code in ("resourceDoesNotExist", "validationError") or answer.status == 404:
            return None
        self._raise_for_error(answer, f"domain lookup for {fqdn}")
        for item in answer.result:
            if str(item.get("fqdn", "")).lower().rstrip(".") == fqdn.lower() and "id" in item:
                return RestDomain(int(item["id"]), fqdn.lower(), bool(item.get("isDnsManaged", True)))
        return None

    def add_challenge(self, domain_id: int, scope: str, value: str) -> None:
        operation = f"creating the ACME challenge {scope!r} in domain {domain_id}"
        answer = self._request(
            "POST", f"/v1/domain/{domain_id}/acme/challenge", operation, json_body={"scope": scope, "value": value}
        )
        self._raise_for_error(answer, operation)

    def remove_challenge(self, domain_id: int, scope: str, value: str) -> bool:
        """Delete a challenge; False when it was already gone (which counts as removed)."""
        operation = f"removing the ACME challenge {scope!r} in domain {domain_id}"
        answer = self._request("DELETE", _challenge_path(domain_id, scope, value), operation)
        if answer.status == 404 or answer.code == "resourceDoesNotExist":
            return False
        self._raise_for_error(answer, operation)
        return True

    # ----- protocol ----------------------------------------------------------
    def _request(self, method: str, path: str, operation: str, json_body: Any = None) -> RestAnswer:
        response = self.http.request(
            method, self.base_url + path, operation=operation, json_body=json_body, headers=self._headers
        )
        return RestAnswer.parse(response)

    def _raise_for_error(self, answer: RestAnswer, operation: str) -> None:
        if not answer.failed:
            return
        code = answer.code or f"HTTP {answer.status}"
        message = SECRETS.scrub(answer.message)
        details = f"netcup answered HTTP {answer.status} {code}" + (f": {message}" if message else "")
        kwargs = {"api": API_NAME, "operation": operation, "code": code, "netcup_message": message}
        if code == "authenticationError" or answer.status in (401, 403):
            raise AuthenticationError(messages.rest_key_rejected(details), **kwargs)
        raise ApiError(messages.api_refused(API_NAME, operation, details), **kwargs)


def scope_for(name: str, zone: str) -> str:
    """The REST API's scope for the TXT record ``name`` in ``zone``; ValueError if the API cannot express it."""
    name, zone = name.lower().rstrip("."), zone.lower().rstrip(".")
    if name == f"{ACME_LABEL}.{zone}":
        return "@"
    prefix, suffix = f"{ACME_LABEL}.", f".{zone}"
    if name.startswith(prefix) and name.endswith(suffix) and len(name) > len(prefix) + len(suffix):
        return name[len(prefix) : -len(suffix)]
    raise ValueError(
        f"netcup's REST API can only create TXT records named _acme-challenge.<name> inside a zone, and {name} "
        f"is not one of those in {zone}"
    )


def _challenge_path(domain_id: int, scope: str, value: str) -> str:
    return f"/v1/domain/{domain_id}/acme/challenge/{quote(scope, safe='@')}/{quote(value, safe='')}"
