"""Start-up cost: ``certbot plugins`` with and without the plugin installed, and what importing it loads.

Certbot imports every installed plugin's module at each start (plugin discovery), so the plugin must not
make every Certbot command slower: its Certbot module imports requests, dnspython and the API clients
only when a certificate is requested.  Two throwaway virtualenvs under /tmp (reused by later runs): one
with Certbot only, one with the same Certbot and this plugin (installed from a copy of the source tree,
so that the checkout gets no build output).  The two ``certbot plugins`` commands run alternately.

    python -m benchmarks.startup [--quick | --runs N] [--seed N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import REPO_ROOT, add_seed_argument, markdown_table, progress, seeded, write_results

VENV_ROOT = Path(tempfile.gettempdir()) / "bench-startup"
SOURCE_FILES = ("setup.py", "pyproject.toml", "README.md", "LICENSE", "MANIFEST.in", "certbot_dns_netcup")
HEAVY = (
    "requests",
    "dns",
    "urllib3",
    "certbot_dns_netcup._internal.dns01.propagation",
    "certbot_dns_netcup._internal.netcup.ccp",
    "certbot_dns_netcup._internal.netcup.rest",
)
PLUGIN_MODULE = "certbot_dns_netcup._internal.authenticator"


def certbot_version() -> str:
    import certbot

    return str(certbot.__version__)


def ensure_venv(name: str, requirements: Sequence[str]) -> Path:
    """A virtualenv at VENV_ROOT/name with ``requirements`` installed; rebuilt only if they changed."""
    path = VENV_ROOT / name
    marker = path / "bench-requirements.json"
    if marker.exists() and json.loads(marker.read_text(encoding="utf-8")) == list(requirements):
        return path
    shutil.rmtree(path, ignore_errors=True)
    progress(f"creating {path} with {' '.join(requirements)}")
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    subprocess.run([str(path / "bin" / "pip"), "install", "-q", *requirements], check=True)
    marker.write_text(json.dumps(list(requirements)), encoding="utf-8")
    return path


def plugin_source_copy() -> Path:
    """The package's source, copied so that pip's build writes nowhere in the checkout."""
    target = VENV_ROOT / "source"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for name in SOURCE_FILES:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target / name)
    return target


def time_plugins_command(venv: Path, state_dir: Path) -> tuple[float, str]:
    args = [
        str(venv / "bin" / "certbot"),
        "plugins",
        "--config-dir",
        str(state_dir / "config"),
        "--work-dir",
        str(state_dir / "work"),
        "--logs-dir",
        str(state_dir / "logs"),
    ]
    started = time.perf_counter()
    completed = subprocess.run(args, capture_output=True, text=True, check=True)
    return time.perf_counter() - started, completed.stdout


def imported_modules(python: Path, statement: str) -> dict[str, int]:
    """Modules a fresh interpreter imports for ``statement``, with each one's cumulative import time (us)."""
    completed = subprocess.run(
        [str(python), "-X", "importtime", "-c", statement], capture_output=True, text=True, check=True
    )
    modules: dict[str, int] = {}
    for line in completed.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _self, cumulative, name = (part.strip() for part in line[len("import time:") :].split("|"))
        if cumulative.isdigit():
            modules[name] = int(cumulative)
    return modules


def is_heavy(module: str) -> bool:
    return any(module == heavy or module.startswith(heavy + ".") for heavy in HEAVY)


def main(argv: Sequence[str] = ()) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="timed runs of each command (default 20)")
    parser.add_argument("--quick", action="store_true", help="5 runs of each, to check that it works")
    add_seed_argument(parser)
    args = parser.parse_args(argv)
    seeded(args.seed)  # recorded for uniformity: this benchmark makes no random choice
    runs = 5 if args.quick else args.runs
    certbot = f"certbot=={certbot_version()}"
    bare = ensure_venv("certbot-only", [certbot])
    with_plugin = ensure_venv("certbot-with-plugin", [certbot, str(plugin_source_copy())])

    times: dict[str, list[float]] = {"without": [], "with": []}
    with tempfile.TemporaryDirectory(prefix="bench-startup-state-") as state:
        _seconds, listing = time_plugins_command(with_plugin, Path(state) / "with")  # warm-up: caches, .pyc
        if "dns-netcup" not in listing:
            raise RuntimeError("certbot plugins does not list dns-netcup in the plugin virtualenv")
        time_plugins_command(bare, Path(state) / "without")
        for _ in range(runs):
            for label, venv in (("without", bare), ("with", with_plugin)):
                times[label].append(time_plugins_command(venv, Path(state) / label)[0])

    base = imported_modules(with_plugin / "bin" / "python", "import certbot.plugins.dns_common")
    full = imported_modules(with_plugin / "bin" / "python", f"import certbot.plugins.dns_common, {PLUGIN_MODULE}")
    added = sorted(set(full) - set(base))
    heavy_added = [m for m in added if is_heavy(m)]
    heavy_anywhere = sorted(m for m in full if is_heavy(m))

    medians = {label: statistics.median(values) for label, values in times.items()}
    difference = medians["with"] - medians["without"]
    rows = [
        [
            f"Certbot {certbot_version()} {label} the plugin",
            f"{medians[label] * 1000:.0f}",
            f"{min(times[label]) * 1000:.0f}",
            f"{max(times[label]) * 1000:.0f}",
        ]
        for label in ("without", "with")
    ]
    table = markdown_table(["`certbot plugins`", "median ms", "min ms", "max ms"], rows)
    markdown = (
        f"{table}\n\nDifference of the medians: {difference * 1000:+.0f} ms "
        f"({difference / medians['without'] * 100:+.1f} %), {runs} alternating runs each.\n\n"
        f"Importing `{PLUGIN_MODULE}` after Certbot's dns_common adds {len(added)} modules "
        f"({full.get(PLUGIN_MODULE, 0) / 1000:.1f} ms cumulative for the module); "
        f"requests, dnspython, urllib3 or the plugin's API/propagation modules among them: "
        f"{', '.join(heavy_added) if heavy_added else 'none'}. "
        f"dnspython loaded at all: {'yes' if any(m == 'dns' or m.startswith('dns.') for m in full) else 'no'}; "
        f"requests: {'loaded by Certbot itself' if 'requests' in base else 'not loaded'}."
    )
    print(markdown)
    payload = {
        # By name only: the venvs live in the system's temporary directory, not a path worth recording.
        "settings": {"runs": runs, "certbot": certbot, "venvs": [bare.name, with_plugin.name]},
        "seconds": times,
        "median_seconds": medians,
        "difference_seconds": difference,
        "import": {
            "modules_added": added,
            "heavy_added": heavy_added,
            "heavy_loaded_in_total": heavy_anywhere,
            "plugin_module_cumulative_us": full.get(PLUGIN_MODULE),
        },
        "lazy_imports_ok": not heavy_added,
        "markdown": markdown,
    }
    write_results("startup", payload, args.seed)
    return payload


if __name__ == "__main__":
    main(sys.argv[1:])
