"""Regenerate every benchmark result, benchmarks/results/chart.png and benchmarks/results/README.md.

    python -m benchmarks.run_all            # full run: about 35 minutes (strategies alone about 26)
    python -m benchmarks.run_all --quick    # a few minutes, to check that everything works
    python -m benchmarks.run_all --seed 7   # another seed for every random choice (default: common.DEFAULT_SEED)

Each benchmark runs as its own process (one at a time: they measure time); their tables are
collected into benchmarks/results/README.md, which docs/benchmarks.md and the project README point
to.  The failure benchmark reruns only the current code here: release 3.0.0's runs stay as measured
(``python -m benchmarks.failures --version before`` measures them again, about 20 minutes).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Sequence

from benchmarks.common import DEFAULT_SEED, RESULTS_DIR, progress, read_results

BENCHMARKS = (
    ("propagation", "Wait latency and query load"),
    ("strategies", "Time to certificate: active wait, 30 s polling, fixed sleep"),
    ("api_cost", "API cost and DNS query load"),
    ("startup", "Certbot start-up with and without the plugin"),
    ("failures", "Failure cases: time from Certbot's start to its exit, release 3.0.0 and now"),
)
# Arguments a benchmark always gets here (besides --quick and --seed).
EXTRA_ARGUMENTS = {"failures": ["--version", "after"]}


def short_commit(commit: str) -> str:
    return commit[:7] + ("-dirty" if commit.endswith("-dirty") else "")


def collect_readme() -> str:
    parts = ["# Benchmark results", ""]
    for name, title in BENCHMARKS:
        try:
            results = read_results(name)
        except FileNotFoundError:
            continue
        environment = results["environment"]
        commit = short_commit(environment["git_commit"]) if "git_commit" in environment else "not recorded"
        parts += [
            f"## {title}",
            "",
            f"`python -m benchmarks.{name}` — {environment['date']}, "
            f"commit {commit}, seed {results.get('seed', 'not recorded')}, "
            f"{environment['cpus']} CPUs, load {environment['loadavg_at_end']}, Certbot {environment['certbot']}",
            "",
            results["markdown"],
            "",
        ]
        if name == "strategies":
            parts += ["![time to certificate by strategy](chart.png)", ""]
    return "\n".join(parts)


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="every benchmark in its quick mode")
    parser.add_argument(
        "--only",
        action="append",
        choices=[name for name, _title in BENCHMARKS],
        help="run only this benchmark (repeatable); the chart and README are always redone",
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help=f"passed to every benchmark (default {DEFAULT_SEED})"
    )
    args = parser.parse_args(argv)
    failed = []
    for name, _title in BENCHMARKS:
        if args.only and name not in args.only:
            continue
        started = time.monotonic()
        progress(f"== benchmarks.{name}{' --quick' if args.quick else ''}")
        command = [
            sys.executable,
            "-m",
            f"benchmarks.{name}",
            *(["--quick"] if args.quick else []),
            "--seed",
            str(args.seed),
            *EXTRA_ARGUMENTS.get(name, []),
        ]
        if subprocess.run(command, check=False).returncode != 0:
            failed.append(name)
        progress(f"== benchmarks.{name}: {time.monotonic() - started:.0f} s")
    if (RESULTS_DIR / "strategies.json").exists():
        # Needs matplotlib; without it the README is still written, next to the chart drawn last time.
        if subprocess.run([sys.executable, "-m", "benchmarks.chart"], check=False).returncode != 0:
            failed.append("chart")
    (RESULTS_DIR / "README.md").write_text(collect_readme(), encoding="utf-8")
    progress(f"wrote {RESULTS_DIR / 'README.md'}")
    if failed:
        progress(f"failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
