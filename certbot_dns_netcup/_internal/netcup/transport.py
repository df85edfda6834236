"""HTTP for both netcup APIs: one session per API, timeouts, bounded retries.

What is retried, and why:
- connection errors, timeouts and HTTP 502/503/504: netcup's gateways drop
  connections now and then.  urllib3's ``Retry`` does this, on every method:
  retrying a write is safe here, because the record ledger notes every record
  as "maybe created" before the request and removes every copy it finds at
  cleanup, REST creation answers 200 when the challenge exists already, and
  deletions are idempotent.
- non-JSON bodies (a proxy's error page with HTTP 200): only we can tell.
- rate limits (HTTP 429, or the CCP API's in-body 4013 "More than 180 requests
  per minute", which the CCP client detects and hands back through
  ``RetryLater``): waited out within a budget per API for the whole run, which
  urllib3 cannot express, so this stays ours too.
Everything else is the API's answer and goes back to the caller.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from certbot_dns_netcup._internal import messages
from certbot_dns_netcup._internal.errors import TransportError
from certbot_dns_netcup._version import __version__

logger = logging.getLogger(__name__)

USER_AGENT = f"certbot-dns-netcup/{__version__}"
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
ATTEMPTS = 3
BACKOFF = 1.0  # seconds before the 2nd attempt, doubled each time
RETRYABLE_STATUS = frozenset({502, 503, 504})
# netcup's CCP rate limit counts requests per minute: a minute of quiet clears it.
RATE_LIMIT_WAIT = 60.0
RATE_LIMIT_BUDGET = 180.0  # seconds of rate-limit waiting per API per run
MAX_RATE_LIMIT_WAIT = 2 * RATE_LIMIT_WAIT  # a longer Retry-After is capped: the budget decides


@dataclass
class JsonResponse:
    status: int
    body: Any  # parsed JSON, or None for an empty body (HTTP 204)


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
        import requests.adapters

        self.api_name = api_name
        self.session = requests.Session()
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        adapter = requests.adapters.HTTPAdapter(max_retries=_retry_policy(attempts, backoff, sleep))
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
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

        malformed = 0  # answers that were not JSON: only we can tell, so only we retry them
        while True:
            try:
                raw = self.session.request(
                    method, url, json=json_body, headers=headers, timeout=self.timeout, allow_redirects=False
                )
            except requests.exceptions.RequestException as error:
                raise self._gave_up(operation, url, _describe_exception(error)) from None
            if raw.status_code == 429:
                asked = _retry_after(raw)
                delay = RATE_LIMIT_WAIT if asked is None else asked
                self._wait_for_rate_limit(operation, delay, "HTTP 429 Too Many Requests")
                continue
            if raw.status_code in RETRYABLE_STATUS:  # urllib3's Retry gave up and handed back the last answer
                raise self._gave_up(operation, url, f"HTTP {raw.status_code} {raw.reason or ''}".strip())
            parsed = _parse(raw)
            if parsed is None:
                malformed += 1
                snippet = " ".join(raw.text[:120].split())
                failure = f"HTTP {raw.status_code} with a body that is not JSON ({snippet!r})"
                logger.debug("%s %s: attempt %d: %s", self.api_name, operation, malformed, failure)
                if malformed >= self.attempts:
                    raise self._gave_up(operation, url, failure)
                self.sleep(self.backoff * 2 ** (malformed - 1))
                continue
            response = JsonResponse(raw.status_code, parsed[0])
            logger.debug("%s %s: HTTP %d", self.api_name, operation, raw.status_code)
            if check is not None:
                try:
                    check(response)
                except RetryLater as later:
                    self._wait_for_rate_limit(operation, later.delay, later.reason)
                    continue
            return response

    def _gave_up(self, operation: str, url: str, failure: str) -> TransportError:
        return TransportError(messages.api_unreachable(self.api_name, operation, self.attempts, failure, _host(url)))

    def _wait_for_rate_limit(self, operation: str, delay: float, reason: str) -> None:
        delay = max(1.0, min(delay, MAX_RATE_LIMIT_WAIT))
        if delay > self.rate_limit_budget:
            raise TransportError(messages.rate_limit_budget_spent(self.api_name, operation, reason))
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
    """Seconds a Retry-After header asks for: delay-seconds, or an HTTP-date (RFC 9110); None without one."""
    value = raw.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    import email.utils

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _retry_policy(attempts: int, backoff: float, sleep: Callable[[float], None]) -> Any:
    """urllib3's Retry for connection errors, timeouts and gateway errors, on our schedule and our sleep."""
    from urllib3.util.retry import Retry

    class NetcupRetry(Retry):
        # urllib3 copies the policy for every attempt through type(self): the subclass, and with it the
        # schedule and the sleep below, carries over.
        def get_backoff_time(self) -> float:
            failures = len(self.history)  # 1 s before the second attempt, 2 s before the third
            return backoff * 2 ** (failures - 1) if failures else 0.0

        def sleep(self, response: Any = None) -> None:
            delay = self.get_backoff_time()
            if delay > 0:
                sleep(delay)

    options: dict[str, Any] = {
        "total": attempts - 1,
        "redirect": False,  # netcup's APIs do not redirect; a redirect is answered as it is
        "status_forcelist": RETRYABLE_STATUS,
        "raise_on_status": False,  # the last 502/503/504 comes back to request(), which words the error
        "respect_retry_after_header": False,  # rate limits are request()'s, within the run's budget
    }
    try:
        return NetcupRetry(allowed_methods=None, **options)  # every method, writes included (see above)
    except TypeError:  # urllib3 before 1.26 names it method_whitelist
        options["method_whitelist"] = None
        return NetcupRetry(**options)


def _describe_exception(error: Exception) -> str:
    import requests
    from urllib3.exceptions import MaxRetryError, ReadTimeoutError

    reason = error.args[0].reason if error.args and isinstance(error.args[0], MaxRetryError) else None
    if isinstance(reason, ReadTimeoutError):  # requests reports a read timeout after retries as ConnectionError
        return "no answer within the time limit"

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
