"""Helpers shared by the benchmark scripts: statistics, tables, results files, sandbox plumbing."""

from __future__ import annotations

import argparse
import base64
import bisect
import json
import math
import os
import platform
import random
import statistics
import subprocess
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
# Seed of every random choice a benchmark makes (lag jitter, reload moments, TXT values, the sandbox's
# loopback block) unless --seed says otherwise: a rerun on the same code repeats the same choices.
DEFAULT_SEED = 20261202


# ----- reproducibility ----------------------------------------------------------------------------------------------
def add_seed_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help=f"seed of every random choice (default {DEFAULT_SEED})"
    )


def seeded(seed: int) -> random.Random:
    """A generator for the benchmark's own choices; also seeds ``random`` for the sandbox's (address block, ids).

    What the benchmark cannot seed: the ACME tokens Pebble hands out and Certbot's own randomness.
    """
    random.seed(seed)
    return random.Random(seed)


def random_txt_value(rng: random.Random) -> str:
    """A 43-character base64url value, like an ACME dns-01 digest, drawn from ``rng``."""
    return base64.urlsafe_b64encode(bytes(rng.getrandbits(8) for _ in range(32))).decode("ascii").rstrip("=")


def git_commit(directory: Path = REPO_ROOT) -> str:
    """``git rev-parse HEAD`` of ``directory``'s checkout, with "-dirty" when it has uncommitted changes.

    Changes under benchmarks/results/ do not count (the benchmarks write them); untracked files do.
    "unknown" outside a git checkout.
    """
    try:
        head = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            [
                "git",
                "--no-optional-locks",
                "-C",
                str(directory),
                "status",
                "--porcelain",
                "--",
                ".",
                ":(exclude)benchmarks/results",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if status.strip() else "")


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
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "certbot": certbot.__version__,
        "cpus": os.cpu_count(),
        "loadavg_at_end": [round(x, 2) for x in load],
    }


def write_results(name: str, payload: dict[str, Any], seed: Optional[int]) -> Path:
    """Write ``benchmarks/results/<name>.json`` (with the environment and the seed) and the markdown next to it.

    ``seed``: the seed of the run's random choices (None: the benchmark makes none).
    """
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "environment": environment(), "seed": seed, **payload}
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
