"""HTTP for both netcup APIs: one session per API, timeouts, bounded retries.

What is retried, and why:
- connection errors and timeouts: netcup's gateways drop connections now and
  then.  Retrying a write is safe here: CCP additions are matched back by
  hostname and value (never duplicated in our bookkeeping), REST creation
  answers 200 when the challenge exists already, deletions are idempotent.
- HTTP 502/503/504 and non-JSON bodies from a gateway.
- rate limits (HTTP 429, or the CCP API's 4013 "More than 180 requests per
  minute", which the CCP client detects and hands back through ``RetryLater``):
  waited out, within a budget for the whole run.
Everything else is the API's answer and goes back to the caller.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from certbot_dns_netcup._internal.errors import TransportError
from certbot_dns_netcup._version import __version__

logger = logging.getLogger(__name__)

USER_AGENT = f"certbot-dns-netcup/{__version__}"
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
ATTEMPTS = 3
BACKOFF = 1.0  # seconds before the 2nd attempt, doubled each time
RETRYABLE_STATUS = {502, 503, 504}
# netcup's CCP rate limit counts requests per minute: a minute of quiet clears it.
RATE_LIMIT_WAIT = 60.0
RATE_LIMIT_BUDGET = 180.0  # seconds of rate-limit waiting per API per run


@dataclass
class JsonResponse:
    status: int
    body: Any  # parsed JSON, or None for an empty body (HTTP 204)
    headers: dict[str, str]


class RetryLater(Exception):
    """Raised by a response check to have the request repeated after ``delay`` seconds."""

    def __init__(self, delay: float, reason: str) -> None:
        super().__init__(reason)
        self.delay = delay
        self.reason = reason


class JsonHttpClient:
    """A ``requests`` session for one API, with the retry policy above."""

    def __init__(
        self,
        api_name: str,
        *,
        attempts: int = ATTEMPTS,
        backoff: float = BACKOFF,
        timeout: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT),
        rate_limit_budget: float = RATE_LIMIT_BUDGET,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import requests  # imported on first use: Certbot loads every plugin at start-up

        self.api_name = api_name
        self.session = requests.Session()
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        self.attempts = attempts
        self.backoff = backoff
        self.timeout = timeout
        self.rate_limit_budget = rate_limit_budget
        self.sleep = sleep

    def request(
        self,
        method: str,
        url: str,
        *,
        operation: str,
        json_body: Any = None,
        headers: Optional[dict[str, str]] = None,
        check: Optional[Callable[[JsonResponse], None]] = None,
    ) -> JsonResponse:
        """Send a request and return the parsed answer.

        ``operation`` names the request in messages (never the body: it may
        hold credentials).  ``check`` may raise ``RetryLater`` to repeat it.
        """
        import requests

        failure = ""
        attempt = 0
        while True:
            attempt += 1
            try:
                raw = self.session.request(
                    method, url, json=json_body, headers=headers, timeout=self.timeout, allow_redirects=False
                )
            except requests.exceptions.RequestException as error:
                failure = _describe_exception(error)
                logger.debug("%s %s: attempt %d failed: %s", self.api_name, operation, attempt, failure)
            else:
                retry_after = _retry_after(raw)
                if raw.status_code == 429:
                    self._wait_for_rate_limit(operation, retry_after or RATE_LIMIT_WAIT, "HTTP 429 Too Many Requests")
                    attempt -= 1
                    continue
                if raw.status_code in RETRYABLE_STATUS:
                    failure = f"HTTP {raw.status_code} {raw.reason or ''}".strip()
                    logger.debug("%s %s: attempt %d: %s", self.api_name, operation, attempt, failure)
                else:
                    parsed = _parse(raw)
                    if parsed is None:
                        snippet = " ".join(raw.text[:120].split())
                        failure = f"HTTP {raw.status_code} with a body that is not JSON ({snippet!r})"
                        logger.debug("%s %s: attempt %d: %s", self.api_name, operation, attempt, failure)
                    else:
                        response = JsonResponse(raw.status_code, parsed[0], dict(raw.headers))
                        logger.debug("%s %s: HTTP %d", self.api_name, operation, raw.status_code)
                        if check is None:
                            return response
                        try:
                            check(response)
                            return response
                        except RetryLater as later:
                            self._wait_for_rate_limit(operation, later.delay, later.reason)
                            attempt -= 1
                            continue
            if attempt >= self.attempts:
                raise TransportError(
                    f"netcup's {self.api_name} did not answer {operation} properly after {attempt} attempts: "
                    f"{failure}. This is usually a passing problem at netcup or on the network: retry in a few "
                    f"minutes; if it persists, check that this host can reach {_host(url)} over HTTPS (proxy, "
                    "firewall) and netcup's status page."
                )
            self.sleep(self.backoff * 2 ** (attempt - 1))

    def _wait_for_rate_limit(self, operation: str, delay: float, reason: str) -> None:
        delay = max(1.0, min(delay, RATE_LIMIT_WAIT * 2))
        if delay > self.rate_limit_budget:
            raise TransportError(
                f"netcup's {self.api_name} keeps refusing requests because of its rate limit ({reason}) during "
                f"{operation}. Another program may be using the same account heavily; wait a few minutes and "
                "run Certbot again."
            )
        self.rate_limit_budget -= delay
        logger.warning(
            "netcup's %s is rate-limiting us (%s); waiting %.0f s before repeating %s.",
            self.api_name,
            reason,
            delay,
            operation,
        )
        self.sleep(delay)

    def close(self) -> None:
        self.session.close()


def _parse(raw: Any) -> Optional[tuple[Any]]:
    """(parsed body,) or None when the body is not JSON.  An empty body parses as (None,)."""
    if not raw.content or not raw.content.strip():
        return (None,)
    try:
        return (json.loads(raw.content.decode(raw.encoding or "utf-8", errors="replace")),)
    except ValueError:
        return None


def _retry_after(raw: Any) -> Optional[float]:
    value = raw.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _describe_exception(error: Exception) -> str:
    import requests

    if isinstance(error, requests.exceptions.SSLError):
        return "the TLS handshake failed (certificate not trusted or wrong host name)"
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return "the connection timed out"
    if isinstance(error, requests.exceptions.ReadTimeout):
        return "no answer within the time limit"
    if isinstance(error, requests.exceptions.ConnectionError):
        text = str(error).lower()
        if "refused" in text:
            return "connection refused"
        if "reset" in text or "aborted" in text or "remote end closed" in text:
            return "the connection was closed without an answer"
        if "name or service not known" in text or "resolve" in text or "getaddrinfo" in text:
            return "the host name could not be resolved"
        return "the connection failed"
    return type(error).__name__


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).hostname or url
