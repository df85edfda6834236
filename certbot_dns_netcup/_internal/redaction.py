"""Keep credentials and session ids out of every log line and message.

The code never formats a secret into a message in the first place; this is the
second line of defence.  ``SecretRegistry`` remembers every secret the plugin
holds (API key, API password, REST key, CCP session ids) and a logging filter
scrubs them from each record that reaches Certbot's handlers, whichever library
logged it (requests, urllib3, Certbot itself).
"""

from __future__ import annotations

import logging
import threading

MASK = "********"
# Short strings (a customer number, say) are not secret and would mask too much.
_MIN_SECRET_LENGTH = 6


class SecretRegistry:
    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, secret: object) -> None:
        if isinstance(secret, str) and len(secret) >= _MIN_SECRET_LENGTH:
            with self._lock:
                self._secrets.add(secret)

    def scrub(self, text: str) -> str:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text


SECRETS = SecretRegistry()


class ScrubbingFilter(logging.Filter):
    """Rewrites a record's message when it contains a registered secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging module's business, not ours
            return True
        scrubbed = SECRETS.scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        if record.exc_info and record.exc_info[1] is not None:
            text = str(record.exc_info[1])
            if SECRETS.scrub(text) != text:
                # The traceback would repeat the secret: keep the line, drop the details.
                record.exc_info = None
                record.exc_text = None
                record.msg = f"{record.msg} (details withheld: they contained a credential)"
        return True


_FILTER = ScrubbingFilter()


def install_log_filter() -> None:
    """Attach the filter to every handler of the root logger (Certbot's file and terminal logs).

    Filters on a logger only see that logger's own records; handler filters see
    everything that is written, whichever library logged it.
    """
    for handler in logging.getLogger().handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
