"""API cost: calls to netcup per certificate for 1, 10 and 100 names in 1 and 5 zones; DNS query load.

The plugin's ``perform`` and ``cleanup`` run in-process against the sandbox's API doubles (the CCP API
for legacy zones, the REST API for zones on netcup's newer platform), with three nameservers lagging
0, 0.5 and 1 s; the doubles' call logs give the calls per operation.  The naive way for comparison:
for the CCP API one login, one call per record to add it and one to remove it, one logout (2n + 2);
for the REST API one call per record each way (2n).  The nameservers' query logs give the DNS load
while the plugin waits (from its last API call before the wait to perform's return).

    python -m benchmarks.api_cost [--quick] [--seed N]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from benchmarks.common import (
    add_seed_argument,
    fmt,
    markdown_table,
    max_in_window,
    plugin_against,
    progress,
    query_load,
    seeded,
    write_results,
)
from netcup_sandbox.sandbox import Sandbox, ZoneSpec, servers_with_lags

LAGS = (0.0, 0.5, 1.0)
BOUND = 1200
CCP_RATE_LIMIT = 180  # requests per minute per account
CCP_ZONES = tuple(f"legacy{i}.test" for i in range(1, 6))
REST_ZONES = tuple(f"cloud{i}.test" for i in range(1, 6))
SIZES = ((1, 1), (10, 1), (10, 5), (100, 1), (100, 5))  # (names, zones); one name cannot span five zones
QUICK_SIZES = ((1, 1), (10, 5), (100, 5))


def naive_calls(api: str, names: int) -> int:
    return 2 * names + 2 if api == "CCP" else 2 * names


def measure(sandbox: Sandbox, api: str, names: int, zone_count: int, run: int) -> dict[str, Any]:
    from netcup_sandbox.plugin_harness import dns01_achall, make_authenticator

    zones = (CCP_ZONES if api == "CCP" else REST_ZONES)[:zone_count]
    domains = [f"n{i}-{run}.{zones[i % zone_count]}" for i in range(names)]
    credentials = sandbox.write_credentials(ccp=api == "CCP", rest=api == "REST")
    api_double = sandbox.ccp_api if api == "CCP" else sandbox.rest_api
    sandbox.ccp_api.log.clear()
    sandbox.rest_api.log.clear()
    plugin = make_authenticator(credentials, propagation_seconds=BOUND, nameservers=sandbox.nameservers_option)
    achalls = [dns01_achall(domain) for domain in domains]
    plugin.perform(achalls)
    performed = time.monotonic()
    wait_began = max(call.at for call in api_double.log.calls())
    plugin.cleanup(achalls)
    calls = api_double.log.calls()
    other = sandbox.rest_api if api == "CCP" else sandbox.ccp_api
    loads = {server.name: query_load(server, wait_began, performed) for server in sandbox.servers}
    return {
        "api": api,
        "names": names,
        "zones": zone_count,
        "calls": len(calls) + other.log.count(),
        "by_operation": dict(Counter(call.operation for call in calls)),
        "naive_calls": naive_calls(api, names),
        "most_calls_in_60s": max_in_window([call.at for call in calls], 60.0),
        "wait_seconds": performed - wait_began,
        "dns_load": loads,
    }


def main(argv: Sequence[str] = ()) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer sizes, to check that it works")
    add_seed_argument(parser)
    args = parser.parse_args(argv)
    seeded(args.seed)  # the sandbox's choices (loopback block, session ids); the ACME tokens are not seeded
    sizes = QUICK_SIZES if args.quick else SIZES
    zones = [ZoneSpec(z) for z in CCP_ZONES] + [ZoneSpec(z, platform="rest") for z in REST_ZONES]
    results: list[dict[str, Any]] = []
    with Sandbox(servers=servers_with_lags(LAGS), zones=zones, foreign_records={}) as sandbox, plugin_against(sandbox):
        for run, (api, (names, zone_count)) in enumerate((a, s) for a in ("CCP", "REST") for s in sizes):
            results.append(measure(sandbox, api, names, zone_count, run))
            progress(f"{api} {names} names in {zone_count} zones: {results[-1]['calls']} calls")

    cost_rows = []
    load_rows = []
    for r in results:
        operations = ", ".join(f"{op} {count}" for op, count in sorted(r["by_operation"].items()))
        cost_rows.append(
            [
                r["api"],
                r["names"],
                r["zones"],
                r["calls"],
                r["naive_calls"],
                f"{r['naive_calls'] / r['calls']:.1f}x",
                r["most_calls_in_60s"],
                operations,
            ]
        )
        per_second = [load["per_second"] for load in r["dns_load"].values()]
        peak = [load["max_in_1s"] for load in r["dns_load"].values()]
        load_rows.append(
            [
                r["api"],
                r["names"],
                r["zones"],
                fmt(r["wait_seconds"], 1),
                f"{min(per_second):.1f}-{max(per_second):.1f}",
                max(peak),
            ]
        )
    cost_table = markdown_table(
        [
            "API",
            "names",
            "zones",
            "calls per certificate",
            "naive calls",
            "naive / ours",
            "most calls in 60 s",
            "calls by operation",
        ],
        cost_rows,
    )
    load_table = markdown_table(
        ["API", "names", "zones", "wait s", "DNS queries/s per nameserver while waiting", "most in any 1 s"], load_rows
    )
    markdown = (
        f"{cost_table}\n\nnetcup's CCP rate limit: {CCP_RATE_LIMIT} requests per minute.\n\n{load_table}\n\n"
        f"Nameserver lags {', '.join(f'{lag:g}' for lag in LAGS)} s."
    )
    print(markdown)
    payload = {
        "settings": {
            "lags": LAGS,
            "bound": BOUND,
            "naive": "CCP: 2n+2 (login, add and remove per record, logout); REST: 2n",
        },
        "results": results,
        "markdown": markdown,
    }
    write_results("api_cost", payload, args.seed)
    return payload


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
