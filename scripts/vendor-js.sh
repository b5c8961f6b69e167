#!/usr/bin/env bash
# Regenerates vendor/js/ (the browser client library templates, see vendor/js/README.md)
# from the pinned npm packages: actionhero 29.3.5 and the primus 8.0.9 it pulls in.
#
# Uses interop/node_modules when it holds actionhero 29.3.5; otherwise (or with
# --scratch) installs interop/package.json + package-lock.json (`npm ci`) into a scratch
# directory.
# Needs node (and npm in the second case). Prints what changed (git status).
# Exit: 0 ok, non-zero on failure (see scripts/vendor-js.js for its checks).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
command -v node >/dev/null || { echo "vendor-js.sh: node not found" >&2; exit 1; }

installed_version() { # node_modules dir
  node -e 'try{process.stdout.write(require(process.argv[1]+"/actionhero/package.json").version)}catch(e){}' "$1" 2>/dev/null || true
}

NODE_MODULES="$ROOT/interop/node_modules"
if [ "${1:-}" = "--scratch" ] || [ "$(installed_version "$NODE_MODULES")" != "29.3.5" ]; then
  command -v npm >/dev/null || { echo "vendor-js.sh: npm not found" >&2; exit 1; }
  SCRATCH="$(mktemp -d)"
  trap 'rm -rf "$SCRATCH"' EXIT
  cp interop/package.json interop/package-lock.json "$SCRATCH/"
  (cd "$SCRATCH" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  NODE_MODULES="$SCRATCH/node_modules"
fi

node scripts/vendor-js.js "$NODE_MODULES" vendor/js
git status --short -- vendor/js
