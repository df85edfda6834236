"""One run of the plugin's flow, for the Certbot plugin and ``certbot-dns-netcup check`` alike.

    run = Run(credentials, RunOptions(...), notify, warn)
    try:
        run.remove_left_behind()      # what killed runs on this host left in the zones
        plan = run.plan(wanted)       # CNAMEs, zones and APIs, nameservers and their authority:
                                      # everything decided before anything is created
        run.publish(plan)             # each record journalled first; signals held until done
        run.wait(plan, bound)         # every authoritative address serves every value, confirmed
    finally:
        run.remove()                  # whatever happened before; signals held until done
        run.close()                   # the journal, the CCP session, every HTTP session

The run owns everything it opens: the API clients (secrets registered once,
here), the planner, the journal and the ledger.  The Certbot glue and the check
command differ only in how they show progress and what they do with errors.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from certbot_dns_netcup._internal import defaults
from certbot_dns_netcup._internal.credentials import Credentials
from certbot_dns_netcup._internal.dns01 import dnslookup, propagation
from certbot_dns_netcup._internal.dns01.authority import AuthorityReport
from certbot_dns_netcup._internal.dns01.nameservers import Nameserver
from certbot_dns_netcup._internal.interrupts import interrupts_deferred, signal_name
from certbot_dns_netcup._internal.journal import Journal
from certbot_dns_netcup._internal.netcup.ccp import CcpClient
from certbot_dns_netcup._internal.netcup.rest import RestClient
from certbot_dns_netcup._internal.netcup.zones import ChallengeRecord, ZoneResolver
from certbot_dns_netcup._internal.planning import Planner
from certbot_dns_netcup._internal.records import RecordLedger, remove_left_behind
from certbot_dns_netcup._internal.redaction import SECRETS, install_log_filter

logger = logging.getLogger(__name__)

Say = Callable[[str], None]


@dataclass(frozen=True)
class RunOptions:
    zone_name: Optional[str] = None  # --dns-netcup-zone-name
    nameservers: Optional[str] = None  # --dns-netcup-nameservers
    login_retries: int = defaults.DEFAULT_LOGIN_RETRIES
    work_dir: Optional[str] = None  # where the journal lives; None: no journal
    bound_option: str = defaults.BOUND_OPTION  # how messages name the wait's bound


@dataclass
class Plan:
    """Where each record goes and which addresses must serve it, decided before anything is created."""

    records: list[ChallengeRecord]
    servers: dict[str, list[Nameserver]] = field(default_factory=dict)  # zone -> addresses to wait for
    authority: Optional[AuthorityReport] = None  # how each address answered for its zone


class Run:
    def __init__(
        self,
        credentials: Credentials,
        options: RunOptions,
        notify: Say,
        warn: Say,
        resolver_factory: Callable[[], Any] = dnslookup.make_system_resolver,
    ) -> None:
        for secret in credentials.secrets():
            SECRETS.add(secret)
        install_log_filter()
        self.credentials = credentials
        self.options = options
        self.notify = notify
        self.warn = warn
        self.ccp = (
            CcpClient(credentials.ccp, credentials.ccp_url, login_retries=options.login_retries)
            if credentials.ccp
            else None
        )
        self.rest = RestClient(credentials.rest_key, credentials.rest_url) if credentials.rest_key else None
        # Raises ConfigurationError for a malformed zone name, before anything is asked.
        self.planner = Planner(ZoneResolver(self.ccp, self.rest, options.zone_name), notify, resolver_factory)
        account = credentials.ccp.customer_number if credentials.ccp else None
        self.journal = Journal(options.work_dir, warn, account=account) if options.work_dir else None
        self.ledger = RecordLedger(self.ccp, self.rest, self.journal)
        self._left_behind_checked = False

    def remove_left_behind(self) -> None:
        """Remove what runs on this host that were killed before their cleanup left in the zones (once)."""
        if self._left_behind_checked or self.journal is None:
            return
        self._left_behind_checked = True
        try:
            remove_left_behind(self.journal, self.ledger.backends, self.notify, self.warn)
        except Exception as error:  # the journal is a safety net: trouble with it never fails a renewal
            logger.debug("removing what earlier runs left behind failed", exc_info=True)
            self.warn(f"Could not check for TXT records that earlier runs left behind ({error}); going on.")

    def plan(self, wanted: Sequence[tuple[str, str]], *, waiting: bool = True) -> Plan:
        """Records for (validation name, value) pairs and, when ``waiting``, the servers to wait for."""
        records = self.planner.records(wanted)
        plan = Plan(records)
        if waiting:
            option = self.options.nameservers
            plan.servers = self.planner.nameservers([r.target for r in records], option)
            plan.authority = self.planner.check_authority(plan.servers, option)
        return plan

    def publish(self, plan: Plan) -> None:
        with interrupts_deferred(self._deferred_notice("creating the TXT records")):
            self.ledger.publish(plan.records)

    def wait(self, plan: Plan, bound: float, **tuning: Any) -> propagation.PropagationResult:
        expected = [propagation.ExpectedRecord(r.target.zone, r.name, r.value) for r in plan.records]
        return propagation.wait_for_propagation(
            expected,
            plan.servers,
            bound,
            self.notify,
            bound_option=self.options.bound_option,
            authority=plan.authority,
            **tuning,
        )

    def remove(self) -> None:
        """Remove every record this run may have created; ``CleanupError`` names what is left."""
        # A second Ctrl-C (or a SIGTERM) must not leave records behind: it is handled once they are gone.
        with interrupts_deferred(self._deferred_notice("removing the TXT records")):
            self.ledger.remove_all()

    def close(self) -> None:
        """End what the run opened; never raises (this runs during cleanup)."""
        if self.journal is not None:
            self.journal.close()
        if self.ccp is not None:
            self.ccp.logout()
            self.ccp.http.close()
        if self.rest is not None:
            self.rest.http.close()

    def _deferred_notice(self, step: str) -> Callable[[int], None]:
        def tell(signum: int) -> None:
            self.notify(f"{signal_name(signum)} received while {step}: finishing that first, then stopping.")

        return tell
