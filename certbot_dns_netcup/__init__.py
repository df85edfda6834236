"""Certbot DNS-01 authenticator for domains whose DNS is hosted at netcup.

``certbot_dns_netcup.Authenticator`` stays importable for code written against
the older releases; it is loaded lazily so that importing the package (for the
``certbot-dns-netcup`` command) does not pull in Certbot.
"""

from typing import Any

from certbot_dns_netcup._version import __version__

__all__ = ["Authenticator", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "Authenticator":
        from certbot_dns_netcup._internal.authenticator import Authenticator

        return Authenticator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
