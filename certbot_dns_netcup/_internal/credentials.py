"""Reading the credentials INI file.

Keys are those of the older certbot-dns-netcup releases, so existing files keep
working: ``dns_netcup_customer_id``, ``dns_netcup_api_key`` and
``dns_netcup_api_password`` for the CCP API, ``dns_netcup_api_v1_key`` for the
REST API.  Files written for Certbot's old prefixed plugin naming
(``certbot_dns_netcup:dns_netcup_api_key``) are read too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional
from urllib.parse import urlsplit

from certbot_dns_netcup._internal.errors import ConfigurationError
from certbot_dns_netcup._internal.messages import CCP_KEYS_HELP, REST_KEY_HELP

DEFAULT_CCP_URL = "https://ccp.netcup.net/run/webservice/servers/endpoint.php?JSON"
DEFAULT_REST_URL = "https://api.netcup.com"

# netcup issues CCP API keys with 50 characters and REST API keys with 64.
REST_KEY_LENGTH = 64

_OLD_PREFIX = "certbot_dns_netcup:"


@dataclass(frozen=True)
class CcpCredentials:
    customer_number: str
    api_key: str = field(repr=False)
    api_password: str = field(repr=False)


@dataclass(frozen=True)
class Credentials:
    ccp: Optional[CcpCredentials]
    rest_key: Optional[str] = field(repr=False)
    ccp_url: str = DEFAULT_CCP_URL
    rest_url: str = DEFAULT_REST_URL
    path: str = ""

    def secrets(self) -> list[str]:
        values = [self.rest_key] if self.rest_key else []
        if self.ccp:
            values += [self.ccp.api_key, self.ccp.api_password]
        return values


def load_credentials(path: str) -> Credentials:
    """Read and check the file at ``path``; raise ``ConfigurationError`` saying what to fix."""
    entries = _read_ini(path)
    return credentials_from_entries(entries, path)


def credentials_from_entries(entries: dict[str, str], path: str) -> Credentials:
    def get(name: str) -> Optional[str]:
        value = entries.get(f"dns_netcup_{name}")
        if value is None:
            value = entries.get(f"{_OLD_PREFIX}dns_netcup_{name}")
        if value is None:
            return None
        value = value.strip()
        return value or None

    customer = get("customer_id")
    api_key = get("api_key")
    api_password = get("api_password")
    rest_key = get("api_v1_key")

    # Older releases accepted a REST key in dns_netcup_api_key when it stood alone.
    if api_key and not customer and not api_password and len(api_key) == REST_KEY_LENGTH:
        rest_key = rest_key or api_key
        api_key = None

    ccp: Optional[CcpCredentials] = None
    given = {"dns_netcup_customer_id": customer, "dns_netcup_api_key": api_key, "dns_netcup_api_password": api_password}
    present = [k for k, v in given.items() if v]
    if present and len(present) < len(given):
        missing = [k for k, v in given.items() if not v]
        raise ConfigurationError(
            f"The credentials file {path} has an incomplete set of CCP API credentials: "
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing or empty. "
            f"{CCP_KEYS_HELP} Add the missing key{'s' if len(missing) > 1 else ''}, or remove the CCP keys "
            "and use only a REST API key (dns_netcup_api_v1_key)."
        )
    if customer and api_key and api_password:
        if not customer.isdigit():
            raise ConfigurationError(
                f"dns_netcup_customer_id in {path} must be your netcup customer number (digits only); "
                "the value there is not a number."
            )
        ccp = CcpCredentials(customer, api_key, api_password)

    if ccp is None and rest_key is None:
        raise ConfigurationError(
            f"The credentials file {path} holds no netcup credentials. {CCP_KEYS_HELP} {REST_KEY_HELP} "
            "Give either set, or both."
        )

    return Credentials(
        ccp=ccp,
        rest_key=rest_key,
        ccp_url=_checked_url(get("api_url") or DEFAULT_CCP_URL, "dns_netcup_api_url", path),
        rest_url=_checked_url(get("api_v1_url") or DEFAULT_REST_URL, "dns_netcup_api_v1_url", path).rstrip("/"),
        path=path,
    )


def _checked_url(url: str, key: str, path: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigurationError(
            f"{key} in {path} is not a usable URL ({url!r}): give an https:// URL, or remove the key to use "
            "netcup's own endpoint."
        )
    return url


def _read_ini(path: str) -> dict[str, str]:
    """The file's top-level keys, with errors that name the problem and the fix."""
    # Imported here: configobj comes with Certbot, and only this path needs it.
    import configobj

    hint = "Pass --dns-netcup-credentials with the path of an INI file holding your netcup API credentials."
    if not os.path.exists(path):
        raise ConfigurationError(f"The credentials file {path} does not exist. {hint}")
    if os.path.isdir(path):
        raise ConfigurationError(f"The credentials path {path} is a directory, not a file. {hint}")
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as error:
        raise ConfigurationError(
            f"The credentials file {path} cannot be read ({error.strerror}). Run Certbot as a user who may read "
            "it (usually root), and keep it private: chmod 600."
        ) from None
    except UnicodeDecodeError:
        raise ConfigurationError(f"The credentials file {path} is not a text file (UTF-8). {hint}") from None
    if not text.strip():
        raise ConfigurationError(f"The credentials file {path} is empty. {CCP_KEYS_HELP} {REST_KEY_HELP}")
    try:
        parsed = configobj.ConfigObj(text.splitlines(), interpolation=False)
    except configobj.ConfigObjError as error:
        # configobj's message quotes the offending line, which may hold a secret: name only the line number.
        line = getattr(error, "line_number", None)
        where = f" at line {line}" if line else ""
        raise ConfigurationError(
            f"The credentials file {path} is not a valid INI file{where}. Each line should read "
            "'dns_netcup_api_key = VALUE'."
        ) from None
    return {str(k): str(v) for k, v in parsed.items() if isinstance(v, str)}
