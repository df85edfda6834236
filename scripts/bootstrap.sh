#!/usr/bin/env bash
# Prepare everything the demo and the tests need, and nothing twice:
#   - .venv/ in the repository with the plugin (editable) and the test requirements
#   - Debian's pebble ACME test server at /usr/bin/pebble (not with --venv-only, which the fast
#     tier uses: it needs neither pebble nor root nor apt)
# Safe to run again: each step is skipped when its result is already there.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PYTHON="${PYTHON:-python3}"
PEBBLE=/usr/bin/pebble
# Re-install when any of these change: the stamp records their checksum.
INPUTS=("$ROOT/setup.py" "$ROOT/requirements-test.txt" "$ROOT/certbot_dns_netcup/_version.py")
STAMP="$VENV/.bootstrap-inputs.sha256"

say() { printf 'bootstrap: %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else say "need root for: $*"; return 1
    fi
}

VENV_ONLY=0
if [ "${1:-}" = "--venv-only" ]; then VENV_ONLY=1; fi

if [ "$VENV_ONLY" = 0 ] && [ ! -x "$PEBBLE" ]; then
    say "installing pebble with apt-get"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pebble
fi

if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV with $("$PYTHON" --version 2>&1)"
    "$PYTHON" -m venv "$VENV"
fi

wanted="$(cat "${INPUTS[@]}" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null || true)" != "$wanted" ] \
    || ! "$VENV/bin/python" -c 'import certbot_dns_netcup, certbot, pytest, pytest_timeout' 2>/dev/null; then
    say "installing the plugin and test requirements into $VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        -e "$ROOT" -r "$ROOT/requirements-test.txt"
    printf '%s\n' "$wanted" > "$STAMP"
fi
