#!/usr/bin/env bash
# Installs interop/node_modules from package-lock.json when missing (or not actionhero 29.3.5).
# Idempotent and quiet: prints nothing when everything is already installed.
# Exit: 0 ok, non-zero when npm is missing or `npm ci` fails (npm's errors go to stderr).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

installed_version() {
  node -e 'try{process.stdout.write(require("./node_modules/actionhero/package.json").version)}catch(e){}' 2>/dev/null || true
}

if [ "$(installed_version)" != "29.3.5" ]; then
  command -v npm >/dev/null || { echo "ensure.sh: npm not found" >&2; exit 1; }
  if ! npm ci --no-audit --no-fund --loglevel=error >/dev/null; then
    echo "ensure.sh: npm ci failed" >&2
    exit 1
  fi
  [ "$(installed_version)" = "29.3.5" ] || { echo "ensure.sh: actionhero 29.3.5 not installed after npm ci" >&2; exit 1; }
fi
