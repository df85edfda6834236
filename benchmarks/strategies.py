"""Time to certificate with the active wait, against a fixed sleep and 30 s polling.

On the sandbox with real Certbot and Pebble, the same order (apex + wildcard of a fresh name, two TXT
values at one name) at default settings, across nameserver lags: three servers lagging (0, L/2, L)
seconds for L = 0, 10, 60, and a scaled model of netcup's reload (each server picks the change up at a
uniformly random moment of a 60 s reload cycle: netcup's 10 minutes shrunk tenfold so that a run ends;
the strategies keep their real parameters).  Reported: time to certificate (the whole certbot process)
and the overhead after the last server became ready (certbot's end minus that instant).

Beside it, in the same run and on the same lags, the two strategies users have today:

- polling every 30 s (lego's netcup default): our own ``wait_for_propagation(step=30)``, in-process,
  on records of another zone of the same sandbox, at the same time as the Certbot run.  Its time to
  certificate is the measured wait plus Certbot's own overhead (the median 0-lag Certbot run);
- a fixed sleep (the older release's behaviour, certbot-dns-netcup 2.1.0), modelled analytically:
  time = sleep + Certbot's overhead; it succeeds iff the sleep is at least the slowest server's lag.
  Two sleeps: 900 s, that release's default, and 1200 s, what a user sets after a slow day (netcup's
  nameservers take up to 20 minutes in bad cases).

Every sample is kept in the results file: the runs as measured, and next to each summary the
values it summarizes.

    python -m benchmarks.strategies [--quick | --repeats N] [--seed N]   # full: about 26 min at 10 repeats
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from benchmarks.common import (
    add_seed_argument,
    fmt,
    last_serving_time,
    markdown_table,
    progress,
    random_txt_value,
    seeded,
    summarize,
    write_results,
)
from certbot_dns_netcup._internal.dns01.nameservers import Nameserver
from certbot_dns_netcup._internal.dns01.propagation import ExpectedRecord, wait_for_propagation
from netcup_sandbox.certbot_runner import CertbotRunner, write_ca_bundle
from netcup_sandbox.checks import values_published_since
from netcup_sandbox.pebble import Pebble
from netcup_sandbox.sandbox import Sandbox, ZoneSpec, servers_with_lags

DEFAULT_BOUND = 1200  # --dns-netcup-propagation-seconds default: the bound of this plugin's wait (and the polling's)
# The fixed sleeps modelled: (seconds, who sleeps that long).
FIXED_SLEEPS = (
    (900.0, "2.1.0's default"),  # certbot-dns-netcup 2.1.0, the last release with a fixed sleep
    (1200.0, "a user's setting after a slow day"),  # netcup's reloads take up to 20 minutes in bad cases
)
POLL_STEP = 30.0  # lego's netcup polling interval
RELOAD_PERIOD = 60.0  # netcup's ~10 min reload cycle, scaled 1:10
CERTBOT_ZONE = "ours.test"
POLL_ZONE = "poll.test"
RELOAD = "reload"


@dataclass(frozen=True)
class Scenario:
    label: str
    slowest: Optional[float]  # L for fixed lags (0, L/2, L); None for the reload model

    def lags(self, rng: random.Random) -> list[float]:
        if self.slowest is None:
            return [rng.uniform(0.0, RELOAD_PERIOD) for _ in range(3)]
        return [0.0, self.slowest / 2, self.slowest]


def run_certbot(runner: CertbotRunner, sandbox: Sandbox, credentials: str, index: int) -> dict[str, Any]:
    """One ``certbot certonly`` for c<index>.ours.test and its wildcard; when each thing happened."""
    name = f"c{index}.{CERTBOT_ZONE}"
    owner = f"_acme-challenge.{name}"
    args = [
        "--dns-netcup-credentials",
        credentials,
        "--dns-netcup-nameservers",
        sandbox.nameservers_option,
    ]  # bound and step: defaults
    started = time.monotonic()
    result = runner.certonly([name, f"*.{name}"], args)
    ended = time.monotonic()
    values = values_published_since(sandbox.state, owner, started)
    run: dict[str, Any] = {"ok": result.returncode == 0 and len(values) == 2, "elapsed": ended - started}
    if not run["ok"]:
        run["output_tail"] = result.output[-2000:]
        return run
    last_ready = last_serving_time(sandbox.servers, [(owner, value) for value in values])
    lookups = [e.time for e in sandbox.ca_resolver.log.matching(owner, "TXT", since=started)]
    run["after_last_ready"] = ended - last_ready
    run["ready_after_start"] = last_ready - started
    # The CA's first lookup follows the plugin's return within milliseconds: what is left is Certbot and the CA.
    run["after_first_ca_lookup"] = ended - min(lookups) if lookups else None
    return run


def run_polling(sandbox: Sandbox, index: int, values: Sequence[str]) -> dict[str, Any]:
    """Publish two values in the polling zone and wait for them with a 30 s step (lego's default)."""
    hostname = f"_acme-challenge.q{index}"
    records = [sandbox.state.add_record(POLL_ZONE, hostname, "TXT", value) for value in values]
    owner = f"{hostname}.{POLL_ZONE}"
    nameservers = [Nameserver(s.name, s.address, s.port) for s in sandbox.servers]
    started = time.monotonic()
    wait_for_propagation(
        [ExpectedRecord(POLL_ZONE, owner, r.destination) for r in records],
        {POLL_ZONE: nameservers},
        DEFAULT_BOUND,
        lambda _message: None,
        step=POLL_STEP,
    )
    ended = time.monotonic()
    last_ready = last_serving_time(sandbox.servers, [(owner, r.destination) for r in records])
    for record in records:
        sandbox.state.remove_record(POLL_ZONE, record.id)
    return {"wait": ended - started, "after_last_ready": ended - last_ready}


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def sleep_key(sleep: float) -> str:
    return f"fixed_sleep_{sleep:g}"


def with_samples(values: Sequence[float]) -> dict[str, Any]:
    """The summary of ``values`` and the values themselves (rounded to the millisecond)."""
    return {**summarize(values), "samples": [round(value, 3) for value in values]}


def analyse(
    scenarios: Sequence[Scenario], runs: dict[str, list[dict[str, Any]]], sleeps: Sequence[float]
) -> dict[str, Any]:
    """Time to certificate and overhead after readiness per scenario and strategy, and the ratios.

    Every summary carries its samples; for the modelled strategies they are the modelled values per run.
    """
    baseline = [r["certbot"] for r in runs.get("0", []) if r["certbot"]["ok"]]
    if not baseline:
        raise RuntimeError("no successful 0-lag Certbot run: no Certbot overhead to model the other strategies on")
    overhead = median([r["elapsed"] for r in baseline])
    tail = median([r["after_first_ca_lookup"] for r in baseline if r["after_first_ca_lookup"] is not None])
    report: dict[str, Any] = {"certbot_overhead": overhead, "certbot_tail_after_answer": tail, "scenarios": {}}
    for scenario in scenarios:
        reps = runs[scenario.label]
        ours = [r["certbot"] for r in reps if r["certbot"]["ok"]]
        slowest = [max(r["lags"]) for r in reps]
        ours_time = summarize([r["elapsed"] for r in ours])
        poll_times = [overhead + r["polling"]["wait"] for r in reps]
        asked = [
            r["after_last_ready"] - r["after_first_ca_lookup"] for r in ours if r["after_first_ca_lookup"] is not None
        ]
        entry: dict[str, Any] = {
            "lags": [r["lags"] for r in reps],
            "active_wait": {
                "time_to_certificate": with_samples([r["elapsed"] for r in ours]),
                "after_last_ready": with_samples([r["after_last_ready"] for r in ours]),
                "ca_asked_after_last_ready": with_samples(asked),
                "successes": len(ours),
                "runs": len(reps),
            },
            "poll_30s": {
                "time_to_certificate": with_samples(poll_times),
                "after_last_ready": with_samples([r["polling"]["after_last_ready"] + tail for r in reps]),
                "ca_asked_after_last_ready": with_samples([r["polling"]["after_last_ready"] for r in reps]),
                "successes": len(reps),
                "runs": len(reps),
            },
        }
        if ours_time["n"]:
            entry["ratio_poll_30s"] = median(poll_times) / ours_time["median"]
        for sleep in sleeps:
            sleep_ok = [lag <= sleep for lag in slowest]
            sleep_asked = [sleep - lag for lag, ok in zip(slowest, sleep_ok) if ok]
            entry[sleep_key(sleep)] = {
                "sleep": sleep,
                "time_to_certificate": with_samples([overhead + sleep] * len(reps)),
                "after_last_ready": with_samples([wait + tail for wait in sleep_asked]),
                "ca_asked_after_last_ready": with_samples(sleep_asked),
                "successes": sum(sleep_ok),
                "runs": len(reps),
            }
            if ours_time["n"]:
                entry[f"ratio_{sleep_key(sleep)}"] = (overhead + sleep) / ours_time["median"]
        report["scenarios"][scenario.label] = entry
    return report


def scenario_title(scenario: Scenario) -> str:
    if scenario.slowest is None:
        return f"reload model (each server U(0, {RELOAD_PERIOD:g}) s)"
    return f"lags 0/{scenario.slowest / 2:g}/{scenario.slowest:g} s"


def tables(scenarios: Sequence[Scenario], report: dict[str, Any], sleeps: Sequence[tuple[float, str]]) -> str:
    strategies = [
        ("active_wait", "active wait (this plugin, 1 s step)"),
        ("poll_30s", "polling every 30 s (modelled)"),
        *[(sleep_key(sleep), f"fixed sleep {sleep:g} s, {who} (modelled)") for sleep, who in sleeps],
    ]
    rows = []
    for scenario in scenarios:
        entry = report["scenarios"][scenario.label]
        for key, name in strategies:
            data = entry[key]
            total, after = data["time_to_certificate"], data["after_last_ready"]
            asked = data["ca_asked_after_last_ready"]
            ratio = 1.0 if key == "active_wait" else entry.get(f"ratio_{key}")
            rows.append(
                [
                    scenario_title(scenario),
                    name,
                    f"{data['successes']}/{data['runs']}",
                    fmt(total.get("median"), 1),
                    fmt(total.get("p95"), 1),
                    fmt(after.get("median"), 1),
                    fmt(after.get("p95"), 1),
                    fmt(asked.get("median"), 1),
                    fmt(asked.get("p95"), 1),
                    "-" if ratio is None else f"{ratio:.1f}x",
                ]
            )
    return markdown_table(
        [
            "nameservers",
            "strategy",
            "certificates",
            "time to certificate: median s",
            "p95 s",
            "certificate after last server ready: median s",
            "p95 s",
            "CA asked after last server ready: median s",
            "p95 s",
            "time vs active wait",
        ],
        rows,
    )


def main(argv: Sequence[str] = ()) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=10, help="orders per scenario (default 10)")
    parser.add_argument("--quick", action="store_true", help="one order per scenario, to check that it works")
    parser.add_argument("--lags", default="0,10,60", help="slowest lags L of the fixed scenarios (default 0,10,60)")
    parser.add_argument("--no-reload-model", action="store_true", help="leave out the reload model")
    parser.add_argument(
        "--sleep",
        type=float,
        action="append",
        help="a fixed sleep to model, seconds (repeatable; default: "
        + ", ".join(f"{sleep:g} ({who})" for sleep, who in FIXED_SLEEPS)
        + ")",
    )
    add_seed_argument(parser)
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else args.repeats
    rng = seeded(args.seed)
    known = dict(FIXED_SLEEPS)
    sleeps = [(sleep, known.get(sleep, "set with --sleep")) for sleep in args.sleep] if args.sleep else FIXED_SLEEPS
    scenarios = [Scenario(f"{float(text):g}", float(text)) for text in args.lags.split(",")]
    if "0" not in {s.label for s in scenarios}:
        scenarios.insert(0, Scenario("0", 0.0))  # the Certbot overhead the models need
    if not args.no_reload_model:
        scenarios.append(Scenario(RELOAD, None))

    workdir = Path(tempfile.mkdtemp(prefix="bench-strategies-"))
    runs: dict[str, list[dict[str, Any]]] = {s.label: [] for s in scenarios}
    began = time.monotonic()
    try:
        zones = [ZoneSpec(CERTBOT_ZONE), ZoneSpec(POLL_ZONE)]
        with (
            Sandbox(str(workdir / "sandbox"), servers=servers_with_lags([0, 0, 0]), zones=zones) as sandbox,
            Pebble(workdir / "pebble", sandbox.ca_resolver_option) as pebble,
        ):
            credentials = sandbox.write_credentials(str(workdir / "netcup.ini"), rest=False)
            bundle = write_ca_bundle(workdir / "ca-bundle.pem", [pebble.ca_bundle, Path(sandbox.ca_bundle)])
            runner = CertbotRunner(workdir / "certbot", pebble.directory_url, bundle)
            registered = runner.run(["register"])  # once, so that no timed run pays for the account
            if registered.returncode != 0:
                raise RuntimeError(registered.describe())
            index = 0
            for scenario in scenarios:
                for _rep in range(repeats):
                    index += 1
                    lags = scenario.lags(rng)
                    values = [random_txt_value(rng) for _ in range(2)]
                    for server, lag in zip(sandbox.servers, lags):
                        server.lag = lag
                    # The 30 s polling runs on its own zone at the same time, on the very same lags.
                    with ThreadPoolExecutor(max_workers=1) as pool:
                        polling = pool.submit(run_polling, sandbox, index, values)
                        ours = run_certbot(runner, sandbox, credentials, index)
                        polled = polling.result()
                    runs[scenario.label].append({"lags": lags, "certbot": ours, "polling": polled})
                    state = f"{ours['elapsed']:.1f} s" if ours["ok"] else "FAILED"
                    progress(f"{scenario_title(scenario)}: certbot {state}, 30 s polling {polled['wait']:.1f} s")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    report = analyse(scenarios, runs, [sleep for sleep, _who in sleeps])
    markdown = tables(scenarios, report, sleeps)
    sleeps_text = " and ".join(f"{sleep:g} s ({who})" for sleep, who in sleeps)
    notes = (
        f"Active wait: real Certbot + Pebble, default settings. Certbot's own overhead (median 0-lag run): "
        f"{report['certbot_overhead']:.1f} s. Polling every 30 s: wait_for_propagation(step=30) in-process on the "
        f"same lags at the same time, plus that overhead. Fixed sleep (certbot-dns-netcup 2.1.0): modelled as "
        f"sleep + overhead, successful iff the sleep >= the slowest lag; {sleeps_text}. "
        f"{repeats} order(s) per row; "
        f"whole run {time.monotonic() - began:.0f} s."
    )
    markdown += "\n\n" + notes
    print(markdown)
    payload = {
        "settings": {
            "repeats": repeats,
            "sleeps": [{"seconds": sleep, "what": who} for sleep, who in sleeps],
            "poll_step": POLL_STEP,
            "reload_period": RELOAD_PERIOD,
            "bound": DEFAULT_BOUND,
            "order": "apex + wildcard of a fresh name (2 TXT values at one name)",
            "servers": "3 (root-dns, second-dns, third-dns)",
        },
        "method": notes,
        "report": report,
        "runs": runs,
        "markdown": markdown,
    }
    write_results("strategies", payload, args.seed)
    return payload


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
