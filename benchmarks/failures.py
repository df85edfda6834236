"""Failure cases a new user meets: how long Certbot runs before it gives up (or issues), 3.0.0 against now.

Each case runs the real ``certbot certonly --authenticator dns-netcup`` for one name, against Pebble and
a fresh sandbox (netcup's API doubles, three authoritative nameservers lagging 0, 0.5 and 1 s, the
recursive resolvers), with nameserver discovery as on a user's host: Certbot runs in a private mount
namespace whose /etc/resolv.conf names the sandbox's resolver, and no ``--dns-netcup-nameservers``.
Measured: the time from Certbot's start to its exit (the whole process), the outcome (a certificate, or
the error's first line), the calls the API doubles logged (CCP logins among them), the TXT records the
run created, and a timeline of what happened when.

Cases:

- ``wrong-password``: CCP keys with a wrong API password (the CCP double answers a wrong login with
  netcup's rate-limit text, as the real API does);
- ``rest-key-rejected``: a REST API key netcup rejects (HTTP 400 authenticationError), on a REST zone;
- ``lame-<mode>``: one of the zone's three nameservers is lame (``refused``: REFUSED; ``notauth``: NOTAUTH;
  ``noaa``: answers without the AA flag; ``referral``: a referral instead of an answer; ``othersoa``:
  NXDOMAIN with the parent's SOA), each mode the sandbox's dns_server.MODES has;
- ``no-authoritative``: every nameserver of the zone answers REFUSED;
- ``silent``: one nameserver never answers, from the start.

Versions: ``before`` is release 3.0.0 (commit 2be1e59), installed with Certbot in a venv of its own from
a git worktree outside the checkout (``--prepare-before`` makes both); ``after`` is this checkout (the
venv running this script).  Both run against this checkout's sandbox, with
``--dns-netcup-propagation-seconds 120``, a bound a user might set (``--bound``); for a run that ended
at that bound the table also gives what the default bound (1200 s) would cost, computed as
1200 s + the run's time past its bound, unless a run with ``--bound 1200`` was measured.

Results accumulate in benchmarks/results/failures.json: a run replaces the earlier run of the same
version, case and bound, so the current code can be rerun alone at the end.

    python -m benchmarks.failures --prepare-before               # once: worktree + venv of 3.0.0 under /tmp
    python -m benchmarks.failures                                # both versions, every case (about 20 min)
    python -m benchmarks.failures --version after                # the current code only (about 1 min)
    python -m benchmarks.failures --version before --cases lame-refused --bound 1200   # about 21 min
    python -m benchmarks.failures --remove-before                # drop the worktree and the venv
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from benchmarks.common import (
    REPO_ROOT,
    RESULTS_DIR,
    add_seed_argument,
    git_commit,
    markdown_table,
    progress,
    seeded,
    write_results,
)
from netcup_sandbox.certbot_runner import (
    CertbotRunner,
    certonly_subcommand,
    private_resolv_conf_unavailable,
    write_ca_bundle,
    write_resolv_conf,
)
from netcup_sandbox.checks import challenge_owner, values_published_since
from netcup_sandbox.dns_server import MODES
from netcup_sandbox.pebble import Pebble
from netcup_sandbox.sandbox import Sandbox, ServerSpec, ZoneSpec
from netcup_sandbox.state import NETCUP_NAMESERVERS

BEFORE_COMMIT = "2be1e59"  # release 3.0.0
BEFORE_WORKTREE = Path(tempfile.gettempdir()) / "cdn-3.0.0"
BEFORE_VENV = Path(tempfile.gettempdir()) / "cdn-3.0.0-venv"
VERSION_LABELS = {"before": "3.0.0", "after": "now"}
USER_BOUND = 120  # --dns-netcup-propagation-seconds a user might set
DEFAULT_BOUND = 1200  # the option's default, in 3.0.0 and now
EXIT_MARGIN = 600.0  # seconds past the bound before a run is killed and reported as a timeout
LAGS = (0.0, 0.5, 1.0)
CCP_ZONE = "example.test"
REST_ZONE = "cloud.test"
WRONG_PASSWORD = "not-the-api-password"
REJECTED_REST_KEY = "revokedRestKey" + "1" * 50  # 64 characters, like a real one
# Lame answers, in the order they appear in the table; only those the sandbox has are run.
LAME_MODES = ("refused", "notauth", "noaa", "referral", "othersoa")
LAME_DESCRIPTIONS = {
    "refused": "answers REFUSED",
    "notauth": "answers NOTAUTH",
    "noaa": "answers without the AA flag",
    "referral": "answers with a referral",
    "othersoa": "answers NXDOMAIN with the parent's SOA",
}
# A record of Certbot's log file (letsencrypt.log): time, level, logger, the message's first line.
LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+:(?P<level>[A-Z]+):(?P<logger>[^:]*):(?P<message>.*)$")
# Certbot's own lines around a plugin's message: not the error a user reads first.
CERTBOT_BOILERPLATE = (
    "Saving debug log to",
    "Requesting a certificate for",
    "Account registered",
    "Ask for help or search for solutions",
    "See the logfile",
    "Re-run Certbot with -v",
    "Some challenges have failed",
    "Certbot failed to authenticate",
    "Successfully received certificate",
    "Certificate is saved at",
    "Key is saved at",
    "This certificate expires on",
    "These files will be updated",
    "Certbot has set up a scheduled task",
    "NEXT STEPS",
    "If you like Certbot",
    "Donating to ISRG",
    "Donating to EFF",
    "- - - -",
    "* ",
    "- The certificate will need to be renewed",
)


@dataclass(frozen=True)
class Case:
    key: str
    title: str
    zone: ZoneSpec
    modes: tuple[str, ...] = ("normal", "normal", "normal")  # the zone's three nameservers
    ccp: bool = True  # which API's keys go into the credentials file
    rest: bool = False
    overrides: dict[str, Optional[str]] = field(default_factory=dict)

    @property
    def domain(self) -> str:
        return self.zone.name

    def servers(self) -> list[ServerSpec]:
        return [ServerSpec(name, lag=lag, mode=mode) for name, lag, mode in zip(NETCUP_NAMESERVERS, LAGS, self.modes)]


def all_cases() -> list[Case]:
    cases = [
        Case(
            "wrong-password",
            "(a) CCP login with a wrong API password",
            ZoneSpec(CCP_ZONE),
            overrides={"dns_netcup_api_password": WRONG_PASSWORD},
        ),
        Case(
            "rest-key-rejected",
            "(b) a REST API key netcup rejects (HTTP 400 authenticationError)",
            ZoneSpec(REST_ZONE, platform="rest"),
            ccp=False,
            rest=True,
            overrides={"dns_netcup_api_v1_key": REJECTED_REST_KEY},
        ),
    ]
    cases += [
        Case(
            f"lame-{mode}",
            f"(c) one of three nameservers lame: {LAME_DESCRIPTIONS[mode]}",
            ZoneSpec(CCP_ZONE),
            modes=("normal", "normal", mode),
        )
        for mode in LAME_MODES
        if mode in MODES
    ]
    cases += [
        Case(
            "no-authoritative",
            "(d) no authoritative nameserver: all three answer REFUSED",
            ZoneSpec(CCP_ZONE),
            modes=("refused", "refused", "refused"),
        ),
        Case(
            "silent",
            "(e) one of three nameservers silent from the start",
            ZoneSpec(CCP_ZONE),
            modes=("normal", "normal", "silent"),
        ),
    ]
    return cases


# ----- the two versions ---------------------------------------------------------------------------------------------
def prepare_before(worktree: Path, venv: Path) -> None:
    """A git worktree of 3.0.0 at ``worktree`` and a venv at ``venv`` with it and this venv's Certbot."""
    import certbot

    if not worktree.exists():
        subprocess.run(
            ["git", "-C", str(REPO_ROOT), "worktree", "add", "--detach", str(worktree), BEFORE_COMMIT], check=True
        )
    if not (venv / "bin" / "certbot").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, "-e", str(worktree), f"certbot=={certbot.__version__}"], check=True)


def remove_before(worktree: Path, venv: Path) -> None:
    if worktree.exists():
        subprocess.run(["git", "-C", str(REPO_ROOT), "worktree", "remove", "--force", str(worktree)], check=True)
    shutil.rmtree(venv, ignore_errors=True)


def describe_venv(venv: Path) -> dict[str, Any]:
    """Certbot's version in ``venv``, where its certbot_dns_netcup comes from, and that checkout's commit."""
    script = (
        "import json, os, certbot, certbot_dns_netcup as p; "
        "print(json.dumps([certbot.__version__, os.path.dirname(os.path.dirname(os.path.abspath(p.__file__)))]))"
    )
    # -I and another directory: "import certbot_dns_netcup" must not find this checkout's package in the cwd.
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-I", "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=tempfile.gettempdir(),
    )
    certbot_version, plugin_root = json.loads(done.stdout)
    # Recorded without this machine's paths: this checkout, or the 3.0.0 worktree by its commit.
    return {
        "venv": _where(venv),
        "certbot": certbot_version,
        "plugin_source": _where(Path(plugin_root)),
        "git_commit": git_commit(Path(plugin_root)),
    }


def _where(path: Path) -> str:
    """``path`` relative to this checkout, or "outside the checkout" (a temporary worktree or venv)."""
    try:
        return str(path.resolve().relative_to(REPO_ROOT.resolve())) or "."
    except ValueError:
        return "outside the checkout"


# ----- one run ------------------------------------------------------------------------------------------------------
def messages(output: str) -> list[str]:
    """The lines of Certbot's output a user reads, without Certbot's own boilerplate."""
    lines = [line.strip() for line in output.splitlines()]
    return [line for line in lines if line and not line.startswith(CERTBOT_BOILERPLATE)]


def log_records(log_text: str, level: str) -> list[str]:
    """The first line of every record of ``level`` in Certbot's log file."""
    records = []
    for line in log_text.splitlines():
        match = LOG_RECORD.match(line)
        if match and match["level"] == level:
            records.append(match["message"].strip())
    return records


def error_line(log_text: str, output: str, returncode: int) -> str:
    """The first line of the error Certbot stopped with: its last ERROR record (the message it printed last),
    with the CA's own words when the CA failed a challenge ("Detail: ..." in Certbot's output).

    Without a log file: the last line of the output that is not Certbot's boilerplate.
    """
    errors = [record for record in log_records(log_text, "ERROR") if record]
    lines = messages(output)
    line = errors[-1] if errors else lines[-1] if lines else f"exit status {returncode}"
    details = [text.strip().removeprefix("Detail:").strip() for text in output.splitlines() if "Detail:" in text]
    return f"{line} (the CA: {details[0]})" if details else line


def warnings(log_text: str, output: str) -> list[str]:
    """Warnings a user saw: WARNING records of Certbot's log and "Warning: ..." lines of the output."""
    found = log_records(log_text, "WARNING")
    found += [line for line in messages(output) if line.startswith("Warning:") and line not in found]
    return found


def head_and_tail(lines: Sequence[str], keep: int = 40) -> list[str]:
    return list(lines) if len(lines) <= 2 * keep else [*lines[:keep], "[...]", *lines[-keep:]]


def timeline(sandbox: Sandbox, owner: str, started: float, ended: float) -> list[tuple[float, str]]:
    """(seconds since Certbot's start, what happened): API calls, TXT records created or removed, the first TXT
    query at the nameservers (the plugin's: the CA asks later), the CA's first lookup."""
    events: list[tuple[float, str]] = []
    polls = [entry.time for server in sandbox.servers for entry in server.log.matching(owner, "TXT", since=started)]
    if polls:
        events.append((min(polls) - started, f"first TXT query at the nameservers ({len(polls)} in all, the CA's too)"))
    for api, double in (("CCP", sandbox.ccp_api), ("REST", sandbox.rest_api)):
        for call in double.log.calls():
            events.append((call.at - started, f"{api} {call.operation} -> {call.outcome}"))
    zone = sandbox.state.zone_for(owner)
    if zone is not None:
        with sandbox.state.lock:
            history = list(zone.history)
        previous: Optional[set[str]] = None
        for stamp, snapshot in history:
            values = {r.destination for r in snapshot if r.type == "TXT" and r.owner(zone.name) == owner}
            if previous is not None and stamp >= started and values != previous:
                added, removed = len(values - previous), len(previous - values)
                change = ", ".join(
                    part for part in (f"+{added}" if added else "", f"-{removed}" if removed else "") if part
                )
                events.append((stamp - started, f"TXT records at {owner}: {change}"))
            previous = values
    lookups = sandbox.ca_resolver.log.matching(owner, "TXT", since=started)
    if lookups:
        events.append((lookups[0].time - started, f"CA looked up TXT {owner} ({len(lookups)}x)"))
    events.append((ended - started, "Certbot exited"))
    return sorted(events)


def run_case(case: Case, version: str, executable: Path, bound: int, workdir: Path) -> dict[str, Any]:
    """One Certbot run of ``case`` with the ``certbot`` at ``executable``; what it did and how long it took."""
    workdir.mkdir(parents=True)
    with (
        Sandbox(str(workdir / "sandbox"), servers=case.servers(), zones=[case.zone], port53=True) as sandbox,
        Pebble(workdir / "pebble", sandbox.ca_resolver_option) as pebble,
    ):
        # The CA's resolver and the host's ask the zone's other servers when one is lame or silent, as
        # recursive resolvers do: what a case measures is the plugin, not a CA that gives up at one server.
        for resolver in (sandbox.ca_resolver, sandbox.system_resolver):
            resolver.skip_lame_servers = True
        credentials = sandbox.write_credentials(
            str(workdir / "netcup.ini"), ccp=case.ccp, rest=case.rest, **case.overrides
        )
        bundle = write_ca_bundle(workdir / "ca-bundle.pem", [pebble.ca_bundle, Path(sandbox.ca_bundle)])
        resolv_conf = write_resolv_conf(workdir / "resolv.conf", sandbox.system_resolver.address)
        runner = CertbotRunner(
            workdir / "certbot", pebble.directory_url, bundle, executable=executable, resolv_conf=str(resolv_conf)
        )
        registered = runner.run(["register"])  # untimed: the account is not what a case measures
        if registered.returncode != 0:
            raise RuntimeError(registered.describe())
        sandbox.ccp_api.log.clear()
        sandbox.rest_api.log.clear()
        plugin_args = ["--dns-netcup-credentials", credentials, "--dns-netcup-propagation-seconds", str(bound)]
        subcommand = certonly_subcommand([case.domain], plugin_args, case.domain)
        owner = challenge_owner(case.domain)
        started = time.monotonic()
        process = runner.start(subcommand)
        try:
            stdout, stderr = process.communicate(timeout=bound + EXIT_MARGIN)
            timed_out = False
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
            timed_out = True
        ended = time.monotonic()
        issued = process.returncode == 0 and (runner.config_dir / "live" / case.domain / "cert.pem").exists()
        log_text = runner.log_text()
        if timed_out:
            outcome = f"killed after {ended - started:.0f} s"
        elif issued:
            outcome = "certificate"
        else:
            outcome = "error: " + error_line(log_text, stdout + stderr, process.returncode)
        ccp_calls = sandbox.ccp_api.log.calls()
        rest_calls = sandbox.rest_api.log.calls()
        return {
            "version": version,
            "case": case.key,
            "bound": bound,
            "outcome": outcome,
            "issued": issued,
            "exit_status": process.returncode,
            "seconds": ended - started,
            "ccp_logins": sum(1 for call in ccp_calls if call.operation == "login"),
            "ccp_calls": len(ccp_calls),
            "rest_calls": len(rest_calls),
            "txt_records_created": len(values_published_since(sandbox.state, owner, started)),
            "ca_txt_lookups": len(sandbox.ca_resolver.log.matching(owner, "TXT", since=started)),
            "warnings": warnings(log_text, stdout + stderr),
            "stdout": head_and_tail(messages(stdout)),
            "stderr": head_and_tail(messages(stderr)),
            "timeline": [[round(at, 3), event] for at, event in timeline(sandbox, owner, started, ended)],
            "servers": [f"{s.name} lag {s.lag:g} s, {s.mode}" for s in case.servers()],
            # The run's temporary directory stands as <run dir>: no machine path in the results.
            "command": " ".join(["certbot", *subcommand]).replace(str(workdir), "<run dir>"),
        }


# ----- results ------------------------------------------------------------------------------------------------------
def load_previous() -> dict[str, Any]:
    try:
        return dict(json.loads((RESULTS_DIR / "failures.json").read_text(encoding="utf-8")))
    except FileNotFoundError:
        return {}


def at_default_bound(run: dict[str, Any], runs: Sequence[dict[str, Any]]) -> str:
    """What the run would cost at the default bound: measured if such a run exists, else computed."""
    if run["bound"] == DEFAULT_BOUND:
        return f"{run['seconds']:.0f} s (measured)"
    for other in runs:
        if (other["version"], other["case"], other["bound"]) == (run["version"], run["case"], DEFAULT_BOUND):
            return f"{other['seconds']:.0f} s (measured)"
    if run["seconds"] >= run["bound"]:  # it waited out its bound: the default moves the end by the difference
        past = run["seconds"] - run["bound"]
        return f"{DEFAULT_BOUND + past:.0f} s (computed: {DEFAULT_BOUND} + {past:.1f})"
    return "same (ended before its bound)"


def compact_timeline(events: Sequence[Sequence[Any]], limit: int = 12) -> str:
    """The first events and the last one, as "0.4 s CCP login -> 4013; ..."."""
    parts = [f"{at:.1f} s {event}" for at, event in events]
    if len(parts) > limit:
        parts = [*parts[: limit - 1], f"({len(parts) - limit} more)", parts[-1]]
    return "; ".join(parts)


def short_commit(commit: str) -> str:
    return commit[:7] + ("-dirty" if commit.endswith("-dirty") else "")


def cell(text: str, limit: int = 220) -> str:
    text = text.replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def tables(cases: Sequence[Case], runs: Sequence[dict[str, Any]], versions: dict[str, Any]) -> str:
    titles = {case.key: case.title for case in cases}
    order = {case.key: index for index, case in enumerate(cases)}
    shown = sorted(
        (run for run in runs if run["bound"] != DEFAULT_BOUND or not any_user_bound(runs, run)),
        key=lambda run: (order.get(run["case"], 99), run["version"] != "before"),
    )
    rows = []
    for run in shown:
        commit = str(run.get("git_commit", versions.get(run["version"], {}).get("git_commit", "?")))
        rows.append(
            [
                cell(titles.get(run["case"], run["case"])),
                f"{VERSION_LABELS[run['version']]} ({short_commit(commit)})",
                cell(run["outcome"]),
                f"{run['seconds']:.1f}",
                run["bound"],
                at_default_bound(run, runs),
                run["ccp_logins"],
                run["ccp_calls"] + run["rest_calls"],
                run["txt_records_created"],
            ]
        )
    summary = markdown_table(
        [
            "case",
            "version",
            "outcome (error: its first line)",
            "s to exit",
            "bound s",
            f"s to exit at the default bound ({DEFAULT_BOUND} s)",
            "CCP logins",
            "API calls",
            "TXT records created",
        ],
        rows,
    )
    detail_rows = [
        [
            run["case"],
            VERSION_LABELS[run["version"]],
            cell(compact_timeline(run["timeline"]), 900),
            cell("; ".join(run["warnings"]) or "-", 300),
        ]
        for run in shown
    ]
    details = markdown_table(["case", "version", "timeline (s since Certbot's start)", "warnings"], detail_rows)
    return f"{summary}\n\n{details}"


def any_user_bound(runs: Sequence[dict[str, Any]], run: dict[str, Any]) -> bool:
    """Whether ``run`` (at the default bound) has a sibling at a user's bound that the table shows instead."""
    return any(
        (other["version"], other["case"]) == (run["version"], run["case"]) and other["bound"] != DEFAULT_BOUND
        for other in runs
    )


def main(argv: Sequence[str] = ()) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", choices=("before", "after", "both"), default="both", help="default: both")
    parser.add_argument("--cases", help="comma-separated case keys (default: every case); see --list")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument(
        "--bound", type=int, default=USER_BOUND, help=f"--dns-netcup-propagation-seconds (default {USER_BOUND})"
    )
    parser.add_argument("--quick", action="store_true", help="the current code only, to check that it works")
    parser.add_argument("--before-venv", type=Path, default=BEFORE_VENV, help=f"3.0.0's venv (default {BEFORE_VENV})")
    parser.add_argument(
        "--before-worktree", type=Path, default=BEFORE_WORKTREE, help=f"3.0.0's worktree (default {BEFORE_WORKTREE})"
    )
    parser.add_argument("--prepare-before", action="store_true", help="make 3.0.0's worktree and venv, then go on")
    parser.add_argument("--remove-before", action="store_true", help="remove 3.0.0's worktree and venv and exit")
    add_seed_argument(parser)
    args = parser.parse_args(argv)
    cases = all_cases()
    if args.list:
        for case in cases:
            print(f"{case.key}: {case.title}")
        return {}
    if args.remove_before:
        remove_before(args.before_worktree, args.before_venv)
        return {}
    if args.prepare_before:
        prepare_before(args.before_worktree, args.before_venv)
    reason = private_resolv_conf_unavailable()
    if reason is not None:
        raise SystemExit(f"Certbot cannot be kept to the sandbox's DNS here: {reason}")
    chosen = cases
    if args.cases:
        keys = [key.strip() for key in args.cases.split(",")]
        unknown = set(keys) - {case.key for case in cases}
        if unknown:
            raise SystemExit(f"unknown case(s) {', '.join(sorted(unknown))}; --list shows them")
        chosen = [case for case in cases if case.key in keys]
    versions_to_run = ["after"] if args.quick else ["before", "after"] if args.version == "both" else [args.version]
    venvs = {"before": args.before_venv, "after": Path(sys.prefix)}
    if "before" in versions_to_run and not (args.before_venv / "bin" / "certbot").exists():
        raise SystemExit(f"no 3.0.0 venv at {args.before_venv}: run with --prepare-before first")

    seeded(args.seed)  # the sandbox's loopback block; the cases themselves make no random choice
    previous = load_previous()
    versions: dict[str, Any] = dict(previous.get("versions", {}))
    runs: list[dict[str, Any]] = list(previous.get("runs", []))
    workdir = Path(tempfile.mkdtemp(prefix="bench-failures-"))
    try:
        for version in versions_to_run:
            versions[version] = {"label": VERSION_LABELS[version], **describe_venv(venvs[version])}
            executable = venvs[version] / "bin" / "certbot"
            for case in chosen:
                progress(f"{VERSION_LABELS[version]} {case.key} (bound {args.bound} s) ...")
                run = run_case(case, version, executable, args.bound, workdir / f"{version}-{case.key}")
                run["git_commit"] = versions[version]["git_commit"]
                run["measured_at"] = time.strftime("%Y-%m-%d %H:%M:%S %z")
                key = (version, case.key, args.bound)
                runs = [r for r in runs if (r["version"], r["case"], r["bound"]) != key] + [run]
                progress(f"  {run['seconds']:.1f} s, {run['outcome'][:160]}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    markdown = tables(cases, runs, versions)
    notes = (
        f"Real Certbot and Pebble on the sandbox; one name; nameservers found through the zone's NS set; "
        f"nameserver lags {', '.join(f'{lag:g}' for lag in LAGS)} s; the CA's resolver (Pebble validates from 3 "
        f"vantage points) and the host's ask the zone's next nameserver when one is lame or silent, as recursive "
        f"resolvers do. '3.0.0' is release 3.0.0 (commit "
        f"{BEFORE_COMMIT}), 'now' this checkout, both run by Certbot {versions.get('after', {}).get('certbot', '?')} "
        f"against the same sandbox. Seconds to exit: Certbot's whole process, measured. The column for the default "
        f"bound is computed (the default bound plus the run's time past its own bound) unless marked measured. "
        f"API calls: every call the CCP and REST doubles logged, logins included."
    )
    markdown += "\n\n" + notes
    print(markdown)
    payload = {
        "settings": {
            "user_bound": USER_BOUND,
            "default_bound": DEFAULT_BOUND,
            "lags": LAGS,
            "before_commit": BEFORE_COMMIT,
            "cases": {case.key: case.title for case in cases},
        },
        "method": notes,
        "versions": versions,
        "runs": runs,
        "markdown": markdown,
    }
    write_results("failures", payload, args.seed)
    return payload


if __name__ == "__main__":
    main(sys.argv[1:])
