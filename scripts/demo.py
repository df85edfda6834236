"""Get a real certificate with Certbot and the dns-netcup plugin, on a simulated netcup.

Starts the sandbox (netcup's APIs and three authoritative nameservers, one of
them lagging), a local Pebble CA that validates through the sandbox's "CA
resolver", runs ``certbot certonly --authenticator dns-netcup`` for
example.test and *.example.test, and shows the certificate, how long the plugin
waited for the nameservers, and when the CA looked.

As root (with util-linux's ``unshare``) the nameservers listen on port 53 and
Certbot runs with a private /etc/resolv.conf naming the sandbox's resolver, so
the plugin finds netcup's nameservers itself, as on a real host.  Otherwise the
servers listen on ephemeral ports and Certbot gets them with
--dns-netcup-nameservers.

Run it through ``./scripts/demo`` (which prepares .venv and pebble first).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the harness lives in the repository's tests/ package

from netcup_sandbox.certbot_runner import (  # noqa: E402
    CertbotResult,
    CertbotRunner,
    load_certificate,
    load_certificates,
    parse_certificate,
    private_resolv_conf_unavailable,
    subject_alt_names,
    verify_chain,
    write_ca_bundle,
    write_resolv_conf,
)
from netcup_sandbox.checks import ca_lookups, challenge_owner, values_published_since  # noqa: E402
from netcup_sandbox.pebble import Pebble  # noqa: E402
from netcup_sandbox.sandbox import Sandbox, ZoneSpec, servers_with_lags  # noqa: E402

ZONE = "example.test"
DOMAINS = [ZONE, f"*.{ZONE}"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lags", default="0,2,8", help="lag of each nameserver in seconds (default: 0,2,8)")
    parser.add_argument("--bound", type=int, default=120, help="--dns-netcup-propagation-seconds (default: 120)")
    parser.add_argument("--rest", action="store_true", help="put the zone on netcup's REST-API platform")
    parser.add_argument(
        "--no-discovery",
        action="store_true",
        help="pass the nameservers with --dns-netcup-nameservers even when discovery is possible",
    )
    parser.add_argument(
        "--workdir", type=Path, default=ROOT / ".sandbox" / "demo", help="where to keep the results (emptied first)"
    )
    return parser.parse_args()


def section(title: str) -> None:
    print(f"\n== {title}")


def show_certificate(result: CertbotResult, pebble: Pebble) -> None:
    cert = load_certificate(result.cert_path)
    verify_chain(load_certificates(result.fullchain_path), parse_certificate(pebble.issuing_root_pem()))
    section("Certificate")
    print(f"  subject:   {cert.subject.rfc4514_string()}")
    print(f"  names:     {', '.join(sorted(subject_alt_names(cert)))}")
    print(f"  issuer:    {cert.issuer.rfc4514_string()} (chain verified up to Pebble's root)")
    # The *_utc properties exist from cryptography 42 on; older releases only have the naive ones.
    not_before = getattr(cert, "not_valid_before_utc", None) or cert.not_valid_before
    not_after = getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after
    print(f"  valid:     {not_before:%Y-%m-%d %H:%M} to {not_after:%Y-%m-%d %H:%M} UTC")
    print(f"  serial:    {cert.serial_number:x}")


def show_timeline(sandbox: Sandbox, started: float, result: CertbotResult) -> None:
    """When the records appeared, when each nameserver served them, when the CA looked."""
    owner = challenge_owner(ZONE)
    values = values_published_since(sandbox.state, owner, started)
    published = [t for t in (sandbox.state.first_published(owner, v) for v in values) if t is not None]
    lookups = ca_lookups(sandbox.ca_resolver.log, owner, started)
    section(f"Timeline of {owner} (seconds after Certbot started)")
    if not published:
        print("  no challenge record was published")
        return
    first_published = min(published)
    print(f"  {first_published - started:6.1f}  the plugin published {len(values)} TXT values through the API")
    for server in sandbox.servers:
        serving = [server.first_serving_time(owner, v) for v in values]
        if all(t is not None for t in serving):
            print(
                f"  {max(t for t in serving if t is not None) - started:6.1f}  {server.name} (lag {server.lag:g} s) "
                "serves all of them"
            )
    if lookups:
        print(f"  {min(lookups) - started:6.1f}  the CA looked them up for the first time ({len(lookups)} lookups)")
        print(
            f"\n  Waited {min(lookups) - first_published:.1f} s from publishing to the CA's first lookup, "
            f"instead of a fixed sleep; Certbot took {result.elapsed:.1f} s in all."
        )
    else:
        print("  the CA never looked them up")


def main() -> int:
    args = parse_args()
    lags = [float(text) for text in args.lags.split(",")]
    workdir: Path = args.workdir
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)

    no_discovery_reason = "--no-discovery" if args.no_discovery else private_resolv_conf_unavailable()
    discovery = no_discovery_reason is None
    zones = [ZoneSpec(ZONE, platform="rest" if args.rest else "ccp")]
    servers = servers_with_lags(lags)
    with Sandbox(str(workdir / "sandbox"), servers=servers, zones=zones, port53=discovery) as sandbox:
        with Pebble(workdir / "pebble", sandbox.ca_resolver_option) as pebble:
            bundle = write_ca_bundle(workdir / "ca-bundle.pem", [pebble.ca_bundle, Path(sandbox.ca_bundle)])
            credentials = sandbox.write_credentials(str(workdir / "netcup.ini"))
            plugin_args = [
                "--dns-netcup-credentials",
                credentials,
                "--dns-netcup-propagation-seconds",
                str(args.bound),
            ]
            resolv_conf = None
            if discovery:
                resolv_conf = str(write_resolv_conf(workdir / "resolv.conf", sandbox.system_resolver.address))
            else:
                plugin_args += ["--dns-netcup-nameservers", sandbox.nameservers_option]
            certbot = CertbotRunner(workdir / "certbot", pebble.directory_url, bundle, resolv_conf=resolv_conf)
            section("Setup")
            print(f"  zone {ZONE} ({'REST' if args.rest else 'CCP'} API), nameservers and their lags:")
            for server in sandbox.servers:
                print(f"    {server.name:24} {server.address}:{server.port}  lag {server.lag:g} s")
            if discovery:
                print(
                    f"  Certbot's /etc/resolv.conf (private to it): nameserver {sandbox.system_resolver.address}, "
                    "the sandbox's stand-in for the world's resolvers;"
                )
                print("  the plugin finds the zone's nameservers itself (no --dns-netcup-nameservers)")
            else:
                print(f"  nameservers passed with --dns-netcup-nameservers (no discovery: {no_discovery_reason})")
            print(f"  Pebble CA at {pebble.directory_url}, validating through {sandbox.ca_resolver_option}")
            section("certbot certonly --authenticator dns-netcup " + " ".join(f"-d {d}" for d in DOMAINS))
            print("  (running; the plugin polls the nameservers until all of them serve the records)", flush=True)

            started = time.monotonic()
            result = certbot.certonly(DOMAINS, plugin_args)
            print("\n".join(f"  | {line}" for line in result.output.rstrip().splitlines()))
            if result.returncode != 0:
                print(f"\nCertbot failed (exit {result.returncode}); its log: {certbot.logs_dir / 'letsencrypt.log'}")
                return 1
            show_certificate(result, pebble)
            show_timeline(sandbox, started, result)

    section("Files")
    print(f"  certificate:  {result.fullchain_path}")
    print(f"  private key:  {result.privkey_path}")
    print(f"  renewal conf: {result.renewal_config_path}")
    print(f"  Certbot log:  {certbot.logs_dir / 'letsencrypt.log'}")
    print(f"  Pebble log:   {pebble.log_path}  (the CA's view: its validations)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
