"""The Certbot glue: options, credentials, and the flow of one authorization round.

``perform`` is overridden as a whole (instead of dns_common's per-record
``_perform`` followed by a fixed sleep) because the records are batched per zone
and the sleep is replaced by the active wait:

    challenges -> CNAME following -> zone and API per name -> nameservers per zone
      (all of the above before anything is created) -> create, per zone in one call
      -> wait until every authoritative server serves every value -> answer Certbot

``cleanup`` removes what the ledger says was created, whatever happened before.

This module is imported every time Certbot starts (plugin discovery), so the
heavy parts (requests, dnspython, the API clients) are imported inside methods.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Optional

from certbot import errors
from certbot.plugins import dns_common

if TYPE_CHECKING:  # pragma: no cover
    from certbot_dns_netcup._internal.credentials import Credentials
    from certbot_dns_netcup._internal.dns01.nameservers import Nameserver
    from certbot_dns_netcup._internal.netcup.ccp import CcpClient
    from certbot_dns_netcup._internal.netcup.rest import RestClient
    from certbot_dns_netcup._internal.planning import Planner
    from certbot_dns_netcup._internal.records import ChallengeRecord, RecordLedger

logger = logging.getLogger(__name__)

DEFAULT_PROPAGATION_SECONDS = 1200
MAX_PROPAGATION_SECONDS = 86400  # an ACME authorization does not wait for days; more is a typo
DEFAULT_LOGIN_RETRIES = 3
MAX_LOGIN_RETRIES = 20


def notify(message: str) -> None:
    """Show a line on Certbot's terminal (and in its log), on every Certbot version."""
    logger.info("%s", message)
    from certbot.display import util as display_util

    show = getattr(display_util, "notify", None)  # Certbot >= 1.18
    if show is not None:
        show(message)
        return
    import zope.component  # Certbot < 1.18 reaches its display through zope
    from certbot import interfaces

    display = zope.component.getUtility(interfaces.IDisplay)  # type: ignore[attr-defined]
    display.notification(message, pause=False, wrap=False)


class Authenticator(dns_common.DNSAuthenticator):
    """DNS Authenticator for netcup: publishes the TXT records through netcup's APIs and waits for
    netcup's nameservers to serve them."""

    description = (
        "Obtain certificates using a DNS TXT record, if you are using netcup for DNS: waits until every "
        "netcup nameserver serves the record instead of sleeping a fixed time."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._credentials: Optional[Credentials] = None
        self._ccp: Optional[CcpClient] = None
        self._rest: Optional[RestClient] = None
        self._ledger: Optional[RecordLedger] = None

    @classmethod
    def add_parser_arguments(  # type: ignore[override]
        cls, add: Callable[..., None], default_propagation_seconds: int = DEFAULT_PROPAGATION_SECONDS
    ) -> None:
        # Registered here rather than by dns_common: there it means a fixed sleep, here the bound of the wait.
        add(
            "propagation-seconds",
            default=default_propagation_seconds,
            type=int,
            help="Upper bound, in seconds, of the wait for netcup's nameservers: Certbot goes on as soon as every "
            "authoritative nameserver serves every record, and stops (removing the records) if they do not "
            f"within this time; 0 means do not wait. (default: {default_propagation_seconds})",
        )
        add(
            "credentials",
            help="Path to the netcup credentials INI file (CCP API: dns_netcup_customer_id, dns_netcup_api_key, "
            "dns_netcup_api_password; REST API: dns_netcup_api_v1_key).",
        )
        add(
            "zone-name",
            default=None,
            help="The netcup zone that holds the names (e.g. example.com); skips the zone lookup.",
        )
        add(
            "login-retries",
            default=DEFAULT_LOGIN_RETRIES,
            type=int,
            help="How often to log in again when netcup ends the CCP API session early. "
            f"(default: {DEFAULT_LOGIN_RETRIES})",
        )
        add(
            "nameservers",
            default=None,
            help="Comma-separated nameservers to poll instead of the zone's NS set (host, host:port, IPv4, "
            "IPv4:port, [IPv6]:port), for split-horizon setups. (default: discovered from DNS)",
        )

    def more_info(self) -> str:
        return (
            "This plugin creates the dns-01 TXT records through netcup's CCP or REST API, waits until every "
            "authoritative nameserver of the zone serves them, and removes them afterwards."
        )

    def auth_hint(self, failed_achalls: list[Any]) -> str:
        return (
            "The certificate authority could not find the expected TXT record, although every nameserver the "
            "dns-netcup plugin polled served it before the CA was asked. Check that the domain's delegation "
            "(its NS records at the registry) names only netcup's nameservers and that DNSSEC is consistent; "
            "`certbot-dns-netcup check DOMAIN --credentials FILE` shows both."
        )

    # ----- configuration -------------------------------------------------------
    def _setup_credentials(self) -> None:
        if self._credentials is not None:
            return
        from certbot_dns_netcup._internal.credentials import load_credentials
        from certbot_dns_netcup._internal.errors import NetcupError
        from certbot_dns_netcup._internal.netcup.ccp import CcpClient
        from certbot_dns_netcup._internal.netcup.rest import RestClient
        from certbot_dns_netcup._internal.records import RecordLedger
        from certbot_dns_netcup._internal.redaction import SECRETS, install_log_filter

        self._check_numbers()
        path = self.conf("credentials")
        if not path:
            if getattr(self.config, "noninteractive_mode", False):
                raise errors.PluginError(
                    "No netcup credentials file given: pass --dns-netcup-credentials PATH, an INI file with "
                    "dns_netcup_customer_id, dns_netcup_api_key and dns_netcup_api_password (CCP API) and/or "
                    "dns_netcup_api_v1_key (REST API)."
                )
            self._configure_file("credentials", "netcup credentials INI file")
            path = self.conf("credentials")
        path = os.path.abspath(os.path.expanduser(path))
        setattr(self.config, self.dest("credentials"), path)  # renewal configs keep an absolute path
        try:
            credentials = load_credentials(path)
        except NetcupError as error:
            raise errors.PluginError(str(error)) from None
        # Certbot's own check: warns when the file is readable by others.
        dns_common.validate_file_permissions(path)
        for secret in credentials.secrets():
            SECRETS.add(secret)
        install_log_filter()
        self._credentials = credentials
        if credentials.ccp:
            self._ccp = CcpClient(credentials.ccp, credentials.ccp_url, login_retries=self.conf("login-retries"))
        if credentials.rest_key:
            self._rest = RestClient(credentials.rest_key, credentials.rest_url)
        self._ledger = RecordLedger(self._ccp, self._rest)

    def _check_numbers(self) -> None:
        bound = self.conf("propagation-seconds")
        if bound is None or not 0 <= int(bound) <= MAX_PROPAGATION_SECONDS:
            raise errors.PluginError(
                f"--dns-netcup-propagation-seconds is {bound}: give the longest time, in seconds, to wait for "
                f"netcup's nameservers, from 0 (do not wait) to {MAX_PROPAGATION_SECONDS}. The default, "
                f"{DEFAULT_PROPAGATION_SECONDS}, covers netcup's slowest reloads."
            )
        retries = self.conf("login-retries")
        if retries is None or not 0 <= int(retries) <= MAX_LOGIN_RETRIES:
            raise errors.PluginError(
                f"--dns-netcup-login-retries is {retries}: give a number from 0 to {MAX_LOGIN_RETRIES} "
                f"(default {DEFAULT_LOGIN_RETRIES})."
            )

    # ----- the flow ----------------------------------------------------------
    def perform(self, achalls: list[Any]) -> list[Any]:
        self._setup_credentials()
        self._attempt_cleanup = True
        assert self._ledger is not None
        with _user_errors():
            planner = self._planner()
            records = planner.records(
                [
                    (achall.validation_domain_name(_identifier(achall)), achall.validation(achall.account_key))
                    for achall in achalls
                ]
            )
            targets = [r.target for r in records]
            waiting = int(self.conf("propagation-seconds")) > 0
            servers = planner.nameservers(targets, self.conf("nameservers")) if waiting else {}
            notify(_creating_message(records))
            self._ledger.publish(records)
            self._wait(records, servers)
        return [achall.response(achall.account_key) for achall in achalls]

    def cleanup(self, achalls: list[Any]) -> None:
        if self._ledger is None:
            return
        from certbot_dns_netcup._internal.errors import NetcupError

        try:
            self._ledger.remove_all()
        except NetcupError as error:
            raise errors.PluginError(str(error)) from None
        finally:
            if self._ccp is not None:
                self._ccp.logout()

    def _planner(self) -> Planner:
        from certbot_dns_netcup._internal.netcup.zones import ZoneResolver
        from certbot_dns_netcup._internal.planning import Planner

        zones = ZoneResolver(self._ccp, self._rest, self.conf("zone-name"))
        return Planner(zones, notify, self._system_resolver)

    def _system_resolver(self) -> Any:
        """The recursive resolver of /etc/resolv.conf (tests replace this method)."""
        from certbot_dns_netcup._internal.dns01 import dnslookup

        return dnslookup.make_system_resolver()

    def _wait(self, records: list[ChallengeRecord], servers: dict[str, list[Nameserver]]) -> None:
        from certbot_dns_netcup._internal.dns01 import propagation

        bound = int(self.conf("propagation-seconds"))
        if bound == 0:
            notify("Not waiting for netcup's nameservers (--dns-netcup-propagation-seconds is 0).")
            return
        expected = [propagation.ExpectedRecord(r.target.zone, r.name, r.value) for r in records]
        started = time.monotonic()
        propagation.wait_for_propagation(expected, servers, bound, notify)
        logger.debug("propagation wait took %.1f s", time.monotonic() - started)

    # dns_common's per-record hooks are not used: perform and cleanup batch the records per zone.
    def _perform(self, domain: str, validation_name: str, validation: str) -> None:  # pragma: no cover
        raise NotImplementedError("records are created in batches by perform()")

    def _cleanup(self, domain: str, validation_name: str, validation: str) -> None:  # pragma: no cover
        raise NotImplementedError("records are removed in batches by cleanup()")


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn the plugin's own errors into PluginError: Certbot prints those as a message, not a traceback."""
    from certbot_dns_netcup._internal.dns01.dnslookup import DnsLookupError
    from certbot_dns_netcup._internal.dns01.propagation import PropagationTimeout
    from certbot_dns_netcup._internal.errors import NetcupError

    try:
        yield
    except (NetcupError, PropagationTimeout, DnsLookupError) as error:
        raise errors.PluginError(str(error)) from None


def _identifier(achall: Any) -> str:
    """The name being validated: ``identifier.value`` on Certbot >= 4, ``domain`` before (deprecated since)."""
    identifier = getattr(achall, "identifier", None)
    value = getattr(identifier, "value", None)
    return str(value) if value else str(achall.domain)


def _creating_message(records: list[ChallengeRecord]) -> str:
    zones = sorted({r.target.zone for r in records})
    apis = sorted({r.target.api_name for r in records})
    return (
        f"Creating {len(records)} TXT record{'s' if len(records) != 1 else ''} in "
        f"{', '.join(zones)} through netcup's {' and '.join(apis)}"
    )


def _declare_zope_interfaces() -> None:
    """Certbot 1.x before 1.19 finds plugins through zope interfaces; later ones through the class."""
    from certbot import interfaces

    authenticator_interface = getattr(interfaces, "IAuthenticator", None)
    factory_interface = getattr(interfaces, "IPluginFactory", None)
    if authenticator_interface is None or factory_interface is None:
        return
    try:
        import zope.interface
        from zope.interface.interface import InterfaceClass
    except ImportError:  # Certbot 2 and later neither need nor install zope
        return
    # Certbot 2 and later define these names as plain abstract classes, not zope interfaces.
    if not isinstance(authenticator_interface, InterfaceClass):
        return

    zope.interface.implementer(authenticator_interface)(Authenticator)
    zope.interface.provider(factory_interface)(Authenticator)


_declare_zope_interfaces()
