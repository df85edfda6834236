"""Regenerate every benchmark result, benchmarks/results/chart.png and benchmarks/results/README.md.

    python -m benchmarks.run_all            # full run: about 35 minutes (strategies alone about 26)
    python -m benchmarks.run_all --quick    # a few minutes, to check that everything works

Each benchmark runs as its own process (one at a time: they measure time); their tables are collected
into benchmarks/results/README.md, the section the project README shows.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Sequence

from benchmarks.common import RESULTS_DIR, progress, read_results

BENCHMARKS = (
    ("propagation", "Wait latency and query load (issue 3)"),
    ("strategies", "Time to certificate: active wait, 30 s polling, fixed sleep (issue 8)"),
    ("api_cost", "API cost and DNS query load"),
    ("startup", "Certbot start-up with and without the plugin"),
)


def collect_readme() -> str:
    parts = ["# Benchmark results", ""]
    for name, title in BENCHMARKS:
        try:
            results = read_results(name)
        except FileNotFoundError:
            continue
        environment = results["environment"]
        parts += [
            f"## {title}",
            "",
            f"`python -m benchmarks.{name}` — {environment['date']}, "
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
    args = parser.parse_args(argv)
    failed = []
    for name, _title in BENCHMARKS:
        if args.only and name not in args.only:
            continue
        started = time.monotonic()
        progress(f"== benchmarks.{name}{' --quick' if args.quick else ''}")
        command = [sys.executable, "-m", f"benchmarks.{name}", *(["--quick"] if args.quick else [])]
        if subprocess.run(command, check=False).returncode != 0:
            failed.append(name)
        progress(f"== benchmarks.{name}: {time.monotonic() - started:.0f} s")
    if (RESULTS_DIR / "strategies.json").exists():
        subprocess.run([sys.executable, "-m", "benchmarks.chart"], check=True)
    (RESULTS_DIR / "README.md").write_text(collect_readme(), encoding="utf-8")
    progress(f"wrote {RESULTS_DIR / 'README.md'}")
    if failed:
        progress(f"failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
