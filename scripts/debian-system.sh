#!/usr/bin/env bash
# The plugin on Debian's own Certbot, the way a Debian admin gets it:
#   1. apt-get installs Debian's certbot (2.1.0 on Debian 12) and the packaging tools;
#   2. dpkg-buildpackage builds python3-certbot-dns-netcup from debian/ in a scratch
#      copy of the tree (the build writes build/, *.egg-info and ../*.deb, none of which
#      belongs in the repository);
#   3. apt-get installs that .deb next to Debian's certbot, so its dependencies come
#      from Debian (python3-dnspython, python3-requests, python3-acme);
#   4. /usr/bin/certbot plugins must list dns-netcup;
#   5. with --e2e, the end-to-end tests run under /usr/bin/python3, so they drive
#      /usr/bin/certbot (netcup_sandbox/certbot_runner.py takes the certbot next to the
#      interpreter); extra arguments after --e2e go to pytest.
# Needs root and Debian's apt.  Leaves the package installed: run
#   apt-get remove -y python3-certbot-dns-netcup
# to take it away again.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${DEB_OUT:-$(mktemp -d /tmp/certbot-dns-netcup-deb.XXXXXX)}"
RUN_E2E=0
if [ "${1:-}" = "--e2e" ]; then RUN_E2E=1; shift; fi

say() { printf 'debian-system: %s\n' "$*" >&2; }
elapsed() { echo $(( $(date +%s) - $1 ))s; }

if [ "$(id -u)" -ne 0 ]; then say "needs root (apt-get, dpkg)"; exit 2; fi
if ! command -v apt-get >/dev/null; then say "needs a Debian-based system"; exit 2; fi

APT_PACKAGES=(certbot python3-certbot python3-acme python3-dnspython python3-requests
              debhelper dh-python python3-all python3-setuptools dpkg-dev)
if [ "$RUN_E2E" -eq 1 ]; then APT_PACKAGES+=(python3-pytest python3-pytest-timeout pebble); fi

t0=$(date +%s)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    say "apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
say "system packages ready ($(elapsed "$t0")); Debian certbot $(dpkg-query -W -f='${Version}' certbot)"

t0=$(date +%s)
SRC="$OUT/src"
mkdir -p "$SRC"
# A copy without VCS data and local build/venv litter: only what a source package holds.
tar -C "$ROOT" --exclude=.git --exclude=.venv --exclude=.nox --exclude=.tox --exclude=build \
    --exclude=dist --exclude='*.egg-info' --exclude=__pycache__ --exclude=.mypy_cache \
    --exclude=.ruff_cache --exclude=.pytest_cache --exclude=.sandbox -cf - . | tar -C "$SRC" -xf -
(cd "$SRC" && dpkg-buildpackage -us -uc -b >"$OUT/build.log" 2>&1) || {
    say "dpkg-buildpackage failed; last lines of $OUT/build.log:"; tail -n 30 "$OUT/build.log" >&2; exit 1; }
DEB="$(ls "$OUT"/python3-certbot-dns-netcup_*_all.deb)"
say "built $DEB ($(elapsed "$t0"))"

t0=$(date +%s)
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --reinstall "$DEB" >/dev/null
say "installed $(dpkg-query -W -f='${Package} ${Version}' python3-certbot-dns-netcup) ($(elapsed "$t0"))"

# Certbot wants writable state directories even for `plugins`; keep them out of /etc.
STATE="$OUT/certbot-state"
PLUGINS="$(/usr/bin/certbot plugins --text --config-dir "$STATE" --work-dir "$STATE" --logs-dir "$STATE" 2>&1 || true)"
if ! grep -q '^\* dns-netcup$' <<<"$PLUGINS"; then
    say "/usr/bin/certbot plugins does not list dns-netcup:"; printf '%s\n' "$PLUGINS" >&2; exit 1
fi
say "/usr/bin/certbot plugins lists dns-netcup"

if [ "$RUN_E2E" -eq 1 ]; then
    cd "$ROOT"
    if [ "$#" -eq 0 ]; then set -- -m e2e; fi
    # /usr/bin/python3: Debian's interpreter with Debian's certbot, dnspython, requests.
    status=0
    /usr/bin/python3 -m pytest -p no:cacheprovider --timeout=300 tests/test_e2e.py "$@" || status=$?
fi
if [ -z "${DEB_OUT:-}" ]; then rm -rf "$OUT"; fi
exit "${status:-0}"
