"""Reading the credentials file (credentials.py): every key spelling users have, and what each mistake says."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from certbot_dns_netcup._internal.credentials import load_credentials
from certbot_dns_netcup._internal.errors import ConfigurationError

CCP_KEY = "CcpApiKey" + "c" * 41  # netcup's CCP API keys have 50 characters
REST_KEY = "RestApiKey" + "r" * 54  # REST API keys 64
CCP_LINES = f"dns_netcup_customer_id = 12345\ndns_netcup_api_key = {CCP_KEY}\ndns_netcup_api_password = pass word\n"


def write(tmp_path: Path, text: str, name: str = "netcup.ini") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    os.chmod(path, 0o600)
    return str(path)


def rejected(path: str) -> str:
    with pytest.raises(ConfigurationError) as caught:
        load_credentials(path)
    return str(caught.value)


def test_ccp_credentials_with_the_default_endpoints(tmp_path: Path) -> None:
    credentials = load_credentials(write(tmp_path, CCP_LINES))
    assert credentials.ccp is not None
    assert (credentials.ccp.customer_number, credentials.ccp.api_key, credentials.ccp.api_password) == (
        "12345",
        CCP_KEY,
        "pass word",
    )
    assert credentials.rest_key is None
    assert credentials.ccp_url == "https://ccp.netcup.net/run/webservice/servers/endpoint.php?JSON"
    assert credentials.rest_url == "https://api.netcup.com"


def test_both_apis_and_own_urls(tmp_path: Path) -> None:
    text = (
        CCP_LINES + f"dns_netcup_api_v1_key = {REST_KEY}\n"
        "dns_netcup_api_url = https://127.0.0.1:8443/endpoint.php?JSON\n"
        "dns_netcup_api_v1_url = https://127.0.0.1:9443/\n"
    )
    credentials = load_credentials(write(tmp_path, text))
    assert credentials.ccp is not None and credentials.rest_key == REST_KEY
    assert credentials.ccp_url == "https://127.0.0.1:8443/endpoint.php?JSON"
    assert credentials.rest_url == "https://127.0.0.1:9443"  # no trailing slash
    assert sorted(credentials.secrets()) == sorted([REST_KEY, CCP_KEY, "pass word"])


def test_older_releases_rest_key_alone_in_dns_netcup_api_key(tmp_path: Path) -> None:
    credentials = load_credentials(write(tmp_path, f"dns_netcup_api_key = {REST_KEY}\n"))
    assert credentials.ccp is None and credentials.rest_key == REST_KEY


def test_certbots_old_prefixed_key_names_and_ignored_keys(tmp_path: Path) -> None:
    text = "".join(f"certbot_dns_netcup:{line}\n" for line in CCP_LINES.splitlines()) + "dns_netcup_timeout = 30\n"
    credentials = load_credentials(write(tmp_path, text))
    assert credentials.ccp is not None and credentials.ccp.customer_number == "12345"


def test_values_are_stripped_and_empty_values_count_as_missing(tmp_path: Path) -> None:
    text = CCP_LINES.replace("dns_netcup_api_password = pass word", "dns_netcup_api_password =   ")
    message = rejected(write(tmp_path, text))
    assert "incomplete set of CCP API credentials" in message and "dns_netcup_api_password is missing" in message


@pytest.mark.parametrize(
    "text, says",
    [
        ("", "is empty"),
        ("# only a comment\ndns_cloudflare_api_token = x\n", "holds no netcup credentials"),
        (CCP_LINES.replace("12345", "K12345"), "digits only"),
        (CCP_LINES + "dns_netcup_api_url = ccp.netcup.net/endpoint\n", "dns_netcup_api_url"),
        ("dns_netcup_customer_id = 12345\ndns_netcup_api_password secret-without-equals\n", "line 2"),
    ],
    ids=["empty", "no-netcup-keys", "customer-number", "url", "not-ini"],
)
def test_each_mistake_is_named(tmp_path: Path, text: str, says: str) -> None:
    message = rejected(write(tmp_path, text))
    assert says in message
    assert "secret-without-equals" not in message  # a broken line is named by number, never quoted


def test_a_missing_file_and_a_directory(tmp_path: Path) -> None:
    assert "does not exist" in rejected(str(tmp_path / "missing.ini"))
    assert "is a directory" in rejected(str(tmp_path))


def test_a_file_that_is_not_text(tmp_path: Path) -> None:
    path = tmp_path / "binary.ini"
    path.write_bytes(b"\xff\xfe\x00binary")
    assert "not a text file" in rejected(str(path))
