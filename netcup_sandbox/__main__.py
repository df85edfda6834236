"""Run the netcup sandbox until interrupted: ``python -m netcup_sandbox [--workdir DIR] [--lags 0,5,20] [--port53]``.

The first line of stdout is one JSON object describing the sandbox (for scripts; also written
to ``--json-file``), followed by human-readable instructions.  SIGINT/SIGTERM stop it cleanly.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Optional

from .sandbox import Sandbox, servers_with_lags


def parse_lags(text: str) -> list[float]:
    try:
        lags = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of seconds: {text!r}") from None
    if not lags or any(lag < 0 for lag in lags):
        raise argparse.ArgumentTypeError("need at least one lag, none negative")
    return lags


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m netcup_sandbox", description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", help="directory for TLS files and the credentials file (default: a temp dir)")
    parser.add_argument(
        "--lags", type=parse_lags, default=[0.0, 5.0, 20.0], help="lag in seconds of each nameserver (default 0,5,20)"
    )
    parser.add_argument("--port53", action="store_true", help="bind DNS on port 53 of 127.A.B.x addresses (root)")
    parser.add_argument("--json-file", help="also write the JSON description to this file")
    return parser


def instructions(sandbox: Sandbox, credentials: str) -> str:
    return "\n".join(
        [
            "netcup sandbox running. Point Certbot at it with:",
            f"  export REQUESTS_CA_BUNDLE={sandbox.ca_bundle}",
            f"  --dns-netcup-credentials {credentials}",
            f"  --dns-netcup-nameservers {sandbox.nameservers_option}",
            f"System resolver (plugin lookups): {sandbox.system_resolver_option}",
            f"CA resolver (pebble -dnsserver):  {sandbox.ca_resolver_option}",
            f"Zones: {', '.join(f'{n} ({z.platform})' for n, z in sandbox.state.zones.items())}",
            "Nameservers: " + ", ".join(f"{s.name} {s.address}:{s.port} lag {s.lag:g}s" for s in sandbox.servers),
            "Stop with Ctrl-C.",
        ]
    )


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.workdir:
        os.makedirs(args.workdir, exist_ok=True)
    stop = threading.Event()

    def request_stop(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    with Sandbox(args.workdir, servers=servers_with_lags(args.lags), port53=args.port53) as sandbox:
        credentials = sandbox.write_credentials()
        description = {**sandbox.describe(), "credentials": credentials}
        line = json.dumps(description, sort_keys=True)
        if args.json_file:
            with open(args.json_file, "w") as handle:
                handle.write(line + "\n")
        print(line)
        print(instructions(sandbox, credentials), flush=True)
        while not stop.wait(0.5):
            pass
    print("netcup sandbox stopped.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
