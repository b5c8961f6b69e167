#!/usr/bin/env bash
# Makes sure a `chromium` is on PATH for the browser tests (adapters/ahws/tests/browser.rs).
# Silent and quick when it already is. Otherwise installs Debian's `chromium` package
# (one `apt-get update`, then `apt-get install -y chromium`), as root or through sudo.
# Exit: 0 when `chromium` runs afterwards; 1 (with a message on stderr) when it cannot.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
  exit 0
fi

fail() {
  echo "ensure-chromium.sh: $*" >&2
  exit 1
}

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  fail "chromium is not installed and this user cannot install it (not root, no password-less sudo); install the Debian package 'chromium'"
fi
command -v apt-get >/dev/null 2>&1 || fail "chromium is not installed and apt-get is missing; install Chromium so that 'chromium' is on PATH"

echo "ensure-chromium.sh: chromium is missing; installing Debian's chromium package" >&2
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! "${as_root[@]}" apt-get update -qq >"$log" 2>&1; then
  cat "$log" >&2
  fail "apt-get update failed"
fi
if ! "${as_root[@]}" apt-get install -y -qq chromium >"$log" 2>&1; then
  cat "$log" >&2
  fail "apt-get install -y chromium failed"
fi
command -v chromium >/dev/null 2>&1 || fail "the chromium package is installed but 'chromium' is still not on PATH"
chromium --version >/dev/null 2>&1 || fail "chromium is installed but 'chromium --version' fails"
