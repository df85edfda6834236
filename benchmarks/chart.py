"""benchmarks/results/chart.png: time to certificate against nameserver lag for each strategy.

Drawn from benchmarks/results/strategies.json (written by ``python -m benchmarks.strategies``).

    python -m benchmarks.chart
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS_DIR, read_results

STRATEGIES = (
    ("active_wait", "active wait (this plugin)", "#1b7837"),
    ("poll_30s", "polling every 30 s (modelled)", "#2166ac"),
)
SLEEP_COLOURS = ("#b2182b", "#f4a582", "#762a83")


def strategies(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(report key, legend, colour) of every strategy in ``results``: one bar per fixed sleep modelled."""
    sleeps = results["settings"].get("sleeps")
    if sleeps is None:  # results written before several sleeps were modelled
        return [*STRATEGIES, ("fixed_sleep", "fixed sleep of the bound (modelled)", SLEEP_COLOURS[0])]
    return [
        *STRATEGIES,
        *[
            (f"fixed_sleep_{sleep['seconds']:g}", f"fixed sleep {sleep['seconds']:g} s (modelled)", colour)
            for sleep, colour in zip(sleeps, SLEEP_COLOURS)
        ],
    ]


def scenario_label(label: str, reload_period: float) -> str:
    if label == "reload":
        return f"reload model\n(U(0, {reload_period:g}) s)"
    lag = float(label)
    return f"lags 0/{lag / 2:g}/{lag:g} s"


def draw(results: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    scenarios = list(results["report"]["scenarios"].items())
    reload_period = float(results["settings"]["reload_period"])
    figure, axes = plt.subplots(figsize=(9, 4.8), dpi=120)
    bars_per_group = strategies(results)
    width = 0.8 / len(bars_per_group)
    for offset, (key, name, colour) in enumerate(bars_per_group):
        xs, medians, low, high = [], [], [], []
        for position, (_label, entry) in enumerate(scenarios):
            stats = entry[key]["time_to_certificate"]
            if not stats.get("n"):
                continue
            xs.append(position + (offset - (len(bars_per_group) - 1) / 2) * width)
            medians.append(stats["median"])
            low.append(stats["median"] - stats["min"])
            high.append(stats["p95"] - stats["median"])
        bars = axes.bar(xs, medians, width, label=name, color=colour, yerr=[low, high], capsize=3)
        axes.bar_label(bars, labels=[f"{m:.0f}" if m >= 10 else f"{m:.1f}" for m in medians], fontsize=7, padding=2)
    axes.set_yscale("log")
    axes.set_xticks(range(len(scenarios)))
    axes.set_xticklabels([scenario_label(label, reload_period) for label, _entry in scenarios])
    axes.set_ylabel("time to certificate, s (log scale)")
    repeats = results["settings"]["repeats"]
    axes.set_title(
        f"Certbot + Pebble on the netcup sandbox: median, whiskers min..p95 ({repeats} per scenario)", fontsize=9
    )
    axes.set_ylim(top=axes.get_ylim()[1] * 2.5)  # room for the labels of the tallest bars
    axes.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
    axes.grid(axis="y", which="both", alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def main(argv: Sequence[str] = ()) -> Path:
    path = draw(read_results("strategies"), RESULTS_DIR / "chart.png")
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main(sys.argv[1:])
