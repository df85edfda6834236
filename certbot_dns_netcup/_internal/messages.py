"""Every sentence about netcup a user reads: what went wrong, why, and what to do.

The code that detects a problem raises a typed error with the facts (netcup's
status code and message, the operation); the words and the advice live here, so
that the same situation reads the same in Certbot's output and in
``certbot-dns-netcup check``.  Nothing here ever receives a credential or a
session id.
"""

from __future__ import annotations

# Where netcup's Customer Control Panel (CCP) keeps each credential.
CCP_KEYS_HELP = (
    "CCP API credentials are your customer number (dns_netcup_customer_id) and an API key and API "
    "password (dns_netcup_api_key, dns_netcup_api_password), created in netcup's Customer Control Panel "
    "under Master Data -> API."
)
REST_KEY_HELP = (
    "A REST API key (dns_netcup_api_v1_key) is created in netcup's Customer Control Panel under "
    "Master Data -> API (REST API)."
)
_WHERE_EACH_CCP_CREDENTIAL_IS = (
    "dns_netcup_customer_id must be the customer number you log in to the Customer Control Panel (CCP) with; "
    "dns_netcup_api_key must be one of the API keys listed in the CCP under Master Data -> API; "
    "dns_netcup_api_password must be the API password set there (netcup shows it only once: if in doubt, "
    "generate a new one there and put it in the file)"
)


def ccp_login_rejected(details: str) -> str:
    return (
        f"netcup's CCP API rejected the login ({details}). Check dns_netcup_customer_id, dns_netcup_api_key and "
        f"dns_netcup_api_password in your credentials file. {CCP_KEYS_HELP}"
    )


def ccp_login_refused_as_rate_limit(details: str) -> str:
    """The first login of a run answered with the rate-limit text: most often wrong credentials."""
    return (
        f"netcup's CCP API rejected the login ({details}). netcup gives this same answer for a wrong customer "
        "number, API key or API password as for a real rate limit, so check the three first: "
        f"{_WHERE_EACH_CCP_CREDENTIAL_IS}. The login was not repeated: each failed login counts towards "
        "netcup's lockout, which also blocks your own CCP login. Only if all three are right is this a real "
        "rate limit (another program using the same account); it passes within a minute: run Certbot again then."
    )


def ccp_login_locked_out(details: str) -> str:
    return (
        f"netcup's CCP API rejected the login ({details}): netcup has locked API access after repeated failed "
        "requests, and the lock also blocks your own login to the Customer Control Panel for a while. The "
        "likely cause is wrong credentials, or quotes around the values in the credentials file (write "
        f"'dns_netcup_api_password = VALUE', without quotes): {_WHERE_EACH_CCP_CREDENTIAL_IS}. Fix the file, "
        "stop every other program that logs in with these credentials, wait until the CCP lets you log in "
        "again, then run Certbot once more."
    )


def ccp_session_keeps_ending(operation: str, details: str) -> str:
    return (
        f"netcup's CCP API kept ending our session during {operation} ({details}), even after logging in "
        "again. Raise --dns-netcup-login-retries or retry later."
    )


def ccp_unknown_zone(zone: object, details: str) -> str:
    return (
        f"netcup's CCP API does not know the zone {zone!r} ({details}). Either it is not a domain of this "
        "customer account, or it is on netcup's newer DNS platform, which only the REST API reaches: add "
        "dns_netcup_api_v1_key to your credentials file."
    )


def ccp_not_an_api_answer(operation: str, status: int) -> str:
    return (
        f"netcup's CCP API answered {operation} with something that is not a CCP API response (HTTP {status}). "
        "Check dns_netcup_api_url in your credentials file, or retry later."
    )


def api_refused(api_name: str, operation: str, details: str) -> str:
    return f"netcup's {api_name} refused {operation} ({details})."


def rest_key_rejected(details: str) -> str:
    return (
        f"netcup's REST API rejected the API key ({details}). Check dns_netcup_api_v1_key in your credentials "
        f"file: it must be a REST API key (64 characters), not a CCP API key. {REST_KEY_HELP}"
    )


def api_unreachable(api_name: str, operation: str, attempts: int, failure: str, host: str) -> str:
    return (
        f"netcup's {api_name} did not answer {operation} properly after {attempts} attempts: {failure}. This is "
        "usually a passing problem at netcup or on the network: retry in a few minutes; if it persists, check "
        f"that this host can reach {host} over HTTPS (proxy, firewall) and netcup's status page."
    )


def rate_limit_budget_spent(api_name: str, operation: str, reason: str) -> str:
    return (
        f"netcup's {api_name} keeps refusing requests because of its rate limit ({reason}) during {operation}. "
        "Another program may be using the same account heavily; wait a few minutes and run Certbot again."
    )


def zone_override_outside(zone: str, name: str) -> str:
    return (
        f"--dns-netcup-zone-name is {zone}, but the record {name} is not inside that zone. Remove the option to "
        "let the plugin find the zone, or give the zone that holds this name."
    )
