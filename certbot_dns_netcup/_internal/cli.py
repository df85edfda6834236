"""``certbot-dns-netcup`` (also ``python -m certbot_dns_netcup``): the ``check`` command.

    certbot-dns-netcup check DOMAIN --credentials FILE [--probe] [--json]
        [--nameservers LIST] [--zone-name ZONE] [--timeout SECONDS] [--work-dir DIR]

Tells, before a renewal fails, whether the dns-netcup plugin will manage
DOMAIN and, with ``--probe``, how long netcup's nameservers take.  The checks
live in ``check``; this module parses the command line, renders the report (a
table or JSON on stdout; live progress on stderr) and picks the exit status:
0 a renewal would work, 1 it would fail (the report says why), 2 the command
line or the credentials file is wrong, 130 interrupted (Ctrl-C), 128 + the
signal's number for SIGTERM or SIGHUP (the probe record is removed first).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import textwrap
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any, Callable, Optional, TextIO

from certbot_dns_netcup._internal import defaults
from certbot_dns_netcup._internal.check import Checker
from certbot_dns_netcup._internal.check_report import ProbeReport, RegistryCheck, Report
from certbot_dns_netcup._internal.credentials import load_credentials
from certbot_dns_netcup._internal.dns01 import dnslookup, nameservers
from certbot_dns_netcup._internal.dns01.nameservers import endpoint
from certbot_dns_netcup._internal.errors import NetcupError
from certbot_dns_netcup._internal.netcup.zones import ascii_domain_name
from certbot_dns_netcup._internal.redaction import install_log_filter
from certbot_dns_netcup._version import __version__

PROG = "certbot-dns-netcup"
EXIT_OK = 0
EXIT_WOULD_FAIL = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
WIDTH = 100  # of the text report
CERTBOT_WORK_DIR = "/var/lib/letsencrypt"  # Certbot's default --work-dir


class UsageError(Exception):
    """The command line or the credentials file is wrong: exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Tools for the dns-netcup Certbot plugin (netcup DNS).")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    check = commands.add_parser(
        "check",
        help="tell whether a renewal of DOMAIN would work, and how long netcup takes",
        description="Check, without touching the zone (unless --probe), whether Certbot's dns-netcup plugin can "
        "renew a certificate for DOMAIN: credentials, the zone holding _acme-challenge.DOMAIN (following a CNAME) "
        "and its API, the zone's nameservers and their reachability, the delegation at the registry (the parent zone's "
        "NS set) and DNSSEC (its DS records against the zone's keys). Exit status: 0 a renewal would work, 1 it "
        "would fail (the report says why), 2 bad command line or credentials file.",
    )
    check.add_argument("domain", metavar="DOMAIN", help="the name on the certificate (for a wildcard, *.NAME or NAME)")
    check.add_argument(
        "--credentials",
        required=True,
        metavar="FILE",
        help="the credentials INI file given to Certbot as --dns-netcup-credentials",
    )
    check.add_argument(
        "--probe",
        action="store_true",
        help="publish a throwaway TXT record, time how long each nameserver takes to serve it, "
        "remove it, and recommend a --dns-netcup-propagation-seconds bound",
    )
    check.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    check.add_argument(
        "--nameservers",
        metavar="LIST",
        default=None,
        help="comma-separated nameservers to check instead of the zone's NS set, as with "
        "--dns-netcup-nameservers (host, host:port, IPv4, IPv4:port, [IPv6]:port)",
    )
    check.add_argument(
        "--zone-name",
        metavar="ZONE",
        default=None,
        help="the netcup zone that holds the name, as with --dns-netcup-zone-name",
    )
    check.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_bound,
        default=defaults.DEFAULT_PROPAGATION_SECONDS,
        help=f"longest wait for the probe record, in seconds (default: {defaults.DEFAULT_PROPAGATION_SECONDS})",
    )
    check.add_argument(
        "--work-dir",
        metavar="DIR",
        default=None,
        help="Certbot's --work-dir, where the plugin journals the records it creates: the check lists those that "
        f"runs which ended early left behind (default: {CERTBOT_WORK_DIR}); given, the probe is journaled there too",
    )
    return parser


def _bound(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds") from None
    if not 1 <= value <= defaults.MAX_PROPAGATION_SECONDS:
        raise argparse.ArgumentTypeError(f"give a number of seconds from 1 to {defaults.MAX_PROPAGATION_SECONDS}")
    return value


def main(
    argv: Optional[Sequence[str]] = None,
    resolver_factory: Optional[Callable[[], Any]] = None,
    *,
    stdout: Optional[TextIO] = None,
    stderr: Optional[TextIO] = None,
    parent_port: int = 53,
) -> int:
    """Run the command line ``argv`` and return the exit status.

    ``resolver_factory`` replaces the system's resolver (/etc/resolv.conf), and ``parent_port`` the port
    the parent zone's servers are asked on, for tests.
    """
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    args = build_parser().parse_args(argv)  # exits with status 2 and the usage on a bad command line
    _log_to(err)

    def progress(message: str) -> None:
        print(f"  {message}", file=err, flush=True)

    checker: Optional[Checker] = None
    try:
        with _termination_as_interrupt():
            try:
                checker = _checker(args, resolver_factory or dnslookup.make_system_resolver, progress, parent_port)
            except UsageError as error:
                print(f"{PROG}: error: {error}", file=err)
                return EXIT_USAGE
            report = checker.run(args.timeout if args.probe else None)
    except KeyboardInterrupt as interrupt:
        print(_interrupted_message(checker.report if checker else None), file=err)
        return 128 + interrupt.signum if isinstance(interrupt, _Terminated) else EXIT_INTERRUPTED
    finally:
        if checker is not None:
            checker.close()
    if args.json:
        print(json.dumps(report_dict(report), indent=2), file=out)
    else:
        print(render_text(report), file=out)
    return EXIT_OK if report.ok else EXIT_WOULD_FAIL


def _checker(
    args: argparse.Namespace,
    resolver_factory: Callable[[], Any],
    progress: Callable[[str], None],
    parent_port: int = 53,
) -> Checker:
    """Everything that can be wrong before netcup is asked: the domain, the options, the credentials file."""
    try:
        raw = args.domain[2:] if args.domain.startswith("*.") else args.domain
        domain = ascii_domain_name(raw)
        if args.nameservers:
            try:
                nameservers.parse_nameservers_option(args.nameservers)
            except ValueError as error:
                raise UsageError(f"--nameservers: {error}") from None
        credentials = load_credentials(os.path.abspath(os.path.expanduser(args.credentials)))
        return Checker(
            domain,
            credentials,
            zone_name=args.zone_name,
            nameservers=args.nameservers,
            resolver_factory=resolver_factory,
            progress=progress,
            parent_port=parent_port,
            work_dir=os.path.abspath(os.path.expanduser(args.work_dir or CERTBOT_WORK_DIR)),
            # The probe is journaled only in a --work-dir the user named: check never writes to the system's.
            journal_probe=args.work_dir is not None,
        )
    except NetcupError as error:
        raise UsageError(str(error)) from None


class _Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP: ended like Ctrl-C, so that the probe record is removed before the exit."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextmanager
def _termination_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP raise ``_Terminated`` in the main thread while the check runs (default: they
    would end the process at once and leave a probe record in the zone)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: Any) -> None:
        raise _Terminated(signum)

    wanted = [signal.SIGTERM, *([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])]
    previous = {signum: signal.signal(signum, terminate) for signum in wanted}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _log_to(stream: TextIO) -> None:
    """Warnings of the package (and of the libraries) on stderr, with secrets scrubbed."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.WARNING)
    install_log_filter()


def _interrupted_message(report: Optional[Report]) -> str:
    probe = report.probe if report else None
    if probe is None or not probe.created:
        return "Interrupted. Nothing was created in the zone."
    if probe.removed:
        return f"Interrupted. The throwaway record {probe.record} was removed again."
    problems = "\n".join(report.problems) if report else ""
    return f"Interrupted, and the throwaway record {probe.record} could not be removed:\n{problems}"


# ----- rendering -------------------------------------------------------------------------------------------------
def report_dict(report: Report) -> dict[str, Any]:
    data = asdict(report)
    data["ok"] = report.ok
    data["record_target"] = report.cname_target or report.record_name
    return data


def _table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]


def _accepted(accepted: Optional[bool], present: bool) -> str:
    if not present:
        return "-"
    return {True: "accepted", False: "REJECTED", None: "could not be checked"}[accepted]


def _wrapped(text: str, first: str, rest: str) -> list[str]:
    """``text`` wrapped to WIDTH, its own line breaks kept (a timeout report has a line per server)."""
    lines: list[str] = []
    for paragraph in text.splitlines():
        prefix = first if not lines else rest
        indent = rest + " " * (len(paragraph) - len(paragraph.lstrip()))  # detail lines keep their indent
        wrapped = textwrap.wrap(
            paragraph.strip(),
            WIDTH,
            initial_indent=indent if lines else prefix,
            subsequent_indent=indent,
            break_on_hyphens=False,
            break_long_words=False,
        )
        lines += wrapped or [prefix.rstrip()]
    return lines


def render_text(report: Report) -> str:
    lines = [f"dns-netcup check for {report.domain}", ""]
    lines.append(f"Credentials ({report.credentials_file})")
    lines += _table([[a.api, a.found, _accepted(a.accepted, a.present)] for a in report.apis])
    lines.append("")
    lines.append("Challenge record")
    rows = [["name", report.record_name]]
    if report.cname_target:
        rows.append(["CNAME to", f"{report.cname_target} (the record is created there)"])
    rows.append(["zone", f"{report.zone}, through netcup's {report.api}" if report.zone else "not found"])
    lines += _table(rows)
    if report.zone:
        lines += ["", *_nameserver_lines(report)]
    if report.registry is not None:
        lines += ["", *_registry_lines(report.zone or report.domain, report.registry)]
    if report.probe is not None:
        lines += ["", *_probe_lines(report.probe)]
    lines += _leftover_lines(report)
    if report.warnings:
        lines += ["", "Warnings"]
        for warning in report.warnings:
            lines += _wrapped(warning, "  - ", "    ")
    if report.notes:
        lines += ["", "Notes"]
        for note in report.notes:
            lines += _wrapped(note, "  - ", "    ")
    lines.append("")
    if report.ok:
        lines.append(f"Result: OK - a renewal of {report.domain} with the dns-netcup plugin would work.")
    else:
        lines.append(f"Result: a renewal of {report.domain} with the dns-netcup plugin would FAIL:")
        for problem in report.problems:
            lines += _wrapped(problem, "  - ", "    ")
    return "\n".join(lines)


def _nameserver_lines(report: Report) -> list[str]:
    verdict = {True: "netcup's", False: "NOT netcup's", None: "unknown"}[report.delegated_to_netcup]
    lines = [f"Nameservers of {report.zone} (its delegation, as the world sees it): {verdict}"]
    if report.delegation:
        lines += [f"  {name}" for name in report.delegation]
    else:
        lines.append("  (not found)")
    if report.servers:
        source = "from --nameservers" if report.servers_source == "--nameservers" else "of these hosts"
        lines += ["", f"Addresses {source}, asked directly (non-recursive)"]
        rows = [["HOST", "ADDRESS", "FAMILY", "ANSWER"]]
        rows += [[s.host, endpoint(s.address, s.port), s.family, s.status] for s in report.servers]
        lines += _table(rows)
        families = [
            f"{family} {'reachable' if ok else 'NOT reachable'}" for family, ok in sorted(report.families.items())
        ]
        missing = [f"{family} no addresses" for family in ("IPv4", "IPv6") if family not in report.families]
        lines.append("  " + "; ".join(families + missing))
    return lines


_DNSSEC_TEXT = {
    "unsigned": "not in use (no DS at the registry, no DNSKEY in the zone)",
    "unsigned delegation": "not in effect (the zone serves DNSKEYs, the registry has no DS)",
    "secure": "consistent (a DS at the registry matches a DNSKEY of every nameserver)",
    "broken": "BROKEN (a nameserver serves no DNSKEY that a DS at the registry matches)",
    "unknown": "could not be checked",
    "not checked": "not checked",
}


def _registry_lines(zone: str, registry: RegistryCheck) -> list[str]:
    if not registry.checked:
        return [f"Delegation of {zone} at the registry: not checked (see Notes)"]
    verdict = {True: " (matches the zone)", False: " (DIFFERS from the zone)", None: ""}[registry.nameservers_match]
    lines = [f"Delegation of {zone} at the registry (parent zone {registry.parent_zone}, asked {registry.server})"]
    if registry.registered is False:
        registry_ns = "none: the domain does not exist (NXDOMAIN)"
    else:
        registry_ns = ", ".join(registry.nameservers) or "none"
    rows = [["registry", registry_ns + verdict]]
    if registry.zone_nameservers:
        rows.append(["zone", ", ".join(registry.zone_nameservers) + " (its own NS records)"])
    rows.append(["DNSSEC", _DNSSEC_TEXT.get(registry.dnssec, registry.dnssec)])
    ds_lines: list[str] = []
    for ds in registry.ds:
        if not ds.checkable:
            matches = "cannot be checked here"
        elif ds.matches:
            matches = "matches the key of " + ", ".join(ds.matches)
        else:
            matches = "matches NO key of the zone"
        ds_lines.append(f"DS {ds.record}: {matches}")
    lines += _table(rows)
    for line in ds_lines:
        lines += _wrapped(line, "  ", "    ")
    for server in registry.apex:
        keys = server.status if server.dnskeys is None else ", ".join(server.dnskeys) or "no DNSKEY"
        where = endpoint(server.address, server.port)
        who = where if server.host == server.address else f"{server.host} ({where})"
        lines += _wrapped(f"DNSKEY {who}: {keys}", "  ", "    ")
    return lines


def _leftover_lines(report: Report) -> list[str]:
    """The records the plugin's journals still hold, and challenge values in the zone that none explains."""
    found = report.leftovers
    if found is None:
        return []
    lines = ["", f"Records left behind (journals in {found.journal_dir})"]
    for note in found.journaled:
        lines.append(f'  {note.name} TXT "{note.value}" in {note.zone} ({note.api}), run {note.run}: {note.run_state}')
    if not found.journaled:
        lines.append("  none in the journals" if not found.journal_error else f"  {found.journal_error}")
    if found.unexplained:
        lines.append("  _acme-challenge TXT values in the zone that no journal on this host explains:")
        lines += [f"    {text}" for text in found.unexplained]
    elif found.not_listed:
        lines += _wrapped(found.not_listed, "  ", "  ")
    elif report.zone:
        lines.append(f"  no other _acme-challenge TXT values in {report.zone}")
    return lines


def _probe_lines(probe: ProbeReport) -> list[str]:
    lines = [f"Probe: a throwaway TXT record at {probe.record} (waited at most {probe.bound:.0f} s)"]
    if probe.servers:
        rows = [["HOST", "ADDRESS", "SERVED"]]
        rows += [[s.host, endpoint(s.address, s.port), s.status] for s in probe.servers]
        lines += _table(rows)
    if probe.created:
        lines.append("  The record was removed again." if probe.removed else "  The record could NOT be removed.")
    if probe.recommended_seconds is not None and probe.slowest is not None:
        slowest_reload = defaults.NETCUP_SLOWEST_RELOAD
        advice = (
            f"Slowest server: {probe.slowest:.1f} s. Recommended: {defaults.BOUND_OPTION} {probe.recommended_seconds} "
            "(twice the slowest time, rounded up to a minute, at least 120). netcup's nameservers can take up to "
            f"{slowest_reload // 60} minutes to reload a zone, though: the default, {slowest_reload}, "
            "is the safe choice, and costs nothing when netcup is fast, because the plugin goes on as soon as every "
            "nameserver serves the record."
        )
        lines += _wrapped(advice, "  ", "  ")
    return lines
