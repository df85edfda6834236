"""The Certbot glue: options, the credentials path, Certbot's display, and errors as Certbot shows them.

``perform`` is overridden as a whole (instead of dns_common's per-record
``_perform`` followed by a fixed sleep): the records are batched per zone and
the sleep is replaced by the active wait.  The flow itself is the run object's
(run.py), shared with ``certbot-dns-netcup check``; ``cleanup`` has it remove
what may have been created, whatever happened before.

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

from certbot_dns_netcup._internal.defaults import (
    BOUND_OPTION,
    DEFAULT_LOGIN_RETRIES,
    DEFAULT_PROPAGATION_SECONDS,
    MAX_LOGIN_RETRIES,
    MAX_PROPAGATION_SECONDS,
)

if TYPE_CHECKING:  # pragma: no cover
    from certbot_dns_netcup._internal.netcup.zones import ChallengeRecord
    from certbot_dns_netcup._internal.run import Run

logger = logging.getLogger(__name__)


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
        self._run: Optional[Run] = None

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
            "The certificate authority could not find the TXT record, although every nameserver the dns-netcup "
            "plugin polled served it. Check the domain's delegation at the registry and DNSSEC (the DS records at "
            "the registry against the zone's keys): `certbot-dns-netcup check DOMAIN --credentials FILE` shows both."
        )

    # ----- configuration -------------------------------------------------------
    def _setup_credentials(self) -> None:
        """Start the run: check the options, read the credentials file, open the journal (once)."""
        if self._run is not None:
            return
        from certbot_dns_netcup._internal.credentials import load_credentials
        from certbot_dns_netcup._internal.errors import NetcupError
        from certbot_dns_netcup._internal.run import Run, RunOptions

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
        options = RunOptions(
            zone_name=self.conf("zone-name"),
            nameservers=self.conf("nameservers"),
            login_retries=int(self.conf("login-retries")),
            # The journal of the records this run creates lives under Certbot's --work-dir (journal.py).
            work_dir=getattr(self.config, "work_dir", None),
        )
        try:
            credentials = load_credentials(path)
            # Certbot's own check: warns when the file is readable by others.
            dns_common.validate_file_permissions(path)
            self._run = Run(credentials, options, notify, _warn, self._system_resolver)
        except NetcupError as error:
            raise errors.PluginError(str(error)) from None

    def _check_numbers(self) -> None:
        bound = self.conf("propagation-seconds")
        if bound is None or not 0 <= int(bound) <= MAX_PROPAGATION_SECONDS:
            raise errors.PluginError(
                f"{BOUND_OPTION} is {bound}: give the longest time, in seconds, to wait for "
                f"netcup's nameservers, from 0 (do not wait) to {MAX_PROPAGATION_SECONDS}. The default, "
                f"{DEFAULT_PROPAGATION_SECONDS}, covers netcup's slowest reloads."
            )
        retries = self.conf("login-retries")
        if retries is None or not 0 <= int(retries) <= MAX_LOGIN_RETRIES:
            raise errors.PluginError(
                f"--dns-netcup-login-retries is {retries}: give a number from 0 to {MAX_LOGIN_RETRIES} "
                f"(default {DEFAULT_LOGIN_RETRIES})."
            )

    def _system_resolver(self) -> Any:
        """The recursive resolver of /etc/resolv.conf (tests replace this method)."""
        from certbot_dns_netcup._internal.dns01 import dnslookup

        return dnslookup.make_system_resolver()

    # ----- the flow ----------------------------------------------------------
    def perform(self, achalls: list[Any]) -> list[Any]:
        self._setup_credentials()
        run = self._run
        assert run is not None
        bound = int(self.conf("propagation-seconds"))
        wanted = [
            (achall.validation_domain_name(_identifier(achall)), achall.validation(achall.account_key))
            for achall in achalls
        ]
        with _user_errors():
            run.remove_left_behind()
            plan = run.plan(wanted, waiting=bound > 0)
            notify(_creating_message(plan.records))
            run.publish(plan)
            if bound == 0:
                notify(f"Not waiting for netcup's nameservers ({BOUND_OPTION} is 0).")
            else:
                started = time.monotonic()
                run.wait(plan, bound)
                logger.debug("propagation wait took %.1f s", time.monotonic() - started)
        return [achall.response(achall.account_key) for achall in achalls]

    def cleanup(self, achalls: list[Any]) -> None:
        run = self._run
        if run is None:
            return
        self._run = None  # a later perform (Certbot's next round of challenges) starts afresh
        try:
            with _user_errors():
                run.remove()
        finally:
            run.close()

    # dns_common's per-record hooks are not used: perform and cleanup batch the records per zone.
    def _perform(self, domain: str, validation_name: str, validation: str) -> None:  # pragma: no cover
        raise NotImplementedError("records are created in batches by perform()")

    def _cleanup(self, domain: str, validation_name: str, validation: str) -> None:  # pragma: no cover
        raise NotImplementedError("records are removed in batches by cleanup()")


def _warn(message: str) -> None:
    """A warning on Certbot's terminal and in its log; the run goes on."""
    logger.warning("%s", message)


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn the plugin's own errors into PluginError: Certbot prints those as a message, not a traceback."""
    from certbot_dns_netcup._internal.dns01.authority import NoAuthoritativeServerError
    from certbot_dns_netcup._internal.dns01.dnslookup import DnsLookupError
    from certbot_dns_netcup._internal.dns01.propagation import PropagationTimeout
    from certbot_dns_netcup._internal.errors import NetcupError

    try:
        yield
    except (NetcupError, PropagationTimeout, DnsLookupError, NoAuthoritativeServerError) as error:
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
