"""Errors with messages written for the person who runs Certbot.

The API clients and the zone resolution raise these; the Certbot glue turns
them into ``certbot.errors.PluginError`` so that Certbot prints the message
without a traceback.  Every message says what failed, why (netcup's status code
and message where there is one) and what to do.  None of them ever contains a
credential or a session id.
"""

from __future__ import annotations

from typing import Optional


class NetcupError(Exception):
    """Base class: ``str(error)`` is a complete message for the user."""


class ConfigurationError(NetcupError):
    """The user's credentials file or options are wrong."""


class TransportError(NetcupError):
    """netcup could not be reached, or answered with something that is not its API."""


class ApiError(NetcupError):
    """netcup's API answered and said no."""

    def __init__(
        self,
        message: str,
        *,
        api: str,
        operation: str,
        code: Optional[str] = None,
        netcup_message: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.api = api
        self.operation = operation
        self.code = code
        self.netcup_message = netcup_message


class AuthenticationError(ApiError):
    """netcup rejected the credentials."""


class ZoneNotFoundError(NetcupError):
    """No zone of the account holds a name."""
