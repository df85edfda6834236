"""Helpers shared by the benchmark scripts: statistics, tables, results files, sandbox plumbing."""

from __future__ import annotations

import bisect
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional
from unittest import mock

from netcup_sandbox.dns_server import AuthoritativeServer
from netcup_sandbox.sandbox import Sandbox

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"


# ----- statistics -------------------------------------------------------------------------------------------------
def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear-interpolated percentile (``fraction`` in 0..1) of a non-empty sample."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of an empty sample")
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(values: Sequence[float]) -> dict[str, float]:
    """n, median, p95, min, max of a sample (empty sample: n only)."""
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "median": statistics.median(values),
        "p95": percentile(values, 0.95),
        "min": min(values),
        "max": max(values),
    }


def max_in_window(stamps: Sequence[float], window: float = 1.0) -> int:
    """The largest number of ``stamps`` inside any half-open interval of length ``window``."""
    ordered = sorted(stamps)
    best = 0
    for index, start in enumerate(ordered):
        best = max(best, bisect.bisect_left(ordered, start + window) - index)
    return best


def query_load(server: AuthoritativeServer, since: float, until: float) -> dict[str, float]:
    """Queries ``server`` received in [since, until]: count, per second, most in any 1 s window.

    A truncated UDP answer followed by the TCP retry counts as two queries: the server sees both.
    """
    stamps = [entry.time for entry in server.log.entries() if since <= entry.time <= until]
    duration = max(until - since, 1.0)  # a wait shorter than a second is reported per second, not extrapolated
    return {
        "queries": len(stamps),
        "per_second": len(stamps) / duration,
        "max_in_1s": max_in_window(stamps),
    }


# ----- output -------------------------------------------------------------------------------------------------------
def fmt(value: Optional[float], digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def environment() -> dict[str, Any]:
    """What the numbers depend on: machine, load, versions."""
    import certbot

    load = os.getloadavg()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "python": platform.python_version(),
        "certbot": certbot.__version__,
        "cpus": os.cpu_count(),
        "loadavg_at_end": [round(x, 2) for x in load],
    }


def write_results(name: str, payload: dict[str, Any]) -> Path:
    """Write ``benchmarks/results/<name>.json`` (with the environment) and the markdown next to it."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "environment": environment(), **payload}
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    if "markdown" in payload:
        (RESULTS_DIR / f"{name}.md").write_text(payload["markdown"] + "\n", encoding="utf-8")
    return path


def read_results(name: str) -> dict[str, Any]:
    return dict(json.loads((RESULTS_DIR / f"{name}.json").read_text(encoding="utf-8")))


def progress(message: str) -> None:
    """A line on stderr while a long benchmark runs (stdout carries the tables)."""
    print(message, file=sys.stderr, flush=True)


# ----- the plugin in-process ----------------------------------------------------------------------------------------
@contextmanager
def plugin_against(sandbox: Sandbox) -> Iterator[None]:
    """Point the in-process plugin at ``sandbox``: its CA bundle and its recursive resolver.

    The plugin reads /etc/resolv.conf for CNAME following and zone checks; here the sandbox's
    resolver stands in for it, as in tests/test_plugin_flow.py.
    """
    from netcup_sandbox.plugin_harness import install_display, sandbox_resolver_method

    install_display()
    with (
        mock.patch.dict(os.environ, {"REQUESTS_CA_BUNDLE": sandbox.ca_bundle}),
        mock.patch(
            "certbot_dns_netcup._internal.authenticator.Authenticator._system_resolver",
            sandbox_resolver_method(sandbox),
        ),
    ):
        yield


def last_serving_time(servers: Sequence[AuthoritativeServer], records: Sequence[tuple[str, str]]) -> float:
    """When the last of ``servers`` started serving the last of ``records`` (owner, value): monotonic time."""
    times = [server.first_serving_time(owner, value) for server in servers for owner, value in records]
    if any(t is None for t in times):
        raise RuntimeError("a record was never published")
    return max(t for t in times if t is not None)
