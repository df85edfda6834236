"""How soon after the last nameserver serves the last record does the wait end, and at what query load.

Five sandbox nameservers with different lags and failure modes serve two zones; each run publishes
fresh challenge records (new owner names, so every lagging server first answers NXDOMAIN) and measures
the time from "the last server serves the last record" (the sandbox knows that instant exactly) to

- ``wait_for_propagation`` returning (records added straight to the sandbox's account), and
- the plugin's ``perform`` returning (in-process, through the CCP API double, as Certbot would call it),

at default settings (1 s step, 1200 s bound).  Every lag gets a random 0-1 s jitter per run, so that
the moment a server catches up falls anywhere between two polls.  Goal: median <= 1 s, p95 <= 2.5 s.

    python -m benchmarks.propagation [--quick | --repeats N] [--seed N]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.common import (
    add_seed_argument,
    fmt,
    last_serving_time,
    markdown_table,
    plugin_against,
    progress,
    query_load,
    random_txt_value,
    seeded,
    summarize,
    write_results,
)
from certbot_dns_netcup._internal.dns01.nameservers import Nameserver
from certbot_dns_netcup._internal.dns01.propagation import ExpectedRecord, wait_for_propagation
from netcup_sandbox.sandbox import Sandbox, ServerSpec, ZoneSpec

GOAL_MEDIAN = 1.0
GOAL_P95 = 2.5
DEFAULT_BOUND = 1200
JITTER = 1.0
ZONES = ("example.test", "second.test")
SERVERS = (
    ServerSpec("root-dns.netcup.net", lag=0.0),
    ServerSpec("second-dns.netcup.net", lag=2.0),
    ServerSpec("third-dns.netcup.net", lag=5.0),
    ServerSpec("dns4.netcup.test", lag=4.0, mode="servfail"),  # SERVFAIL until it has reloaded the zone
    ServerSpec("dns5.netcup.test", lag=1.0, mode="truncate"),  # TC=1 over UDP: every answer needs TCP
)


def describe_server(spec: ServerSpec) -> str:
    kind = {
        "normal": "NXDOMAIN until caught up",
        "servfail": "SERVFAIL until caught up",
        "truncate": "truncates over UDP (TCP retry)",
    }[spec.mode]
    return f"{spec.name} (lag {spec.lag:g}+jitter s, {kind})"


def jitter_lags(sandbox: Sandbox, rng: random.Random) -> None:
    for server, spec in zip(sandbox.servers, SERVERS):
        server.lag = spec.lag + rng.uniform(0.0, JITTER)


def run_wait(sandbox: Sandbox, index: int, rng: random.Random) -> dict[str, Any]:
    """Publish three values (two at one name, one in another zone) and wait for them directly."""
    owners = [
        (ZONES[0], f"_acme-challenge.w{index}"),
        (ZONES[0], f"_acme-challenge.w{index}"),
        (ZONES[1], f"_acme-challenge.w{index}"),
    ]
    published = []
    for zone, hostname in owners:
        record = sandbox.state.add_record(zone, hostname, "TXT", random_txt_value(rng))
        published.append((zone, f"{hostname}.{zone}", record))
    expected = [ExpectedRecord(zone, owner, record.destination) for zone, owner, record in published]
    nameservers = [Nameserver(s.name, s.address, s.port) for s in sandbox.servers]
    started = time.monotonic()
    wait_for_propagation(expected, {zone: nameservers for zone in ZONES}, DEFAULT_BOUND, lambda _message: None)
    ended = time.monotonic()
    last = last_serving_time(sandbox.servers, [(owner, record.destination) for _z, owner, record in published])
    for zone, _owner, record in published:
        sandbox.state.remove_record(zone, record.id)
    return {"after_last_ready": ended - last, "wait": ended - started, "since": started, "until": ended}


def run_plugin(sandbox: Sandbox, credentials: str, index: int) -> dict[str, Any]:
    """The plugin's perform for an apex + wildcard in one zone and a name in another, then cleanup."""
    from netcup_sandbox.plugin_harness import dns01_achall, expected_value, make_authenticator

    domains = [f"p{index}.{ZONES[0]}", f"*.p{index}.{ZONES[0]}", f"p{index}.{ZONES[1]}"]
    plugin = make_authenticator(credentials, propagation_seconds=DEFAULT_BOUND, nameservers=sandbox.nameservers_option)
    achalls = [dns01_achall(domain) for domain in domains]
    started = time.monotonic()
    plugin.perform(achalls)
    ended = time.monotonic()
    records = [
        (f"_acme-challenge.{domain.removeprefix('*.')}", expected_value(achall))
        for domain, achall in zip(domains, achalls)
    ]
    last = last_serving_time(sandbox.servers, records)
    plugin.cleanup(achalls)
    return {"after_last_ready": ended - last, "perform": ended - started, "since": started, "until": ended}


def load_summary(sandbox: Sandbox, runs: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per server: mean queries per second over the runs' waits, and the most queries in any 1 s window."""
    summary: dict[str, dict[str, float]] = {}
    for server in sandbox.servers:
        loads = [query_load(server, run["since"], run["until"]) for run in runs]
        summary[server.name] = {
            "queries_per_second": sum(load["queries"] for load in loads)
            / max(sum(run["until"] - run["since"] for run in runs), 1.0),
            "max_in_1s": max(load["max_in_1s"] for load in loads),
        }
    return summary


def main(argv: Sequence[str] = ()) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20, help="runs of each kind (default 20)")
    parser.add_argument("--quick", action="store_true", help="3 runs of each kind, to check that it works")
    add_seed_argument(parser)
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else args.repeats
    rng = seeded(args.seed)  # the lag jitter and the TXT values

    with Sandbox(servers=SERVERS, zones=[ZoneSpec(z) for z in ZONES]) as sandbox:
        credentials = sandbox.write_credentials(rest=False)
        waits: list[dict[str, Any]] = []
        performs: list[dict[str, Any]] = []
        with plugin_against(sandbox):
            for index in range(repeats):
                jitter_lags(sandbox, rng)
                waits.append(run_wait(sandbox, index, rng))
                jitter_lags(sandbox, rng)
                performs.append(run_plugin(sandbox, credentials, index))
                progress(
                    f"run {index + 1}/{repeats}: wait {waits[-1]['after_last_ready']:.2f} s, "
                    f"perform {performs[-1]['after_last_ready']:.2f} s after the last server was ready"
                )
        wait_stats = summarize([run["after_last_ready"] for run in waits])
        perform_stats = summarize([run["after_last_ready"] for run in performs])
        load = load_summary(sandbox, waits + performs)
        per_run = {
            kind: [
                {
                    "after_last_ready": round(run["after_last_ready"], 4),
                    "seconds": round(run["until"] - run["since"], 4),
                    "query_load": {
                        server.name: query_load(server, run["since"], run["until"]) for server in sandbox.servers
                    },
                }
                for run in kind_runs
            ]
            for kind, kind_runs in (("wait_for_propagation", waits), ("plugin_perform", performs))
        }

    rows = []
    for label, stats in (("wait_for_propagation returns", wait_stats), ("plugin perform returns", perform_stats)):
        verdict = "yes" if stats["median"] <= GOAL_MEDIAN and stats["p95"] <= GOAL_P95 else "NO"
        rows.append([label, stats["n"], fmt(stats["median"]), fmt(stats["p95"]), fmt(stats["max"]), verdict])
    latency_table = markdown_table(
        [
            "after the last server serves the last record",
            "runs",
            "median s",
            "p95 s",
            "max s",
            f"goal (median <= {GOAL_MEDIAN:g}, p95 <= {GOAL_P95:g})",
        ],
        rows,
    )
    load_table = markdown_table(
        ["nameserver", "queries/s while waiting (mean)", "most queries in any 1 s"],
        [
            [describe_server(spec), fmt(load[spec.name]["queries_per_second"]), int(load[spec.name]["max_in_1s"])]
            for spec in SERVERS
        ],
    )
    markdown = f"{latency_table}\n\n{load_table}"
    print(markdown)
    payload = {
        "settings": {
            "repeats": repeats,
            "bound": DEFAULT_BOUND,
            "step": 1.0,
            "jitter": JITTER,
            "servers": [describe_server(spec) for spec in SERVERS],
            "records": "3 values per run: 2 at one name (apex + wildcard) in example.test, 1 in second.test",
        },
        "goal": {"median": GOAL_MEDIAN, "p95": GOAL_P95},
        "wait_for_propagation": {
            "after_last_ready": wait_stats,
            "samples": [round(run["after_last_ready"], 4) for run in waits],
        },
        "plugin_perform": {
            "after_last_ready": perform_stats,
            "samples": [round(run["after_last_ready"], 4) for run in performs],
        },
        "query_load": load,
        "runs": per_run,  # every run as measured: its wait and each server's queries during it
        "markdown": markdown,
    }
    write_results("propagation", payload, args.seed)
    return payload


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
